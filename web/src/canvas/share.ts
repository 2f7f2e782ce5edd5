// The Share dialog: the board's links for participants, phones and the big screen.
import type { BoardLinks } from "../schema";
import { h } from "../util";

/**
 * The facilitator's dialog with the board's links: participants, phones, big screen.
 * `presenter` is the big screen's presentation link (it shows the join code and
 * changes nothing), made for this dialog; without it the present view opens with the
 * viewer link, which cannot draw the join code.
 */
export function showShareDialog(links: BoardLinks, presenter?: string): void {
  const abs = (path: string) => new URL(path, location.origin).href;
  const under = (link: string, page: string) => {
    const u = new URL(link, location.origin);
    u.pathname = `${u.pathname.replace(/\/+$/, "")}/${page}`;
    return u.href;
  };
  const bigScreen = presenter ? abs(presenter) : under(links.viewer, "present");
  const rows: [string, string, string][] = [
    ["share-participant", "Participants on laptops (can edit)", abs(links.participant)],
    ["share-capture", "Phones in the room (add notes)", under(links.participant, "capture")],
    ["share-present", "Big screen: open on the room's screen (step, timer, QR code, votes)", bigScreen],
    ["share-viewer", "Watch only (the board, read-only)", abs(links.viewer)],
    ["share-facilitator", "You, the facilitator (keep it private)", abs(links.facilitator)],
  ];
  const close = h("button", { type: "button", class: "primary" }, "Done");
  const dialog = h(
    "dialog",
    { class: "share-dialog", "aria-labelledby": "share-title" },
    h("h2", { id: "share-title" }, "Share this board"),
    h("p", {}, h("a", { href: bigScreen, target: "_blank", rel: "noopener", class: "share-present-open" }, "Open the big screen in a new window")),
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
