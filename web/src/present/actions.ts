// The actions and follow-up check-ins on the big screen during steps 4 and 5: what the
// group agreed, who owns it, when it is due, and when the group checks it is done.
import { num, str, type Board } from "../board";
import { ACTION_FIELDS } from "../schema";
import { h } from "../util";

/** Actions whose id starts with this are step 5's follow-up check-ins. */
const FOLLOW_UP_PREFIX = "followup-";
/** The steps whose screen shows the actions. */
const STEPS = new Set(["next-steps", "follow-up"]);

export class PresentActions {
  readonly el: HTMLElement;
  onLayout: () => void = () => {};
  #board: Board;
  #step: string | null = null;
  #list = h("ul", { class: "present-actions-list" });

  constructor(board: Board) {
    this.#board = board;
    this.el = h(
      "section",
      { class: "present-actions", "aria-labelledby": "present-actions-title", hidden: true },
      h("h2", { id: "present-actions-title" }, "Actions and follow-up"),
      this.#list,
    );
    board.actions.observeDeep(() => this.render());
  }

  /** The workshop moved to a step (its id), or none. */
  showStep(step: string | null): void {
    this.#step = step;
    this.render();
  }

  render(): void {
    const rows: { id: string; text: string; owner: string; due: string; at: number }[] = [];
    this.#board.actions.forEach((m, id) =>
      rows.push({ id, text: str(m, ACTION_FIELDS.text), owner: str(m, ACTION_FIELDS.owner), due: str(m, ACTION_FIELDS.due), at: num(m, ACTION_FIELDS.createdAt, 0) }),
    );
    rows.sort((a, z) => a.at - z.at);
    const hidden = !this.#step || !STEPS.has(this.#step) || !rows.length;
    if (hidden !== this.el.hidden) {
      this.el.hidden = hidden;
      this.onLayout();
    }
    this.#list.replaceChildren(
      ...rows.map((r) =>
        h(
          "li",
          { class: r.id.startsWith(FOLLOW_UP_PREFIX) ? "present-action followup" : "present-action" },
          h("span", { class: "present-action-text" }, r.id.startsWith(FOLLOW_UP_PREFIX) ? `Check-in: ${r.text || "follow-up"}` : r.text || "(no text yet)"),
          h("span", { class: "present-action-meta" }, `${r.owner.trim() || "no owner yet"} · ${r.due || "no date yet"}`),
        ),
      ),
    );
  }
}
