// Canvas interactions: frames, selection, resize, colour, undo/redo, keyboard, presence.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBoard, launchBrowser, noteByText, notePos, openBoard, personPage, startServer } from "./helpers.mjs";

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

/** Reads the board's notes from the page's Y.Doc, keyed by text. */
function docNotes(page) {
  return page.evaluate(() => {
    const out = {};
    window.__commonboard.doc.getMap("notes").forEach((m, id) => {
      // The client keeps a note's position in one `pos` entry, [x, y].
      const [x, y] = m.get("pos") ?? [];
      out[m.get("text").toString()] = { id, x, y, w: m.get("w"), h: m.get("h"), color: m.get("color"), frame: m.get("frame") ?? null };
    });
    return out;
  });
}

function docFrames(page) {
  return page.evaluate(() => {
    const out = {};
    window.__commonboard.doc.getMap("frames").forEach((m, id) => {
      out[m.get("title")] = { id, x: m.get("x"), y: m.get("y"), w: m.get("w"), h: m.get("h") };
    });
    return out;
  });
}

async function addNoteWithKeyboard(page, text) {
  await page.locator(".viewport").focus();
  await page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
  await page.keyboard.press("n");
  await page.locator(".note-input").pressSequentially(text);
  await page.keyboard.press("Escape");
  await page.locator(".note-input").waitFor({ state: "detached" });
  return noteByText(page, text);
}

async function drag(page, from, to, steps = 8) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  for (let i = 1; i <= steps; i++) {
    await page.mouse.move(from.x + ((to.x - from.x) * i) / steps, from.y + ((to.y - from.y) * i) / steps);
  }
  await page.mouse.up();
}

const centre = (box) => ({ x: box.x + box.width / 2, y: box.y + box.height / 2 });

describe("canvas interactions", () => {
  let board;
  let a;
  let b;

  before(async () => {
    board = await createBoard(server.base, "Interactions");
    a = await personPage(browser, "Ana");
    b = await personPage(browser, "Ben");
    await openBoard(a.page, server.base, board);
    await openBoard(b.page, server.base, board);
  });

  after(async () => {
    await a?.context.close();
    await b?.context.close();
  });

  test("double-click creates a note; keyboard moves and deletes it; undo and redo", async () => {
    const page = a.page;
    const vp = await page.locator(".viewport").boundingBox();
    await page.mouse.dblclick(vp.x + 200, vp.y + 200);
    await page.locator(".note-input").pressSequentially("Made by double-click");
    await page.keyboard.press("Escape");
    const note = noteByText(page, "Made by double-click");
    await note.waitFor();
    // Escape leaves editing with the note focused; arrows move it by 10 px.
    assert.ok(await note.evaluate((el) => el === document.activeElement));
    const p0 = await notePos(note);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowDown");
    assert.deepEqual(await notePos(note), { x: p0.x + 10, y: p0.y + 10 });
    await page.keyboard.press("Delete");
    await note.waitFor({ state: "detached" });
    await noteByText(b.page, "Made by double-click").waitFor({ state: "detached" });
    // Undo brings it back (where it was), redo deletes it again; the toolbar buttons work too.
    await page.keyboard.press("Control+z");
    await note.waitFor();
    await noteByText(b.page, "Made by double-click").waitFor();
    await page.getByRole("button", { name: "Redo (Ctrl+Shift+Z)" }).click();
    await note.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Undo (Ctrl+Z)" }).click();
    await note.waitFor();
    assert.deepEqual(await notePos(note), { x: p0.x + 10, y: p0.y + 10 });
  });

  test("undo is per user: B's undo does not revert A's change", async () => {
    await addNoteWithKeyboard(b.page, "Ben's note");
    await noteByText(a.page, "Ben's note").waitFor();
    // B undoes twice (text, then creation): A's notes stay.
    await b.page.locator(".viewport").focus();
    await b.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await b.page.keyboard.press("Control+z");
    await b.page.keyboard.press("Control+z");
    await noteByText(a.page, "Ben's note").waitFor({ state: "detached" });
    assert.equal(await noteByText(b.page, "Made by double-click").count(), 1);
  });

  test("Tab reaches notes, which screen readers read as 'Note by <author>: <text>'", async () => {
    const page = a.page;
    await page.locator(".viewport").focus();
    await page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await page.keyboard.press("Tab");
    const label = await page.evaluate(() => document.activeElement.getAttribute("aria-label"));
    assert.equal(label, "Note by Ana: Made by double-click");
  });

  test("a frame groups the notes dropped in it and carries them when moved", async () => {
    const page = a.page;
    await page.locator(".viewport").focus();
    await page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await page.keyboard.press("f");
    await page.keyboard.press("Enter");
    await page.locator(".frame-title-input").fill("Goals");
    await page.keyboard.press("Enter");
    const frameTitle = page.locator(".frame-title", { hasText: "Goals" });
    await frameTitle.waitFor();

    // Drop the note into the frame.
    const note = noteByText(page, "Made by double-click");
    const frameBox = await page.locator(".frame", { has: frameTitle }).boundingBox();
    await drag(page, centre(await note.boundingBox()), { x: frameBox.x + 120, y: frameBox.y + 120 });
    let notes = await docNotes(page);
    let frames = await docFrames(page);
    assert.equal(notes["Made by double-click"].frame, frames["Goals"].id);

    // Move the frame by its title bar: the note follows, here and on B.
    const before = notes["Made by double-click"];
    const tb = await frameTitle.boundingBox();
    await drag(page, { x: tb.x + 40, y: tb.y + tb.height / 2 }, { x: tb.x + 140, y: tb.y + tb.height / 2 + 60 });
    notes = await docNotes(page);
    const frames2 = await docFrames(page);
    const dx = frames2["Goals"].x - frames["Goals"].x;
    const dy = frames2["Goals"].y - frames["Goals"].y;
    assert.ok(dx > 0 && dy > 0);
    assert.equal(notes["Made by double-click"].x, before.x + dx);
    assert.equal(notes["Made by double-click"].y, before.y + dy);
    await b.page.waitForFunction(
      ([x, y]) => [...document.querySelectorAll(".note")].some((n) => n.style.left === `${x}px` && n.style.top === `${y}px`),
      [before.x + dx, before.y + dy],
    );

    // Dragging the note out of the frame takes it out.
    const fb = await page.locator(".frame", { has: frameTitle }).boundingBox();
    await drag(page, centre(await note.boundingBox()), { x: fb.x + fb.width + 150, y: fb.y + fb.height + 100 });
    notes = await docNotes(page);
    assert.equal(notes["Made by double-click"].frame, null);
  });

  test("shift-click and rubber-band select several notes, moved and recoloured together", async () => {
    const page = a.page;
    const one = await addNoteWithKeyboard(page, "Multi one");
    const two = await addNoteWithKeyboard(page, "Multi two");
    // N at the same place cascades the second note by 24 px; spread them apart.
    await drag(page, centre(await two.boundingBox()), { x: (await two.boundingBox()).x + 300, y: (await two.boundingBox()).y + 80 });
    await page.mouse.click(centre(await one.boundingBox()).x, centre(await one.boundingBox()).y);
    await page.keyboard.down("Shift");
    await page.mouse.click(centre(await two.boundingBox()).x, centre(await two.boundingBox()).y);
    await page.keyboard.up("Shift");
    assert.equal(await page.locator(".note.selected").count(), 2);
    await page.getByRole("button", { name: "Green note colour" }).click();
    let notes = await docNotes(page);
    assert.equal(notes["Multi one"].color, "green");
    assert.equal(notes["Multi two"].color, "green");
    const before = notes;
    await drag(page, centre(await one.boundingBox()), { x: centre(await one.boundingBox()).x + 50, y: centre(await one.boundingBox()).y + 40 });
    notes = await docNotes(page);
    for (const t of ["Multi one", "Multi two"]) {
      assert.equal(notes[t].x - before[t].x, notes["Multi one"].x - before["Multi one"].x);
      assert.equal(notes[t].y - before[t].y, notes["Multi one"].y - before["Multi one"].y);
      assert.ok(notes[t].x !== before[t].x);
    }

    // Click on empty canvas clears the selection; a Shift+drag band selects both again.
    const vp = await page.locator(".viewport").boundingBox();
    await page.mouse.click(vp.x + 10, vp.y + vp.height - 40);
    assert.equal(await page.locator(".note.selected").count(), 0);
    const b1 = await one.boundingBox();
    const b2 = await two.boundingBox();
    const x1 = Math.min(b1.x, b2.x) - 10;
    const y1 = Math.min(b1.y, b2.y) - 10;
    const x2 = Math.max(b1.x + b1.width, b2.x + b2.width) + 10;
    const y2 = Math.max(b1.y + b1.height, b2.y + b2.height) + 10;
    await page.keyboard.down("Shift");
    await drag(page, { x: x1, y: y1 }, { x: x2, y: y2 });
    await page.keyboard.up("Shift");
    const selected = await page.locator(".note.selected .note-text").allTextContents();
    assert.deepEqual(selected.sort(), ["Multi one", "Multi two"]);
    await page.getByRole("button", { name: "Delete selected (Delete)" }).click();
    await one.waitFor({ state: "detached" });
    await two.waitFor({ state: "detached" });
  });

  test("the corner handle resizes a note", async () => {
    const page = a.page;
    const note = await addNoteWithKeyboard(page, "Resize me");
    const handle = note.locator(".note-resize");
    const hb = await handle.boundingBox();
    await drag(page, centre(hb), { x: centre(hb).x + 60, y: centre(hb).y + 40 });
    const n = (await docNotes(page))["Resize me"];
    const zoom = Number(await page.locator(".viewport").getAttribute("data-zoom")) / 100;
    assert.equal(n.w, Math.round(160 + 60 / zoom));
    assert.equal(n.h, Math.round(120 + 40 / zoom));
  });

  test("a note someone else is editing is outlined with their name", async () => {
    const note = noteByText(a.page, "Resize me");
    await note.dblclick();
    await a.page.locator(".note-input").waitFor();
    const onB = noteByText(b.page, "Resize me");
    await b.page.waitForFunction(
      () => [...document.querySelectorAll(".note.remote-editing .note-editors")].some((e) => e.textContent === "Ana editing"),
    );
    assert.ok(await onB.evaluate((el) => el.classList.contains("remote-editing")));
    // Concurrent typing in the same note merges.
    await b.page.evaluate(() => {
      const { doc } = window.__commonboard;
      doc.getMap("notes").forEach((m) => {
        const t = m.get("text");
        if (t.toString() === "Resize me") t.insert(0, "Please ");
      });
    });
    await a.page.keyboard.press("End");
    await a.page.locator(".note-input").pressSequentially(" now");
    await a.page.keyboard.press("Escape");
    for (const p of [a.page, b.page]) await noteByText(p, "Please resize me now".replace("resize", "Resize")).waitFor();
    await b.page.waitForFunction(() => !document.querySelector(".note.remote-editing"));
  });

  test("wheel zooms around the pointer and drag on empty canvas pans", async () => {
    const page = a.page;
    const vpEl = page.locator(".viewport");
    const vp = await vpEl.boundingBox();
    const z0 = Number(await vpEl.getAttribute("data-zoom"));
    await page.mouse.move(vp.x + 400, vp.y + 300);
    await page.mouse.wheel(0, -100);
    await page.waitForFunction((z) => Number(document.querySelector(".viewport").dataset.zoom) > z, z0);
    const t0 = await page.locator(".world").evaluate((el) => el.style.transform);
    await drag(page, { x: vp.x + 30, y: vp.y + vp.height - 60 }, { x: vp.x + 130, y: vp.y + vp.height - 120 });
    const t1 = await page.locator(".world").evaluate((el) => el.style.transform);
    assert.notEqual(t0, t1);
  });

  test("two-finger pinch zooms on a touch screen", async () => {
    const phone = await browser.newContext({ viewport: { width: 800, height: 600 }, hasTouch: true, isMobile: true });
    await phone.addInitScript(() => localStorage.setItem("commonboard.name", "Tess"));
    try {
      const page = await phone.newPage();
      await openBoard(page, server.base, board);
      const vpEl = page.locator(".viewport");
      const vp = await vpEl.boundingBox();
      // Start on empty canvas, away from notes: zoom out far first.
      await page.evaluate(() => document.querySelector(".viewport").focus());
      const z0 = Number(await vpEl.getAttribute("data-zoom"));
      const cdp = await phone.newCDPSession(page);
      const cx = vp.x + vp.width / 2;
      const cy = vp.y + vp.height - 60;
      const touch = (type, d) =>
        cdp.send("Input.dispatchTouchEvent", {
          type,
          touchPoints: type === "touchEnd" ? [] : [
            { x: cx - d, y: cy, id: 1 },
            { x: cx + d, y: cy, id: 2 },
          ],
        });
      await touch("touchStart", 40);
      for (let d = 45; d <= 160; d += 15) await touch("touchMove", d);
      await touch("touchEnd", 0);
      const z1 = Number(await vpEl.getAttribute("data-zoom"));
      assert.ok(z1 > z0 * 2.5, `pinch zoomed from ${z0}% to ${z1}%`);
    } finally {
      await phone.close();
    }
  });

  test("a note of an older board (x and y entries) shows where they say; moving it writes pos", async () => {
    // Ben's page writes the note as boards before `pos` did.
    await b.page.evaluate(() => {
      const { Y, board: bd } = window.__commonboard;
      bd.doc.transact(() => {
        const m = new Y.Map();
        m.set("text", new Y.Text("Written the old way"));
        m.set("x", 2400);
        m.set("y", 1700);
        m.set("w", 160);
        m.set("h", 120);
        m.set("color", "green");
        m.set("author", "Ben");
        m.set("frame", null);
        m.set("createdAt", Date.now());
        bd.notes.set("old-way", m);
      });
    });
    const note = noteByText(a.page, "Written the old way");
    await note.waitFor();
    assert.deepEqual(await notePos(note), { x: 2400, y: 1700 });
    await note.focus();
    await a.page.keyboard.press("ArrowRight");
    await a.page.keyboard.press("ArrowUp");
    const raw = () =>
      a.page.evaluate(() => {
        const m = window.__commonboard.doc.getMap("notes").get("old-way");
        return { pos: m.get("pos") ?? null, x: m.get("x"), y: m.get("y") };
      });
    assert.deepEqual(await raw(), { pos: [2410, 1690], x: 2400, y: 1700 }, "a move writes pos and leaves x and y");
    assert.deepEqual(await notePos(note), { x: 2410, y: 1690 });
    // Ben's page sees the move (its observer takes a change of pos as a move).
    await b.page.waitForFunction(() => {
      const el = document.querySelector('.note[data-id="old-way"]');
      return el?.style.left === "2410px" && el?.style.top === "1690px";
    });
  });
});
