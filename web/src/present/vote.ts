// The vote on the big screen: what is decided, whether voting is open and until when,
// the tally as rows of dots (or that results are hidden), and the chosen common goal.
import type { Board } from "../board";
import { noteText } from "../board";
import { h } from "../util";
import { VoteModel } from "../vote";
import { clock } from "./status";

/** The most dots drawn for one candidate; more votes show as a number beside them. */
const MAX_DOTS = 24;

export class PresentVote {
  readonly el: HTMLElement;
  readonly goal: HTMLElement;
  /** Called when the panel shows or hides (the side column lays itself out again). */
  onLayout: () => void = () => {};
  #model: VoteModel;
  #title = h("h2", { id: "present-vote-title" }, "Vote");
  #state = h("p", { class: "present-vote-state" });
  #rows = h("ol", { class: "present-tally" });
  #goalText = h("p", { class: "present-goal-text" });

  constructor(board: Board) {
    this.#model = new VoteModel(board);
    this.el = h("section", { class: "present-vote", "aria-labelledby": "present-vote-title", hidden: true }, this.#title, this.#state, this.#rows);
    this.goal = h(
      "section",
      { class: "present-goal", "aria-labelledby": "present-goal-title", hidden: true },
      h("h2", { id: "present-goal-title" }, "Our common goal"),
      this.#goalText,
    );
    this.#model.onChange(() => this.render());
    board.notes.observeDeep(() => this.render());
    window.setInterval(() => {
      if (this.#model.current?.closes_at_ms !== undefined && this.#model.isOpen()) this.render();
    }, 1000);
  }

  render(): void {
    const m = this.#model;
    const v = m.current;
    const goal = m.commonGoal;
    const goalNote = goal ? m.board.notes.get(goal) : undefined;
    this.goal.hidden = !goalNote;
    this.#goalText.textContent = goalNote ? noteText(goalNote) || "(empty note)" : "";
    const wasHidden = this.el.hidden;
    this.el.hidden = !v;
    if (wasHidden !== this.el.hidden) this.onLayout();
    if (!v) {
      this.onLayout();
      return;
    }
    const open = m.isOpen();
    this.el.dataset.state = open ? "open" : "closed";
    this.#title.textContent = `Vote: ${v.settings.title || "the candidates"}`;
    const left = open && v.closes_at_ms !== undefined ? ` · ${clock(Math.ceil((v.closes_at_ms - m.board.app.serverNow()) / 1000))} left` : "";
    this.#state.textContent = open ? `Voting is open${left}: ${v.settings.budget} votes each` : "Voting is closed";
    if (!v.tally) {
      this.#rows.replaceChildren(h("li", { class: "present-tally-hidden" }, open ? "Results are hidden until the facilitator reveals them" : "Results are hidden: the facilitator reveals them"));
      return;
    }
    this.#rows.replaceChildren(
      ...v.tally.map((t) =>
        h(
          "li",
          { class: `present-tally-row${t.candidate === goal ? " is-goal" : ""}`, "data-id": t.candidate },
          h("span", { class: "present-tally-text" }, m.noteLabel(t.candidate)),
          h(
            "span",
            { class: "present-dots", "aria-label": `${t.votes} ${t.votes === 1 ? "vote" : "votes"}` },
            h("span", { "aria-hidden": "true" }, "●".repeat(Math.min(t.votes, MAX_DOTS))),
            h("strong", { class: "present-votes" }, String(t.votes)),
          ),
        ),
      ),
    );
  }
}
