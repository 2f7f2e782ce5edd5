// Shared helpers of the end-to-end tests: the real server, a real Chromium, and pages
// opened as named people (each person in their own browser context, as on their own machine).
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "node:test";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, "..", "..");
export const artifactsDir = join(webDir, "test-artifacts");
/**
 * Whether the tests (re)write the documentation's screenshots and examples under
 * `docs/screenshots/`: only with COMMONBOARD_SCREENSHOTS=1, so an ordinary run leaves
 * the committed files alone.
 */
export const WRITE_DOCS = process.env.COMMONBOARD_SCREENSHOTS === "1";

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Starts `commonboard serve` on a free port with a fresh data directory (or on the given
 * port and data directory, to restart a server), with `args` added to its command line.
 * `embedded`: run from the data directory without `--web-dir`, serving the client built
 * into the binary (as an installed binary does).
 */
export async function startServer({ port: wantedPort = 0, dataDir: reuseDir = null, args = [], embedded = false } = {}) {
  const bin = resolve(webDir, process.env.COMMONBOARD_BIN || "../target/debug/commonboard");
  if (!existsSync(bin)) throw new Error(`server binary not found: ${bin} (build it, or set COMMONBOARD_BIN)`);
  const distIndex = join(webDir, "dist", "index.html");
  if (!existsSync(distIndex)) throw new Error("dist/ is missing: run `npm run build` first");
  const dataDir = reuseDir ?? mkdtempSync(join(tmpdir(), "commonboard-e2e-"));
  const web = embedded ? [] : ["--web-dir", "dist"];
  const command = ["serve", "--addr", `127.0.0.1:${wantedPort}`, "--data-dir", dataDir, ...web, ...args];
  const env = { ...process.env };
  if (embedded) delete env.COMMONBOARD_WEB_DIR;
  const proc = spawn(bin, command, {
    cwd: embedded ? dataDir : webDir,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...env, RUST_LOG: process.env.RUST_LOG || "warn" },
  });
  let log = "";
  proc.stderr.on("data", (d) => {
    log += d;
  });
  const port = await new Promise((resolvePort, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${out}\n${log}`)), 20_000);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}\n${log}`));
    });
  });
  proc.stdout.resume();
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    port,
    dataDir,
    log: () => log,
    /** Stops the server; the data directory is removed unless `keepData`. */
    async stop({ keepData = false } = {}) {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => {
          const t = setTimeout(() => {
            if (proc.exitCode === null) proc.kill("SIGKILL");
            r();
          }, 5000);
          proc.once("exit", () => {
            clearTimeout(t);
            r();
          });
        });
      }
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Launches Chromium. Every context it makes reports Content Security Policy violations
 * (the browser's console messages and `securitypolicyviolation` events) into
 * `cspViolations`, and any test during which one happened fails.
 */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}: apt-get install -y chromium`);
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    await watchCsp(context);
    return context;
  };
  return browser;
}

/** Content Security Policy violations seen by pages of this test process, not yet reported. */
export const cspViolations = [];

const CSP_MESSAGE = /content.security.policy/i;

async function watchCsp(context) {
  await context.addInitScript(() => {
    document.addEventListener(
      "securitypolicyviolation",
      (e) =>
        console.error(
          `Content Security Policy violation: ${e.effectiveDirective} refused ${e.blockedURI || "inline code"}` +
            ` at ${e.sourceFile || "?"}:${e.lineNumber}`,
        ),
      true,
    );
  });
  const watch = (page) => {
    page.on("console", (msg) => {
      if (CSP_MESSAGE.test(msg.text())) cspViolations.push(`${page.url()}: ${msg.text()}`);
    });
  };
  context.pages().forEach(watch);
  context.on("page", watch);
}

/** Fails the test that just ran if any page broke the Content Security Policy. */
afterEach(() => {
  const seen = cspViolations.splice(0);
  if (seen.length > 0) throw new Error(`Content Security Policy violations:\n${seen.join("\n")}`);
});

/** Creates a board through the HTTP API. */
export async function createBoard(base, title) {
  const res = await fetch(`${base}/api/boards`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title }),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`POST /api/boards: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * A page for one person: their own browser context (like their own machine), with their
 * display name already chosen so the name prompt does not show.
 */
export async function personPage(browser, name, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  if (name) {
    await context.addInitScript((n) => {
      if (!localStorage.getItem("commonboard.name")) localStorage.setItem("commonboard.name", n);
    }, name);
  }
  const page = await context.newPage();
  watchErrors(page, name ?? "page");
  return { context, page };
}

/** Browser-side errors are printed, so a failing run says what the page saw. */
export function watchErrors(page, who) {
  page.on("pageerror", (err) => console.error(`[${who}] page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") console.error(`[${who}] console error: ${msg.text()}`);
  });
}

/**
 * Path of a board's page for a role: the server's access link when it issues them
 * (`board.links`), the plain board path otherwise. `suffix` is e.g. "/capture".
 */
export function boardPath(board, role = "participant", suffix = "") {
  const link = board.links?.[role];
  if (!link) return `/b/${board.id}${suffix}`;
  const url = new URL(link, "http://x");
  return `${url.pathname}${suffix}${url.search}`;
}

/**
 * The big screen's presentation path: the presenter link the facilitator creates
 * (`POST /api/boards/{id}/presenter`), which sees the board and draws the join code.
 */
export async function presenterPath(base, board) {
  const facilitator = new URL(board.links.facilitator, "http://x").searchParams.get("token");
  const res = await fetch(`${base}/api/boards/${board.id}/presenter`, {
    method: "POST",
    headers: { authorization: `Bearer ${facilitator}` },
  });
  if (res.status !== 200) throw new Error(`POST /presenter: ${res.status} ${await res.text()}`);
  const { url } = await res.json();
  return url;
}

/** Opens a board's canvas (as `role`) and waits until it is synced with the server. */
export async function openBoard(page, base, board, role = "participant") {
  await page.goto(base + boardPath(board, role));
  await waitSynced(page);
}

export async function waitSynced(page) {
  await page.waitForSelector('html[data-ready="true"]', { timeout: 15_000 });
  await page.waitForSelector('.conn[data-state="connected"]', { timeout: 15_000 });
}

/** The on-screen note element holding exactly this text. */
export function noteByText(page, text) {
  return page.locator(".note", { has: page.locator(".note-text", { hasText: text }) });
}

/** A note's canvas position, as its element shows it. */
export async function notePos(locator) {
  const { left, top } = await locator.evaluate((el) => ({ left: el.style.left, top: el.style.top }));
  const x = Number.parseFloat(left);
  const y = Number.parseFloat(top);
  if (!Number.isFinite(x) || !Number.isFinite(y)) throw new Error(`note has no position: ${left} ${top}`);
  return { x, y };
}

export function ensureArtifacts() {
  mkdirSync(artifactsDir, { recursive: true });
  return artifactsDir;
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
