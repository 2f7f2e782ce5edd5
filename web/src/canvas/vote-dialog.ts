// The facilitator's dialog that opens a vote on the selected notes.
import type { VoteSettings } from "../generated/protocol";
import { h } from "../util";

export type VoteChoice = Omit<VoteSettings, "candidates">;

/** The facilitator's dialog opening a vote on the selected notes. */
export function showVoteDialog(count: number, onOpen: (s: VoteChoice) => void): void {
  const field = (id: string, label: string, input: HTMLInputElement) =>
    h("div", { class: "vote-field" }, h("label", { for: id }, label), input);
  const title = h("input", { id: "vote-title", type: "text", value: "Our common goal", required: true, maxlength: 200 });
  const budget = h("input", { id: "vote-budget", type: "number", min: 1, max: 50, value: 3, required: true });
  const perNote = h("input", { id: "vote-per-note", type: "number", min: 1, max: 50, value: 1, required: true });
  const minutes = h("input", { id: "vote-minutes", type: "number", min: 0, max: 240, step: "any", placeholder: "no timer" });
  const anonymous = h("input", { id: "vote-anonymous", type: "checkbox" });
  const hidden = h("input", { id: "vote-hidden", type: "checkbox" });
  const roster = h("input", { id: "vote-roster", type: "checkbox" });
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const form = h(
    "form",
    { class: "vote-form", method: "dialog" },
    h("h2", { id: "vote-dialog-title" }, `Vote on ${count} selected ${count === 1 ? "note" : "notes"}`),
    field("vote-title", "Title", title),
    field("vote-budget", "Votes per person", budget),
    field("vote-per-note", "Most votes per note", perNote),
    h("label", { class: "check" }, anonymous, " Anonymous (hide who voted for what)"),
    h("label", { class: "check" }, hidden, " Hide results until I reveal them"),
    h("label", { class: "check" }, roster, " Only people with a personal link from me may vote"),
    field("vote-minutes", "Timer in minutes (optional)", minutes),
    h("div", { class: "share-actions" }, cancel, h("button", { type: "submit", class: "primary" }, "Open vote")),
  );
  const dialog = h("dialog", { class: "share-dialog vote-dialog", "aria-labelledby": "vote-dialog-title" }, form);
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const mins = Number(minutes.value);
    const choice: VoteChoice = {
      title: title.value.trim() || "Our common goal",
      budget: Math.max(1, Math.round(Number(budget.value) || 1)),
      max_per_candidate: Math.max(1, Math.round(Number(perNote.value) || 1)),
      anonymous: anonymous.checked,
      hidden: hidden.checked,
      roster: roster.checked,
    };
    if (minutes.value && mins > 0) choice.duration_s = Math.round(mins * 60);
    dialog.close();
    onOpen(choice);
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  title.select();
}
