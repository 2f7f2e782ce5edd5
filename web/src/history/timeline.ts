// The session at a glance: bars of how many changes each stretch of time saw, buttons
// for the marked moments (votes, restores, locks), and a line at the point shown.
// Clicking or dragging on the bars, or activating a marker, picks a point.
import type { Timeline } from "../generated/protocol";
import { clamp, h } from "../util";

/** A time of day (with the date when the session spans days). */
export function formatTime(ms: number, withDate = false): string {
  const d = new Date(ms);
  return withDate
    ? d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Width of a marker on the widest layout (phones use a larger one), in CSS pixels. */
const MARKER_PX = 16;

export class TimelineStrip {
  readonly el: HTMLElement;
  #bars: HTMLElement;
  #markers: HTMLElement;
  #now: HTMLElement;
  #tl: Timeline | null = null;
  #onPick: (seq: number) => void;

  constructor(onPick: (seq: number) => void) {
    this.#onPick = onPick;
    this.#bars = h("div", { class: "history-bars", "aria-hidden": "true" });
    this.#markers = h("div", { class: "history-markers" });
    this.#now = h("div", { class: "history-now", "aria-hidden": "true", hidden: true });
    this.el = h("div", { class: "history-timeline", role: "group", "aria-label": "Timeline of changes" }, this.#bars, this.#markers, this.#now);
    // Pointer scrubbing along time: the bars pick the last point of the stretch under the pointer.
    let dragging = -1;
    const pick = (e: PointerEvent) => {
      const seq = this.#seqAtX(e.clientX);
      if (seq !== null) this.#onPick(seq);
    };
    this.#bars.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      dragging = e.pointerId;
      this.#bars.setPointerCapture(e.pointerId);
      pick(e);
    });
    this.#bars.addEventListener("pointermove", (e) => {
      if (e.pointerId === dragging) pick(e);
    });
    const end = (e: PointerEvent) => {
      if (e.pointerId === dragging) dragging = -1;
    };
    this.#bars.addEventListener("pointerup", end);
    this.#bars.addEventListener("pointercancel", end);
  }

  get spansDays(): boolean {
    const tl = this.#tl;
    return !!tl && tl.end_ms - tl.start_ms > 20 * 3600_000;
  }

  set(tl: Timeline): void {
    this.#tl = tl;
    const max = Math.max(1, ...tl.buckets.map((b) => b.updates));
    const n = Math.max(1, tl.buckets.length);
    this.#bars.style.setProperty("--buckets", String(n));
    this.#bars.replaceChildren(
      ...tl.buckets.map((b) => {
        const bar = h("span", { class: "history-bar" });
        // At least a sliver where anything happened, so a single change stays visible.
        bar.style.height = b.updates ? `${Math.max(6, (100 * b.updates) / max)}%` : "0";
        return bar;
      }),
    );
    // Markers closer than a marker's width merge into one button naming them all.
    const withDate = this.spansDays;
    const minGap = MARKER_PX / Math.max(MARKER_PX, this.el.clientWidth || 600);
    const groups: { x: number; seq: number; labels: string[]; kinds: Set<string> }[] = [];
    for (const m of [...tl.markers].sort((a, b) => a.seq - b.seq || a.at_ms - b.at_ms)) {
      const x = this.#xOf(m.at_ms);
      const label = `${m.label} (${formatTime(m.at_ms, withDate)})`;
      const last = groups[groups.length - 1];
      if (last && x - last.x < minGap) {
        last.labels.push(label);
        last.kinds.add(m.kind);
      } else {
        groups.push({ x, seq: m.seq, labels: [label], kinds: new Set([m.kind]) });
      }
    }
    this.#markers.replaceChildren(
      ...groups.map((g) => {
        const label = g.labels.join("; ");
        const kind = g.kinds.size === 1 ? [...g.kinds][0] : "several";
        const btn = h("button", { type: "button", class: `history-marker kind-${kind}`, "aria-label": label, title: label });
        btn.style.left = `${g.x * 100}%`;
        btn.addEventListener("click", () => this.#onPick(g.seq));
        return btn;
      }),
    );
  }

  /** Moves the line to the point shown: at its time when known, else at its stretch. */
  show(seq: number, atMs: number | null): void {
    const tl = this.#tl;
    if (!tl) return;
    let ms = atMs;
    if (ms === null) {
      const b = tl.buckets.find((x) => x.last_seq >= seq);
      ms = b ? b.start_ms : tl.end_ms;
    }
    this.#now.hidden = false;
    this.#now.style.left = `${this.#xOf(ms) * 100}%`;
  }

  /** Fraction of the strip's width at time `ms`. */
  #xOf(ms: number): number {
    const tl = this.#tl;
    if (!tl || tl.end_ms <= tl.start_ms) return 1;
    return clamp((ms - tl.start_ms) / (tl.end_ms - tl.start_ms), 0, 1);
  }

  #seqAtX(clientX: number): number | null {
    const tl = this.#tl;
    if (!tl || !tl.buckets.length) return null;
    const r = this.#bars.getBoundingClientRect();
    const f = clamp((clientX - r.left) / Math.max(1, r.width), 0, 1);
    let i = Math.min(tl.buckets.length - 1, Math.floor(f * tl.buckets.length));
    // An empty stretch shows the board as the last change before it left it.
    while (i > 0 && tl.buckets[i].updates === 0) i--;
    const seq = tl.buckets[i].last_seq;
    return seq >= tl.first_seq ? seq : tl.first_seq;
  }
}
