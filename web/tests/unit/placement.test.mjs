// The client's placement rule (web/src/placement.ts), on the template's step 2: a full
// area grows and what lies below it moves down, so a note never covers another area.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadSrc } from "./load.mjs";

const { placeInArea } = await loadSrc("placement.ts");

const frame = (id, x, y, w, h) => ({ id, r: { x, y, w, h } });
const note = (id, x, y) => ({ id, r: { x, y, w: 160, h: 120 } });
const overlap = (a, b) => a.x < b.x + b.w && a.x + a.w > b.x && a.y < b.y + b.h && a.y + a.h > b.y;
const holds = (a, b) => a.x <= b.x && a.y <= b.y && a.x + a.w >= b.x + b.w && a.y + a.h >= b.y + b.h;

test("a note goes to free space inside its area when there is some", () => {
  const frames = [frame("value", 2240, 140, 300, 400)];
  const spot = placeInArea(frames, [note("v1", 2256, 184)], 0, 160, 120);
  assert.deepEqual(spot, { x: 2256, y: 316, layout: { frames: [], notes: [] } });
});

test("a full area grows, what is below it moves down, and nothing beside it moves", () => {
  let frames = [
    frame("step", 1600, 0, 1900, 1000),
    frame("value", 2240, 140, 300, 400),
    frame("costs", 2240, 560, 300, 400),
    frame("risks", 2560, 560, 300, 400),
    frame("next-step", 3600, 0, 1300, 1000),
  ];
  let notes = [note("v1", 2256, 184), note("v2", 2256, 316), note("c1", 2256, 604), note("r1", 2576, 604)];
  const apply = ({ x, y, layout }, id) => {
    const moved = new Map([...layout.frames, ...layout.notes].map((i) => [i.id, i.r]));
    frames = frames.map((f) => ({ id: f.id, r: moved.get(f.id) ?? f.r }));
    notes = notes.map((n) => ({ id: n.id, r: moved.get(n.id) ?? n.r }));
    notes.push(note(id, x, y));
  };
  apply(placeInArea(frames, notes, 1, 160, 120), "v3");
  apply(placeInArea(frames, notes, 1, 160, 120), "v4");
  const at = (id) => frames.find((f) => f.id === id).r;
  assert.equal(at("value").h, 400 + 2 * 132, "Value grew by two rows");
  assert.equal(at("costs").y, at("value").y + at("value").h + 20, "Costs moved down, keeping its distance");
  assert.deepEqual(at("risks"), { x: 2560, y: 560, w: 300, h: 400 }, "Risks is beside Value, not below it");
  assert.equal(at("next-step").h, 1000, "the next step is untouched");
  assert.ok(holds(at("step"), at("costs")), "the step grew around what moved");
  assert.equal(notes.find((n) => n.id === "c1").r.y, 604 + 264, "Costs' note moved with it");
  const area = { v: "value", c: "costs", r: "risks" };
  for (const n of notes) {
    const own = at(area[n.id[0]]);
    assert.ok(holds(own, n.r), `${n.id} inside its area`);
    for (const f of frames) if (f.r !== own && !holds(f.r, own)) assert.ok(!overlap(n.r, f.r), `${n.id} covers ${f.id}`);
    for (const o of notes) if (o !== n) assert.ok(!overlap(n.r, o.r), `${n.id} covers ${o.id}`);
  }
});
