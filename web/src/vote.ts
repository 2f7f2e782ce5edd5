// Live voting in the browser: what the server says about votes (the server decides
// everything), the vote panel shared by the board and the phone page, and the controls
// a candidate note carries.
import { noteText, type Board } from "./board";
import type { Role, Tally, VoteView } from "./generated/protocol";
import { META_FIELDS } from "./schema";
import { h } from "./util";

/** This connection's ballot in one vote: its votes per candidate and how many remain. */
export interface Ballot {
  mine: Map<string, number>;
  remaining: number;
}

/** The vote on screen: the one opened last (of two opened at once, the later listed). */
export function latestVote(votes: Iterable<VoteView>): VoteView | null {
  let best: VoteView | null = null;
  for (const v of votes) if (!best || v.opened_at_ms >= best.opened_at_ms) best = v;
  return best;
}

/** Whether this role may cast votes. */
export function mayVote(role: Role | null): boolean {
  return role === "participant" || role === "facilitator";
}

/** Votes left to place in `v`: the ballot's count, or the whole budget before any ballot. */
export function votesLeft(v: VoteView, ballot: Ballot | undefined): number {
  return ballot ? ballot.remaining : v.settings.budget;
}

/** Whether `v` takes votes at server time `nowMs`: open, and before its timer if it has one. */
export function takesVotes(v: VoteView | null, nowMs: number): boolean {
  if (!v || !v.open) return false;
  return v.closes_at_ms === undefined || nowMs < v.closes_at_ms;
}

/** The votes of a board as the server reports them to this connection. */
export class VoteModel {
  readonly board: Board;
  role: Role | null = null;
  locked = false;
  votes = new Map<string, VoteView>();
  ballots = new Map<string, Ballot>();
  /** The server's last refusal, shown until the next accepted vote. */
  error = "";
  #listeners = new Set<() => void>();

  constructor(board: Board) {
    this.board = board;
    const app = board.app;
    app.on("welcome", (m) => {
      this.role = m.role;
      this.locked = m.locked;
      this.#emit();
    });
    app.on("board_state", (m) => {
      this.locked = m.locked;
      this.#emit();
    });
    app.on("vote", (m) => {
      const before = this.votes.get(m.vote.id);
      // A refusal is stale once the vote it was about opened, closed or was revealed.
      if (!before || before.open !== m.vote.open || before.revealed !== m.vote.revealed) this.error = "";
      this.votes.set(m.vote.id, m.vote);
      this.#emit();
    });
    app.on("ballot", (m) => {
      this.ballots.set(m.vote, { mine: new Map(m.mine), remaining: m.remaining });
      this.error = "";
      this.#emit();
    });
    app.on("error", (m) => {
      this.error = m.message;
      this.#emit();
    });
    board.meta.observe((e) => {
      if (e.keysChanged.has(META_FIELDS.commonGoal)) this.#emit();
    });
  }

  onChange(fn: () => void): void {
    this.#listeners.add(fn);
  }

  #emit(): void {
    for (const fn of this.#listeners) fn();
  }

  /** The vote on screen: the one opened last. */
  get current(): VoteView | null {
    return latestVote(this.votes.values());
  }

  get commonGoal(): string | null {
    const g = this.board.meta.get(META_FIELDS.commonGoal);
    return typeof g === "string" && g ? g : null;
  }

  get canVote(): boolean {
    return mayVote(this.role);
  }

  mine(candidate: string): number {
    const v = this.current;
    return (v && this.ballots.get(v.id)?.mine.get(candidate)) || 0;
  }

  remaining(): number | null {
    const v = this.current;
    if (!v) return null;
    return votesLeft(v, this.ballots.get(v.id));
  }

  /** Whether the current vote takes votes now (open and before its timer). */
  isOpen(): boolean {
    return takesVotes(this.current, this.board.app.serverNow());
  }

  cast(candidate: string, add: boolean): void {
    const v = this.current;
    if (!v) return;
    const sent = this.board.app.send({ type: add ? "cast_vote" : "retract_vote", vote: v.id, candidate });
    if (!sent) {
      this.error = "Not connected: your vote was not sent. Try again in a moment.";
      this.#emit();
    }
  }

  send(msg: Parameters<Board["app"]["send"]>[0]): void {
    if (!this.board.app.send(msg)) {
      this.error = "Not connected: try again in a moment.";
      this.#emit();
    }
  }

  noteLabel(id: string): string {
    const m = this.board.notes.get(id);
    return (m ? noteText(m).trim() : "") || "(deleted note)";
  }
}

/** "1 vote", "3 votes". */
export const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Time left as m:ss, rounded up to the second (never negative). */
export function countdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * The vote panel: title, state and countdown, votes left, the tally when this client may
 * see it, the facilitator's Close and Reveal, and the server's refusals (aria-live).
 * With `list`, it also lists the candidates with large + and − buttons (phone page).
 */
export function votePanel(model: VoteModel, list: boolean): HTMLElement {
  const title = h("h2", { class: "vote-title", id: `vote-title-${list ? "list" : "board"}` }, "Vote");
  const state = h("p", { class: "vote-state" });
  const left = h("p", { class: "vote-left" });
  const turnout = h("p", { class: "vote-turnout", hidden: true });
  const closeBtn = h("button", { type: "button", class: "tool vote-close" }, "Close vote");
  const revealBtn = h("button", { type: "button", class: "tool vote-reveal" }, "Reveal results");
  const admin = h("div", { class: "vote-admin" }, closeBtn, revealBtn);
  // A closed vote's panel can be put away; it comes back for the next vote.
  const dismissBtn = h("button", { type: "button", class: "tool vote-dismiss", "aria-label": "Hide the vote results" }, "Hide");
  let dismissed = "";
  const message = h("p", { class: "vote-message", role: "status", "aria-live": "polite" });
  const candidates = h("ul", { class: "vote-candidates", "aria-label": "Candidates" });
  const results = h("div", { class: "vote-results" });
  const panel = h(
    "section",
    { class: `vote-panel${list ? " vote-panel-list" : ""}`, "aria-labelledby": title.id, hidden: true },
    h("div", { class: "vote-head" }, title, dismissBtn),
    state,
    left,
    turnout,
    admin,
    message,
    list ? candidates : null,
    results,
  );
  closeBtn.addEventListener("click", () => {
    const v = model.current;
    if (v) model.send({ type: "close_vote", vote: v.id });
  });
  revealBtn.addEventListener("click", () => {
    const v = model.current;
    if (v) model.send({ type: "reveal_vote", vote: v.id });
  });

  dismissBtn.addEventListener("click", () => {
    dismissed = model.current?.id ?? "";
    render();
  });
  let timer = 0;
  let renderedKey = "";
  const render = () => {
    const v = model.current;
    const open = model.isOpen();
    // What was said about ballots belongs to the open vote: gone once it closed.
    const said = v && !open ? "" : model.error;
    panel.hidden = (!v && !said) || (!!v && !open && dismissed === v.id);
    dismissBtn.hidden = !v || open;
    message.textContent = said;
    message.classList.toggle("error", !!said);
    if (!v) return;
    title.textContent = v.settings.title || "Vote";
    panel.dataset.state = open ? "open" : "closed";
    if (open) {
      const rest = v.closes_at_ms !== undefined ? ` · ${countdown(v.closes_at_ms - model.board.app.serverNow())} left` : "";
      state.textContent = `Voting is open${rest}`;
    } else {
      state.textContent = "Vote closed";
    }
    if (open && v.closes_at_ms !== undefined) {
      if (!timer) timer = window.setInterval(render, 1000);
    } else if (timer) {
      clearInterval(timer);
      timer = 0;
    }
    const remaining = model.remaining() ?? 0;
    left.textContent = !model.canVote
      ? model.role === "viewer"
        ? "View only: you see the vote without voting."
        : ""
      : open
        ? `${plural(remaining, "vote", "votes")} left · ${plural(v.settings.max_per_candidate, "vote", "votes")} at most per note`
        : `You placed ${plural(v.settings.budget - remaining, "vote", "votes")}`;
    admin.hidden = model.role !== "facilitator";
    // The facilitator's view carries who voted against who may (live).
    turnout.hidden = !v.turnout;
    if (v.turnout) turnout.textContent = `${v.turnout.voted} of ${plural(v.turnout.present, "person", "people")} present voted`;
    closeBtn.hidden = !v.open;
    revealBtn.hidden = !v.settings.hidden || v.revealed;

    // Candidates (phone page): rebuilt only when their set or texts change.
    if (list) {
      const key = v.id + "\u0001" + v.settings.candidates.map((c) => model.noteLabel(c)).join("\u0001");
      if (key !== renderedKey) {
        renderedKey = key;
        candidates.replaceChildren(
          ...v.settings.candidates.map((c) => {
            const row = h("li", { class: "vote-candidate", "data-id": c });
            row.append(h("span", { class: "vote-candidate-text" }, model.noteLabel(c)), voteControls(model, c, true));
            return row;
          }),
        );
      }
      for (const row of candidates.querySelectorAll<HTMLElement>(".vote-candidate")) {
        updateControls(model, row.querySelector(".vote-controls")!, row.dataset.id!);
        row.classList.toggle("is-goal", row.dataset.id === model.commonGoal);
      }
    }
    results.replaceChildren(...tallyView(model, v));
  };
  model.onChange(render);
  // Note texts label the candidates and the tally.
  let textFrame = 0;
  model.board.notes.observeDeep(() => {
    if (!model.current || textFrame) return;
    textFrame = requestAnimationFrame(() => {
      textFrame = 0;
      render();
    });
  });
  render();
  return panel;
}

function tallyView(model: VoteModel, v: VoteView): Node[] {
  if (!v.tally) {
    return [h("p", { class: "vote-hidden muted" }, "Results are hidden until the facilitator reveals them.")];
  }
  const goal = model.commonGoal;
  const rows = v.tally.map((t: Tally) =>
    h(
      "li",
      { class: `vote-tally-row${t.candidate === goal ? " is-goal" : ""}`, "data-id": t.candidate },
      h("span", { class: "vote-tally-text" }, model.noteLabel(t.candidate)),
      " ",
      h("strong", { class: "vote-tally-count" }, plural(t.votes, "vote", "votes")),
      t.candidate === goal ? h("span", { class: "goal-badge" }, "Common goal") : null,
      t.voters?.length ? h("span", { class: "vote-voters" }, t.voters.map(([n, c]) => (c > 1 ? `${n} ×${c}` : n)).join(", ")) : null,
    ),
  );
  return [h("h3", { class: "vote-results-title" }, v.settings.hidden && !v.revealed ? "Results (hidden from participants)" : "Results"), h("ol", { class: "vote-tally" }, ...rows)];
}

/** The − count + controls of one candidate. */
export function voteControls(model: VoteModel, candidate: string, big: boolean): HTMLElement {
  const minus = h("button", { type: "button", class: `vote-btn vote-minus${big ? " big" : ""}` }, "−");
  const count = h("span", { class: "vote-count" }, "0");
  const plus = h("button", { type: "button", class: `vote-btn vote-plus${big ? " big" : ""}` }, "+");
  minus.addEventListener("click", () => model.cast(candidate, false));
  plus.addEventListener("click", () => model.cast(candidate, true));
  const el = h("div", { class: "vote-controls", role: "group" }, minus, count, plus);
  updateControls(model, el, candidate);
  return el;
}

export function updateControls(model: VoteModel, el: HTMLElement, candidate: string): void {
  const [minus, count, plus] = el.children as unknown as [HTMLButtonElement, HTMLElement, HTMLButtonElement];
  const text = model.noteLabel(candidate);
  const mine = model.mine(candidate);
  const usable = model.canVote && model.isOpen();
  plus.disabled = !usable;
  minus.disabled = !usable || mine === 0;
  plus.setAttribute("aria-label", `Add a vote to: ${text}`);
  minus.setAttribute("aria-label", `Take back a vote from: ${text}`);
  el.setAttribute("aria-label", `Your votes on: ${text}`);
  count.textContent = "●".repeat(Math.min(mine, 5)) + (mine > 5 ? `×${mine}` : "") || "0";
  count.setAttribute("aria-label", plural(mine, "vote", "votes") + " from you");
  el.dataset.mine = String(mine);
}

/**
 * Adds, updates or removes a note's vote controls and its "Common goal" badge, from the
 * current vote and `meta.commonGoal`.
 */
export function decorateNote(model: VoteModel, id: string, noteEl: HTMLElement): void {
  const v = model.current;
  const candidate = !!v && v.settings.candidates.includes(id);
  let controls = noteEl.querySelector<HTMLElement>(":scope > .vote-controls");
  if (candidate) {
    if (!controls) noteEl.append((controls = voteControls(model, id, false)));
    else updateControls(model, controls, id);
  } else controls?.remove();
  const goal = model.commonGoal === id;
  let badge = noteEl.querySelector(":scope > .goal-badge");
  if (goal && !badge) noteEl.append((badge = h("span", { class: "goal-badge" }, "Common goal")));
  else if (!goal) badge?.remove();
  noteEl.classList.toggle("is-goal", goal);
  noteEl.classList.toggle("is-candidate", candidate);
}

