// Page load time and panning smoothness with 500 notes, against the real server.
// Prints METRIC lines (copy them into the docs).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { boardPath, createBoard, launchBrowser, percentile, personPage, startServer, waitSynced } from "./helpers.mjs";

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

/** Milliseconds from navigation start to the board's first render after sync. */
async function loadTime(page, url) {
  await page.goto(url);
  await waitSynced(page);
  return page.evaluate(() => performance.getEntriesByName("commonboard:first-render")[0].startTime);
}

const LOADS = 3;

/** Median of LOADS cold loads, each in a fresh browser context; returns the last page open. */
async function medianLoad(url, name, check = async () => {}) {
  const times = [];
  let last = null;
  for (let i = 0; i < LOADS; i++) {
    if (last) await last.context.close();
    last = await personPage(browser, name);
    times.push(await loadTime(last.page, url));
    await check(last.page);
  }
  times.sort((x, y) => x - y);
  return { ms: times[Math.floor(times.length / 2)], person: last };
}

function metric(name, value) {
  console.log(`METRIC ${name}=${Math.round(value * 10) / 10}`);
}

test("page load and panning a board of 500 notes", async () => {
  const board = await createBoard(server.base, "Five hundred notes");
  const url = server.base + boardPath(board, "facilitator");

  // Cold loads of the empty board (a fresh browser context each time).
  const { ms: emptyLoad, person: first } = await medianLoad(url, "Perf");

  // 500 notes, written straight into the Y.Doc in one transaction.
  await first.page.evaluate(() => {
    const { doc, Y } = window.__commonboard;
    const notes = doc.getMap("notes");
    const colors = ["yellow", "pink", "green", "blue", "orange", "purple"];
    doc.transact(() => {
      for (let i = 0; i < 500; i++) {
        const m = new Y.Map();
        m.set("text", new Y.Text(`Idea ${i + 1}: shared goals and KPIs everyone can see`));
        m.set("pos", [(i % 25) * 180, Math.floor(i / 25) * 140]);
        m.set("w", 160);
        m.set("h", 120);
        m.set("color", colors[i % colors.length]);
        m.set("author", "Perf");
        m.set("frame", null);
        m.set("createdAt", Date.now());
        notes.set(`perf${String(i).padStart(12, "0")}`, m);
      }
    });
  });
  assert.equal(await first.page.locator(".note").count(), 500);
  // Cold loads of the board with 500 notes: the first render after sync shows them all.
  const { ms: fullLoad, person: second } = await medianLoad(url, "Viewer", async (p) => {
    assert.equal(await p.locator(".note").count(), 500);
  });
  const page = second.page;
  // The first load fits the board to the screen: all 500 notes are in view while panning.

  const vp = await page.locator(".viewport").boundingBox();
  await page.evaluate(() => {
    window.__frames = [];
    window.__recording = true;
    const loop = (t) => {
      window.__frames.push(t);
      if (window.__recording) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  });
  // Space+drag pans from anywhere, also over notes.
  await page.locator(".viewport").focus();
  await page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
  await page.keyboard.down("Space");
  const cx = vp.x + vp.width / 2;
  const cy = vp.y + vp.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  const started = Date.now();
  let i = 0;
  while (Date.now() - started < 2000) {
    const phase = (i++ % 60) / 60;
    const dx = Math.sin(phase * 2 * Math.PI) * 300;
    const dy = Math.cos(phase * 2 * Math.PI) * 150 - 150;
    await page.mouse.move(cx + dx, cy + dy);
    await page.waitForTimeout(8);
  }
  await page.mouse.up();
  await page.keyboard.up("Space");
  const frames = await page.evaluate(() => {
    window.__recording = false;
    return window.__frames;
  });
  const deltas = [];
  for (let k = 1; k < frames.length; k++) deltas.push(frames[k] - frames[k - 1]);
  deltas.sort((a, b) => a - b);
  // Frame times are measured, not asserted: a busy machine draws fewer frames.
  assert.ok(deltas.length >= 5, `only ${deltas.length} frames recorded`);
  const moved = await page.evaluate(() => document.querySelector(".world").style.transform);
  assert.match(moved, /translate\(/);

  metric("page_load_ms", emptyLoad);
  metric("page_load_500_notes_ms", fullLoad);
  metric("pan_frame_ms_p50", percentile(deltas, 50));
  metric("pan_frame_ms_p95", percentile(deltas, 95));
  metric("pan_frames", deltas.length);
  metric("pan_moves", i);

  await first.context.close();
  await second.context.close();
});
