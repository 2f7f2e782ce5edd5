// Unit tests of src/textdiff.ts: the minimal replacement between two strings, applying
// it to a Y.Text, and moving a caret through a remote delta.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { loadSrc } from "./load.mjs";

const { diffText, applyText, transformIndex } = await loadSrc("textdiff.ts");

test("diffText: no change is null", () => {
  assert.equal(diffText("", ""), null);
  assert.equal(diffText("same", "same"), null);
});

test("diffText: keeps the common prefix and suffix", () => {
  assert.deepEqual(diffText("hello world", "hello brave world"), { index: 6, remove: 0, insert: "brave " });
  assert.deepEqual(diffText("hello brave world", "hello world"), { index: 6, remove: 6, insert: "" });
  assert.deepEqual(diffText("cat", "cut"), { index: 1, remove: 1, insert: "u" });
  assert.deepEqual(diffText("", "abc"), { index: 0, remove: 0, insert: "abc" });
  assert.deepEqual(diffText("abc", ""), { index: 0, remove: 3, insert: "" });
});

test("diffText: a repeated letter is inserted once, at the end of the run", () => {
  // "aa" -> "aaa": prefix "aa" is kept, so the insertion is at the end.
  assert.deepEqual(diffText("aa", "aaa"), { index: 2, remove: 0, insert: "a" });
});

test("diffText: never splits a surrogate pair", () => {
  // Two emoji sharing their high surrogate: the prefix stops before it.
  const a = "x\u{1F600}y";
  const b = "x\u{1F601}y";
  const d = diffText(a, b);
  assert.deepEqual(d, { index: 1, remove: 2, insert: "\u{1F601}" });
  // Sharing the low surrogate (U+1F600 is D83D DE00, U+1F200 is D83C DE00): the suffix stops after it.
  const c = "x\u{1F600}y";
  const e = "x\u{1F200}y";
  const d2 = diffText(c, e);
  assert.equal(d2.index, 1);
  assert.equal(d2.remove, 2);
  assert.equal(d2.insert, "\u{1F200}");
});

test("diffText then splice gives the new string, on random edits", () => {
  const alphabet = ["a", "b", " ", "\u{1F600}", "\u{1F601}", "é"];
  let seed = 7;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const word = () => Array.from({ length: rnd(6) }, () => alphabet[rnd(alphabet.length)]).join("");
  for (let i = 0; i < 500; i++) {
    const prev = word() + word();
    const next = rnd(2) ? word() + prev.slice(rnd(prev.length + 1)) : prev.slice(0, rnd(prev.length + 1)) + word();
    const d = diffText(prev, next);
    if (prev === next) {
      assert.equal(d, null);
      continue;
    }
    const out = prev.slice(0, d.index) + d.insert + prev.slice(d.index + d.remove);
    assert.equal(out, next, `${JSON.stringify(prev)} -> ${JSON.stringify(next)}`);
    // The change's edges never fall inside a surrogate pair of either string.
    for (const [s, at] of [
      [prev, d.index],
      [prev, d.index + d.remove],
      [next, d.index],
      [next, d.index + d.insert.length],
    ]) {
      const lo = s.charCodeAt(at);
      assert.ok(!(lo >= 0xdc00 && lo <= 0xdfff), `split pair in ${JSON.stringify(s)} at ${at}`);
    }
  }
});

test("applyText edits a Y.Text minimally, one delete and one insert", () => {
  const doc = new Y.Doc();
  const text = doc.getText("t");
  text.insert(0, "hello world");
  const deltas = [];
  text.observe((e) => deltas.push(e.delta));
  doc.transact(() => applyText(text, "hello brave world"));
  assert.equal(text.toString(), "hello brave world");
  assert.deepEqual(deltas, [[{ retain: 6 }, { insert: "brave " }]]);
  doc.transact(() => applyText(text, "hello brave world"));
  assert.equal(deltas.length, 1, "no change, no transaction content");
  doc.transact(() => applyText(text, "yellow"));
  assert.equal(text.toString(), "yellow");
});

test("applyText merges with a concurrent edit instead of overwriting it", () => {
  const a = new Y.Doc();
  const b = new Y.Doc();
  a.getText("t").insert(0, "one two");
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
  a.transact(() => applyText(a.getText("t"), "zero one two"));
  b.transact(() => applyText(b.getText("t"), "one two three"));
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b));
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
  assert.equal(a.getText("t").toString(), "zero one two three");
  assert.equal(b.getText("t").toString(), "zero one two three");
});

test("transformIndex moves a caret through inserts and deletes before it", () => {
  assert.equal(transformIndex([{ insert: "abc" }], 0), 0, "insert at the caret leaves it before");
  assert.equal(transformIndex([{ retain: 2 }, { insert: "abc" }], 5), 8);
  assert.equal(transformIndex([{ retain: 5 }, { insert: "abc" }], 5), 5, "insert exactly at the caret");
  assert.equal(transformIndex([{ retain: 6 }, { insert: "abc" }], 5), 5, "insert after the caret");
  assert.equal(transformIndex([{ delete: 2 }], 5), 3);
  assert.equal(transformIndex([{ retain: 3 }, { delete: 10 }], 5), 3, "deleted range around the caret");
  assert.equal(transformIndex([{ retain: 1 }, { insert: { embed: true } }], 4), 5, "an embed counts as one");
  assert.equal(transformIndex([{ delete: 9 }], 0), 0);
});

test("transformIndex agrees with a real remote edit", () => {
  const a = new Y.Doc();
  const b = new Y.Doc();
  a.getText("t").insert(0, "the quick fox");
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
  const caret = "the quick".length; // after "quick" in b
  let moved = -1;
  b.getText("t").observe((e) => (moved = transformIndex(e.delta, caret)));
  a.transact(() => applyText(a.getText("t"), "see the very quick fox"));
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
  const now = b.getText("t").toString();
  assert.equal(now, "see the very quick fox");
  assert.equal(now.slice(0, moved), "see the very quick");
});
