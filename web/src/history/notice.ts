// The short notice everyone on the board sees when the facilitator restores it to an
// earlier point (the `restored` application message).
import type { AppChannel } from "../app-channel";
import { h } from "../util";

/** How long the notice stays on screen. */
const SHOWN_MS = 8000;

/** A polite live region, present from the start so screen readers announce what it says. */
export function restoredNotice(app: AppChannel): HTMLElement {
  const el = h("div", { class: "notice", role: "status", "aria-live": "polite" });
  let timer = 0;
  app.on("restored", (m) => {
    el.textContent = `${m.by || "The facilitator"} restored the board to an earlier point`;
    el.classList.add("shown");
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      el.classList.remove("shown");
      el.textContent = "";
    }, SHOWN_MS);
  });
  return el;
}
