// History mode against the real server in a real browser: a participant writes three
// notes over time; the facilitator opens history, scrubs to a moment between them, plays
// the session back, and restores an earlier point, which every live board then shows.
// Others' live boards are never disturbed by someone viewing history.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createBoard, ensureArtifacts, launchBrowser, noteByText, openBoard, personPage, startServer } from "./helpers.mjs";

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

/** Adds a note as the page's person, in one transaction (one logged update). */
async function addNote(page, id, text, x) {
  await page.evaluate(
    ([id, text, x]) => {
      const { Y, board: b } = window.__commonboard;
      b.doc.transact(() => {
        const m = new Y.Map();
        m.set("text", new Y.Text(text));
        m.set("pos", [x, 0]);
        m.set("w", 160);
        m.set("h", 120);
        m.set("color", "yellow");
        m.set("author", b.me.name);
        m.set("frame", null);
        m.set("createdAt", Date.now());
        b.notes.set(id, m);
      });
    },
    [id, text, x],
  );
}

const shown = (page, text) => noteByText(page, text).waitFor();
const gone = (page, text) => noteByText(page, text).waitFor({ state: "detached" });

test("history mode: scrub, play back, restore", async (t) => {
  const board = await createBoard(server.base, "Retro");
  if (!board.links) return t.skip("this server does not issue access links");
  const fac = await personPage(browser, "Fran");
  const ana = await personPage(browser, "Ana");
  const ben = await personPage(browser, "Ben", { viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true });
  try {
    // Ana writes Alpha, Beta and, later, Gamma.
    await openBoard(ana.page, server.base, board, "participant");
    await addNote(ana.page, "alpha", "Alpha", 0);
    await ana.page.waitForTimeout(1000);
    await addNote(ana.page, "beta", "Beta", 200);
    await ana.page.waitForTimeout(1000);
    await addNote(ana.page, "gamma", "Gamma", 400);
    await openBoard(fac.page, server.base, board, "facilitator");
    await openBoard(ben.page, server.base, board, "participant");
    for (const p of [fac.page, ben.page]) for (const text of ["Alpha", "Beta", "Gamma"]) await shown(p, text);
    // Fran locks and unlocks the board: a moment the timeline marks.
    await fac.page.getByRole("button", { name: "Lock board" }).click();
    await fac.page.getByRole("button", { name: "Unlock board" }).click();
    await fac.page.getByRole("button", { name: "Lock board" }).waitFor();

    // Fran opens history mode: the newest point, read-only, with its author outlined.
    await fac.page.getByRole("button", { name: "History" }).click();
    const panel = fac.page.getByRole("region", { name: "History" });
    const slider = panel.getByRole("slider", { name: "Point in history" });
    await slider.waitFor();
    await fac.page.locator(".board-page.history-mode.read-only").waitFor();
    await noteByText(fac.page, "Gamma").locator(".history-by", { hasText: "Ana" }).waitFor();
    assert.ok((await panel.locator(".history-bar").count()) > 0, "the timeline has bars");

    // Clicking the entry of Beta shows the board right after it: Alpha and Beta, no Gamma.
    const betaEntry = panel.locator(".history-entry", { hasText: "Beta" });
    await betaEntry.click();
    await gone(fac.page, "Gamma");
    await shown(fac.page, "Alpha");
    await noteByText(fac.page, "Beta").locator(".history-by", { hasText: "Ana" }).waitFor();
    assert.equal(await noteByText(fac.page, "Alpha").locator(".history-by").count(), 0, "only what the update changed is outlined");
    const betaSeq = Number(await betaEntry.getAttribute("data-seq"));
    assert.equal(Number(await slider.inputValue()), betaSeq, "the scrubber follows");
    await betaEntry.locator('xpath=self::*[@aria-current="true"]').waitFor();

    // The keyboard scrubs: one step back is before Beta, one forward brings it back.
    await slider.focus();
    await fac.page.keyboard.press("ArrowLeft");
    await gone(fac.page, "Beta");
    await shown(fac.page, "Alpha");
    await fac.page.keyboard.press("ArrowRight");
    await shown(fac.page, "Beta");
    assert.equal(await noteByText(fac.page, "Gamma").count(), 0);
    await fac.page.screenshot({ path: join(ensureArtifacts(), "history.png") });

    // Meanwhile the live boards go on: Ben adds Delta; Ana sees it, Fran's history does not.
    await addNote(ben.page, "delta", "Delta", 600);
    await shown(ana.page, "Delta");
    await shown(ana.page, "Gamma");
    await ana.page.locator(".board-page:not(.read-only):not(.history-mode)").waitFor();
    await fac.page.waitForFunction(() => window.__commonboard.board.notes.has("delta"), null, { timeout: 10_000 });
    assert.equal(await noteByText(fac.page, "Delta").count(), 0, "the historical board stays put");
    assert.equal(await noteByText(fac.page, "Gamma").count(), 0);

    // The lock's marker on the timeline jumps to its moment, after Gamma.
    await panel.getByRole("group", { name: "Timeline of changes" }).getByRole("button", { name: /Fran locked the board/ }).click();
    await shown(fac.page, "Gamma");
    assert.equal(await noteByText(fac.page, "Delta").count(), 0);

    // Playback from the start at 60×: the notes appear in the order they were written.
    await slider.focus();
    await fac.page.keyboard.press("Home");
    await gone(fac.page, "Alpha");
    await fac.page.evaluate(() => {
      window.__appeared = [];
      new MutationObserver((records) => {
        for (const r of records)
          for (const n of r.addedNodes) if (n.classList?.contains("note")) window.__appeared.push(n.querySelector(".note-text").textContent);
      }).observe(document.querySelector(".notes-layer"), { childList: true });
    });
    await panel.getByLabel("Playback speed").selectOption("60");
    await panel.getByRole("button", { name: "Play" }).click();
    await panel.getByRole("button", { name: "Pause" }).waitFor();
    await shown(fac.page, "Delta");
    await panel.getByRole("button", { name: "Play" }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await fac.page.evaluate(() => window.__appeared), ["Alpha", "Beta", "Gamma", "Delta"]);

    // A participant (on a phone) may look at history but has no restore button.
    await ben.page.getByRole("button", { name: "History" }).click();
    const benPanel = ben.page.getByRole("region", { name: "History" });
    await benPanel.locator(".history-entry").first().waitFor();
    await ben.page.locator(".board-page.history-mode").waitFor();
    assert.equal(await ben.page.getByRole("button", { name: "Restore to here" }).count(), 0);
    const overflow = await ben.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the history panel fits a phone (overflow ${overflow})`);
    await ben.page.screenshot({ path: join(ensureArtifacts(), "history-phone.png") });
    await ben.page.keyboard.press("Escape");
    await benPanel.waitFor({ state: "hidden" });
    await ben.page.locator(".board-page:not(.history-mode)").waitFor();
    await shown(ben.page, "Delta");

    // Fran restores the moment after Beta: every live board loses Gamma and Delta.
    await betaEntry.click();
    await gone(fac.page, "Gamma");
    await panel.getByRole("button", { name: "Restore to here" }).click();
    const dialog = fac.page.getByRole("dialog", { name: "Restore the board to this point?" });
    await dialog.getByRole("button", { name: "Restore", exact: true }).click();
    await panel.waitFor({ state: "hidden" });
    await fac.page.locator(".board-page:not(.history-mode)").waitFor();
    for (const p of [fac.page, ana.page, ben.page]) {
      await gone(p, "Gamma");
      await gone(p, "Delta");
      await shown(p, "Alpha");
      await shown(p, "Beta");
    }
    await ana.page.locator(".notice", { hasText: "Fran restored the board to an earlier point" }).waitFor();
    await ben.page.locator(".notice", { hasText: "restored the board to an earlier point" }).waitFor();
    // The board stays editable for the participants after it.
    await ana.page.locator(".board-page:not(.read-only)").waitFor();
  } finally {
    await fac.context.close();
    await ana.context.close();
    await ben.context.close();
  }
});

test("a long replay at max speed keeps painting", async (t) => {
  const board = await createBoard(server.base, "Busy");
  if (!board.links) return t.skip("this server does not issue access links");
  const fac = await personPage(browser, "Fran");
  try {
    await openBoard(fac.page, server.base, board, "facilitator");
    // 1,500 logged updates: a note dragged across the board, one small move each.
    await addNote(fac.page, "runner", "Runner", 0);
    await fac.page.evaluate(async () => {
      const { board: b } = window.__commonboard;
      const m = b.notes.get("runner");
      for (let i = 1; i <= 1500; i++) {
        b.doc.transact(() => m.set("pos", [i, 0]));
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 20));
      }
    });
    const last = await fac.page.evaluate(async () => {
      const token = new URLSearchParams(location.search).get("token");
      const id = location.pathname.split("/")[2];
      for (let i = 0; i < 100; i++) {
        const res = await fetch(`/api/boards/${id}/timeline`, { headers: { authorization: `Bearer ${token}` } });
        const tl = await res.json();
        if (tl.last_seq >= 1500) return tl.last_seq;
        await new Promise((r) => setTimeout(r, 100));
      }
      return -1;
    });
    assert.ok(last >= 1500, `the log holds the moves (${last})`);

    await fac.page.getByRole("button", { name: "History" }).click();
    const panel = fac.page.getByRole("region", { name: "History" });
    const slider = panel.getByRole("slider", { name: "Point in history" });
    await slider.waitFor();
    await panel.locator(".history-entry").first().waitFor();
    await slider.focus();
    await fac.page.keyboard.press("Home");
    await gone(fac.page, "Runner");
    await panel.getByLabel("Playback speed").selectOption("max");
    // Gaps between painted frames while the replay runs.
    await fac.page.evaluate(() => {
      window.__gaps = [];
      let prev = performance.now();
      const loop = (now) => {
        window.__gaps.push(now - prev);
        prev = now;
        if (!window.__stopFrames) requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
    });
    await panel.getByRole("button", { name: "Play" }).click();
    await panel.getByRole("button", { name: "Pause" }).waitFor();
    await panel.getByRole("button", { name: "Play" }).waitFor({ timeout: 20_000 });
    const gaps = await fac.page.evaluate(() => {
      window.__stopFrames = true;
      return window.__gaps.slice(1);
    });
    const left = await noteByText(fac.page, "Runner").evaluate((el) => el.style.left);
    assert.equal(left, "1500px", "the replay reached the end");
    const worst = Math.max(...gaps);
    console.log(`METRIC history_replay_frames=${gaps.length} worst_gap_ms=${worst.toFixed(1)}`);
    assert.ok(worst < 100, `a frame at least every 100 ms (worst gap ${worst.toFixed(1)} ms)`);
  } finally {
    await fac.context.close();
  }
});
