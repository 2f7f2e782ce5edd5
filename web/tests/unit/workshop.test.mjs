// Unit tests of the pure parts of src/workshop.ts: the timer's seconds left, who speaks,
// what an area makes of the notes written in it, a team note's row of the collaborators
// table, and where a team goes on the interaction/conflict plot.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { loadSrc } from "./load.mjs";

const { secondsLeftAt, speakerOf, plotSpot, teamRow, AREA_KIND } = await loadSrc("workshop.ts");
const { NOTE_FIELDS, NOTE_KINDS } = await loadSrc("generated/protocol.ts");

test("secondsLeftAt: whole seconds rounded up, 0 once the timer ran out", () => {
  const timer = { ends_at_ms: 100_000, seconds: 60 };
  assert.equal(secondsLeftAt(timer, 40_000), 60);
  assert.equal(secondsLeftAt(timer, 40_001), 60, "59.999 s shows as 60");
  assert.equal(secondsLeftAt(timer, 99_000), 1);
  assert.equal(secondsLeftAt(timer, 99_999), 1);
  assert.equal(secondsLeftAt(timer, 100_000), 0);
  assert.equal(secondsLeftAt(timer, 500_000), 0, "never negative");
});

test("speakerOf: the person at `current`, none without turns or after the round", () => {
  const people = [
    { id: "p1", name: "Ada" },
    { id: "p2", name: "Grace" },
  ];
  assert.equal(speakerOf(undefined), null);
  assert.deepEqual(speakerOf({ people, current: 0, round: 0 }), people[0]);
  assert.deepEqual(speakerOf({ people, current: 1, round: 0 }), people[1]);
  assert.equal(speakerOf({ people, round: 1 }), null, "everyone passed");
  assert.equal(speakerOf({ people, current: null, round: 1 }), null, "null on the wire too");
  assert.equal(speakerOf({ people, current: 5, round: 0 }), null, "an index past the list");
});

test("AREA_KIND: every area gives a kind the protocol knows", () => {
  const kinds = new Set(Object.values(NOTE_KINDS));
  assert.ok(Object.keys(AREA_KIND).length > 0);
  for (const [area, kind] of Object.entries(AREA_KIND)) assert.ok(kinds.has(kind), `${area} -> ${kind}`);
  assert.equal(AREA_KIND.obstacles, NOTE_KINDS.obstacle);
  assert.equal(AREA_KIND.remedies, NOTE_KINDS.remedy);
  assert.equal(AREA_KIND.teams, AREA_KIND.plot, "a team stays a team on the plot");
  assert.equal(AREA_KIND.nowhere, undefined);
});

test("plotSpot: interaction to the right, conflict upwards, inside the plot", () => {
  const plot = { x: 1000, y: 500, w: 600, h: 480 };
  const [w, h] = [120, 80];
  const low = plotSpot(plot, 0, 0, w, h);
  const high = plotSpot(plot, 4, 4, w, h);
  // No interaction: left edge (after the padding); no conflict: bottom.
  assert.deepEqual(low, { x: 1016, y: 500 + 48 + (480 - 48 - 16 - 80) });
  // Most of both: right edge, just under the title.
  assert.deepEqual(high, { x: 1000 + 600 - 16 - 120, y: 548 });
  const mid = plotSpot(plot, 2, 2, w, h);
  assert.equal(mid.x, (low.x + high.x) / 2);
  assert.equal(mid.y, (low.y + high.y) / 2);
  // Scores outside 0..4 stay on the plot.
  assert.deepEqual(plotSpot(plot, 9, -3, w, h), { x: high.x, y: low.y });
  // A plot smaller than the note: the note sits at its padded corner.
  assert.deepEqual(plotSpot({ x: 0, y: 0, w: 50, h: 50 }, 4, 4, w, h), { x: 16, y: 48 });
});

test("teamRow: reads a team note's fields, with defaults for what is missing", () => {
  const doc = new Y.Doc();
  const notes = doc.getMap("notes");
  const full = new Y.Map();
  const partial = new Y.Map();
  notes.set("n1", full);
  notes.set("n2", partial);
  const text = new Y.Text();
  full.set(NOTE_FIELDS.text, text);
  text.insert(0, "Platform team");
  full.set(NOTE_FIELDS.expectsOfUs, "Clear requests");
  full.set(NOTE_FIELDS.weExpect, "Fast reviews");
  full.set(NOTE_FIELDS.interaction, 3);
  full.set(NOTE_FIELDS.conflict, 1);
  full.set(NOTE_FIELDS.chosen, true);
  partial.set(NOTE_FIELDS.text, "Legal");
  partial.set(NOTE_FIELDS.interaction, "high");
  partial.set(NOTE_FIELDS.chosen, "yes");
  assert.deepEqual(teamRow("n1", full), {
    id: "n1",
    name: "Platform team",
    expectsOfUs: "Clear requests",
    weExpect: "Fast reviews",
    interaction: 3,
    conflict: 1,
    chosen: true,
  });
  assert.deepEqual(teamRow("n2", partial), {
    id: "n2",
    name: "Legal",
    expectsOfUs: "",
    weExpect: "",
    interaction: 0,
    conflict: 0,
    chosen: false,
  });
});
