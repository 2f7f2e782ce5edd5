import type { BoardLinks } from "../schema";
import { h } from "../util";

/**
 * The facilitator's dialog with the board's links: participants, phones, big screen.
 * `presenter` is the big screen's presentation link (it shows the join code and
 * changes nothing), made for this dialog; without it the viewer link is offered.
 */
export function showShareDialog(links: BoardLinks, presenter?: string): void {
  const abs = (path: string) => new URL(path, location.origin).href;
  const capture = (() => {
    const u = new URL(links.participant, location.origin);
    u.pathname = `${u.pathname.replace(/\/+$/, "")}/capture`;
    return u.href;
  })();
  const rows: [string, string, string][] = [
    ["share-participant", "Participants on laptops (can edit)", abs(links.participant)],
    ["share-capture", "Phones in the room (add notes)", capture],
    ["share-viewer", "Big screen (view only)", abs(links.viewer)],
    ...(presenter ? [["share-presenter", "Big screen presentation, with the join code", abs(presenter)] as [string, string, string]] : []),
    ["share-facilitator", "You, the facilitator (keep it private)", abs(links.facilitator)],
  ];
  const close = h("button", { type: "button", class: "primary" }, "Done");
  const dialog = h(
    "dialog",
    { class: "share-dialog", "aria-labelledby": "share-title" },
    h("h2", { id: "share-title" }, "Share this board"),
    ...rows.map(([id, label, url]) => {
      const input = h("input", { id, type: "text", readonly: true, value: url });
      const copy = h("button", { type: "button", class: "tool", "aria-label": `Copy: ${label}` }, "Copy");
      copy.addEventListener("click", async () => {
        input.select();
        try {
          await navigator.clipboard.writeText(url);
          copy.textContent = "Copied";
        } catch {
          // No clipboard access (e.g. plain http on a LAN address): the text is selected.
          copy.textContent = "Press Ctrl+C";
        }
        setTimeout(() => (copy.textContent = "Copy"), 2000);
      });
      return h("div", { class: "share-row" }, h("label", { for: id }, label), h("div", { class: "share-field" }, input, copy));
    }),
    h("div", { class: "share-actions" }, close),
  );
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}
