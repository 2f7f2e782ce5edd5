// The client rides out a server restart: it shows "reconnecting", keeps the edits made
// meanwhile in its Y.Doc, and syncs them when the server is back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  boardPath,
  createBoard,
  launchBrowser,
  noteByText,
  openBoard,
  personPage,
  startServer,
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

test("edits made while the server restarts sync when it is back", async () => {
  const board = await createBoard(server.base, "Restart");
  const a = await personPage(browser, "Ana");
  const b = await personPage(browser, "Ben");
  try {
    await openBoard(a.page, server.base, board);
    await openBoard(b.page, server.base, board);

    const { port, dataDir } = server;
    await server.stop({ keepData: true });
    await a.page.locator('.conn[data-state="reconnecting"]').waitFor({ timeout: 10_000 });

    await a.page.locator(".viewport").focus();
    await a.page.keyboard.press("Escape"); // nothing selected: letters are shortcuts
    await a.page.keyboard.press("n");
    await a.page.locator(".note-input").pressSequentially("Written during the outage");
    await a.page.keyboard.press("Escape");

    server = await startServer({ port, dataDir });
    for (const p of [a.page, b.page]) {
      await p.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 });
      await noteByText(p, "Written during the outage").waitFor({ timeout: 10_000 });
    }
    // A newcomer loads it from the server.
    const c = await personPage(browser, "Cleo");
    await openBoard(c.page, server.base, board);
    await noteByText(c.page, "Written during the outage").waitFor({ timeout: 10_000 });
    await c.context.close();
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test("a full board says so while the client waits for room, then lets it in", async () => {
  const full = await startServer({ args: ["--max-connections-per-board", "1"] });
  const a = await personPage(browser, "Ana");
  const b = await personPage(browser, "Ben");
  try {
    const board = await createBoard(full.base, "One seat");
    await openBoard(a.page, full.base, board);
    await b.page.goto(`${full.base}${boardPath(board)}`);
    const waiting = b.page.locator('.conn[data-state="reconnecting"]');
    await waiting.waitFor({ timeout: 10_000 });
    assert.match(await waiting.getAttribute("title"), /board full: 1 people connected/);

    await a.context.close();
    await b.page.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    assert.equal(await b.page.locator(".conn").getAttribute("title"), "Connected");
  } finally {
    await a.context.close();
    await b.context.close();
    await full.stop();
  }
});
