// Keyboard, screen reader and landing on a workshop board made from the template, in real
// browsers against the real server: joining and reloading land on the current step at a
// readable zoom; the skip link takes the keyboard to the notes; Tab walks the notes area
// by area before any frame title; the toolbar is one tab stop; a viewer's "h" does
// nothing and a viewer sees no shortcut bar; the big screen says a vote's results are
// hidden; the live regions say a step change, a timer start and a turn (and the phone
// shows the timer).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, personPage, startServer, waitSynced } from "./helpers.mjs";

/** The least zoom a board opens at (READABLE_ZOOM in web/src/canvas/workshop-bar.ts). */
const READABLE = 0.75;
const LAPTOP = { viewport: { width: 1024, height: 640 } };
const PHONE = { viewport: { width: 360, height: 720 }, isMobile: true, hasTouch: true };

let server;
let browser;
let info;
let fac;
let ana;
const opened = [];

/** A page's URL for a role's link (`suffix` after the board's path, e.g. "/capture"). */
function link(role, suffix = "") {
  const u = new URL(info.links[role], server.base);
  return `${server.base}${u.pathname}${suffix}${u.search}`;
}

async function open(name, role, options = LAPTOP) {
  const p = await personPage(browser, name, options);
  opened.push(p);
  await p.page.goto(link(role));
  await waitSynced(p.page);
  return p;
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const res = await fetch(`${server.base}/api/boards`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Keyboard room", template: "collaboration-workshop" }),
  });
  info = await res.json();
  fac = await open("Fran", "facilitator");
  await fac.page.getByRole("button", { name: "Start workshop" }).click();
  await fac.page.locator(".ws-step", { hasText: "Step 1 of 5" }).waitFor();
  await fac.page.getByRole("button", { name: "Next step" }).click();
  await fac.page.locator(".ws-step", { hasText: "Step 2 of 5" }).waitFor();
});

after(async () => {
  for (const p of opened) await p.context.close();
  await browser?.close();
  await server?.stop();
});

/** The zoom the toolbar shows (its "75%" button), as a fraction. */
async function zoomOf(page) {
  const text = await page.locator(".toolbar button", { hasText: /^\d+%$/ }).textContent();
  return Number.parseInt(text, 10) / 100;
}

/** Whether a title starts on the canvas on screen: its left end, full height (a wide title may run off to the right). */
async function onScreen(page, locator) {
  const [box, view] = [await locator.boundingBox(), await page.locator(".viewport").boundingBox()];
  return !!box && box.x >= view.x && box.y >= view.y && box.x + 120 <= view.x + view.width && box.y + box.height <= view.y + view.height;
}

/** Checks that the page shows step 2 at a readable zoom, its areas in view. */
async function showsStepTwo(page) {
  const step = page.locator(".frame", { has: page.locator(".frame-title", { hasText: "2. Common goal" }) });
  await page.waitForFunction(() => document.querySelector(".toolbar")?.textContent?.match(/\d+%/));
  // The view settles once the workshop state arrived.
  await page.waitForTimeout(300);
  const zoom = await zoomOf(page);
  assert.ok(zoom >= READABLE, `opens at a readable zoom: ${zoom}`);
  const [box, view] = [await step.boundingBox(), await page.locator(".viewport").boundingBox()];
  const [cx, cy] = [view.x + view.width / 2, view.y + view.height / 2];
  assert.ok(cx > box.x && cx < box.x + box.width && cy > box.y && cy < box.y + box.height, "the view's centre is on the current step");
  assert.ok(await onScreen(page, page.locator(".frame-title", { hasText: "2. Common goal" })), "the step's title is on screen");
  assert.ok(await onScreen(page, page.locator(".frame-title", { hasText: "What each team does and needs" })), "its first area's title is on screen");
}

test("joining and reloading land on the current step at a readable zoom", async () => {
  ana = await open("Ana", "participant");
  await showsStepTwo(ana.page);
  await ana.page.reload();
  await waitSynced(ana.page);
  await showsStepTwo(ana.page);
});

/** Puts notes with these texts into the template's areas (by area name), as Ana. */
async function addNotes(page, notes) {
  await page.evaluate((list) => {
    const { board, Y } = window.__commonboard;
    const areas = new Map();
    for (const [id, f] of board.frames.entries()) if (f.get("area")) areas.set(f.get("area"), [id, f.get("x"), f.get("y")]);
    board.doc.transact(() => {
      for (const [i, [area, text, col, row]] of list.entries()) {
        const [id, x, y] = areas.get(area);
        const m = new Y.Map();
        m.set("text", new Y.Text(text));
        m.set("pos", [x + 16 + col * 176, y + 44 + row * 132]);
        m.set("w", 160);
        m.set("h", 120);
        m.set("color", "yellow");
        m.set("author", "Ana");
        m.set("frame", id);
        m.set("createdAt", Date.now());
        board.notes.set(`kbd-${i}`, m);
      }
    });
  }, notes);
}

const focused = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    return { cls: el?.className ?? "", label: el?.getAttribute("aria-label") ?? "", text: el?.textContent ?? "", inToolbar: !!el?.closest('[role="toolbar"]') };
  });

test("the skip link takes the keyboard to the notes, which Tab walks area by area before any frame title", async () => {
  const page = ana.page;
  // Written out of order; the page orders them by area (left to right), then by rows.
  await addNotes(page, [
    ["candidates", "Goal two", 1, 0],
    ["value", "Value one", 0, 0],
    ["teams", "Team C", 0, 1],
    ["costs", "Cost one", 0, 0],
    ["teams", "Team B", 1, 0],
    ["plot", "Plot one", 0, 0],
    ["teams", "Team A", 0, 0],
    ["candidates", "Goal one", 0, 0],
  ]);
  await page.locator(".note", { hasText: "Goal one" }).waitFor({ state: "attached" });
  await page.waitForTimeout(800); // the reading order is put in place once the board is still
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("Tab");
  assert.match((await focused(page)).cls, /skip-link/, "the first Tab reaches the skip link");
  assert.ok(await page.locator(".skip-link").isVisible(), "the skip link shows when focused");
  await page.keyboard.press("Enter");
  const order = [];
  let after = null;
  for (let i = 0; i < 12; i++) {
    const f = await focused(page);
    if (!/\bnote\b/.test(f.cls)) {
      after = f;
      break;
    }
    order.push(f.label);
    await page.keyboard.press("Tab");
  }
  const expected = ["Team A", "Team B", "Team C", "Plot one", "Value one", "Cost one", "Goal one", "Goal two"];
  assert.deepEqual(
    order,
    expected.map((t) => `Note by Ana: ${t}`),
  );
  assert.match(after?.cls ?? "", /frame-title/, "after the notes come the frame titles");
});

test("the toolbar is one tab stop, walked with the arrow keys", async () => {
  const page = ana.page;
  // From the top of the page (the skip link is its first tab stop).
  await page.locator(".skip-link").focus();
  let reached = null;
  for (let i = 0; i < 6 && !reached; i++) {
    await page.keyboard.press("Tab");
    const f = await focused(page);
    if (f.inToolbar) reached = f;
  }
  assert.ok(reached, "Tab reaches the toolbar right after the page's title");
  await page.keyboard.press("ArrowRight");
  const next = await focused(page);
  assert.ok(next.inToolbar && next.label + next.text !== reached.label + reached.text, "an arrow key moves inside the toolbar");
  await page.keyboard.press("Tab");
  assert.equal((await focused(page)).inToolbar, false, "one more Tab leaves the toolbar");
});

test("a viewer sees no shortcut bar, and 'h' does not put them in history mode", async () => {
  const viewer = await open("Vic", "viewer");
  const page = viewer.page;
  await page.locator(".board-page.read-only").waitFor();
  assert.equal(await page.locator(".help").isVisible(), false, "no shortcut bar for a viewer");
  await page.locator(".viewport").focus();
  await page.keyboard.press("h");
  await page.waitForTimeout(300);
  assert.equal(await page.locator(".board-page.history-mode").count(), 0, "no history mode");
  // The same key does open history for a participant.
  await ana.page.locator(".viewport").focus();
  await ana.page.keyboard.press("Escape");
  await ana.page.keyboard.press("h");
  await ana.page.locator(".board-page.history-mode").waitFor();
  await ana.page.getByRole("button", { name: "Back to live" }).click();
  await ana.page.locator(".board-page.history-mode").waitFor({ state: "detached" });
});

test("the big screen says a vote's results are hidden", async () => {
  const screen = await personPage(browser, null, { viewport: { width: 1280, height: 720 } });
  opened.push(screen);
  await screen.page.goto(link("viewer", "/present"));
  await screen.page.waitForFunction(() => window.__commonboard?.provider?.synced === true, null, { timeout: 15_000 });
  await fac.page.getByRole("button", { name: "Vote on the candidate goals" }).click();
  await fac.page.locator("#vote-hidden").check();
  await fac.page.getByRole("button", { name: "Open vote" }).click();
  await screen.page.locator(".present-tally-hidden", { hasText: "Results are hidden until the facilitator reveals them" }).waitFor();
  assert.equal(await screen.page.locator(".present-tally-row").count(), 0, "no tally shown");
  await fac.page.getByRole("button", { name: "Close vote" }).first().click();
  await screen.page.locator(".present-tally-hidden", { hasText: "Results are hidden: the facilitator reveals them" }).waitFor();
});

test("the live regions say a step change, a timer start and a turn; the phone shows the timer", async () => {
  const phone = await personPage(browser, "Pat", PHONE);
  opened.push(phone);
  await phone.page.goto(link("participant", "/capture"));
  await phone.page.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 });
  const page = ana.page;
  const step = page.locator('.ws-step[aria-live="polite"]');
  const announce = page.locator('.workshop-bar [aria-live="assertive"]');
  const speaker = page.locator('.ws-speaker[aria-live="polite"]');

  await fac.page.getByRole("button", { name: "Next step" }).click();
  await step.filter({ hasText: "Step 3 of 5" }).waitFor();
  assert.match(await step.textContent(), /Step 3 of 5: Obstacles/);

  await fac.page.getByRole("button", { name: /^Start \d+ min timer$/ }).click();
  await page.waitForFunction(() => /^Timer started: \d+(\.\d)? minutes?$/.test(document.querySelector('.workshop-bar [aria-live="assertive"]')?.textContent ?? ""));
  assert.match(await announce.textContent(), /^Timer started: /);
  await phone.page.locator(".capture-timer", { hasText: /^\d+:\d\d left$/ }).waitFor();

  await fac.page.getByRole("button", { name: "Go round the room" }).click();
  await fac.page.locator(".turns-dialog").getByRole("button", { name: "Start" }).click();
  await speaker.filter({ hasText: /^Speaking: / }).waitFor();
  assert.match(await speaker.textContent(), /^Speaking: \S+.* · round 1$/);
  const first = /^Speaking: ([^·(]+)/.exec(await speaker.textContent())[1].trim();
  // The turn moves on: the live region says the next speaker.
  const who = { Fran: fac.page, Ana: page };
  if (first === "Pat") await phone.page.locator(".capture-pass").click();
  else if (who[first]) await who[first].locator(".ws-pass", { hasText: /^Pass$/ }).click();
  else await fac.page.locator(".ws-pass", { hasText: `Pass for ${first}` }).click();
  await page.waitForFunction((name) => {
    const t = document.querySelector(".ws-speaker")?.textContent ?? "";
    return /Speaking: |Everyone passed/.test(t) && !t.startsWith(`Speaking: ${name}`);
  }, first);
});
