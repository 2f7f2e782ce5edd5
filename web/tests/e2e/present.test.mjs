// The big-screen presentation view, against the real server in a real browser: a viewer's
// link opens /b/{id}/present; the facilitator (a raw socket speaking the app protocol, so
// the test does not depend on the board page's workshop controls) moves the workshop on,
// starts the timer and a turn order, and leads the view; the screen follows. The QR code
// opens the phone capture page as a participant, and a note added there shows up.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { launchBrowser, personPage, presenterPath, startServer, waitSynced, webDir, WRITE_DOCS } from "./helpers.mjs";

/** Message type of Commonboard's application messages (see protocol/src/frame.rs). */
const MSG_APP = 100;

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

const IDEAS = ["Fewer hand-offs", "One release calendar", "Shared on-call for payments"];

function varUint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** One application message as the app channel frames it: varuint 100, then var-length JSON. */
function appFrame(msg) {
  const json = Buffer.from(JSON.stringify(msg), "utf8");
  return Buffer.concat([Buffer.from([...varUint(MSG_APP), ...varUint(json.length)]), json]);
}

/** The application messages in one server frame (sync and awareness messages skipped). */
function readApp(buf) {
  let pos = 0;
  const uint = () => {
    let n = 0;
    let mult = 1;
    for (;;) {
      const b = buf[pos++];
      n += (b & 0x7f) * mult;
      if (b < 0x80) return n;
      mult *= 128;
    }
  };
  const bytes = () => {
    const len = uint();
    const out = buf.subarray(pos, pos + len);
    pos += len;
    return out;
  };
  const out = [];
  while (pos < buf.length) {
    const type = uint();
    if (type === 0) {
      uint(); // sync step 1, step 2 or update
      bytes();
    } else if (type === 1) {
      bytes(); // awareness
    } else if (type === MSG_APP) {
      out.push(JSON.parse(Buffer.from(bytes()).toString("utf8")));
    } else {
      break;
    }
  }
  return out;
}

/** The facilitator's connection: says hello, then sends and receives application messages. */
async function facilitatorSocket(base, board) {
  const token = new URL(board.links.facilitator, base).searchParams.get("token");
  const url = `${base.replace(/^http/, "ws")}/ws/${board.id}?token=${encodeURIComponent(token)}&name=Fran`;
  const ws = new WebSocket(url);
  const received = [];
  const waiters = new Set();
  ws.on("message", (data) => {
    for (const m of readApp(Buffer.from(data))) {
      received.push(m);
      for (const w of waiters) w();
    }
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const waitFor = (pred, what) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = received.find(pred);
        if (!hit) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`facilitator socket: no ${what} (got ${received.map((m) => m.type).join(", ")})`));
      }, 10_000);
      waiters.add(check);
      check();
    });
  const send = (msg) => ws.send(appFrame(msg));
  send({ type: "hello", version: 1 });
  const welcome = await waitFor((m) => m.type === "welcome", "welcome");
  assert.equal(welcome.role, "facilitator");
  return {
    send,
    /** Sends a workshop change and waits until the server broadcasts the new state. */
    async workshop(msg, pred) {
      received.length = 0;
      send(msg);
      const m = await waitFor((x) => x.type === "error" || (x.type === "workshop" && pred(x.state)), `workshop after ${msg.type}`);
      assert.notEqual(m.type, "error", `${msg.type} refused: ${m.message}`);
      return m.state;
    },
    close: () => ws.close(),
  };
}

/** The canvas point in the middle of the present view, and its zoom, from the world's transform. */
async function shownView(page) {
  return page.evaluate(() => {
    const host = document.querySelector(".present-stage");
    const world = host.querySelector(".world");
    const m = world.style.transform.match(/translate\(([-\d.e]+)px, ([-\d.e]+)px\) scale\(([-\d.e]+)\)/);
    if (!m) throw new Error(`unexpected transform: ${world.style.transform}`);
    const [x, y, zoom] = m.slice(1).map(Number);
    const r = host.getBoundingClientRect();
    return { x: (r.width / 2 - x) / zoom, y: (r.height / 2 - y) / zoom, zoom };
  });
}

function assertView(actual, wanted) {
  assert.ok(Math.abs(actual.zoom - wanted.zoom) < 1e-6, `zoom ${actual.zoom}, wanted ${wanted.zoom}`);
  assert.ok(Math.abs(actual.x - wanted.x) < 1, `centre x ${actual.x}, wanted ${wanted.x}`);
  assert.ok(Math.abs(actual.y - wanted.y) < 1, `centre y ${actual.y}, wanted ${wanted.y}`);
}

test("the big screen follows the facilitator and brings phones in", async (t) => {
  const res = await fetch(`${server.base}/api/boards`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Platform and Payments", template: "collaboration-workshop" }),
  });
  assert.equal(res.status, 201);
  const board = await res.json();
  if (!board.links) return t.skip("this server does not issue access links");

  // The big screen: the presenter link the facilitator made, no name asked.
  const screen = await personPage(browser, null, { viewport: { width: 1600, height: 900 } });
  const fac = await facilitatorSocket(server.base, board);
  try {
    const { page } = screen;
    await page.goto(server.base + (await presenterPath(server.base, board)));
    await waitSynced(page);
    assert.equal(await page.locator(".name-dialog[open]").count(), 0, "the big screen asks for no name");
    assert.match(await page.locator(".present-title").textContent(), /Platform and Payments/);
    assert.ok((await page.locator(".present-stage .frame").count()) > 0, "the template's frames are drawn");
    assert.equal(
      await page.evaluate(() => getComputedStyle(document.querySelector(".present-top")).display),
      "flex",
      "present.css is loaded",
    );

    // The step.
    const state = await fac.workshop({ type: "set_step", step: 1 }, (s) => s.step === 1);
    const steps = state.steps;
    assert.ok(steps.length >= 2);
    const stepTitle = steps[1].title.replace(/^\s*\d+\s*[.):]\s*/, "");
    await page.locator(".present-step").getByText(`Step 2 of ${steps.length} · ${stepTitle}`).waitFor();
    await page.locator(".present-stage .frame.present-current").waitFor();

    // The shared timer: five minutes.
    await fac.workshop({ type: "set_timer", seconds: 300 }, (s) => s.timer?.seconds === 300);
    const clock = page.getByRole("timer");
    await clock.waitFor();
    assert.match(await clock.textContent(), /^(5:00|4:5\d)$/);
    assert.equal(await page.locator(".present-timer-label").textContent(), "Time left");

    // Going round the room.
    const people = [
      { id: "ana", name: "Ana" },
      { id: "ben", name: "Ben" },
      { id: "chen", name: "Chen" },
    ];
    await fac.workshop({ type: "start_turns", people }, (s) => s.turns?.current === 0);
    const turns = page.getByRole("region", { name: "Speaking now" });
    await turns.locator(".present-speaker", { hasText: "Ana" }).waitFor();
    assert.equal(await turns.locator(".present-next").textContent(), "Next: Ben · Round 1");
    await fac.workshop({ type: "turn", action: "next" }, (s) => s.turns?.current === 1);
    await turns.locator(".present-speaker", { hasText: "Ben" }).waitFor();

    // Private writing: one person holds a note.
    await fac.workshop({ type: "set_private", private: true }, (s) => s.private);
    const note = { id: "private-1", text: "Release freeze", x: 0, y: 0, w: 160, h: 120, color: "pink", author: "Fran", frame: null, createdAt: Date.now() };
    await fac.workshop({ type: "put_private_note", note }, (s) => s.writing.length === 1);
    await page.locator(".present-writing", { hasText: "1 person is writing privately" }).waitFor();
    // The reveal: the note goes on the board, the line goes away.
    await fac.workshop({ type: "set_private", private: false }, (s) => !s.private);
    await page.locator(".present-stage .note", { hasText: "Release freeze" }).waitFor();
    await page.locator(".present-writing").waitFor({ state: "hidden" });

    // The facilitator leads the view: every viewport is followed, brought or not.
    const first = { x: 1234, y: -200, zoom: 0.75 };
    fac.send({ type: "show_viewport", viewport: first, bring: false });
    await page.locator(".present-stage[data-following='true']").waitFor();
    assertView(await shownView(page), first);
    await page.locator(".present-follow", { hasText: "Following the facilitator" }).waitFor();
    const frame = steps[1].id;
    const target = await page.evaluate((step) => {
      let best = null;
      window.__commonboard.board.frames.forEach((m) => {
        if (m.get("step") !== step) return;
        const r = { x: m.get("x"), y: m.get("y"), w: m.get("w"), h: m.get("h") };
        if (!best || r.w * r.h > best.w * best.h) best = r;
      });
      return best;
    }, frame);
    assert.ok(target, "the step's frame exists");
    const second = { x: target.x + target.w / 2, y: target.y + target.h / 2, zoom: 0.55 };
    fac.send({ type: "show_viewport", viewport: second, bring: true });
    await page.waitForFunction(
      (z) => document.querySelector(".present-stage")?.dataset.zoom === String(Math.round(z * 100)),
      second.zoom,
    );
    assertView(await shownView(page), second);

    // The QR code: the server's image, and the link it holds.
    const qr = page.getByRole("figure", { name: "Add notes from your phone" });
    await page.locator(".present-qr[data-state='ready']").waitFor();
    const img = qr.getByRole("img", { name: /QR code/ });
    await page.waitForFunction(() => document.querySelector(".present-qr-img")?.complete);
    const size = await img.evaluate((el) => ({ w: el.naturalWidth, h: el.naturalHeight, shown: el.getBoundingClientRect().width }));
    assert.ok(size.w > 0 && size.h > 0, "the QR image loaded");
    assert.ok(size.shown >= 300, `the QR code is big enough to scan across a room (${size.shown} px)`);
    assert.match(await img.getAttribute("src"), /^blob:/);
    const joinUrl = (await qr.locator(".present-qr-url").textContent()).trim();
    assert.ok(joinUrl.includes(`/b/${board.id}/capture?token=`), `join URL: ${joinUrl}`);
    assert.ok(joinUrl.startsWith(server.base), `join URL on this server: ${joinUrl}`);
    const joinToken = new URL(joinUrl).searchParams.get("token");
    const info = await (await fetch(`${server.base}/api/boards/${board.id}`, { headers: { authorization: `Bearer ${joinToken}` } })).json();
    assert.equal(info.role, "participant");

    // Q hides and shows it; F asks for full screen.
    const qrBtn = page.getByRole("button", { name: "Hide QR code (Q)" });
    assert.equal(await qrBtn.getAttribute("aria-expanded"), "true");
    await page.keyboard.press("q");
    await qr.waitFor({ state: "hidden" });
    assert.equal(await page.getByRole("button", { name: "Show QR code (Q)" }).getAttribute("aria-expanded"), "false");
    // With nothing else in it (no QR code), the column still shows the speaker and the writing.
    await page.keyboard.press("q");
    await qr.waitFor();
    const fullBtn = page.getByRole("button", { name: "Full screen (F)" });
    assert.equal(await fullBtn.getAttribute("aria-keyshortcuts"), "F");
    await page.keyboard.press("f");
    await page.waitForFunction(() => document.fullscreenElement !== null, null, { timeout: 5000 });
    await page.getByRole("button", { name: "Leave full screen (F)" }).waitFor();
    await page.keyboard.press("f");
    await page.waitForFunction(() => document.fullscreenElement === null, null, { timeout: 5000 });

    // A phone in the room scans the code: the capture page, as a participant.
    const phone = await personPage(browser, "Pat", { viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true });
    try {
      await phone.page.goto(joinUrl);
      await phone.page.waitForSelector('.conn[data-state="connected"]', { timeout: 15_000 });
      const add = phone.page.getByRole("button", { name: "Add note" });
      await add.waitFor();
      // Candidate goals, into the step's "Candidate goals" area.
      const option = phone.page.locator("#capture-frame option", { hasText: "Candidate goals" }).first();
      await option.waitFor({ state: "attached" });
      await phone.page.selectOption("#capture-frame", await option.getAttribute("value"));
      assert.equal(await add.isDisabled(), false, "a participant may add notes");
      for (const text of IDEAS) {
        await phone.page.getByLabel("Your note").fill(text);
        await add.click();
        await phone.page.locator(".capture-list .capture-notes li", { hasText: text }).waitFor();
      }
    } finally {
      await phone.context.close();
    }
    for (const text of IDEAS) await page.locator(".present-stage .note", { hasText: text }).waitFor();

    // The screenshot, for the docs (with COMMONBOARD_SCREENSHOTS=1).
    if (WRITE_DOCS) {
      const dir = join(webDir, "..", "docs", "screenshots");
      mkdirSync(dir, { recursive: true });
      await page.mouse.move(5, 5);
      await page.screenshot({ path: join(dir, "present-view.png") });
    }
  } finally {
    fac.close();
    await screen.context.close();
  }
});
