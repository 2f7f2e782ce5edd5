// Live voting through the UI, against the real server in a real browser: a facilitator
// opens a hidden vote on three notes, two participants (one on the phone page) vote, the
// facilitator closes and reveals, and everyone sees the result and the common goal.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { boardPath, createBoard, ensureArtifacts, launchBrowser, noteByText, openBoard, personPage, startServer } from "./helpers.mjs";

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

const IDEAS = ["Ship weekly", "Halve review time", "One on-call rota"];

test("a hidden vote from opening to the common goal", async (t) => {
  const board = await createBoard(server.base, "Common goal");
  if (!board.links) return t.skip("this server does not issue access links");
  const fac = await personPage(browser, "Fran");
  const ana = await personPage(browser, "Ana");
  const ben = await personPage(browser, "Ben", { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  try {
    // The facilitator writes three candidate notes and selects them.
    await openBoard(fac.page, server.base, board, "facilitator");
    await fac.page.evaluate((ideas) => {
      const { Y, board: b } = window.__commonboard;
      b.doc.transact(() => {
        ideas.forEach((text, i) => {
          const m = new Y.Map();
          m.set("text", new Y.Text(text));
          m.set("pos", [i * 200, 0]);
          m.set("w", 160);
          m.set("h", 120);
          m.set("color", "yellow");
          m.set("author", "Fran");
          m.set("frame", null);
          m.set("createdAt", Date.now());
          b.notes.set(`idea${i}`, m);
        });
      });
    }, IDEAS);
    for (const text of IDEAS) await noteByText(fac.page, text).waitFor();
    const voteBtn = fac.page.getByRole("button", { name: "Vote on selected notes" });
    await voteBtn.waitFor();
    await fac.page.locator(".viewport").focus();
    await fac.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await fac.page.keyboard.press("Control+a");
    assert.equal(await fac.page.locator(".note.selected").count(), 3);

    // A hidden vote with two votes per person.
    await voteBtn.click();
    const dialog = fac.page.getByRole("dialog", { name: "Vote on 3 selected notes" });
    await dialog.getByLabel("Title").fill("Our common goal");
    await dialog.getByLabel("Votes per person").fill("2");
    await dialog.getByLabel("Most votes per note").fill("1");
    await dialog.getByLabel("Hide results until I reveal them").check();
    await dialog.getByRole("button", { name: "Open vote" }).click();
    const facPanel = fac.page.locator(".vote-panel");
    await facPanel.getByText("Voting is open").waitFor();

    // Ana votes on her laptop: two votes, then a third one is refused.
    await openBoard(ana.page, server.base, board, "participant");
    const anaPanel = ana.page.locator(".vote-panel");
    await anaPanel.getByText("2 votes left").waitFor();
    await ana.page.getByRole("button", { name: "Add a vote to: Ship weekly" }).click();
    await anaPanel.getByText("1 vote left").waitFor();
    await ana.page.getByRole("button", { name: "Add a vote to: Halve review time" }).click();
    await anaPanel.getByText("0 votes left").waitFor();
    await ana.page.getByRole("button", { name: "Add a vote to: One on-call rota" }).click();
    const refusal = anaPanel.locator('.vote-message[aria-live="polite"]');
    await refusal.filter({ hasText: /\S/ }).waitFor();
    assert.ok((await refusal.textContent()).length > 0, "the refusal is shown");
    assert.equal(await anaPanel.locator(".vote-tally").count(), 0, "no tally while hidden");
    await anaPanel.getByText("Results are hidden until the facilitator reveals them.").waitFor();
    assert.equal(await noteByText(ana.page, "Ship weekly").locator(".vote-controls").getAttribute("data-mine"), "1");

    // Ben votes on the phone page, with large buttons.
    await ben.page.goto(server.base + boardPath(board, "participant", "/capture"));
    await ben.page.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    const plus = ben.page.getByRole("button", { name: "Add a vote to: Ship weekly" });
    await plus.waitFor();
    const box = await plus.boundingBox();
    assert.ok(box.width >= 44 && box.height >= 44, `phone buttons are at least 44 px (${box.width}×${box.height})`);
    await plus.click();
    const benPanel = ben.page.locator(".vote-panel");
    await benPanel.getByText("1 vote left").waitFor();
    assert.equal(await benPanel.locator(".vote-tally").count(), 0, "no tally while hidden on the phone either");
    const overflow = await ben.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the phone page fits 360 px (overflow ${overflow})`);

    // The facilitator sees the tally all along, then closes and reveals.
    await facPanel.locator(".vote-tally-row", { hasText: "Ship weekly" }).getByText("2 votes").waitFor();
    await facPanel.getByRole("button", { name: "Close vote" }).click();
    await facPanel.getByText("Vote closed").waitFor();
    await facPanel.getByRole("button", { name: "Reveal results" }).click();
    await facPanel.getByRole("button", { name: "Reveal results" }).waitFor({ state: "hidden" });

    // Everyone sees the result and the common goal.
    await anaPanel.getByText("Vote closed").waitFor();
    await anaPanel.locator(".vote-tally-row").first().waitFor();
    const ranked = await anaPanel.locator(".vote-tally-row .vote-tally-text").allTextContents();
    assert.equal(ranked[0], "Ship weekly");
    await anaPanel.locator(".vote-tally-row", { hasText: "Ship weekly" }).getByText("Ana, Ben").waitFor();
    await noteByText(ana.page, "Ship weekly").locator(".goal-badge", { hasText: "Common goal" }).waitFor();
    assert.equal(await ana.page.locator(".note .goal-badge").count(), 1);
    assert.ok(await ana.page.getByRole("button", { name: "Add a vote to: Ship weekly" }).isDisabled(), "closed: controls disabled");
    await benPanel.locator(".vote-tally-row.is-goal", { hasText: "Ship weekly" }).getByText("Common goal").waitFor();
    await ben.page.locator(".vote-candidate.is-goal", { hasText: "Ship weekly" }).waitFor();
    const goal = await ana.page.evaluate(() => window.__commonboard.board.meta.get("commonGoal"));
    assert.equal(goal, "idea0");

    // Locking the board leaves participants read-only until it is unlocked.
    const lock = fac.page.getByRole("button", { name: "Lock board" });
    await lock.click();
    await fac.page.getByRole("button", { name: "Unlock board" }).waitFor();
    await ana.page.locator(".locked-badge").waitFor();
    await ana.page.locator(".board-page.read-only").waitFor();
    await fac.page.getByRole("button", { name: "Unlock board" }).click();
    await ana.page.locator(".locked-badge").waitFor({ state: "hidden" });
    await ana.page.locator(".board-page:not(.read-only)").waitFor();

    const dir = ensureArtifacts();
    await ana.page.screenshot({ path: join(dir, "vote.png") });
    await ben.page.screenshot({ path: join(dir, "vote-phone.png"), fullPage: true });
  } finally {
    await fac.context.close();
    await ana.context.close();
    await ben.context.close();
  }
});
