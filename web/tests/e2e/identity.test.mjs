// Identities the server issues, in a real browser against the real server: a participant
// who came with the shared link stays the same person (same private notes, same ballot)
// across a reload, a network drop, and on a second device opened with their personal
// link; another browser with the same shared link is a different person.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { boardPath, createBoard, launchBrowser, openBoard, personPage, startServer } from "./helpers.mjs";

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

/**
 * Reconnects the page's board and collects what the server says after the hello: the
 * welcome, the person's private notes and their ballots.
 */
async function whoAmI(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const { board, provider } = window.__commonboard;
        const seen = { identity: null, notes: [], remaining: null };
        const offs = [
          board.app.on("welcome", (m) => (seen.identity = m.identity)),
          board.app.on("private_notes", (m) => (seen.notes = m.notes.map((n) => n.text))),
          board.app.on("ballot", (m) => (seen.remaining = m.remaining)),
        ];
        const timer = setTimeout(() => reject(new Error(`no answer: ${JSON.stringify(seen)}`)), 10_000);
        const poll = setInterval(() => {
          if (seen.identity && seen.remaining !== null) {
            // Private notes, if any, come right after the welcome, before the ballots.
            clearInterval(poll);
            clearTimeout(timer);
            offs.forEach((off) => off());
            resolve({ ...seen, token: board.personalToken ?? null });
          }
        }, 50);
        provider.disconnect();
        provider.connect();
      }),
  );
}

/** Sends an application message from the page and waits for the answer of `type`. */
async function ask(page, message, type) {
  return page.evaluate(
    ([message, type]) =>
      new Promise((resolve, reject) => {
        const { board } = window.__commonboard;
        const timer = setTimeout(() => reject(new Error(`no ${type}`)), 10_000);
        const off = board.app.on(type, (m) => {
          clearTimeout(timer);
          off();
          resolve(m);
        });
        const errorOff = board.app.on("error", (m) => {
          clearTimeout(timer);
          errorOff();
          reject(new Error(`${m.code}: ${m.message}`));
        });
        board.app.send(message);
      }),
    [message, type],
  );
}

test("a participant stays the same person across a reload, a network drop and a second device", async (t) => {
  const board = await createBoard(server.base, "Who is who");
  if (!board.links) return t.skip("this server does not issue access links");
  const fac = await personPage(browser, "Fran");
  const ana = await personPage(browser, "Ana");
  const phone = await personPage(browser, "Ana", { viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true });
  const ben = await personPage(browser, "Ben");
  try {
    // The facilitator: two candidate notes, private writing on, a vote of one each.
    await openBoard(fac.page, server.base, board, "facilitator");
    await fac.page.evaluate(() => {
      const { Y, board: b } = window.__commonboard;
      b.doc.transact(() => {
        ["goal-a", "goal-b"].forEach((id, i) => {
          const m = new Y.Map();
          m.set("text", new Y.Text(id));
          m.set("pos", [i * 200, 0]);
          m.set("w", 160);
          m.set("h", 120);
          m.set("color", "yellow");
          b.notes.set(id, m);
        });
      });
    });
    await ask(fac.page, { type: "set_private", private: true }, "workshop");
    const settings = { title: "Goal", candidates: ["goal-a", "goal-b"], budget: 1, max_per_candidate: 1, anonymous: false, hidden: false, roster: false };
    const { vote } = await ask(fac.page, { type: "open_vote", settings }, "vote");

    // Ana opens the shared participant link, writes privately and votes.
    await openBoard(ana.page, server.base, board, "participant");
    const first = await whoAmI(ana.page);
    assert.match(first.identity, /^person:[0-9a-f]{32}$/);
    assert.ok(first.token, "the server gave Ana a personal token to keep");
    const note = { id: "ana-1", text: "Only Ana sees this", x: 0, y: 300, w: 160, h: 120, color: "yellow", author: "Ana", createdAt: 1 };
    await ask(ana.page, { type: "put_private_note", note }, "private_notes");
    const ballot = await ask(ana.page, { type: "cast_vote", vote: vote.id, candidate: "goal-a" }, "ballot");
    assert.equal(ballot.remaining, 0);

    // A reload: the same person, her note, her spent vote.
    await ana.page.reload();
    await ana.page.waitForSelector('.conn[data-state="connected"]', { timeout: 15_000 });
    const reloaded = await whoAmI(ana.page);
    assert.deepEqual([reloaded.identity, reloaded.notes, reloaded.remaining], [first.identity, ["Only Ana sees this"], 0]);

    // The network drops and comes back: the provider reconnects as the same person.
    await ana.context.setOffline(true);
    await ana.page.waitForSelector('.conn[data-state="offline"]', { timeout: 15_000 });
    await ana.context.setOffline(false);
    await ana.page.waitForSelector('.conn[data-state="connected"]', { timeout: 15_000 });
    assert.equal((await whoAmI(ana.page)).identity, first.identity);

    // Her laptop shows her own QR code; her phone opens the link it holds.
    const personal = await ana.page.evaluate((id) => localStorage.getItem(`commonboard.person.${id}`), board.id);
    assert.equal(personal, first.token);
    await ana.page.getByRole("button", { name: "On your phone" }).click();
    const qr = ana.page.getByRole("img", { name: /opens this board on your phone/ });
    await qr.waitFor();
    await ana.page.waitForFunction(() => document.querySelector(".my-phone-qr")?.src.startsWith("blob:"));
    const qrUrl = await ana.page.evaluate(async ([id, token]) => {
      const res = await fetch(`/api/boards/${id}/me.svg`, { headers: { authorization: `Bearer ${token}` } });
      return res.headers.get("x-commonboard-join-url");
    }, [board.id, personal]);
    assert.ok(qrUrl.endsWith(`/b/${board.id}/capture?token=${personal}`), qrUrl);
    await phone.page.goto(qrUrl);
    await phone.page.waitForSelector('.conn[data-state="connected"]', { timeout: 15_000 });
    const onPhone = await whoAmI(phone.page);
    assert.deepEqual([onPhone.identity, onPhone.notes, onPhone.remaining], [first.identity, ["Only Ana sees this"], 0]);
    await assert.rejects(ask(phone.page, { type: "cast_vote", vote: vote.id, candidate: "goal-b" }, "ballot"), /over_budget/);

    // Ben opens the same shared link in another browser: someone else, with nothing of hers.
    await ben.page.goto(server.base + boardPath(board, "participant"));
    await ben.page.waitForSelector('.conn[data-state="connected"]', { timeout: 15_000 });
    const other = await whoAmI(ben.page);
    assert.notEqual(other.identity, first.identity);
    assert.deepEqual([other.notes, other.remaining], [[], 1]);
    assert.equal(await ben.page.getByText("Only Ana sees this").count(), 0);
  } finally {
    for (const p of [fac, ana, phone, ben]) await p.context.close();
  }
});
