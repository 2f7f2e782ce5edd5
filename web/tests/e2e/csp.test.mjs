// The web client under its Content Security Policy: every page (the board, the phone
// capture page, the presentation view, history mode) is served with the policy and runs
// without breaking it, and a violation is noticed (helpers.mjs fails any test that had one).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { boardPath, createBoard, cspViolations, launchBrowser, personPage, presenterPath, startServer, waitSynced } from "./helpers.mjs";

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

/** Opens a page and checks the security headers of its document. */
async function open(page, path, ready = waitSynced) {
  const response = await page.goto(server.base + path);
  const headers = response.headers();
  const csp = headers["content-security-policy"] ?? "";
  for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
    assert.ok(csp.includes(directive), `${path}: ${directive} missing from "${csp}"`);
  }
  assert.ok(!csp.includes("unsafe-"), csp);
  assert.equal(headers["referrer-policy"], "no-referrer");
  assert.equal(headers["x-content-type-options"], "nosniff");
  assert.equal(headers["x-frame-options"], "DENY");
  await ready(page);
}

test("every page runs under the Content Security Policy", async (t) => {
  const board = await createBoard(server.base, "Policy");
  if (!board.links) return t.skip("this server does not issue access links");
  const fac = await personPage(browser, "Fran");
  const phone = await personPage(browser, "Ana", { viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true });
  const screen = await personPage(browser, null, { viewport: { width: 1600, height: 900 } });
  try {
    await open(fac.page, boardPath(board, "facilitator"));
    await open(phone.page, boardPath(board, "participant", "/capture"), (page) =>
      page.locator('.conn[data-state="connected"]').waitFor({ timeout: 15_000 }),
    );
    await open(screen.page, await presenterPath(server.base, board));
    // The QR code: fetched from the API, shown from a blob: URL.
    await screen.page.waitForFunction(() => [...document.images].some((i) => i.src.startsWith("blob:") && i.complete));

    await fac.page.getByRole("button", { name: "History" }).click();
    await fac.page.locator(".board-page.history-mode").waitFor();
    await fac.page.getByRole("region", { name: "History" }).getByRole("slider", { name: "Point in history" }).waitFor();
    // Let late work (fonts, images, chunks loaded on demand) report.
    await fac.page.waitForTimeout(300);
    assert.deepEqual(cspViolations, [], "no page broke the policy");

    // The check is live: inline script and an inline style attribute are refused and seen.
    console.log("the next two Content Security Policy errors are deliberate");
    await fac.page.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "window.__inlineRan = true";
      document.body.append(script);
      document.body.setAttribute("style", "outline: 1px solid red");
    });
    await fac.page.waitForFunction(() => true);
    const deadline = Date.now() + 5000;
    while (cspViolations.length < 2 && Date.now() < deadline) await fac.page.waitForTimeout(50);
    assert.equal(await fac.page.evaluate(() => window.__inlineRan ?? false), false, "the inline script did not run");
    assert.ok(cspViolations.some((v) => /script-src/.test(v)), cspViolations.join("\n"));
    assert.ok(cspViolations.some((v) => /style-src/.test(v)), cspViolations.join("\n"));
    cspViolations.splice(0);
  } finally {
    await fac.context.close();
    await phone.context.close();
    await screen.context.close();
  }
});
