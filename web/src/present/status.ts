// What the room needs to read from across it: the current step, the shared timer (a big
// countdown on the server's clock), who speaks now in a turn order, and private writing.
import type { Turns, WorkshopState } from "../generated/protocol";
import { h } from "../util";

/** How often the countdown is redrawn (it shows whole seconds). */
const TICK_MS = 250;
/** The countdown turns to its warning look in the last minute. */
const WARN_MS = 60_000;

/** `m:ss` (or `h:mm:ss`) of a number of whole seconds. */
export function clock(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** "Step 2 of 5 · Common goal", or null before the workshop starts (or on a free board). */
export function stepLine(state: WorkshopState): string | null {
  const i = state.step;
  if (i === undefined || i === null || !state.steps[i]) return null;
  // Template titles may carry their number already ("2. Common goal").
  const title = state.steps[i].title.replace(/^\s*\d+\s*[.):]\s*/, "") || state.steps[i].title;
  return `Step ${i + 1} of ${state.steps.length} · ${title}`;
}

/** "3 people are writing privately", or null when private writing is off. */
export function privateLine(state: WorkshopState): string | null {
  if (!state.private) return null;
  const n = state.writing.length;
  if (n === 0) return "Private writing: notes stay hidden until the reveal";
  return n === 1 ? "1 person is writing privately" : `${n} people are writing privately`;
}

/** Who speaks after the current speaker (the next one who has not passed in this round). */
export function nextSpeaker(t: Turns): string | null {
  const n = t.people.length;
  if (t.current === undefined || t.current === null || n < 2) return null;
  for (let i = 1; i < n; i++) {
    const at = t.current + i;
    const p = t.people[at % n];
    // A new round starts after the last person: nobody has passed in it yet.
    if (at >= n || !t.passed.includes(p.id)) return p.name;
  }
  return null;
}

export class WorkshopStatus {
  /** The step line, under the board title. */
  readonly step: HTMLElement;
  /** The countdown, with its label. */
  readonly timer: HTMLElement;
  /** Who speaks now, who is next. */
  readonly turns: HTMLElement;
  /** "N people are writing privately". */
  readonly writing: HTMLElement;
  #clock: HTMLElement;
  #timeUp: HTMLElement;
  #speaker: HTMLElement;
  #next: HTMLElement;
  #endsAt: number | null = null;
  #seconds = 0;
  #tick = 0;
  #shown = "";
  #serverNow: () => number;
  /** Called when a part appears or disappears (the layout may change). */
  onLayout: () => void = () => {};

  constructor(serverNow: () => number) {
    this.#serverNow = serverNow;
    this.step = h("p", { class: "present-step", "aria-live": "polite", hidden: true });
    this.#clock = h("div", { class: "present-clock", role: "timer", "aria-labelledby": "present-timer-label" });
    this.#timeUp = h("p", { class: "present-time-up", "aria-live": "assertive" });
    this.timer = h(
      "div",
      { class: "present-timer", hidden: true },
      h("span", { class: "present-timer-label", id: "present-timer-label" }, "Time left"),
      this.#clock,
      this.#timeUp,
    );
    this.#speaker = h("p", { class: "present-speaker" });
    this.#next = h("p", { class: "present-next" });
    this.turns = h(
      "section",
      { class: "present-turns", "aria-labelledby": "present-turns-title", "aria-live": "polite", hidden: true },
      h("h2", { id: "present-turns-title" }, "Speaking now"),
      this.#speaker,
      this.#next,
    );
    this.writing = h("p", { class: "present-writing", "aria-live": "polite", hidden: true });
  }

  /** Shows a `workshop` message's state. */
  show(state: WorkshopState): void {
    const before = this.#layoutKey();
    const step = stepLine(state);
    this.step.hidden = step === null;
    this.step.textContent = step ?? "";

    const t = state.turns;
    this.turns.hidden = !t;
    if (t) {
      const current = t.current !== undefined && t.current !== null ? t.people[t.current] : undefined;
      this.turns.dataset.state = current ? "speaking" : "done";
      this.#speaker.textContent = current ? current.name : "Everyone passed";
      const next = nextSpeaker(t);
      const round = `Round ${t.round + 1}`;
      this.#next.textContent = current && next && next !== current.name ? `Next: ${next} · ${round}` : round;
    }

    const writing = privateLine(state);
    this.writing.hidden = writing === null;
    this.writing.textContent = writing ?? "";

    this.#endsAt = state.timer ? state.timer.ends_at_ms : null;
    this.#seconds = state.timer ? state.timer.seconds : 0;
    this.timer.hidden = this.#endsAt === null;
    this.#timeUp.textContent = "";
    this.#shown = "";
    clearInterval(this.#tick);
    this.#tick = 0;
    if (this.#endsAt !== null) {
      this.#render();
      this.#tick = window.setInterval(() => this.#render(), TICK_MS);
    }
    if (this.#layoutKey() !== before) this.onLayout();
  }

  /** Redraws the countdown from the server's clock (corrected by the welcome's offset). */
  #render(): void {
    if (this.#endsAt === null) return;
    const left = this.#endsAt - this.#serverNow();
    // The clock offset comes from the welcome, which may have waited behind the page's
    // loading: never show more than the timer's length.
    const text = clock(Math.min(this.#seconds, Math.ceil(left / 1000)));
    if (text === this.#shown) return;
    this.#shown = text;
    this.#clock.textContent = text;
    this.timer.dataset.state = left <= 0 ? "done" : left <= WARN_MS ? "warn" : "running";
    if (left <= 0) {
      this.#timeUp.textContent = "Time is up";
      clearInterval(this.#tick);
      this.#tick = 0;
    }
  }

  #layoutKey(): string {
    return [this.step.hidden, this.timer.hidden, this.turns.hidden, this.writing.hidden].join();
  }
}
