// The binary is the product: started in an empty directory, without --web-dir, it
// serves the web client built into it, and a board opens and syncs in the browser.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createBoard, launchBrowser, noteByText, openBoard, personPage, startServer } from "./helpers.mjs";

let server;
let browser;

before(async () => {
  server = await startServer({ embedded: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a board loads from the built-in client and syncs", async () => {
  const board = await createBoard(server.base, "Installed");
  const { context, page } = await personPage(browser, "Ana");
  try {
    await openBoard(page, server.base, board);
    const res = await page.request.get(server.base + "/app.js");
    assert.equal(res.headers()["cache-control"], "no-cache");
    assert.ok(res.headers()["etag"]);
    await page.locator(".viewport").focus();
    await page.keyboard.press("n");
    const input = page.locator(".note-input");
    await input.waitFor();
    await input.pressSequentially("From the binary");
    await page.keyboard.press("Escape");
    await noteByText(page, "From the binary").waitFor();
  } finally {
    await context.close();
  }
});
