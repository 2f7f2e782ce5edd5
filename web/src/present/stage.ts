// The presentation view's canvas: the live board's frames and notes, read-only, moved by
// the facilitator's viewport (or fitted to the whole board until the facilitator leads).
import * as Y from "yjs";
import { frameRect, noteColor, noteRect, noteText, str, type Rect, type YMap } from "../board";
import { moveGrid, Viewport } from "../canvas/viewport";
import { FRAME_FIELDS, NOTE_FIELDS } from "../schema";
import { h } from "../util";
import type { Viewport as SharedViewport } from "../generated/protocol";

/** How long the whole-board fit waits after a change before it runs again. */
const REFIT_DELAY_MS = 400;

interface NoteEl {
  el: HTMLElement;
  text: HTMLElement;
  author: HTMLElement;
}

interface FrameEl {
  el: HTMLElement;
  title: HTMLElement;
}

export class Stage {
  /** The element the board is drawn in (its size is the view's size). */
  readonly host: HTMLElement;
  #world: HTMLElement;
  #framesLayer: HTMLElement;
  #notesLayer: HTMLElement;
  #grid: HTMLElement;
  #gridSize = 0;
  #vp: Viewport;
  #notes = new Map<string, NoteEl>();
  #frames = new Map<string, FrameEl>();
  #notesMap: Y.Map<YMap>;
  #framesMap: Y.Map<YMap>;
  /** Set once the facilitator has shown a viewport: from then on the board is not refitted. */
  #following = false;
  #refitTimer = 0;
  /** The workshop step whose frame is outlined (its `step` id). */
  #currentStep: string | null = null;

  constructor(notes: Y.Map<YMap>, frames: Y.Map<YMap>) {
    this.#notesMap = notes;
    this.#framesMap = frames;
    this.#framesLayer = h("div", { class: "frames-layer" });
    this.#notesLayer = h("div", { class: "notes-layer" });
    this.#world = h("div", { class: "world" }, this.#framesLayer, this.#notesLayer);
    this.#grid = h("div", { class: "grid", "aria-hidden": "true" });
    this.host = h(
      "section",
      { class: "viewport present-stage", "aria-label": "The board, as the facilitator shows it", "aria-roledescription": "board" },
      this.#grid,
      this.#world,
    );
    this.#vp = new Viewport(this.host, this.#world);
    this.#vp.onChange = () => (this.#gridSize = moveGrid(this.#grid, this.#vp, this.#gridSize));

    // Until the facilitator leads, a new size (the side column shown or hidden) refits.
    new ResizeObserver(() => this.#scheduleRefit()).observe(this.host);

    frames.forEach((_, id) => this.#renderFrame(id));
    notes.forEach((_, id) => this.#renderNote(id));
    notes.observeDeep((events) => {
      const dirty = new Set<string>();
      for (const ev of events) {
        if (ev.target === notes) for (const k of (ev as Y.YMapEvent<unknown>).keysChanged) dirty.add(k);
        else if (typeof ev.path[0] === "string") dirty.add(ev.path[0]);
      }
      for (const id of dirty) this.#renderNote(id);
      this.#scheduleRefit();
    });
    frames.observeDeep((events) => {
      const dirty = new Set<string>();
      for (const ev of events) {
        if (ev.target === frames) for (const k of (ev as Y.YMapEvent<unknown>).keysChanged) dirty.add(k);
        else if (typeof ev.path[0] === "string") dirty.add(ev.path[0]);
      }
      for (const id of dirty) this.#renderFrame(id);
      this.#refreshCurrent();
      this.#scheduleRefit();
    });
  }

  /** Whether the view follows the facilitator (rather than showing the whole board). */
  get following(): boolean {
    return this.#following;
  }

  /** Shows what the facilitator shows: (x, y) in the middle, at their zoom. */
  follow(v: SharedViewport): void {
    if (![v.x, v.y, v.zoom].every(Number.isFinite) || v.zoom <= 0) return;
    this.#following = true;
    this.host.dataset.following = "true";
    clearTimeout(this.#refitTimer);
    this.#vp.refreshRect();
    this.#vp.centerOn(v.x, v.y, v.zoom);
  }

  /** Canvas coordinates of the middle of the view, and the zoom. */
  view(): SharedViewport {
    const c = this.#vp.center();
    return { x: c.x, y: c.y, zoom: this.#vp.zoom };
  }

  /** Shows the whole board (at most at 100 %); the view until the facilitator leads it. */
  fitAll(): void {
    let r: Rect | null = null;
    const grow = (q: Rect) => {
      if (!r) {
        r = { ...q };
        return;
      }
      const x2 = Math.max(r.x + r.w, q.x + q.w);
      const y2 = Math.max(r.y + r.h, q.y + q.h);
      r.x = Math.min(r.x, q.x);
      r.y = Math.min(r.y, q.y);
      r.w = x2 - r.x;
      r.h = y2 - r.y;
    };
    this.#notesMap.forEach((m) => grow(noteRect(m)));
    this.#framesMap.forEach((m) => grow(frameRect(m)));
    this.#vp.refreshRect();
    if (r) this.#vp.fit(r, 32);
    else this.#vp.centerOn(0, 0, 1);
  }

  /**
   * Outlines the frame of the workshop's current step: the largest frame carrying its
   * `step` (frames made from the template do; the smaller ones are areas inside it).
   */
  markStep(stepId: string | null): void {
    this.#currentStep = stepId;
    this.#refreshCurrent();
  }

  #refreshCurrent(): void {
    let best: string | null = null;
    let bestArea = -1;
    if (this.#currentStep) {
      this.#framesMap.forEach((m, id) => {
        if (str(m, FRAME_FIELDS.step) !== this.#currentStep) return;
        const r = frameRect(m);
        if (r.w * r.h > bestArea) {
          best = id;
          bestArea = r.w * r.h;
        }
      });
    }
    for (const [id, f] of this.#frames) f.el.classList.toggle("present-current", id === best);
  }

  #scheduleRefit(): void {
    if (this.#following) return;
    clearTimeout(this.#refitTimer);
    this.#refitTimer = window.setTimeout(() => {
      if (!this.#following) this.fitAll();
    }, REFIT_DELAY_MS);
  }


  #renderNote(id: string): void {
    const m = this.#notesMap.get(id);
    let v = this.#notes.get(id);
    if (!m) {
      v?.el.remove();
      this.#notes.delete(id);
      return;
    }
    if (!v) {
      const text = h("div", { class: "note-text" });
      const author = h("div", { class: "note-author", "aria-hidden": "true" });
      v = { el: h("div", { class: "note", role: "note", "data-id": id }, text, author), text, author };
      this.#notes.set(id, v);
      this.#notesLayer.append(v.el);
    }
    const r = noteRect(m);
    const s = v.el.style;
    s.left = `${r.x}px`;
    s.top = `${r.y}px`;
    s.width = `${r.w}px`;
    s.height = `${r.h}px`;
    v.el.className = `note note-${noteColor(m)}`;
    const text = noteText(m);
    const author = str(m, NOTE_FIELDS.author) || "someone";
    if (v.text.textContent !== text) v.text.textContent = text;
    if (v.author.textContent !== author) v.author.textContent = author;
    v.el.setAttribute("aria-label", `Note by ${author}: ${text || "(empty)"}`);
  }

  #renderFrame(id: string): void {
    const m = this.#framesMap.get(id);
    let v = this.#frames.get(id);
    if (!m) {
      v?.el.remove();
      this.#frames.delete(id);
      return;
    }
    if (!v) {
      const title = h("div", { class: "frame-title", "aria-hidden": "true" });
      v = { el: h("div", { class: "frame", role: "group", "data-id": id }, title), title };
      this.#frames.set(id, v);
      this.#framesLayer.append(v.el);
    }
    const r = frameRect(m);
    const s = v.el.style;
    s.transform = `translate(${r.x}px, ${r.y}px)`;
    s.width = `${r.w}px`;
    s.height = `${r.h}px`;
    const title = str(m, FRAME_FIELDS.title) || "Frame";
    if (v.title.textContent !== title) v.title.textContent = title;
    v.el.setAttribute("aria-label", `Frame ${title}`);
  }
}
