// History mode of the board page: the panel at the bottom (timeline, scrubber, play/pause
// and speed, recent changes, the facilitator's "Restore to here"), opened by the
// toolbar's History button. The canvas shows a local historical Y.Doc read-only
// meanwhile; the live doc keeps syncing and comes back with "Back to live" or Escape.
// Loaded on the first use of the button, so the board page does not carry it.
import type * as Y from "yjs";
import type { HistoryEntry, Role, Timeline } from "../generated/protocol";
import { h, isTextInput } from "../util";
import { HistoryApi } from "./api";
import { Player, type Frame, type PlayerHost } from "./player";
import { formatTime, TimelineStrip } from "./timeline";

/** What history mode needs from the canvas. */
export interface HistoryHost extends PlayerHost {
  /** Show a historical doc read-only, or the live board again (null). */
  showDoc(doc: Y.Doc | null): void;
  /** Outline these notes, tagged with who changed them; clear the others. */
  markChanged(marks: Map<string, string>): void;
}

export interface HistoryOptions {
  boardId: string;
  token: string | null;
  /** The display name a restore is recorded under. */
  name: () => string;
  /** The toolbar's History button (its clicks are the caller's). */
  button: HTMLButtonElement;
}

const SPEEDS: [string, string, number][] = [
  ["1", "1×", 1],
  ["10", "10×", 10],
  ["60", "60×", 60],
  ["max", "Max", Infinity],
];

/** History entries fetched per page of the list. */
const ENTRIES_PAGE = 50;

export class HistoryMode {
  readonly button: HTMLButtonElement;
  readonly panel: HTMLElement;
  #api: HistoryApi;
  #host: HistoryHost;
  #name: () => string;
  #player: Player | null = null;
  #role: Role | null = null;
  #timeline: Timeline | null = null;
  #entries: HistoryEntry[] = [];
  #nextBefore: number | undefined;
  #frame: Frame | null = null;

  #strip: TimelineStrip;
  #range: HTMLInputElement;
  #where: HTMLElement;
  #playBtn: HTMLButtonElement;
  #speed: HTMLSelectElement;
  #restoreBtn: HTMLButtonElement;
  #list: HTMLOListElement;
  #olderBtn: HTMLButtonElement;
  #error: HTMLElement;

  constructor(opts: HistoryOptions, host: HistoryHost) {
    this.#api = new HistoryApi(opts.boardId, opts.token);
    this.#host = host;
    this.#name = opts.name;
    this.button = opts.button;

    const back = h("button", { type: "button", class: "tool history-back" }, "Back to live");
    back.addEventListener("click", () => this.close());
    this.#playBtn = h("button", { type: "button", class: "tool history-play", "aria-label": "Play" }, "▶ Play");
    this.#playBtn.addEventListener("click", () => this.#togglePlay());
    this.#speed = h("select", { class: "history-speed", "aria-label": "Playback speed", title: `Playback speed (long pauses are shortened)` });
    for (const [value, label] of SPEEDS) this.#speed.append(h("option", { value }, label));
    this.#speed.value = "10";
    this.#speed.addEventListener("change", () => this.#player?.setSpeed(this.#speedValue()));
    this.#where = h("p", { class: "history-where", "aria-live": "polite" }, "Loading history…");
    this.#restoreBtn = h("button", { type: "button", class: "tool history-restore", hidden: true, "aria-haspopup": "dialog" }, "Restore to here");
    this.#restoreBtn.addEventListener("click", () => this.#confirmRestore());

    this.#strip = new TimelineStrip((seq) => this.#seek(seq));
    this.#range = h("input", { type: "range", class: "history-scrubber", "aria-label": "Point in history", min: 1, max: 1, step: 1, value: 1, disabled: true });
    this.#range.addEventListener("input", () => this.#seek(Number(this.#range.value), false));

    this.#list = h("ol", { class: "history-list", "aria-label": "Recent changes" });
    this.#olderBtn = h("button", { type: "button", class: "link history-older", hidden: true }, "Older changes");
    this.#olderBtn.addEventListener("click", () => void this.#loadEntries(false));
    this.#error = h("p", { class: "history-error error", role: "alert" });

    this.panel = h(
      "section",
      { class: "history-panel", id: "history-panel", "aria-label": "History", hidden: true },
      h("div", { class: "history-controls" }, back, this.#playBtn, this.#speed, this.#where, this.#restoreBtn),
      this.#strip.el,
      this.#range,
      this.#error,
      h("details", { class: "history-changes", open: true }, h("summary", {}, "Changes"), this.#list, this.#olderBtn),
    );

    document.addEventListener("keydown", (e) => {
      if (!this.active || e.key !== "Escape" || document.querySelector("dialog[open]")) return;
      if (isTextInput(e.target)) return;
      e.preventDefault();
      this.close();
    });
  }

  get active(): boolean {
    return this.#player !== null;
  }

  /** The role the server gave this connection: only a facilitator sees "Restore to here". */
  setRole(role: Role | null): void {
    this.#role = role;
    this.#restoreBtn.hidden = role !== "facilitator";
  }

  toggle(): void {
    if (this.active) this.close();
    else this.open();
  }

  open(): void {
    if (this.active) return;
    const player = new Player(this.#api, this.#host, {
      onFrame: (f) => this.#onFrame(f),
      onPlaying: (playing) => this.#onPlaying(playing),
      onError: (message) => this.#showError(message),
    });
    this.#player = player;
    this.#frame = null;
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.button.classList.add("active");
    this.#showError("");
    this.#where.textContent = "Loading history…";
    this.#range.disabled = true;
    void this.#load(player);
  }

  /** Back to live: the historical doc is dropped and the canvas shows the live board. */
  close(): void {
    const player = this.#player;
    if (!player) return;
    const hadFocus = this.panel.contains(document.activeElement);
    player.destroy();
    this.#player = null;
    this.#host.showDoc(null);
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    this.button.classList.remove("active");
    if (hadFocus) this.button.focus();
  }

  /** Reloads the timeline and the newest changes (the board's history grew, e.g. by a restore). */
  refresh(): void {
    const player = this.#player;
    if (player) void this.#load(player, false);
  }

  async #load(player: Player, seekToEnd = true): Promise<void> {
    try {
      const [tl] = await Promise.all([this.#api.timeline(), this.#loadEntries(true)]);
      if (this.#player !== player) return;
      this.#timeline = tl;
      this.#strip.set(tl);
      this.#range.min = String(tl.first_seq);
      this.#range.max = String(Math.max(tl.last_seq, player.seq));
      this.#range.disabled = false;
      if (seekToEnd) {
        this.#range.value = String(tl.last_seq);
        if (!this.panel.contains(document.activeElement)) this.#range.focus();
        await player.seek(tl.last_seq);
      } else if (this.#frame) {
        this.#onFrame(this.#frame);
      }
    } catch (err) {
      if (this.#player === player) this.#showError(`History is not available: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async #loadEntries(reset: boolean): Promise<void> {
    const page = await this.#api.history(reset ? undefined : this.#nextBefore, ENTRIES_PAGE);
    this.#entries = reset ? page.entries : [...this.#entries, ...page.entries];
    this.#nextBefore = page.next_before;
    this.#olderBtn.hidden = page.next_before === undefined;
    const withDate = this.#strip.spansDays;
    const items = page.entries.map((e) => {
      const btn = h(
        "button",
        { type: "button", class: "history-entry", "data-seq": e.seq, "data-first": e.first_seq, "data-updates": e.updates },
        h("time", { datetime: e.at }, formatTime(e.at_ms, withDate)),
        " ",
        h("strong", {}, e.author.name || e.author.id),
        " ",
        h("span", { class: "history-summary" }, e.summary || "changed the board"),
      );
      btn.addEventListener("click", () => this.#seek(e.seq));
      return h("li", {}, btn);
    });
    if (reset) this.#list.replaceChildren(...items);
    else this.#list.append(...items);
    if (this.#frame) this.#markCurrentEntry(this.#frame.seq);
  }

  #seek(seq: number, moveRange = true): void {
    const player = this.#player;
    if (!player || !this.#timeline) return;
    this.#showError("");
    if (moveRange) this.#range.value = String(seq);
    void player.seek(seq);
  }

  #speedValue(): number {
    return SPEEDS.find(([v]) => v === this.#speed.value)?.[2] ?? 10;
  }

  #togglePlay(): void {
    const player = this.#player;
    const tl = this.#timeline;
    if (!player || !tl) return;
    if (player.playing) {
      player.pause();
      return;
    }
    this.#showError("");
    void player.play(this.#speedValue(), tl.first_seq, Math.max(tl.last_seq, Number(this.#range.max)));
  }

  #onPlaying(playing: boolean): void {
    this.#playBtn.textContent = playing ? "❚❚ Pause" : "▶ Play";
    this.#playBtn.setAttribute("aria-label", playing ? "Pause" : "Play");
    this.panel.classList.toggle("playing", playing);
    // Announcing every frame of a replay would drown a screen reader: only the end.
    this.#where.setAttribute("aria-live", playing ? "off" : "polite");
    if (!playing && this.#frame) this.#onFrame(this.#frame);
  }

  #onFrame(f: Frame): void {
    this.#frame = f;
    const player = this.#player;
    if (!player) return;
    const entry = this.#entries.find((e) => e.seq === f.seq);
    const atMs = f.atMs ?? entry?.at_ms ?? null;
    const authors = [...new Set(f.marks.values())];
    if (!authors.length && entry) authors.push(entry.author.name);
    const last = Math.max(Number(this.#range.max), f.seq);
    if (f.seq > Number(this.#range.max)) this.#range.max = String(f.seq);
    if (document.activeElement !== this.#range || player.playing) this.#range.value = String(f.seq);
    const when = atMs !== null ? formatTime(atMs, this.#strip.spansDays) : "";
    const text = [`Change ${f.seq} of ${last}`, when, authors.join(", ")].filter(Boolean).join(" · ");
    this.#range.setAttribute("aria-valuetext", text);
    this.#where.textContent = text;
    this.#strip.show(f.seq, atMs);
    this.#host.markChanged(f.marks);
    this.#markCurrentEntry(f.seq);
  }

  /**
   * Marks the entry of the point shown: the change whose updates cover it (a group of
   * edits covers `first_seq` to `seq`), rather than an event (a lock, a vote) logged at
   * the same point; else the newest entry at or before it.
   */
  #markCurrentEntry(seq: number): void {
    const buttons = [...this.#list.querySelectorAll<HTMLElement>(".history-entry")];
    const covers = (btn: HTMLElement) =>
      Number(btn.dataset.updates) > 0 && Number(btn.dataset.first) <= seq && seq <= Number(btn.dataset.seq);
    const current = buttons.find(covers) ?? buttons.find((btn) => Number(btn.dataset.seq) <= seq);
    for (const btn of buttons) {
      if (btn === current) btn.setAttribute("aria-current", "true");
      else btn.removeAttribute("aria-current");
    }
  }

  #showError(message: string): void {
    this.#error.textContent = message;
  }

  #confirmRestore(): void {
    const player = this.#player;
    if (!player || this.#role !== "facilitator" || !player.seq) return;
    player.pause();
    const seq = player.seq;
    const where = this.#where.textContent || `change ${seq}`;
    const cancel = h("button", { type: "button", class: "button" }, "Cancel");
    const ok = h("button", { type: "submit", class: "primary" }, "Restore");
    const form = h(
      "form",
      { class: "vote-form", method: "dialog" },
      h("h2", { id: "restore-dialog-title" }, "Restore the board to this point?"),
      h("p", { id: "restore-dialog-desc" }, `Everyone's board returns to how it was at ${where}. Later changes stay in the history, and can be restored in turn.`),
      h("div", { class: "share-actions" }, cancel, ok),
    );
    const dialog = h("dialog", { class: "share-dialog restore-dialog", "aria-labelledby": "restore-dialog-title", "aria-describedby": "restore-dialog-desc" }, form);
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      dialog.close();
      void this.#restore(seq);
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (this.active) this.#restoreBtn.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  }

  async #restore(seq: number): Promise<void> {
    this.#restoreBtn.disabled = true;
    try {
      await this.#api.restore(seq, this.#name());
      // The restore reaches this page as a live update, like everyone else's.
      this.close();
    } catch (err) {
      this.#showError(`The board was not restored: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.#restoreBtn.disabled = false;
    }
  }
}
