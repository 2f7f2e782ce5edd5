// A whole short collaboration workshop through the UI, against the real server in real
// browsers: a facilitator (Fran) creates the board from the template on the home page and
// runs the five steps with two participants on laptops or phones (Ana on the board page,
// Ben on the phone capture page) and a big screen (the presentation view, read-only).
// Teams in the collaborators table, candidate goals and a vote, obstacles written
// privately (absent from everyone's Y.Doc until the reveal) with a paired remedy each, a
// turn order, actions with owners and dates, the follow-up, then the minutes and the
// calendar (parsed with a real iCalendar parser). Finally the step and the timer survive
// a restart of the server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ICAL from "ical.js";
import { launchBrowser, noteByText, personPage, presenterPath, startServer, waitSynced, webDir, WRITE_DOCS } from "./helpers.mjs";

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

const screenshots = join(webDir, "..", "docs", "screenshots");

/** Texts of every note in a page's live Y.Doc. */
function docTexts(page) {
  return page.evaluate(() => {
    const { board } = window.__commonboard;
    return [...board.notes.values()].map((m) => String(m.get("text") ?? ""));
  });
}

/** A note's fields in a page's live Y.Doc, found by its text. */
function docNote(page, text) {
  return page.evaluate((t) => {
    const { board } = window.__commonboard;
    for (const [id, m] of board.notes.entries()) {
      if (String(m.get("text") ?? "") !== t) continue;
      // The client keeps a note's position in one `pos` entry, [x, y].
      const [x, y] = m.get("pos") ?? [];
      return { id, ...m.toJSON(), x, y, text: String(m.get("text")) };
    }
    return null;
  }, text);
}

/** Double-clicks at a relative point of an area frame (on the frame's empty body). */
async function dblclickInArea(page, area, fx, fy) {
  const box = await page.locator(`.frame[data-area="${area}"]`).boundingBox();
  assert.ok(box, `the ${area} area is on screen`);
  await page.mouse.dblclick(box.x + box.width * fx, box.y + box.height * fy);
}

/** Writes a note by double-clicking inside an area, typing, and leaving the editor. */
async function writeNoteInArea(page, area, fx, fy, text) {
  await dblclickInArea(page, area, fx, fy);
  const input = page.locator(".note-input, .private-input").and(page.locator(":focus"));
  await input.waitFor();
  await page.keyboard.type(text);
  await page.keyboard.press("Escape");
}

async function stepIs(page, n) {
  await page.locator(".ws-step", { hasText: `Step ${n} of 5` }).waitFor();
}

test("a collaboration workshop from the template to the minutes", async () => {
  const fac = await personPage(browser, "Fran");
  const ana = await personPage(browser, "Ana");
  const ben = await personPage(browser, "Ben", { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const screen = await personPage(browser, null, { viewport: { width: 1280, height: 720 } });
  try {
    // ---------------------------------------------------------------- the board, from the template
    await fac.page.goto(server.base + "/");
    const template = fac.page.getByRole("radio", { name: "Collaboration workshop" });
    await template.waitFor();
    assert.ok(await template.isChecked(), "the collaboration workshop is the default template");
    await fac.page.getByLabel("Board title").fill("Platform × Payments");
    await fac.page.getByRole("button", { name: "Create board" }).click();
    await fac.page.waitForURL(/\/b\/[^/?]+\?token=/);
    await waitSynced(fac.page);
    const facUrl = new URL(fac.page.url());
    const boardId = facUrl.pathname.split("/")[2];
    const facToken = facUrl.searchParams.get("token");
    const info = await (await fetch(`${server.base}/api/boards/${boardId}`, { headers: { authorization: `Bearer ${facToken}` } })).json();
    assert.equal(info.template, "collaboration-workshop");
    const link = (role, suffix = "") => {
      const u = new URL(info.links[role], server.base);
      return `${server.base}${u.pathname}${suffix}${u.search}`;
    };
    // The template's frames carry the steps' guidance; areas have titles.
    await fac.page.locator(".frame-guide", { hasText: "Add one note per team" }).waitFor();
    await fac.page.locator('.frame[data-area="candidates"] .frame-title', { hasText: "Candidate goals" }).waitFor();

    await ana.page.goto(link("participant"));
    await waitSynced(ana.page);
    await ben.page.goto(link("participant", "/capture"));
    await ben.page.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    // The big screen: the presentation view (read-only, following the facilitator).
    await screen.page.goto(server.base + (await presenterPath(server.base, info)));
    await screen.page.waitForFunction(() => window.__commonboard?.provider?.synced === true, null, { timeout: 15_000 });

    // ---------------------------------------------------------------- step 1: collaborators
    await fac.page.getByRole("button", { name: "Start workshop" }).click();
    await stepIs(fac.page, 1);
    await stepIs(ana.page, 1);
    await fac.page.getByRole("button", { name: "Start 20 min timer" }).click();
    await ana.page.locator(".ws-timer", { hasText: /^(20:00|19:5\d) left$/ }).waitFor();

    const teams = fac.page.locator("#ws-teams");
    await teams.waitFor(); // opened by the step
    await teams.getByRole("button", { name: "+ Add team" }).click();
    await fac.page.keyboard.type("Payments");
    const payments = teams.locator("tbody tr").nth(0);
    await payments.getByLabel("What Payments expects of us").fill("Stable APIs");
    await payments.getByLabel("What we expect of Payments").fill("Early notice of changes");
    await payments.getByLabel("How often we interact with Payments").selectOption("4");
    await payments.getByLabel("How often our aims conflict with Payments").selectOption("3");
    // Ana adds the second team from her laptop.
    assert.equal(await ana.page.getByRole("button", { name: "Collaborators" }).getAttribute("aria-expanded"), "true", "the step opens the table");
    await ana.page.locator("#ws-teams tbody tr").first().waitFor();
    await ana.page.locator("#ws-teams").getByRole("button", { name: "+ Add team" }).click();
    await ana.page.keyboard.type("Support");
    const support = ana.page.locator("#ws-teams tbody tr").nth(1);
    await support.getByLabel("What Support expects of us").fill("Runbooks");
    await support.getByLabel("What we expect of Support").fill("Incident reports");
    await support.getByLabel("How often we interact with Support").selectOption("1");
    await support.getByLabel("How often our aims conflict with Support").selectOption("0");
    await fac.page.waitForFunction(() => [...window.__commonboard.board.notes.values()].some((m) => String(m.get("text")) === "Support" && m.get("weExpect") === "Incident reports"));
    await payments.getByLabel("Approach Payments first").check();
    // The team notes sit on the plot: Payments (daily, weekly) high and right, Support low and left.
    const plot = await fac.page.evaluate(() => {
      const { board } = window.__commonboard;
      for (const m of board.frames.values()) if (m.get("area") === "plot") return m.toJSON();
      return null;
    });
    const pay = await docNote(fac.page, "Payments");
    const sup = await docNote(fac.page, "Support");
    assert.equal(pay.kind, "team");
    assert.equal(pay.chosen, true);
    assert.equal(pay.expectsOfUs, "Stable APIs");
    assert.equal(sup.kind, "team");
    for (const n of [pay, sup]) {
      assert.ok(n.x >= plot.x && n.x + n.w <= plot.x + plot.w && n.y >= plot.y && n.y + n.h <= plot.y + plot.h, "inside the plot");
    }
    assert.ok(pay.x > sup.x, "more interaction is further right");
    assert.ok(pay.y < sup.y, "more conflict is higher up");

    // The countdown reaches zero: "Time's up".
    await fac.page.evaluate(() => window.__commonboard.board.app.send({ type: "set_timer", seconds: 1 }));
    await ana.page.locator(".ws-timer", { hasText: "Time's up" }).waitFor({ timeout: 5000 });

    // ---------------------------------------------------------------- step 2: common goal
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(ana.page, 2);
    await ana.page.getByRole("button", { name: "Focus on this step" }).click();
    await fac.page.getByRole("button", { name: "Focus on this step" }).click();
    await writeNoteInArea(ana.page, "candidates", 0.3, 0.35, "Refunds within a day");
    await writeNoteInArea(fac.page, "candidates", 0.72, 0.35, "One support queue");
    await ben.page.getByLabel("Area", { exact: true }).selectOption({ label: "Candidate goals (we vote on these)" });
    await ben.page.getByLabel("Your note", { exact: true }).fill("Shared release calendar");
    await ben.page.getByRole("button", { name: "Add note" }).click();
    for (const text of ["Refunds within a day", "One support queue", "Shared release calendar"]) {
      await noteByText(fac.page, text).waitFor();
      assert.equal((await docNote(fac.page, text)).kind, "goal", `${text} is a candidate goal`);
    }
    assert.ok((await docNote(fac.page, "Refunds within a day")).authorId, "the author's identity is recorded");
    // The facilitator selects the candidates and opens a hidden vote.
    await fac.page.locator(".viewport").click({ position: { x: 20, y: 300 } });
    await noteByText(fac.page, "Refunds within a day").click();
    await noteByText(fac.page, "One support queue").click({ modifiers: ["Shift"] });
    await noteByText(fac.page, "Shared release calendar").click({ modifiers: ["Shift"] });
    assert.equal(await fac.page.locator(".note.selected").count(), 3);
    await fac.page.getByRole("button", { name: "Vote on selected notes" }).click();
    const dialog = fac.page.getByRole("dialog", { name: "Vote on 3 selected notes" });
    await dialog.getByLabel("Votes per person").fill("2");
    await dialog.getByLabel("Most votes per note").fill("1");
    await dialog.getByLabel("Hide results until I reveal them").check();
    await dialog.getByRole("button", { name: "Open vote" }).click();
    await ana.page.locator(".vote-panel").getByText("2 votes left").waitFor();
    await ana.page.getByRole("button", { name: "Add a vote to: Refunds within a day" }).dispatchEvent("click");
    await ana.page.locator(".vote-panel").getByText("1 vote left").waitFor();
    await ana.page.getByRole("button", { name: "Add a vote to: One support queue" }).dispatchEvent("click");
    await ana.page.locator(".vote-panel").getByText("0 votes left").waitFor();
    await ben.page.getByRole("button", { name: "Add a vote to: Refunds within a day" }).click();
    await ben.page.locator(".vote-panel").getByText("1 vote left").waitFor();
    const facPanel = fac.page.locator(".vote-panel");
    await facPanel.locator(".vote-tally-row", { hasText: "Refunds within a day" }).getByText("2 votes").waitFor();
    await facPanel.getByRole("button", { name: "Close vote" }).click();
    await facPanel.getByRole("button", { name: "Reveal results" }).click();
    await noteByText(ana.page, "Refunds within a day").locator(".goal-badge", { hasText: "Common goal" }).waitFor();

    // ---------------------------------------------------------------- step 3: obstacles, privately
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(ana.page, 3);
    await fac.page.getByRole("button", { name: "Reveal notes" }).waitFor(); // the step turns private writing on
    await ana.page.locator(".ws-writing", { hasText: "Writing privately" }).waitFor();
    await ana.page.getByRole("button", { name: "Focus on this step" }).click();
    await fac.page.getByRole("button", { name: "Focus on this step" }).click();
    await writeNoteInArea(ana.page, "obstacles", 0.5, 0.62, "No shared backlog");
    await ana.page.locator(".private-note", { hasText: "Private" }).waitFor();
    await ben.page.getByLabel("Area", { exact: true }).selectOption({ label: "What could stop us" });
    await ben.page.getByLabel("Your note", { exact: true }).fill("Different on-call hours");
    await ben.page.getByRole("button", { name: "Add private note" }).click();
    await ben.page.locator(".capture-private .capture-note", { hasText: "Different on-call hours" }).waitFor();
    // Everyone sees who writes and how much, nobody sees the text.
    await fac.page.locator(".ws-writing .ws-writer", { hasText: "Ana" }).waitFor();
    await fac.page.locator(".ws-writing .ws-writer", { hasText: "Ben" }).waitFor();
    const obstacles = ["No shared backlog", "Different on-call hours"];
    await ana.page.waitForFunction(() => window.__commonboard.workshop.privateNotes.size === 1);
    for (const [who, page] of [["Fran", fac.page], ["Ana", ana.page], ["Ben", ben.page], ["the big screen", screen.page]]) {
      const texts = await docTexts(page);
      for (const o of obstacles) assert.ok(!texts.includes(o), `${who}'s Y.Doc does not hold the private note “${o}” before the reveal`);
    }

    // Go round the room: everyone present, plus Dana who has no device.
    await fac.page.getByRole("button", { name: "Go round the room" }).click();
    const turns = fac.page.getByRole("dialog", { name: "Go round the room" });
    for (const name of ["Fran", "Ana", "Ben"]) await turns.getByLabel(name).waitFor();
    await turns.getByLabel("Someone in the room without a device").fill("Dana");
    await turns.getByRole("button", { name: "Add" }).click();
    await turns.getByLabel("Dana").waitFor();
    await turns.getByRole("button", { name: "Start" }).click();
    await ana.page.locator(".ws-speaker", { hasText: "Speaking:" }).waitFor();
    const anaId = await ana.page.evaluate(() => window.__commonboard.board.identity);
    for (let i = 0; i < 5; i++) {
      const cur = await fac.page.evaluate(() => window.__commonboard.workshop.speaker()?.id ?? null);
      if (cur === anaId) break;
      await fac.page.getByRole("button", { name: "Next speaker" }).click();
      await fac.page.waitForFunction((prev) => (window.__commonboard.workshop.speaker()?.id ?? null) !== prev, cur);
    }
    await ana.page.locator(".ws-speaker", { hasText: "Speaking: Ana (you)" }).waitFor();
    await fac.page.locator(".ws-speaker", { hasText: "Speaking: Ana" }).waitFor();
    assert.ok(await fac.page.getByRole("button", { name: "Pass", exact: true }).isHidden(), "only the speaker may pass");
    await ana.page.getByRole("button", { name: "Pass", exact: true }).click();
    await fac.page.waitForFunction((id) => window.__commonboard.workshop.state.turns.passed.includes(id), anaId);
    await ana.page.locator(".ws-speaker", { hasText: "Speaking: Ana" }).waitFor({ state: "detached" }).catch(() => {});
    assert.notEqual(await fac.page.evaluate(() => window.__commonboard.workshop.speaker()?.id ?? null), anaId, "the turn moved on");
    await fac.page.getByRole("button", { name: "End round" }).click();
    await ana.page.locator(".ws-speaker").waitFor({ state: "hidden" });

    // The reveal: the notes enter everyone's doc.
    await fac.page.getByRole("button", { name: "Reveal notes" }).click();
    for (const page of [fac.page, ana.page, ben.page, screen.page]) {
      await page.waitForFunction((list) => {
        const texts = [...window.__commonboard.board.notes.values()].map((m) => String(m.get("text")));
        return list.every((t) => texts.includes(t));
      }, obstacles);
    }
    await ana.page.locator(".private-note").waitFor({ state: "detached" });
    for (const o of obstacles) assert.equal((await docNote(fac.page, o)).kind, "obstacle");

    // A remedy for each obstacle: Ana for hers, Fran (facilitating) for Ben's.
    await ana.page.getByRole("button", { name: "How we manage it: No shared backlog" }).click();
    await ana.page.locator(".note-input:focus").waitFor();
    await ana.page.keyboard.type("Weekly joint triage");
    await ana.page.keyboard.press("Escape");
    await fac.page.getByRole("button", { name: "How we manage it: Different on-call hours" }).click();
    await fac.page.locator(".note-input:focus").waitFor();
    await fac.page.keyboard.type("One shared rota");
    await fac.page.keyboard.press("Escape");
    for (const [o, r] of [["No shared backlog", "Weekly joint triage"], ["Different on-call hours", "One shared rota"]]) {
      await noteByText(fac.page, r).waitFor();
      await fac.page.waitForFunction((t) => [...window.__commonboard.board.notes.values()].some((m) => String(m.get("text")) === t), r);
      const on = await docNote(fac.page, o);
      const rn = await docNote(fac.page, r);
      assert.equal(rn.kind, "remedy");
      assert.equal(on.pair, rn.id, `${o} is paired with its remedy`);
      assert.equal(rn.pair, on.id, `${r} is paired with its obstacle`);
    }
    await fac.page.getByRole("button", { name: "Start 25 min timer" }).click();
    await fac.page.locator(".ws-timer", { hasText: /^(25:00|24:5\d) left$/ }).waitFor();
    if (WRITE_DOCS) {
      mkdirSync(screenshots, { recursive: true });
      await fac.page.screenshot({ path: join(screenshots, "workshop-board.png") });
    }

    // ---------------------------------------------------------------- step 4: actions
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(ana.page, 4);
    const actions = fac.page.locator("#ws-actions");
    await actions.waitFor();
    await actions.getByRole("button", { name: "+ Add action" }).click();
    await fac.page.keyboard.type("Set up the joint triage");
    const a1 = actions.locator("tbody tr").nth(0);
    await a1.getByLabel("Owner of Set up the joint triage").fill("Ana");
    await a1.getByLabel("Due date of Set up the joint triage").fill("2026-12-15");
    await actions.getByRole("button", { name: "+ Add action" }).click();
    await fac.page.keyboard.type("Draft the shared rota");
    const a2 = actions.locator("tbody tr").nth(1);
    await a2.getByLabel("Owner of Draft the shared rota").fill("Ben");
    await a2.getByLabel("Due date of Draft the shared rota").fill("2027-01-10");
    assert.ok((await fac.page.locator("#ws-people option").count()) >= 2, "owners are suggested from the people present");
    await ana.page.locator("#ws-actions").waitFor();
    await ana.page.getByLabel("Done: Draft the shared rota").waitFor();
    await ana.page.waitForFunction(() => [...window.__commonboard.board.actions.values()].filter((m) => m.get("due")).length === 2);

    // ---------------------------------------------------------------- step 5: follow-up
    await fac.page.getByRole("button", { name: "Next step" }).click();
    await stepIs(ana.page, 5);
    await fac.page.getByRole("button", { name: "Focus on this step" }).click();
    await writeNoteInArea(fac.page, "followup", 0.5, 0.55, "Review the actions at the January call");
    await noteByText(ana.page, "Review the actions at the January call").waitFor();
    assert.equal((await docNote(fac.page, "Review the actions at the January call")).kind, "followup");
    // Bring everyone here: Ana's view follows the facilitator's zoom.
    await fac.page.getByRole("button", { name: "Zoom in (+)" }).click();
    await fac.page.getByRole("button", { name: "Bring everyone here" }).click();
    const scale = (page) => page.locator(".world").evaluate((el) => Number(/scale\(([\d.]+)\)/.exec(el.style.transform)?.[1]));
    const facScale = await scale(fac.page);
    // The shared view's zoom is rounded to three decimals.
    await ana.page.waitForFunction((z) => Math.abs(Number(/scale\(([\d.]+)\)/.exec(document.querySelector(".world").style.transform)?.[1]) - z) <= 5e-4 + 1e-9, facScale);

    // ---------------------------------------------------------------- the minutes
    await fac.page.getByRole("button", { name: "Minutes" }).click();
    const minutesDialog = fac.page.getByRole("dialog", { name: "Minutes" });
    const [mdDownload] = await Promise.all([
      fac.page.waitForEvent("download"),
      minutesDialog.getByRole("button", { name: "Download minutes (Markdown)" }).click(),
    ]);
    const minutes = readFileSync(await mdDownload.path(), "utf8");
    if (WRITE_DOCS) writeFileSync(join(screenshots, "minutes-example.md"), minutes);
    const participants = minutes.split("## Participants")[1].split("##")[0];
    for (const name of ["Fran", "Ana", "Ben"]) assert.ok(participants.includes(name), `participant ${name} in the minutes`);
    assert.match(minutes, /\| Payments \(chosen\) \| Stable APIs \| Early notice of changes \|/);
    assert.match(minutes, /\| Support \| Runbooks \| Incident reports \|/);
    assert.match(minutes, /\*\*Team to approach first:\*\* Payments/);
    assert.match(minutes, /\| Refunds within a day \| 2 \|/);
    assert.match(minutes, /\| One support queue \| 1 \|/);
    assert.match(minutes, /\| Shared release calendar \| 0 \|/);
    assert.match(minutes, /\*\*Common goal:\*\* Refunds within a day/);
    assert.match(minutes, /\*\*No shared backlog\*\* \(raised by Ana\): Weekly joint triage/);
    assert.match(minutes, /\*\*Different on-call hours\*\* \(raised by Ben\): One shared rota/);
    assert.match(minutes, /\| Set up the joint triage \| Ana \| 2026-12-15 \| no \|/);
    assert.match(minutes, /\| Draft the shared rota \| Ben \| 2027-01-10 \| no \|/);
    assert.match(minutes, /## 5\. Follow-up\s+- Review the actions at the January call/);

    const [icsDownload] = await Promise.all([
      fac.page.waitForEvent("download"),
      minutesDialog.getByRole("button", { name: "Download actions (calendar)" }).click(),
    ]);
    const ics = readFileSync(await icsDownload.path(), "utf8");
    const calendar = new ICAL.Component(ICAL.parse(ics));
    const events = calendar.getAllSubcomponents("vevent").map((e) => new ICAL.Event(e));
    assert.equal(events.length, 2);
    const byDate = Object.fromEntries(events.map((e) => [e.startDate.toString(), e.summary]));
    assert.match(byDate["2026-12-15"], /Set up the joint triage \(Ana\)/);
    assert.match(byDate["2027-01-10"], /Draft the shared rota \(Ben\)/);
    assert.ok(events.every((e) => e.startDate.isDate), "all-day events on the due date");
    await minutesDialog.getByRole("button", { name: "Close" }).click();

    // ---------------------------------------------------------------- a restart keeps step and timer
    await fac.page.getByRole("button", { name: "Start 10 min timer" }).click();
    await fac.page.waitForFunction(() => window.__commonboard.workshop.state?.timer?.seconds === 600);
    const endsAt = await fac.page.evaluate(() => window.__commonboard.workshop.state.timer.ends_at_ms);
    const { port, dataDir } = server;
    await server.stop({ keepData: true });
    server = await startServer({ port, dataDir });
    await fac.page.reload();
    await waitSynced(fac.page);
    await stepIs(fac.page, 5);
    await fac.page.waitForFunction(() => !!window.__commonboard.workshop?.state?.timer);
    const after = await fac.page.evaluate(() => ({
      endsAt: window.__commonboard.workshop.state.timer.ends_at_ms,
      shown: Number(document.querySelector(".ws-timer").dataset.seconds),
      left: (window.__commonboard.workshop.state.timer.ends_at_ms - window.__commonboard.board.app.serverNow()) / 1000,
    }));
    assert.equal(after.endsAt, endsAt, "the deadline is the one set before the restart");
    assert.ok(after.shown <= 600 && after.shown > 540, `the countdown goes on (${after.shown} s left)`);
    assert.ok(Math.abs(after.shown - after.left) <= 2, "the countdown matches the deadline");
    await fac.page.locator(".ws-timer", { hasText: /^\d+:\d\d left$/ }).waitFor();
    // Participants reconnect by themselves and see the same step.
    await stepIs(ana.page, 5);
  } finally {
    for (const p of [fac, ana, ben, screen]) await p.context.close();
  }
});
