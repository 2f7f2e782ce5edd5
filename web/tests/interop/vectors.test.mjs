// The golden vectors of protocol/tests/vectors, decoded and re-encoded by the JavaScript
// reference implementation (y-protocols, lib0, yjs): both sides must agree byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";
import * as awarenessProtocol from "y-protocols/awareness";
import * as authProtocol from "y-protocols/auth";

const vectorsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "protocol", "tests", "vectors");
const manifest = JSON.parse(readFileSync(join(vectorsDir, "manifest.json"), "utf8"));
const read = (file) => new Uint8Array(readFileSync(join(vectorsDir, file)));

// Message types of y-websocket.
const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const MESSAGE_AUTH = 2;
const MESSAGE_QUERY_AWARENESS = 3;
// Commonboard application messages (MSG_APP in web/src/generated/protocol.ts).
const MSG_APP = 100;

/** Documents that vectors build on one another (`appliesAfter`). */
const docs = new Map();

/**
 * Decodes one frame with the JavaScript implementation, checks each message against
 * the manifest, and returns the frame re-encoded by the JavaScript writers.
 */
function decodeAndReencode(file, expected) {
  const decoder = decoding.createDecoder(read(file));
  const out = encoding.createEncoder();
  let index = 0;
  while (decoding.hasContent(decoder)) {
    const want = expected[index++];
    assert.ok(want, `${file}: more messages than the manifest lists`);
    const type = decoding.readVarUint(decoder);
    encoding.writeVarUint(out, type);
    switch (type) {
      case MESSAGE_SYNC: {
        const sub = decoding.readVarUint(decoder);
        const payload = decoding.readVarUint8Array(decoder);
        if (sub === syncProtocol.messageYjsSyncStep1) {
          assert.equal(want.type, "sync_step1");
          const sv = Y.decodeStateVector(payload);
          assert.deepEqual(Object.fromEntries([...sv].map(([k, v]) => [String(k), v])), want.stateVector);
          // writeSyncStep1 encodes Y.encodeStateVector(arg), which takes a document or a Map.
          syncProtocol.writeSyncStep1(out, sv);
        } else {
          assert.equal(want.type, sub === syncProtocol.messageYjsSyncStep2 ? "sync_step2" : "sync_update");
          const doc = want.appliesAfter ? docs.get(want.appliesAfter) : new Y.Doc();
          Y.applyUpdate(doc, payload);
          docs.set(file, doc);
          assert.deepEqual(doc.getMap("notes").toJSON(), want.notes);
          if (sub === syncProtocol.messageYjsSyncStep2) {
            // Yjs encodes the same document to the same bytes yrs did.
            syncProtocol.writeSyncStep2(out, doc);
          } else {
            syncProtocol.writeUpdate(out, payload);
          }
        }
        break;
      }
      case MESSAGE_AWARENESS: {
        assert.equal(want.type, "awareness");
        const payload = decoding.readVarUint8Array(decoder);
        const awareness = new awarenessProtocol.Awareness(new Y.Doc());
        awareness.setLocalState(null);
        awarenessProtocol.applyAwarenessUpdate(awareness, payload, "vector");
        const clients = want.clients.map((c) => c.client);
        for (const c of want.clients) {
          assert.equal(awareness.meta.get(c.client).clock, c.clock);
          assert.deepEqual(awareness.getStates().get(c.client) ?? null, c.state);
        }
        encoding.writeVarUint8Array(out, awarenessProtocol.encodeAwarenessUpdate(awareness, clients));
        awareness.destroy();
        break;
      }
      case MESSAGE_AUTH: {
        assert.equal(want.type, "auth");
        let reason = null;
        authProtocol.readAuthMessage(decoder, new Y.Doc(), (_doc, why) => {
          reason = why;
        });
        assert.equal(reason, want.denied);
        authProtocol.writePermissionDenied(out, reason);
        break;
      }
      case MESSAGE_QUERY_AWARENESS:
        assert.equal(want.type, "query_awareness");
        break;
      case MSG_APP: {
        assert.equal(want.type, "app");
        const json = JSON.parse(new TextDecoder().decode(decoding.readVarUint8Array(decoder)));
        assert.deepEqual(json, want.json);
        encoding.writeVarUint8Array(out, new TextEncoder().encode(JSON.stringify(json)));
        break;
      }
      default:
        assert.fail(`${file}: unknown message type ${type}`);
    }
  }
  assert.equal(index, expected.length, `${file}: fewer messages than the manifest lists`);
  return encoding.toUint8Array(out);
}

for (const { file, messages } of manifest) {
  test(`${file} decodes as the manifest says and re-encodes to the same bytes`, () => {
    const again = decodeAndReencode(file, messages);
    assert.deepEqual(Buffer.from(again).toString("hex"), Buffer.from(read(file)).toString("hex"));
  });
}
