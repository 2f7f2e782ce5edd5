// The reference Yjs client (the y-websocket provider from npm) against the real server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import WebSocket from "ws";
import { build } from "esbuild";
import { join } from "node:path";
import { createBoard, startServer, webDir } from "../e2e/helpers.mjs";

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** A module of the web client (TypeScript), bundled on the fly and imported. */
async function clientModule(path) {
  const out = await build({ entryPoints: [join(webDir, path)], bundle: true, write: false, format: "esm", logLevel: "warning" });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`);
}

/** Creates a board; returns its id and participant token. */
async function newBoard(title) {
  const board = await createBoard(server.base, title);
  const token = new URL(board.links.participant, server.base).searchParams.get("token");
  return { id: board.id, token };
}

/**
 * A provider as a plain Yjs app would make it: the access token goes in `params`, and
 * no BroadcastChannel, so only the server syncs.
 */
function connect({ id, token }, doc = new Y.Doc()) {
  const provider = new WebsocketProvider(`ws://127.0.0.1:${server.port}/ws`, id, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    params: { token, name: "interop" },
  });
  return { doc, provider };
}

/** Ends peers. Destroying the document also destroys the provider's Awareness, whose timer would keep Node running. */
function close(...peers) {
  for (const { provider, doc } of peers) {
    provider.destroy();
    doc.destroy();
  }
}

/** Polls `condition` until it holds, for at most `ms`. */
async function waitFor(condition, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function addNote(doc, id, text) {
  doc.transact(() => {
    const note = new Y.Map();
    doc.getMap("notes").set(id, note);
    note.set("pos", [0, 0]);
    note.set("color", "yellow");
    note.set("text", new Y.Text(text));
  });
}

/** Calls `read` until its answer passes `ok`, for at most `ms`; returns that answer. */
async function until(read, ok, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: last ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const noteIds = (doc) => [...doc.getMap("notes").keys()].sort();

test("two providers converge on a board", async () => {
  const board = await newBoard("Interop");
  const a = connect(board);
  const b = connect(board);
  await waitFor(() => a.provider.synced && b.provider.synced, "both synced");
  assert.equal(a.doc.getMap("meta").get("title"), "Interop");
  for (let i = 0; i < 20; i++) {
    addNote(a.doc, `a${i}`, `from a ${i}`);
    addNote(b.doc, `b${i}`, `from b ${i}`);
  }
  a.doc.getMap("notes").get("a0").get("text").insert(0, "edited ");
  await waitFor(() => noteIds(a.doc).length === 40 && noteIds(b.doc).length === 40, "40 notes on both");
  await waitFor(
    () => Buffer.compare(Y.encodeStateVector(a.doc), Y.encodeStateVector(b.doc)) === 0,
    "equal state vectors",
  );
  assert.deepEqual(a.doc.getMap("notes").toJSON(), b.doc.getMap("notes").toJSON());
  assert.equal(b.doc.getMap("notes").get("a0").get("text").toString(), "edited from a 0");
  close(a, b);
});

test("awareness from one provider reaches the other and leaves with it", async () => {
  const board = await newBoard("Presence");
  const a = connect(board);
  const b = connect(board);
  await waitFor(() => a.provider.synced && b.provider.synced, "both synced");
  a.provider.awareness.setLocalStateField("user", { name: "Ana" });
  const aId = a.doc.clientID;
  await waitFor(() => b.provider.awareness.getStates().get(aId)?.user?.name === "Ana", "Ana's state on B");
  close(a);
  await waitFor(() => !b.provider.awareness.getStates().has(aId), "Ana's state removed on B");
  close(b);
});

test("edits made offline merge when the connection returns", async () => {
  const board = await newBoard("Offline");
  const a = connect(board);
  const b = connect(board);
  await waitFor(() => a.provider.synced && b.provider.synced, "both synced");
  addNote(a.doc, "shared", "before");
  await waitFor(() => noteIds(b.doc).includes("shared"), "shared note on B");

  a.provider.disconnect();
  addNote(a.doc, "offline-a", "written offline");
  a.doc.getMap("notes").get("shared").get("text").insert(0, "A: ");
  addNote(b.doc, "online-b", "written meanwhile");
  b.doc.getMap("notes").get("shared").get("text").insert(6, " B");
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(!noteIds(b.doc).includes("offline-a"), "an offline edit must not arrive while offline");

  a.provider.connect();
  const both = (doc) => noteIds(doc).includes("offline-a") && noteIds(doc).includes("online-b");
  await waitFor(() => both(a.doc) && both(b.doc), "both edits on both sides");
  const text = (doc) => doc.getMap("notes").get("shared").get("text").toString();
  await waitFor(() => text(a.doc) === text(b.doc), "merged text");
  assert.equal(text(a.doc), "A: before B");
  close(a, b);

  // The merge is on the server too: a newcomer sees it.
  const c = connect(board);
  await waitFor(() => c.provider.synced && both(c.doc), "newcomer has both edits");
  close(c);
});

test("a 1 MB document syncs to a newcomer", async () => {
  const board = await newBoard("Big");
  const a = connect(board);
  await waitFor(() => a.provider.synced, "writer synced");
  const chunk = "lorem ipsum dolor sit amet ".repeat(400); // ~10.8 kB
  for (let i = 0; i < 100; i++) addNote(a.doc, `n${i}`, `${i} ${chunk}`);
  const size = Y.encodeStateAsUpdate(a.doc).length;
  assert.ok(size > 1_000_000, `document is ${size} bytes`);

  const watcher = connect(board);
  await waitFor(() => watcher.provider.synced && noteIds(watcher.doc).length === 100, "watcher has every note", 20_000);
  const b = connect(board);
  await waitFor(() => b.provider.synced && noteIds(b.doc).length === 100, "newcomer has every note", 20_000);
  assert.equal(Y.encodeStateAsUpdate(b.doc).length, size);
  assert.equal(b.doc.getMap("notes").get("n99").get("text").toString(), `99 ${chunk}`);
  close(a, watcher, b);
});

test("a viewer's provider syncs the board but its edits are refused, not relayed", async () => {
  const created = await createBoard(server.base, "Viewer");
  const tokenOf = (link) => new URL(link, server.base).searchParams.get("token");
  const editor = connect({ id: created.id, token: tokenOf(created.links.participant) });
  const viewer = connect({ id: created.id, token: tokenOf(created.links.viewer) });
  await waitFor(() => editor.provider.synced && viewer.provider.synced, "both synced");
  addNote(editor.doc, "live", "seen by the viewer");
  await waitFor(() => noteIds(viewer.doc).includes("live"), "the viewer sees edits live");

  // y-websocket reports the standard permission-denied message with console.warn.
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.join(" "));
  try {
    addNote(viewer.doc, "sneaky", "refused");
    await waitFor(() => warnings.some((w) => w.includes("read-only")), "the viewer told its edit was refused");
  } finally {
    console.warn = warn;
  }
  addNote(editor.doc, "later", "still live");
  await waitFor(() => noteIds(viewer.doc).includes("later"), "the viewer still receives edits");
  assert.ok(!noteIds(editor.doc).includes("sneaky"), "a viewer's edit reached another client");
  close(editor, viewer);
});

test("a note's position: the client's helpers write one pos entry and read x and y of older boards", async () => {
  const { notePos, setNotePos } = await clientModule("src/schema.ts");
  const board = await newBoard("Positions");
  const a = connect(board);
  const b = connect(board);
  await waitFor(() => a.provider.synced && b.provider.synced, "both synced");
  const api = async (path) => {
    const res = await fetch(`${server.base}/api/boards/${board.id}${path}`, { headers: { authorization: `Bearer ${board.token}` } });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return res.json();
  };
  const serverPos = async (id) => {
    const note = (await api("/state")).board.notes.find((n) => n.id === id);
    return note && { x: note.x, y: note.y };
  };

  // A note as boards written before `pos` hold it: separate x and y entries.
  a.doc.transact(() => {
    const note = new Y.Map();
    a.doc.getMap("notes").set("old", note);
    note.set("x", 12);
    note.set("y", 34);
    note.set("text", new Y.Text("old note"));
  });
  await waitFor(() => b.doc.getMap("notes").has("old"), "the old note on B");
  const onB = b.doc.getMap("notes").get("old");
  assert.deepEqual(notePos(onB), { x: 12, y: 34 });
  assert.deepEqual(notePos(new Y.Map()), { x: 0, y: 0 });
  let fromServer = await until(() => serverPos("old"), Boolean, "the old note on the server");
  assert.deepEqual(fromServer, { x: 12, y: 34 }, "the server reads x and y when there is no pos");

  // B moves it: one `pos` entry, one new item; x and y stay, no longer read.
  const clock = () => Y.decodeStateVector(Y.encodeStateVector(b.doc)).get(b.doc.clientID) ?? 0;
  const before = clock();
  b.doc.transact(() => setNotePos(onB, 100.4, 200.6));
  assert.equal(clock() - before, 1, "a move adds one item");
  b.doc.transact(() => setNotePos(onB, 100, 201));
  assert.equal(clock() - before, 1, "moving to where it is writes nothing");
  const onA = () => a.doc.getMap("notes").get("old");
  await waitFor(() => onA().get("pos")?.[0] === 100, "the move on A");
  assert.deepEqual(onA().get("pos"), [100, 201]);
  assert.deepEqual(notePos(onA()), { x: 100, y: 201 });
  assert.deepEqual([onA().get("x"), onA().get("y")], [12, 34]);
  fromServer = await until(() => serverPos("old"), (p) => p?.x === 100, "the move on the server");
  assert.deepEqual(fromServer, { x: 100, y: 201 }, "the server reads pos first");
  const history = await api("/history");
  const changes = history.entries.flatMap((e) => e.changes);
  assert.ok(
    changes.some((c) => c.kind === "note_moved" && c.id === "old"),
    `the server summarises the pos change as a move: ${JSON.stringify(changes)}`,
  );

  // A pos that is not two finite numbers reads as x and y, on both sides.
  a.doc.transact(() => onA().set("pos", ["left", 5]));
  assert.deepEqual(notePos(onA()), { x: 12, y: 34 });
  fromServer = await until(() => serverPos("old"), (p) => p?.x === 12, "the server falling back to x and y");
  assert.deepEqual(fromServer, { x: 12, y: 34 });
  close(a, b);
});
