// Live collaboration on a board, against the real server in a real browser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  boardPath,
  createBoard,
  ensureArtifacts,
  launchBrowser,
  noteByText,
  notePos,
  openBoard,
  personPage,
  startServer,
  waitSynced,
} from "./helpers.mjs";

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

describe("home page", () => {
  test("creates a board and lists it", async () => {
    const { context, page } = await personPage(browser, "Ana");
    try {
      await page.goto(server.base + "/");
      await page.getByLabel("Board title").fill("Platform × Payments: common goal");
      await page.getByRole("button", { name: "Create board" }).click();
      await page.waitForURL(/\/b\/[0-9a-f]+(\?token=[^&]+)?$/);
      await waitSynced(page);
      await page.locator(".board-title", { hasText: "Platform × Payments: common goal" }).waitFor();
      await page.goto(server.base + "/");
      await page.getByRole("link", { name: "Platform × Payments: common goal" }).waitFor();
      await page.screenshot({ path: join(ensureArtifacts(), "home.png") });
    } finally {
      await context.close();
    }
  });

  test("a socket closed with 4404 shows 'board not found'", async () => {
    const { context, page } = await personPage(browser, "Ana");
    try {
      // The HTTP API and the socket are faked, so this is the client's handling alone.
      const id = "f".repeat(32);
      await page.route("**/api/boards/**", (route) =>
        route.fulfill({
          status: 200,
          contentType: "application/json",
          body: JSON.stringify({ id, title: "Ghost", template: "blank", created_at: "2026-01-01T00:00:00Z", url: `/b/${id}` }),
        }),
      );
      await page.routeWebSocket(/\/ws\//, (ws) => ws.close({ code: 4404, reason: "board not found" }));
      await page.goto(`${server.base}/b/${id}`);
      await page.getByRole("heading", { name: "Board not found" }).waitFor({ timeout: 10_000 });
    } finally {
      await context.close();
    }
  });

  test("a board opened without its link's token says so", async (t) => {
    const board = await createBoard(server.base, "Locked away");
    if (!board.links) return t.skip("this server does not issue access links");
    const { context, page } = await personPage(browser, "Ana");
    try {
      await page.goto(`${server.base}/b/${board.id}`);
      await page.getByRole("heading", { name: "This link does not open the board" }).waitFor({ timeout: 10_000 });
    } finally {
      await context.close();
    }
  });

  test("an unknown board shows 'board not found'", async () => {
    const { context, page } = await personPage(browser, "Ana");
    try {
      await page.goto(server.base + "/b/00000000000000000000000000000000");
      await page.getByRole("heading", { name: "Board not found" }).waitFor({ timeout: 10_000 });
    } finally {
      await context.close();
    }
  });
});

describe("two people on one board", () => {
  let board;
  let a;
  let b;

  before(async () => {
    board = await createBoard(server.base, "Workshop");
    a = await personPage(browser, "Ana");
    b = await personPage(browser, "Ben");
    await openBoard(a.page, server.base, board, "facilitator");
    await openBoard(b.page, server.base, board);
  });

  after(async () => {
    await a?.context.close();
    await b?.context.close();
  });

  test("a note created, edited and moved by A appears live on B", async () => {
    // Create (N key at the viewport centre) and type.
    await a.page.locator(".viewport").focus();
    await a.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await a.page.keyboard.press("n");
    const input = a.page.locator(".note-input");
    await input.waitFor();
    await input.pressSequentially("Shared goal: faster hand-offs");
    await a.page.keyboard.press("Escape");
    await input.waitFor({ state: "detached" });

    const onA = noteByText(a.page, "Shared goal: faster hand-offs");
    const onB = noteByText(b.page, "Shared goal: faster hand-offs");
    await onB.waitFor({ timeout: 5000 });
    assert.equal(await onB.getAttribute("aria-label"), "Note by Ana: Shared goal: faster hand-offs");
    assert.deepEqual(await notePos(onB), await notePos(onA));

    // Edit the text again in place (Enter on the focused note).
    await onA.focus();
    await a.page.keyboard.press("Enter");
    await input.waitFor();
    await a.page.keyboard.press("End");
    await input.pressSequentially(" and fewer surprises");
    await a.page.keyboard.press("Escape");
    await noteByText(b.page, "Shared goal: faster hand-offs and fewer surprises").waitFor({ timeout: 5000 });

    // Move it by dragging.
    const before = await notePos(onA);
    const box = await onA.boundingBox();
    const zoom = Number(await a.page.locator(".viewport").getAttribute("data-zoom")) / 100;
    await a.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await a.page.mouse.down();
    for (let i = 1; i <= 10; i++) {
      await a.page.mouse.move(box.x + box.width / 2 + i * 20, box.y + box.height / 2 + i * 10);
    }
    await a.page.mouse.up();
    const expected = { x: Math.round(before.x + 200 / zoom), y: Math.round(before.y + 100 / zoom) };
    assert.deepEqual(await notePos(onA), expected);
    await b.page.waitForFunction(
      ([text, x, y]) =>
        [...document.querySelectorAll(".note")].some(
          (n) => n.textContent.includes(text) && n.style.left === `${x}px` && n.style.top === `${y}px`,
        ),
      ["fewer surprises", expected.x, expected.y],
      { timeout: 5000 },
    );
  });

  test("A's cursor appears on B with A's name", async () => {
    const vp = await a.page.locator(".viewport").boundingBox();
    for (let i = 0; i < 8; i++) {
      await a.page.mouse.move(vp.x + 300 + i * 15, vp.y + 200 + i * 8);
      await a.page.waitForTimeout(30);
    }
    const cursor = b.page.locator(".cursor", { has: b.page.locator(".cursor-name", { hasText: "Ana" }) });
    await cursor.waitFor({ timeout: 5000 });
    // Both people are listed as avatars.
    await b.page.locator('.avatar[aria-label="Ana"]').waitFor();
    await b.page.locator('.avatar[aria-label="Ben (you)"]').waitFor();
    // Someone who leaves disappears from the avatars.
    const c = await personPage(browser, "Cleo");
    await openBoard(c.page, server.base, board);
    await b.page.locator('.avatar[aria-label="Cleo"]').waitFor();
    await c.context.close();
    await b.page.locator('.avatar[aria-label="Cleo"]').waitFor({ state: "detached", timeout: 10_000 });
  });

  test("edits made offline merge when the connection returns", async () => {
    await a.context.setOffline(true);
    await a.page.locator('.conn[data-state="offline"]').waitFor({ timeout: 5000 });

    await a.page.locator(".viewport").focus();
    await a.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await a.page.keyboard.press("n");
    await a.page.locator(".note-input").pressSequentially("Written offline by Ana");
    await a.page.keyboard.press("Escape");

    await b.page.locator(".viewport").focus();
    await b.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await b.page.keyboard.press("n");
    await b.page.locator(".note-input").pressSequentially("Written online by Ben");
    await b.page.keyboard.press("Escape");

    // While A is offline, B cannot have A's note.
    await a.page.waitForTimeout(500);
    assert.equal(await noteByText(b.page, "Written offline by Ana").count(), 0);

    await a.context.setOffline(false);
    await a.page.locator('.conn[data-state="connected"]').waitFor({ timeout: 10_000 });
    for (const p of [a.page, b.page]) {
      await noteByText(p, "Written offline by Ana").waitFor({ timeout: 10_000 });
      await noteByText(p, "Written online by Ben").waitFor({ timeout: 10_000 });
    }
  });

  test("the phone capture page adds a note to a frame, shown live on the canvas", async () => {
    // A makes a frame and names it (with nothing selected: typing on a selected note edits it).
    await a.page.locator(".viewport").focus();
    await a.page.keyboard.press("Escape");
    await a.page.keyboard.press("f");
    const title = a.page.locator(".frame-title").last();
    await title.waitFor();
    await a.page.keyboard.press("Enter");
    await a.page.locator(".frame-title-input").fill("Obstacles");
    await a.page.keyboard.press("Enter");
    await a.page.locator(".frame-title", { hasText: "Obstacles" }).waitFor();

    // A phone, 360 px wide, with no name chosen yet: the page asks for it.
    const phone = await browser.newContext({
      viewport: { width: 360, height: 740 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const page = await phone.newPage();
      await page.goto(server.base + boardPath(board, "participant", "/capture"));
      await page.getByLabel("Your name, as others will see it").fill("Chloé");
      await page.getByRole("button", { name: "Join" }).click();
      await page.locator('.conn[data-state="connected"]').waitFor({ timeout: 10_000 });
      await page.locator("#capture-frame option", { hasText: "Obstacles" }).waitFor({ state: "attached" });
      await page.getByLabel("Area", { exact: true }).selectOption({ label: "Obstacles" });
      await page.getByLabel("Your note").fill("Release calendars do not line up");
      await page.getByRole("radio", { name: "Pink" }).tap();
      assert.ok(await page.getByRole("radio", { name: "Pink" }).isChecked());
      const add = page.getByRole("button", { name: "Add note" });
      const addBox = await add.boundingBox();
      assert.ok(addBox.height >= 44 && addBox.width >= 44, "touch target at least 44 px");
      await add.tap();
      await page.locator(".capture-note", { hasText: "Release calendars do not line up" }).waitFor({ timeout: 5000 });
      // No horizontal scrolling at 360 px.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `page overflows horizontally by ${overflow}px`);
      await page.screenshot({ path: join(ensureArtifacts(), "capture.png"), fullPage: true });

      // On the canvas: the note is there, pink, by Chloé, inside the Obstacles frame.
      const note = noteByText(a.page, "Release calendars do not line up");
      await note.waitFor({ timeout: 5000 });
      assert.equal(await note.getAttribute("aria-label"), "Note by Chloé: Release calendars do not line up");
      assert.ok(await note.evaluate((el) => el.classList.contains("note-pink")));
      const inFrame = await a.page.evaluate((text) => {
        const { doc } = window.__commonboard;
        const frames = doc.getMap("frames");
        let frameId = null;
        frames.forEach((f, id) => {
          if (f.get("title") === "Obstacles") frameId = id;
        });
        let result = null;
        doc.getMap("notes").forEach((n) => {
          if (n.get("text").toString() === text) {
            const f = frames.get(frameId);
            const [x, y] = n.get("pos");
            const cx = x + n.get("w") / 2;
            const cy = y + n.get("h") / 2;
            result = {
              frameMatches: n.get("frame") === frameId,
              centreInside: cx >= f.get("x") && cx <= f.get("x") + f.get("w") && cy >= f.get("y") && cy <= f.get("y") + f.get("h"),
            };
          }
        });
        return result;
      }, "Release calendars do not line up");
      assert.deepEqual(inFrame, { frameMatches: true, centreInside: true });
    } finally {
      await phone.close();
    }
  });

  test("a viewer link shows the board live, read-only", async (t) => {
    if (!board.links) return t.skip("this server does not issue access links");
    // The facilitator finds the watch-only link, and the big screen's, in the Share dialog.
    await a.page.getByRole("button", { name: "Share" }).click();
    const viewerUrl = await a.page.locator("#share-viewer").inputValue();
    assert.match(viewerUrl, /\/b\/[0-9a-f]+\?token=/);
    assert.match(await a.page.locator("#share-present").inputValue(), /\/b\/[0-9a-f]+\/present\?token=/);
    await a.page.getByRole("button", { name: "Done" }).click();
    const v = await personPage(browser, "Vera");
    try {
      await v.page.goto(viewerUrl);
      await waitSynced(v.page);
      await v.page.locator(".view-only").waitFor();
      assert.equal(await v.page.getByRole("button", { name: "Add note (N)" }).isVisible(), false);
      const before = await v.page.locator(".note").count();
      await v.page.locator(".viewport").focus();
      await v.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
      await v.page.keyboard.press("n");
      await v.page.mouse.dblclick(300, 300);
      assert.equal(await v.page.locator(".note-input").count(), 0);
      assert.equal(await v.page.locator(".note").count(), before);
      // Edits by others arrive live.
      await a.page.locator(".viewport").focus();
      await a.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
      await a.page.keyboard.press("n");
      await a.page.locator(".note-input").pressSequentially("Seen by the big screen");
      await a.page.keyboard.press("Escape");
      await noteByText(v.page, "Seen by the big screen").waitFor({ timeout: 5000 });
    } finally {
      await v.context.close();
    }
  });

  test("screenshot: the canvas with notes, a frame and a remote cursor", async () => {
    await b.page.getByRole("button", { name: "Fit board to screen" }).click();
    const note = noteByText(b.page, "Release calendars do not line up");
    const nb = await note.boundingBox();
    // Put A's pointer next to that note, as B sees it.
    const [ax, ay] = await b.page.evaluate(
      ([x, y]) => {
        const { doc } = window.__commonboard;
        void doc;
        const vp = document.querySelector(".viewport").getBoundingClientRect();
        const t = document.querySelector(".world").style.transform.match(/translate\((-?[\d.]+)px, (-?[\d.]+)px\) scale\(([\d.]+)\)/);
        const z = Number(t[3]);
        return [(x - vp.left - Number(t[1])) / z, (y - vp.top - Number(t[2])) / z];
      },
      [nb.x + nb.width + 40, nb.y + 20],
    );
    const [sx, sy] = await a.page.evaluate(
      ([x, y]) => {
        const vp = document.querySelector(".viewport").getBoundingClientRect();
        const t = document.querySelector(".world").style.transform.match(/translate\((-?[\d.]+)px, (-?[\d.]+)px\) scale\(([\d.]+)\)/);
        const z = Number(t[3]);
        return [vp.left + Number(t[1]) + x * z, vp.top + Number(t[2]) + y * z];
      },
      [ax, ay],
    );
    await a.page.mouse.move(sx - 5, sy - 5);
    await a.page.mouse.move(sx, sy);
    await b.page.locator(".cursor", { hasText: "Ana" }).waitFor();
    await b.page.waitForTimeout(150);
    await b.page.screenshot({ path: join(ensureArtifacts(), "canvas.png") });
  });
});
