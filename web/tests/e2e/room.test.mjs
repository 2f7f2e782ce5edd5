// The hybrid room, end to end: a facilitator (Fran) runs the five-step workshop for two
// remote laptops (Ana, Ben), two phones in the room (Pat, Quinn, touch viewports on the
// capture page) and the big screen (the present view from Share's "Big screen" link).
// On the way: a lock and an unlock in the middle of step 2 (the phone keeps its note, a
// reload included, and sends it after the unlock), going back a step (private writing
// goes off), a round with the phones passing and the facilitator passing for someone
// without a device, a vote from step 2's own button, a reveal into a crowded area, the
// follow-up and the minutes. It checks that every note anyone was told was added is on
// the board, that no two notes overlap, that the big screen shows the results and the
// goal, and that the minutes list every participant. With COMMONBOARD_SCREENSHOTS=1 it
// also writes screenshots of each step at phone, laptop and big-screen sizes to
// docs/screenshots/ (the ones the README shows); without, it leaves them alone.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, personPage, startServer, waitSynced, webDir, WRITE_DOCS } from "./helpers.mjs";
import { writeSmallPng } from "./small-png.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const shots = join(webDir, "..", "docs", "screenshots");
const PHONE = { viewport: { width: 360, height: 720 }, isMobile: true, hasTouch: true };
const LAPTOP = { viewport: { width: 1024, height: 640 } };
const SCREEN = { viewport: { width: 1280, height: 720 } };

/** Every note in a page's live Y.Doc: id, text, rectangle. */
function boardNotes(page) {
  return page.evaluate(() => {
    const { board } = window.__commonboard;
    return [...board.notes.entries()].map(([id, m]) => {
      const [x, y] = m.get("pos") ?? [m.get("x"), m.get("y")];
      return { id, text: String(m.get("text") ?? ""), x, y, w: m.get("w") ?? 160, h: m.get("h") ?? 120, frame: m.get("frame") ?? null };
    });
  });
}

/** Every frame in a page's live Y.Doc: id, title, rectangle. */
function boardFrames(page) {
  return page.evaluate(() => {
    const { board } = window.__commonboard;
    return [...board.frames.entries()].map(([id, f]) => ({ id, title: String(f.get("title")), x: f.get("x"), y: f.get("y"), w: f.get("w"), h: f.get("h") }));
  });
}

const overlap = (a, b) => a.x < b.x + b.w && a.x + a.w > b.x && a.y < b.y + b.h && a.y + a.h > b.y;
const holds = (a, b) => a.x <= b.x && a.y <= b.y && a.x + a.w >= b.x + b.w && a.y + a.h >= b.y + b.h;

/**
 * Notes outside their own area or on another area (its title included): a note may lie
 * only inside its own frame, and of a frame holding that one (its step) it must leave the
 * title free.
 */
function outOfPlace(notes, frames) {
  const out = [];
  for (const n of notes) {
    const own = frames.find((f) => f.id === n.frame);
    if (own && !holds(own, n)) out.push(`“${n.text}” sticks out of “${own.title}”`);
    for (const f of frames) {
      if (f === own) continue;
      const title = { x: f.x, y: f.y, w: f.w, h: 44 };
      if (own && holds(f, own) ? overlap(n, title) : overlap(n, f)) out.push(`“${n.text}” covers “${f.title}”`);
    }
  }
  return out;
}

/** Pairs of notes whose rectangles overlap. */
function overlaps(notes) {
  const out = [];
  for (let i = 0; i < notes.length; i++) {
    for (let j = i + 1; j < notes.length; j++) {
      const [a, b] = [notes[i], notes[j]];
      if (a.x < b.x + b.w && a.x + a.w > b.x && a.y < b.y + b.h && a.y + a.h > b.y) out.push(`${a.text} × ${b.text}`);
    }
  }
  return out;
}

async function stepIs(page, n) {
  await page.locator(".ws-step", { hasText: `Step ${n} of 5` }).waitFor();
}

/** Waits until every page's document holds a note with this text. */
async function seenBy(people, text) {
  for (const p of people) {
    await p.page.waitForFunction((t) => [...window.__commonboard.board.notes.values()].some((m) => String(m.get("text") ?? "") === t), text);
  }
}

/** The phone's area list: picks the option with this title. */
async function pickArea(phone, title) {
  const value = await phone.locator("#capture-frame option", { hasText: title }).first().getAttribute("value");
  await phone.selectOption("#capture-frame", value);
}

/** Writes a note on a phone; returns the status the phone showed. */
async function phoneNote(phone, text) {
  await phone.getByLabel("Your note").fill(text);
  await phone.locator("button.add-note").click();
  return phone.locator(".capture-status");
}

test("the five-step workshop in a hybrid room: nothing lost, nothing on top of another", async () => {
  const fac = await personPage(browser, "Fran", LAPTOP);
  const ana = await personPage(browser, "Ana", LAPTOP);
  const ben = await personPage(browser, "Ben", LAPTOP);
  const pat = await personPage(browser, "Pat", PHONE);
  const quinn = await personPage(browser, "Quinn", PHONE);
  const screen = await personPage(browser, null, SCREEN);
  /** Every note someone was told is on the board (by the phone's status, or on their canvas). */
  const told = [];
  // Yjs warns when a type is read before it is in a document; none of the pages does.
  const premature = [];
  for (const p of [fac, ana, ben, pat, quinn, screen]) {
    p.page.on("console", (msg) => {
      if (/Invalid access/.test(msg.text())) premature.push(msg.text());
    });
  }
  if (WRITE_DOCS) mkdirSync(shots, { recursive: true });
  const snap = async (step) => {
    // The facilitator shows the step (the big screen follows), and so does Ana.
    for (const p of [fac, ana]) await p.page.locator(".ws-focus").click();
    await screen.page.waitForTimeout(600);
    if (!WRITE_DOCS) return;
    // Palette PNGs: fifteen screenshots in a few hundred KB.
    writeSmallPng(join(shots, `step${step}-phone.png`), await pat.page.screenshot());
    writeSmallPng(join(shots, `step${step}-laptop.png`), await ana.page.screenshot());
    writeSmallPng(join(shots, `step${step}-big-screen.png`), await screen.page.screenshot());
  };
  try {
    const res = await fetch(`${server.base}/api/boards`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Platform × Payments", template: "collaboration-workshop" }),
    });
    const info = await res.json();
    const path = (role, suffix = "") => {
      const u = new URL(info.links[role], server.base);
      return `${server.base}${u.pathname}${suffix}${u.search}`;
    };
    await fac.page.goto(path("facilitator"));
    await waitSynced(fac.page);
    // Share offers the big screen as the present view.
    await fac.page.getByRole("button", { name: "Share" }).click();
    const bigScreen = await fac.page.locator("#share-present").inputValue();
    assert.match(bigScreen, /\/b\/[0-9a-f]+\/present\?token=/);
    await fac.page.getByRole("button", { name: "Done" }).click();
    await screen.page.goto(bigScreen);
    await screen.page.waitForFunction(() => window.__commonboard?.provider?.synced === true, null, { timeout: 15_000 });
    // The server runs on 127.0.0.1 without --public-url: the QR code says phones cannot use it.
    await screen.page.locator(".present-qr-warning", { hasText: "Phones cannot open this address" }).waitFor();

    for (const p of [ana, ben]) {
      await p.page.goto(path("participant"));
      await waitSynced(p.page);
    }
    for (const p of [pat, quinn]) {
      await p.page.goto(path("participant", "/capture"));
      await p.page.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    }

    // ---------------------------------------------------------------- step 1
    await fac.page.getByRole("button", { name: "Start workshop" }).click();
    await stepIs(fac.page, 1);
    await pat.page.locator(".capture-step", { hasText: "Step 1 of 5" }).waitFor();
    // The phone offers the current step's areas first, the first one chosen.
    const firstGroup = await pat.page.locator("#capture-frame optgroup").first().getAttribute("label");
    assert.equal(firstGroup, "This step");
    assert.match(await pat.page.locator("#capture-frame option:checked").textContent(), /Teams/);
    for (const [p, text] of [
      [pat, "Data Platform"],
      [quinn, "Security"],
    ]) {
      await (await phoneNote(p.page, text)).filter({ hasText: "Note added to the board." }).waitFor();
      told.push(text);
      await fac.page.locator(".note", { hasText: text }).waitFor();
      // Phones place notes in free space as their copy of the board shows it.
      await seenBy([pat, quinn, ana], text);
    }
    // A laptop's N puts its note in free space of the current step's area, and typing on
    // a selected note edits it (never a shortcut).
    await ana.page.locator(".viewport").focus();
    await ana.page.keyboard.press("Escape");
    await ana.page.keyboard.press("n");
    await ana.page.locator(".note-input").pressSequentially("Customer Support ");
    await ana.page.keyboard.press("Escape");
    const frames = await ana.page.evaluate(() => document.querySelectorAll(".frame").length);
    await ana.page.keyboard.type("team");
    await ana.page.keyboard.press("Escape");
    await fac.page.locator(".note", { hasText: "Customer Support team" }).waitFor();
    assert.equal(await ana.page.evaluate(() => document.querySelectorAll(".frame").length), frames, "typing made no frame");
    told.push("Customer Support team");
    // Follow mode: "Bring everyone here" makes participants follow until they move.
    await fac.page.getByRole("button", { name: "Bring everyone here" }).click();
    // The bar names the facilitator; Ben stops following with its button.
    await ana.page.locator(".follow-bar", { hasText: "Following Fran" }).waitFor();
    await ben.page.locator(".follow-bar", { hasText: "Following Fran" }).getByRole("button", { name: "Stop following" }).click();
    await ben.page.locator(".follow-bar").waitFor({ state: "hidden" });
    // Ana moves the view herself (arrow keys pan with nothing selected): she stops following.
    await ana.page.locator(".viewport").focus();
    await ana.page.keyboard.press("Escape");
    await ana.page.keyboard.press("ArrowLeft");
    await ana.page.locator(".follow-bar").waitFor({ state: "hidden" });
    await snap(1);

    // ---------------------------------------------------------------- step 2, with a lock
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(fac.page, 2);
    await pat.page.locator(".capture-step", { hasText: "Step 2 of 5" }).waitFor();
    await pickArea(pat.page, "Value");
    await (await phoneNote(pat.page, "Fewer failed payments")).filter({ hasText: "Note added to the board." }).waitFor();
    told.push("Fewer failed payments");

    await fac.page.getByRole("button", { name: "Lock board" }).click();
    await pat.page.locator(".capture-banner", { hasText: "locked the board" }).waitFor();
    await screen.page.locator(".present-locked").waitFor();
    await ben.page.locator(".board-page.read-only").waitFor();
    const status = await phoneNote(pat.page, "Outcome: payments in one day");
    await status.filter({ hasText: "locked" }).waitFor();
    assert.doesNotMatch(await status.textContent(), /Note added/, "never \"Note added\" while locked");
    await pat.page.locator(".capture-waiting li", { hasText: "Outcome: payments in one day" }).waitFor();
    // A reload loses nothing: the note is kept on the phone.
    await pat.page.reload();
    await pat.page.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    await pat.page.locator(".capture-waiting li", { hasText: "Outcome: payments in one day" }).waitFor();
    assert.equal((await boardNotes(fac.page)).filter((n) => n.text.startsWith("Outcome")).length, 0);

    await fac.page.getByRole("button", { name: "Unlock board" }).click();
    await fac.page.locator(".note", { hasText: "Outcome: payments in one day" }).waitFor({ timeout: 10_000 });
    await pat.page.locator(".capture-waiting").waitFor({ state: "hidden" });
    told.push("Outcome: payments in one day");
    await pickArea(pat.page, "Value");
    await (await phoneNote(pat.page, "Added after the unlock")).filter({ hasText: "Note added to the board." }).waitFor();
    told.push("Added after the unlock");

    // Both phones write into the same area at the same moment: neither note hides the other.
    await Promise.all([pickArea(pat.page, "Costs"), pickArea(quinn.page, "Costs")]);
    await pat.page.getByLabel("Your note").fill("Two teams on call");
    await quinn.page.getByLabel("Your note").fill("Duplicate tooling");
    await Promise.all([pat.page.locator("button.add-note").click(), quinn.page.locator("button.add-note").click()]);
    for (const [p, text] of [
      [pat, "Two teams on call"],
      [quinn, "Duplicate tooling"],
    ]) {
      await p.page.locator(".capture-status", { hasText: "Note added to the board." }).waitFor();
      told.push(text);
    }
    await seenBy([fac], "Two teams on call");
    await seenBy([fac], "Duplicate tooling");

    // Candidate goals from both phones, then the vote from step 2's own button.
    for (const [p, text] of [
      [pat, "Ship payment changes safely every week"],
      [quinn, "One shared on-call rota"],
    ]) {
      await pickArea(p.page, "Candidate goals");
      await (await phoneNote(p.page, text)).filter({ hasText: "Note added to the board." }).waitFor();
      told.push(text);
      await fac.page.locator(".note", { hasText: text }).waitFor();
      // Phones place notes in free space as their copy of the board shows it.
      await seenBy([pat, quinn, ana], text);
    }
    await fac.page.getByRole("button", { name: "Vote on the candidate goals" }).click();
    await fac.page.locator("#vote-budget").fill("1");
    await fac.page.getByRole("button", { name: "Open vote" }).click();
    for (const p of [pat, quinn]) {
      const row = p.page.locator(".vote-candidate", { hasText: "Ship payment changes safely every week" });
      await row.locator(".vote-plus").click();
      await p.page.locator(".vote-left", { hasText: "0 votes left" }).waitFor();
    }
    await screen.page.locator(".present-tally-row", { hasText: "Ship payment changes" }).locator(".present-votes", { hasText: "2" }).waitFor();
    await fac.page.getByRole("button", { name: "Close vote" }).first().click();
    // The closed vote's panel can be put away on a laptop too.
    await ana.page.locator(".vote-panel .vote-dismiss").click();
    await ana.page.locator(".vote-panel").waitFor({ state: "hidden" });
    await screen.page.locator(".present-goal-text", { hasText: "Ship payment changes safely every week" }).waitFor();
    // The goal goes into its frame (a server change the facilitator's page receives too).
    await fac.page.waitForFunction(() => {
      const { board } = window.__commonboard;
      const goal = board.meta.get("commonGoal");
      const note = goal ? board.notes.get(goal) : null;
      return !!note && board.frames.get(note.get("frame"))?.get("area") === "chosen";
    });
    // The closed vote's panel can be put away on the phone.
    await pat.page.locator(".vote-panel .vote-dismiss").click();
    await pat.page.locator(".vote-panel").waitFor({ state: "hidden" });
    await snap(2);

    // ---------------------------------------------------------------- step 3, back to 2 and on again
    // The obstacles area is already crowded.
    await ana.page.evaluate(() => {
      const { board, Y } = window.__commonboard;
      let area = null;
      for (const [id, f] of board.frames.entries()) if (f.get("area") === "obstacles") area = [id, f.get("x"), f.get("y")];
      board.doc.transact(() => {
        for (let i = 0; i < 6; i++) {
          const m = new Y.Map();
          m.set("text", new Y.Text(`Known obstacle ${i + 1}`));
          m.set("pos", [area[1] + 16 + (i % 3) * 176, area[2] + 44 + Math.floor(i / 3) * 132]);
          m.set("w", 160);
          m.set("h", 120);
          m.set("color", "orange");
          m.set("author", "Ana");
          m.set("frame", area[0]);
          m.set("createdAt", Date.now());
          board.notes.set(`known-${i}`, m);
        }
      });
    });
    for (let i = 1; i <= 6; i++) told.push(`Known obstacle ${i}`);
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(fac.page, 3);
    await pat.page.locator(".capture-private-info", { hasText: "Private writing is on" }).waitFor();
    await pickArea(pat.page, "What could stop us");
    await (await phoneNote(pat.page, "December release freeze")).filter({ hasText: "Private note saved" }).waitFor();
    told.push("December release freeze");
    await pickArea(quinn.page, "What could stop us");
    await (await phoneNote(quinn.page, "Different on-call hours")).filter({ hasText: "Private note saved" }).waitFor();
    told.push("Different on-call hours");

    // Going back a step turns private writing off (step 2 is not private); the notes
    // written privately stay private.
    await fac.page.getByRole("button", { name: "Previous step" }).click();
    await stepIs(fac.page, 2);
    await pat.page.locator("button.add-note", { hasText: /^Add note$/ }).waitFor();
    assert.equal((await boardNotes(fac.page)).filter((n) => n.text === "December release freeze").length, 0);
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(fac.page, 3);
    await pat.page.locator("button.add-note", { hasText: "Add private note" }).waitFor();

    // Going round the room: everyone present, and Carla in the room without a device.
    await fac.page.getByRole("button", { name: "Go round the room" }).click();
    await fac.page.locator("#turn-add-name").fill("Carla");
    await fac.page.locator(".turns-dialog").getByRole("button", { name: "Add" }).click();
    await fac.page.locator(".turns-dialog").getByRole("button", { name: "Start" }).click();
    const pages = { Fran: fac, Ana: ana, Ben: ben, Pat: pat, Quinn: quinn };
    const phonesPassed = new Set();
    for (let turn = 0; turn < 12; turn++) {
      const speaker = fac.page.locator(".ws-speaker", { hasText: /Speaking|Everyone passed/ });
      await speaker.waitFor();
      const speaking = await speaker.textContent();
      if (/Everyone passed/.test(speaking)) break;
      const who = /Speaking: ([^·(]+)/.exec(speaking)?.[1].trim();
      assert.ok(who, `someone speaks: ${speaking}`);
      const p = pages[who];
      if (p === pat || p === quinn) {
        // The phone says it is their turn, with a Pass button.
        await p.page.locator(".capture-speaker.mine", { hasText: "Your turn" }).waitFor();
        await p.page.locator(".capture-pass").click();
        phonesPassed.add(who);
      } else if (p) {
        await p.page.locator(".ws-pass", { hasText: /^Pass$/ }).click();
      } else {
        // Someone added by name: the facilitator passes for them.
        await fac.page.locator(".ws-pass", { hasText: `Pass for ${who}` }).click();
      }
      await fac.page.waitForFunction((before) => document.querySelector(".ws-speaker")?.textContent !== before, speaking);
    }
    await fac.page.locator(".ws-speaker", { hasText: "Everyone passed" }).waitFor();
    await pat.page.locator(".capture-speaker", { hasText: "Everyone passed" }).waitFor();
    assert.deepEqual([...phonesPassed].sort(), ["Pat", "Quinn"]);
    await fac.page.getByRole("button", { name: "End round" }).click();

    // The reveal puts the private notes into free space of the crowded area.
    await fac.page.getByRole("button", { name: "Reveal notes" }).click();
    await fac.page.locator(".note", { hasText: "December release freeze" }).waitFor();
    await fac.page.locator(".note", { hasText: "Different on-call hours" }).waitFor();
    // A remedy from the phone, paired with its obstacle.
    await pickArea(pat.page, "How we manage it");
    const obstacle = await pat.page.locator("#capture-pair option", { hasText: "December release freeze" }).getAttribute("value");
    await pat.page.selectOption("#capture-pair", obstacle);
    await (await phoneNote(pat.page, "Pilot in January")).filter({ hasText: "Note added to the board." }).waitFor();
    told.push("Pilot in January");
    await fac.page.locator(".note", { hasText: "Pilot in January" }).waitFor();
    await snap(3);

    // ---------------------------------------------------------------- steps 4 and 5
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(fac.page, 4);
    await fac.page.locator(".ws-add-action").click();
    await fac.page.locator(".ws-action-text").last().fill("Draft the release checklist");
    await fac.page.locator(".ws-action-owner").last().fill("Pat");
    await fac.page.locator(".ws-action-due").last().fill("2027-01-15");
    await snap(4);
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(fac.page, 5);
    await fac.page.locator(".ws-add-followup").click();
    await fac.page.locator(".ws-action-owner").last().fill("Fran");
    await fac.page.locator(".ws-action-due").last().fill("2027-02-01");
    await ana.page.locator(".ws-step", { hasText: "Step 5 of 5" }).waitFor();
    // The big screen lists the actions and the check-in.
    await screen.page.locator(".present-action.followup", { hasText: "Check-in" }).waitFor();
    await screen.page.locator(".present-action", { hasText: "Draft the release checklist" }).waitFor();
    await snap(5);

    // ---------------------------------------------------------------- what everyone was told
    await fac.page.waitForTimeout(300);
    const notes = await boardNotes(fac.page);
    for (const text of told) assert.ok(notes.some((n) => n.text === text), `“${text}” was said to be added but is not on the board`);
    assert.deepEqual(overlaps(notes), [], "no note covers another");
    // A full area grew ("Value" holds three notes): no note covers another area or its title.
    assert.deepEqual(outOfPlace(notes, await boardFrames(fac.page)), [], "every note inside its own area");
    assert.deepEqual(premature, [], "no Yjs 'Invalid access' warning");
    // The big screen shows the results and the goal.
    assert.ok((await screen.page.locator(".present-tally-row").count()) >= 2);
    await screen.page.locator(".present-goal-text", { hasText: "Ship payment changes safely every week" }).waitFor();

    // ---------------------------------------------------------------- the minutes
    const token = new URL(info.links.facilitator, server.base).searchParams.get("token");
    const minutes = await (
      await fetch(`${server.base}/api/boards/${info.id}/minutes.md?offset=60&zone=Europe/Paris`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    const participants = /## Participants\n\n(.*)\n/.exec(minutes)?.[1] ?? "";
    for (const name of ["Fran", "Ana", "Ben", "Pat", "Quinn", "Carla"]) assert.ok(participants.includes(name), `minutes list ${name}: ${participants}`);
    assert.match(minutes, /UTC\+01:00 \(Europe\/Paris\)/);
    assert.match(minutes, /Board, to add to it: <http:\/\/127\.0\.0\.1:\d+\/b\/[0-9a-f]+\?token=/);
    assert.match(minutes, /\*\*Check-in on 2027-02-01\*\*, called by Fran/);
    assert.match(minutes, /\*\*Common goal:\*\* Ship payment changes safely every week/);
    assert.match(minutes, /\*\*December release freeze\*\* \(raised by Pat\): Pilot in January/);
  } finally {
    for (const p of [fac, ana, ben, pat, quinn, screen]) await p.context.close();
  }
});
