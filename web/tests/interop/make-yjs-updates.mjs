// Writes protocol/tests/fixtures/yjs-updates.bin: real Yjs updates and state vectors
// (every content kind Yjs writes, deletions, garbage collection, a merge) and client
// frames made with y-protocols, for the validating reader's test
// (protocol/tests/it/validate.rs). Each record: a kind byte (0 update, 1 state vector,
// 2 frame), a u32 little-endian length, the bytes. Run with `node` from web/.
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as Y from "yjs";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";
import * as awarenessProtocol from "y-protocols/awareness";

const records = [];
const add = (kind, bytes) => records.push([kind, bytes]);

const doc = new Y.Doc();
doc.clientID = 4242;
const updates = [];
doc.on("update", (update) => updates.push(update));

const text = doc.getText("text");
text.insert(0, "héllo wörld 👋 ");
text.format(0, 5, { bold: true });
text.insertEmbed(3, { image: "x.png" });
const map = doc.getMap("map");
map.set("null", null);
map.set("int", -42);
map.set("big", 2 ** 40);
map.set("float", 1.5);
map.set("bigint", 12345678901234567890n);
map.set("string", "s");
map.set("bytes", new Uint8Array([1, 2, 3]));
map.set("nested", { a: [1, [2, [3, { b: [true, false, null] }]]] });
map.set("undefined", undefined);
const inner = new Y.Map();
map.set("inner", inner);
inner.set("k", 1);
const list = new Y.Array();
map.set("list", list);
list.insert(0, ["a", 1, { c: 2 }]);
map.set("subtext", new Y.Text("sub"));
map.set("subdoc", new Y.Doc({ guid: "sub-guid" }));
const array = doc.getArray("array");
array.insert(0, Array.from({ length: 50 }, (_, i) => i));
array.delete(10, 20);
const xml = doc.getXmlFragment("xml");
const div = new Y.XmlElement("div");
xml.insert(0, [div]);
div.setAttribute("class", "c");
div.insert(0, [new Y.XmlText("inside")]);
text.delete(0, 1);
map.delete("nested");

for (const update of updates) add(0, update);
add(0, Y.encodeStateAsUpdate(doc));
add(0, Y.mergeUpdates(updates));
add(1, Y.encodeStateVector(doc));
add(1, Y.encodeStateVector(new Y.Doc()));

// A document after garbage collection, and a diff against part of its history.
const gc = new Y.Doc();
gc.clientID = 7;
const gcArray = gc.getArray("a");
gcArray.insert(0, Array.from({ length: 100 }, (_, i) => i));
const half = Y.encodeStateVector(gc);
gcArray.delete(0, 90);
add(0, Y.encodeStateAsUpdate(gc));
add(0, Y.encodeStateAsUpdate(gc, half));

// Frames as a y-websocket provider sends them: step 1, step 2, an update, presence.
const frame = (write) => {
  const encoder = encoding.createEncoder();
  write(encoder);
  return encoding.toUint8Array(encoder);
};
add(2, frame((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, doc); }));
add(2, frame((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, doc, Y.encodeStateVector(gc)); }));
add(2, frame((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, updates[0]); }));
const awareness = new awarenessProtocol.Awareness(doc);
awareness.setLocalState({ user: { name: "Ana", color: "#e91e63" }, cursor: { x: 1, y: 2 } });
add(2, frame((e) => {
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]));
}));
awareness.setLocalState(null);
add(2, frame((e) => {
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]));
}));
add(2, frame((e) => encoding.writeVarUint(e, 3)));
awareness.destroy();

const out = encoding.createEncoder();
for (const [kind, bytes] of records) {
  encoding.writeUint8(out, kind);
  encoding.writeUint32(out, bytes.length);
  encoding.writeUint8Array(out, bytes);
}
const file = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "protocol", "tests", "fixtures", "yjs-updates.bin");
writeFileSync(file, encoding.toUint8Array(out));
console.log(`${records.length} records written to ${join("protocol", "tests", "fixtures", "yjs-updates.bin")}`);
