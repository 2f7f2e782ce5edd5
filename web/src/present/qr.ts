// The join code on the big screen: a QR code the server draws (no outside service) that
// opens the phone capture page with the participants' link, and that link in words.
import { authHeaders, errorText } from "../api";
import { h } from "../util";

export class JoinCode {
  readonly el: HTMLElement;
  #img: HTMLImageElement;
  #url: HTMLElement;
  #objectUrl: string | null = null;
  #warning: HTMLElement;

  constructor() {
    this.#img = h("img", { class: "present-qr-img", alt: "QR code that opens the page for adding notes from a phone", hidden: true });
    this.#url = h("p", { class: "present-qr-url" }, "Loading the join code…");
    this.el = h(
      "figure",
      { class: "present-qr", "aria-labelledby": "present-qr-title" },
      h("h2", { id: "present-qr-title", class: "present-qr-title" }, "Add notes from your phone"),
      this.#img,
      h("figcaption", {}, this.#url),
    );
    this.#warning = h(
      "p",
      { class: "present-qr-warning", role: "alert", hidden: true },
      "Phones cannot open this address: it points to this computer itself. Start the server with --public-url set to an address phones in the room reach (for example http://192.168.1.20:8080).",
    );
    // Above the code, where the room sees it before anyone scans.
    this.#img.before(this.#warning);
  }

  /** Fetches the code for the board, with the link's token (any role's link may draw it). */
  async load(boardId: string, token: string | null): Promise<void> {
    try {
      const res = await fetch(`/api/boards/${encodeURIComponent(boardId)}/join.svg`, {
        headers: authHeaders(token, "image/svg+xml"),
        cache: "no-store",
      });
      if (!res.ok) throw new Error(await errorText(res));
      const url = res.headers.get("x-commonboard-join-url");
      const blob = await res.blob();
      if (this.#objectUrl) URL.revokeObjectURL(this.#objectUrl);
      this.#objectUrl = URL.createObjectURL(blob.type ? blob : new Blob([blob], { type: "image/svg+xml" }));
      this.#img.src = this.#objectUrl;
      this.#img.hidden = false;
      this.#url.textContent = url ?? "";
      this.#url.hidden = !url;
      this.#warning.hidden = !url || !isLoopback(url);
      this.el.dataset.state = "ready";
    } catch (err) {
      this.#img.hidden = true;
      this.#url.hidden = false;
      this.#url.textContent = `No join code: ${err instanceof Error ? err.message : String(err)}`;
      this.el.dataset.state = "error";
    }
  }
}

/** Whether a URL points at the machine it is opened on (loopback), which no phone reaches. */
export function isLoopback(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  host = host.replace(/^\[|\]$/g, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127\./.test(host) || host === "0.0.0.0";
}
