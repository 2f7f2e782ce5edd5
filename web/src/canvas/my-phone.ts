// "On your phone": a person's own QR code (drawn by the server from their personal
// token, which it holds unchanged), so the laptop's screen takes the same person to
// their phone, with the same private notes and votes.
import type { Board } from "../board";
import { authHeaders, errorText } from "../api";
import { h } from "../util";

/** A button shown once the server gave this browser a personal token for the board. */
export function myPhoneButton(board: Board): HTMLButtonElement {
  const button = h("button", { type: "button", class: "tool my-phone", hidden: true, "aria-haspopup": "dialog" }, "On your phone");
  board.app.on("welcome", () => {
    button.hidden = !board.personalToken;
  });
  button.addEventListener("click", () => void showMyPhone(board));
  return button;
}

async function showMyPhone(board: Board): Promise<void> {
  const img = h("img", { class: "my-phone-qr", alt: "QR code that opens this board on your phone, as you" });
  const note = h("p", { class: "muted" }, "Scan it with your phone: you stay the same person there. Keep it to yourself.");
  const close = h("button", { type: "button", class: "primary" }, "Done");
  const dialog = h(
    "dialog",
    { class: "share-dialog", "aria-labelledby": "my-phone-title" },
    h("h2", { id: "my-phone-title" }, "Open the board on your phone"),
    img,
    note,
    h("div", { class: "share-actions" }, close),
  );
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  try {
    const res = await fetch(`/api/boards/${encodeURIComponent(board.id)}/me.svg`, {
      headers: authHeaders(board.personalToken ?? null, "image/svg+xml"),
      cache: "no-store",
    });
    if (!res.ok) throw new Error(await errorText(res));
    const blob = await res.blob();
    img.src = URL.createObjectURL(blob.type ? blob : new Blob([blob], { type: "image/svg+xml" }));
  } catch (err) {
    note.textContent = `No QR code: ${err instanceof Error ? err.message : String(err)}`;
  }
}
