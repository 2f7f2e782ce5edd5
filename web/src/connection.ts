import type { WebsocketProvider } from "y-websocket";
import type { Delivery } from "./delivery";
import { CLOSE_CODES } from "./schema";
import { h } from "./util";

export type ConnState = "connecting" | "connected" | "reconnecting" | "offline" | "refused";

const LABELS: Record<ConnState, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline: your changes will sync when you are back",
  refused: "Not saved",
};

/**
 * Always-visible connection indicator fed by the provider's `status` events and the
 * browser's online/offline state. Calls `onRefused` when the server closes for good: the
 * board does not exist (4404) or the link does not open it (4401, 4403). Any other
 * close the server explains (a full board, a full server, too many messages, a change
 * that could not be saved) is shown with its reason while the provider reconnects. With
 * `delivery`, changes the server refused (a locked board, a viewer link) are shown as
 * not saved until the server holds them.
 */
export function connectionIndicator(
  provider: WebsocketProvider,
  onRefused: (why: "not-found" | "access") => void,
  delivery?: Delivery,
): HTMLElement {
  const dot = h("span", { class: "conn-dot", "aria-hidden": "true" });
  const label = h("span", { class: "conn-label" });
  const root = h("div", { class: "conn", role: "status", "aria-live": "polite" }, dot, label);
  let everConnected = false;
  let status: string = provider.wsconnected ? "connected" : "connecting";
  /** The server's reason for the last close, until the next connection succeeds. */
  let why = "";

  const update = () => {
    let s: ConnState;
    if (!navigator.onLine && status !== "connected") s = "offline";
    else if (status === "connected") s = "connected";
    else s = everConnected ? "reconnecting" : "connecting";
    let text = s === "reconnecting" && why ? `${LABELS[s]} (${why})` : LABELS[s];
    // Connected, but the server refused changes of this browser: say so, never "Connected".
    if (s === "connected" && delivery?.refusal) {
      s = "refused";
      text = `Not saved: ${delivery.refusal}`;
    }
    if (root.dataset.state === s && label.textContent === text) return;
    root.dataset.state = s;
    label.textContent = text;
    root.title = text;
  };

  provider.on("status", (e) => {
    status = e.status;
    if (status === "connected") {
      everConnected = true;
      why = "";
    }
    update();
  });
  const refused = (code: number) => {
    if (code === CLOSE_CODES.boardNotFound) onRefused("not-found");
    else if (code === CLOSE_CODES.unauthorized || code === CLOSE_CODES.forbidden) onRefused("access");
  };
  provider.on("closed", (e) => refused(e.code));
  provider.on("connection-close", (e) => {
    if (!e) return;
    refused(e.code);
    // The server's own codes, and a change it refused as invalid (nested too deeply,
    // skipping ahead): said, not only logged.
    if ((e.code >= 4000 || e.code === CLOSE_CODES.invalidData) && e.reason) {
      why = e.reason;
      update();
    }
  });
  // The browser says the network is gone: the socket is most likely dead, so drop it
  // now (edits keep accumulating in the Y.Doc) and reconnect as soon as it is back.
  let pausedOffline = false;
  window.addEventListener("offline", () => {
    if (provider.shouldConnect) {
      pausedOffline = true;
      provider.disconnect();
    }
    update();
  });
  window.addEventListener("online", () => {
    if (pausedOffline) {
      pausedOffline = false;
      provider.connect();
    }
    update();
  });
  delivery?.onChange(update);
  update();
  return root;
}
