// Unit tests of the pure parts of src/vote.ts: which vote is on screen, who may vote,
// votes left, whether a vote takes votes at a given time, and the countdown text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadSrc } from "./load.mjs";

const { latestVote, mayVote, votesLeft, takesVotes, countdown, plural } = await loadSrc("vote.ts");

/** A vote as the server reports it (generated/protocol.ts's VoteView). */
const vote = (id, over = {}) => ({
  id,
  settings: { title: id, candidates: ["a", "b"], budget: 3, max_per_candidate: 2, anonymous: true, hidden: false, roster: false },
  open: true,
  revealed: false,
  opened_at_ms: 1000,
  ...over,
});

test("latestVote: none without votes", () => {
  assert.equal(latestVote([]), null);
  assert.equal(latestVote(new Map().values()), null);
});

test("latestVote: the one opened last, whatever the order", () => {
  const a = vote("a", { opened_at_ms: 1000 });
  const b = vote("b", { opened_at_ms: 3000 });
  const c = vote("c", { opened_at_ms: 2000 });
  assert.equal(latestVote([a, b, c]).id, "b");
  assert.equal(latestVote([b, c, a]).id, "b");
  assert.equal(latestVote(new Map([["c", c], ["a", a]]).values()).id, "c");
});

test("latestVote: of two opened at the same moment, the later listed", () => {
  const a = vote("a", { opened_at_ms: 5000 });
  const b = vote("b", { opened_at_ms: 5000 });
  assert.equal(latestVote([a, b]).id, "b");
  assert.equal(latestVote([b, a]).id, "a");
});

test("mayVote: participants and the facilitator, not viewers or the unknown", () => {
  assert.equal(mayVote("participant"), true);
  assert.equal(mayVote("facilitator"), true);
  assert.equal(mayVote("viewer"), false);
  assert.equal(mayVote(null), false);
});

test("votesLeft: the budget before any ballot, then the server's count", () => {
  const v = vote("v");
  assert.equal(votesLeft(v, undefined), 3);
  assert.equal(votesLeft(v, { mine: new Map([["a", 2]]), remaining: 1 }), 1);
  assert.equal(votesLeft(v, { mine: new Map(), remaining: 0 }), 0);
});

test("takesVotes: open, and before its timer when it has one", () => {
  assert.equal(takesVotes(null, 0), false);
  assert.equal(takesVotes(vote("v", { open: false }), 0), false);
  assert.equal(takesVotes(vote("v"), 1e15), true, "no timer: open until closed");
  const timed = vote("v", { closes_at_ms: 10_000 });
  assert.equal(takesVotes(timed, 9_999), true);
  assert.equal(takesVotes(timed, 10_000), false, "closed at the instant of its timer");
  assert.equal(takesVotes(timed, 20_000), false);
});

test("countdown: m:ss rounded up, never negative", () => {
  assert.equal(countdown(0), "0:00");
  assert.equal(countdown(-5000), "0:00");
  assert.equal(countdown(1), "0:01");
  assert.equal(countdown(59_001), "1:00");
  assert.equal(countdown(61_000), "1:01");
  assert.equal(countdown(10 * 60_000), "10:00");
});

test("plural: one and many", () => {
  assert.equal(plural(1, "vote", "votes"), "1 vote");
  assert.equal(plural(0, "vote", "votes"), "0 votes");
  assert.equal(plural(2, "person", "people"), "2 people");
});
