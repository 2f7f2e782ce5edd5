// Stock y-websocket providers against three real nodes sharing PostgreSQL and NATS
// (`--open`): a fresh board name opened through every node at the same instant must
// sync everyone. The stock provider never reconnects after a 44xx close, so a node that
// refused a board another node was still creating would leave its person stranded.
//
// PostgreSQL comes from COMMONBOARD_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test)
// and NATS from COMMONBOARD_TEST_NATS (default nats://127.0.0.1:4222). When either does
// not answer, the test is skipped with a message, or fails when CI is set.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { connect as tcpConnect } from "node:net";
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import WebSocket from "ws";
import { startServer } from "../e2e/helpers.mjs";

const POSTGRES = process.env.COMMONBOARD_TEST_POSTGRES || "postgres://postgres@127.0.0.1:5432/test";
const NATS = process.env.COMMONBOARD_TEST_NATS || "nats://127.0.0.1:4222";
// One prefix for every run: the broker keeps one stream for this test, not one per run.
const PREFIX = "cbinterop";
const ROUNDS = 10;

const schema = `interop_${Math.random().toString(16).slice(2, 12)}`;
let nodes = [];
let missing = null;

function psql(sql) {
  execFileSync("psql", [POSTGRES, "-v", "ON_ERROR_STOP=1", "-qc", sql], { stdio: ["ignore", "ignore", "pipe"] });
}

function reachable(url) {
  const { hostname, port } = new URL(url.replace(/^nats:/, "http:"));
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: hostname, port: Number(port) || 4222 });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

before(async () => {
  try {
    psql(`CREATE SCHEMA ${schema}`);
  } catch (error) {
    missing = `PostgreSQL at ${POSTGRES} does not answer (${String(error.stderr || error.message).trim()})`;
  }
  if (!missing && !(await reachable(NATS))) missing = `NATS at ${NATS} does not answer`;
  if (missing) {
    if (process.env.CI) throw new Error(`${missing} and CI is set`);
    return;
  }
  const store = `${POSTGRES}${POSTGRES.includes("?") ? "&" : "?"}options=-c%20search_path%3D${schema}`;
  for (let i = 0; i < 3; i++) {
    const args = ["--store", store, "--broker", NATS, "--broker-prefix", PREFIX, "--node-id", `n${i}`, "--open"];
    nodes.push(await startServer({ args }));
  }
});

after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
  if (!missing) psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
});

/** A stock provider, as any Yjs app makes it, on `node`. */
function provider(node, board) {
  const doc = new Y.Doc();
  const closes = [];
  const provider = new WebsocketProvider(`ws://127.0.0.1:${node.port}/ws`, board, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
  });
  provider.on("connection-close", (event) => {
    if (event) closes.push(event.code);
  });
  return { doc, provider, closes };
}

async function waitFor(condition, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("a new board opened through three nodes at the same instant syncs every stock provider", async (t) => {
  if (missing) {
    t.skip(`SKIPPED: ${missing}`);
    return;
  }
  for (let round = 0; round < ROUNDS; round++) {
    const board = `fresh-${round}-${Math.random().toString(16).slice(2, 10)}`;
    const peers = nodes.map((node) => provider(node, board));
    try {
      await waitFor(
        () => peers.every((p) => p.provider.synced) || peers.some((p) => p.closes.some((c) => c >= 4400 && c < 4500)),
        `round ${round}: every provider synced`,
      );
      const refused = peers.flatMap((p, i) => p.closes.filter((c) => c >= 4400 && c < 4500).map((c) => `node ${i}: ${c}`));
      assert.deepEqual(refused, [], `round ${round}: refused`);
      peers.forEach((p, i) => p.doc.getMap("notes").set(`r${round}-p${i}`, new Y.Map()));
      await waitFor(() => peers.every((p) => p.doc.getMap("notes").size === 3), `round ${round}: three notes everywhere`);
      const vectors = peers.map((p) => Buffer.from(Y.encodeStateVector(p.doc)).toString("hex"));
      await waitFor(
        () => peers.every((p) => Buffer.from(Y.encodeStateVector(p.doc)).toString("hex") === vectors[0]),
        `round ${round}: equal state vectors`,
      );
    } finally {
      for (const p of peers) {
        p.provider.destroy();
        p.doc.destroy();
      }
    }
  }
});
