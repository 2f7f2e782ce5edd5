// Plays a board's history into a local Y.Doc that is never connected to the provider:
// seeking (a fresh state from the server for a jump back or far ahead, a short replay of
// logged updates for a small step forward) and playback at a chosen speed, one batch
// of updates per animation frame, with the next page of updates fetched ahead.
import * as Y from "yjs";
import type { LoggedUpdate } from "../generated/protocol";
import { ROOTS } from "../schema";
import { fromBase64, type HistoryApi } from "./api";

/** What the player needs from the canvas. */
export interface PlayerHost {
  /** Show this historical doc (read-only) instead of what is shown now. */
  showDoc(doc: Y.Doc): void;
  /** Apply several updates and render what they changed once. */
  batch(fn: () => void): void;
}

/** The point shown after a seek or a frame of playback. */
export interface Frame {
  seq: number;
  /** Server time of the point, when known (a state fetched alone does not say). */
  atMs: number | null;
  /** Notes changed by the update(s) just applied, with their author's name. */
  marks: Map<string, string>;
}

export interface PlayerEvents {
  onFrame(f: Frame): void;
  onPlaying(playing: boolean): void;
  onError(message: string): void;
}

/** A step forward up to this many updates is replayed; a longer one fetches the state. */
const REPLAY_LIMIT = 300;
/** Updates per page of `/updates` during playback (the server allows up to 5000). */
const PAGE = 1000;
/** The next page is fetched once fewer than this many updates are waiting. */
const PREFETCH_BELOW = PAGE / 2;
/** Time spent applying updates in one frame, so a fast replay still paints every frame. */
const FRAME_BUDGET_MS = 10;
/** An idle stretch of the session lasts at most this long on screen, whatever the speed. */
const MAX_IDLE_MS = 3000;

export class Player {
  readonly #api: HistoryApi;
  readonly #host: PlayerHost;
  readonly #events: PlayerEvents;

  #doc: Y.Doc | null = null;
  /** The point the doc shows (0 before the first load). */
  #seq = 0;
  #atMs: number | null = null;
  /** Bumped by every seek, play and pause: work started under an older value stops. */
  #gen = 0;
  #target: number | null = null;
  #seeking: Promise<void> | null = null;
  /** Set by `destroy`: answers still on their way are dropped. */
  #closed = false;

  // While applying updates: who made the one being applied, and what it changed.
  #author = "";
  #marks: Map<string, string> | null = null;

  // Playback.
  #playing = false;
  #speed = 1;
  #queue: LoggedUpdate[] = [];
  #nextFrom: number | null = null;
  #fetching = false;
  #raf = 0;
  #virtualMs = 0;
  #lastWall = 0;
  /** Most updates applied in one frame; adapts so a frame's work stays within budget. */
  #perFrame = 200;

  constructor(api: HistoryApi, host: PlayerHost, events: PlayerEvents) {
    this.#api = api;
    this.#host = host;
    this.#events = events;
  }

  get seq(): number {
    return this.#seq;
  }

  get playing(): boolean {
    return this.#playing;
  }

  /** Shows the board at point `seq`. Seeks made while one is under way collapse into the last. */
  seek(seq: number): Promise<void> {
    this.#stopPlayback();
    this.#target = seq;
    this.#seeking ??= this.#seekLoop().finally(() => (this.#seeking = null));
    return this.#seeking;
  }

  async #seekLoop(): Promise<void> {
    while (this.#target !== null && !this.#closed) {
      const t = this.#target;
      this.#target = null;
      try {
        await this.#goTo(t);
      } catch (err) {
        this.#events.onError(err instanceof Error ? err.message : String(err));
      }
    }
  }

  async #goTo(t: number): Promise<void> {
    if (this.#doc && t === this.#seq) return;
    if (this.#doc && t > this.#seq && t - this.#seq <= REPLAY_LIMIT) {
      const page = await this.#api.updates(this.#seq + 1, t - this.#seq);
      if (this.#closed) return;
      const ups = page.updates.filter((u) => u.seq > this.#seq && u.seq <= t);
      if (ups.length && ups[0].seq === this.#seq + 1) {
        this.#apply(ups);
        return;
      }
    }
    await this.#load(t);
  }

  /**
   * A fresh doc at point `t`: the state just before it plus update `t` itself, so the
   * change made at `t` is known and outlined; the state at `t` alone when that is not
   * possible (the first point, or history compacted away).
   */
  async #load(t: number): Promise<void> {
    const [before, page] = await Promise.all([
      t > 1 ? this.#api.stateAt(t - 1).catch(() => null) : Promise.resolve(null),
      this.#api.updates(t, 1).catch(() => null),
    ]);
    if (this.#closed) return;
    const u = page?.updates[0];
    const doc = new Y.Doc();
    if (u && u.seq === t && (t === 1 || before?.seq === t - 1)) {
      if (before) Y.applyUpdate(doc, before.update);
      this.#setDoc(doc, t - 1, null);
      this.#apply([u]);
      return;
    }
    const state = await this.#api.stateAt(t);
    if (this.#closed) return;
    Y.applyUpdate(doc, state.update);
    this.#setDoc(doc, state.seq, null);
    this.#events.onFrame({ seq: this.#seq, atMs: null, marks: new Map() });
  }

  #setDoc(doc: Y.Doc, seq: number, atMs: number | null): void {
    const old = this.#doc;
    this.#doc = doc;
    this.#seq = seq;
    this.#atMs = atMs;
    const notes = doc.getMap<Y.Map<unknown>>(ROOTS.notes);
    // Registered before the canvas's observer, so it sees each update's changes first.
    notes.observeDeep((events) => {
      const marks = this.#marks;
      if (!marks) return;
      for (const ev of events) {
        if (ev.target === notes) for (const k of (ev as Y.YMapEvent<unknown>).keysChanged) marks.set(k, this.#author);
        else if (typeof ev.path[0] === "string") marks.set(ev.path[0], this.#author);
      }
    });
    this.#host.showDoc(doc);
    old?.destroy();
  }

  /** Applies consecutive updates, each in its own transaction (so each has one author), rendered once. */
  #apply(ups: LoggedUpdate[]): void {
    const doc = this.#doc;
    if (!doc || !ups.length) return;
    const marks = new Map<string, string>();
    this.#marks = marks;
    try {
      this.#host.batch(() => {
        for (const u of ups) {
          this.#author = u.author.name || u.author.id;
          Y.applyUpdate(doc, fromBase64(u.update), this);
          this.#seq = u.seq;
          this.#atMs = u.at_ms;
        }
      });
    } finally {
      this.#marks = null;
    }
    this.#events.onFrame({ seq: this.#seq, atMs: this.#atMs, marks });
  }

  // ------------------------------------------------------------ playback

  /**
   * Plays from the point shown (from `restartAt` when already at `end`), at `speed` times
   * real time (Infinity: as fast as frames allow), until the log ends or `pause`.
   */
  async play(speed: number, restartAt: number, end: number): Promise<void> {
    this.#speed = speed;
    if (this.#playing) return;
    this.#playing = true;
    const gen = ++this.#gen;
    this.#events.onPlaying(true);
    if (this.#seeking) await this.#seeking;
    if (gen !== this.#gen) return;
    if (!this.#doc || this.#seq >= end) {
      this.#target = restartAt;
      this.#seeking ??= this.#seekLoop().finally(() => (this.#seeking = null));
      await this.#seeking;
      if (gen !== this.#gen) return;
    }
    this.#queue = [];
    this.#nextFrom = this.#seq + 1;
    this.#virtualMs = this.#atMs ?? 0;
    this.#lastWall = performance.now();
    this.#prefetch(gen);
    this.#raf = requestAnimationFrame((now) => this.#tick(gen, now));
  }

  /** Changes the speed; playback goes on from where it is. */
  setSpeed(speed: number): void {
    this.#speed = speed;
  }

  pause(): void {
    this.#stopPlayback();
  }

  /** Stops everything; the doc is released. */
  destroy(): void {
    this.#closed = true;
    this.#stopPlayback();
    this.#target = null;
    this.#gen++;
    this.#doc?.destroy();
    this.#doc = null;
    this.#seq = 0;
  }

  #stopPlayback(): void {
    this.#gen++;
    if (this.#raf) cancelAnimationFrame(this.#raf);
    this.#raf = 0;
    this.#queue = [];
    this.#nextFrom = null;
    if (this.#playing) {
      this.#playing = false;
      this.#events.onPlaying(false);
    }
  }

  #prefetch(gen: number): void {
    const from = this.#nextFrom;
    if (this.#fetching || from === null || this.#queue.length >= PREFETCH_BELOW) return;
    this.#fetching = true;
    this.#api
      .updates(from, PAGE)
      .then((page) => {
        if (gen !== this.#gen) return;
        this.#queue.push(...page.updates.filter((u) => u.seq >= from));
        this.#nextFrom = page.next_from ?? null;
        if (this.#virtualMs === 0 && this.#queue.length) this.#virtualMs = this.#queue[0].at_ms;
      })
      .catch((err: unknown) => {
        if (gen !== this.#gen) return;
        this.#events.onError(err instanceof Error ? err.message : String(err));
        this.#stopPlayback();
      })
      .finally(() => {
        this.#fetching = false;
        if (gen === this.#gen) this.#prefetch(gen);
      });
  }

  #tick(gen: number, now: number): void {
    this.#raf = 0;
    if (gen !== this.#gen) return;
    const q = this.#queue;
    const wall = now - this.#lastWall;
    this.#lastWall = now;
    if (!q.length) {
      if (this.#nextFrom === null && !this.#fetching) {
        this.#stopPlayback(); // the end of the log
        return;
      }
      this.#raf = requestAnimationFrame((t) => this.#tick(gen, t));
      return;
    }
    let n = 0;
    if (this.#speed === Infinity) {
      n = Math.min(q.length, this.#perFrame);
    } else {
      this.#virtualMs += wall * this.#speed;
      // A long pause in the session is shortened to MAX_IDLE_MS of screen time.
      const idle = q[0].at_ms - this.#virtualMs;
      if (idle > MAX_IDLE_MS * this.#speed) this.#virtualMs = q[0].at_ms - MAX_IDLE_MS * this.#speed;
      while (n < q.length && n < this.#perFrame && q[n].at_ms <= this.#virtualMs) n++;
    }
    if (n) {
      const t0 = performance.now();
      try {
        this.#apply(q.splice(0, n));
      } catch (err) {
        this.#events.onError(err instanceof Error ? err.message : String(err));
        this.#stopPlayback();
        return;
      }
      const spent = performance.now() - t0;
      // Keep each frame's work near the budget: fewer updates when slow, more when quick.
      if (spent > FRAME_BUDGET_MS && this.#perFrame > 10) this.#perFrame = Math.max(10, Math.floor(this.#perFrame / 2));
      else if (spent < FRAME_BUDGET_MS / 3 && n === this.#perFrame) this.#perFrame = Math.min(5000, this.#perFrame * 2);
    }
    this.#prefetch(gen);
    this.#raf = requestAnimationFrame((t) => this.#tick(gen, t));
  }
}
