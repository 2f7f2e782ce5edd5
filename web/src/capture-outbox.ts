// The phone's notes until the board holds them: kept in localStorage per board, so a
// locked board, a lost connection or a reload loses none. A note goes out only when
// the board accepts it (connected, synced, not locked for this person), into free
// space of its area as the board is then; it leaves the list once the server has it
// (see `Delivery`), or, after a reload, once the board the server sent holds its id.
import { addNote, frameRect, freeSpot, moveOffOthers, noteRect, placeInFrame, planInFrame, transact, type Board, type Rect } from "./board";
import type { Note, Role } from "./generated/protocol";
import { DEFAULT_NOTE_H, DEFAULT_NOTE_W, NOTE_FIELDS, type NoteColor } from "./schema";
import { randomId } from "./util";

export interface QueuedNote {
  id: string;
  text: string;
  frame: string | null;
  color: NoteColor;
  kind?: string;
  pair?: string;
  /** Written while private writing was on: sent as a private note if it still is. */
  private: boolean;
  at: number;
  /** The Yjs client and clock it was written into the document with, once sent. */
  client?: number;
  clock?: number;
}

export type OutboxState = "waiting-lock" | "waiting-role" | "waiting-connection" | "sending";

/** What the board says about this person writing now. */
export interface Gate {
  role: Role | null;
  locked: boolean;
  private: boolean;
}

export class CaptureOutbox {
  readonly #b: Board;
  readonly #key: string;
  readonly #gate: () => Gate;
  #notes: QueuedNote[];
  #listeners = new Set<(saved: QueuedNote[]) => void>();

  constructor(b: Board, gate: () => Gate) {
    this.#b = b;
    this.#gate = gate;
    this.#key = `commonboard.captureOutbox.${b.id}`;
    this.#notes = this.#load();
    b.delivery.onChange(() => this.#check());
    b.provider.on("sync", (synced: boolean) => {
      if (synced) this.flush();
    });
    b.app.on("private_notes", (m) => this.#privateSaved(m.notes));
    // Two phones writing at the same moment may pick the same free place: the later of
    // two overlapping notes (by creation time, then id) moves on, so none hides another.
    let tidy = 0;
    b.notes.observeDeep(() => {
      clearTimeout(tidy);
      tidy = window.setTimeout(() => this.#unstack(), 300);
    });
  }

  /** Notes this page put on the board. */
  #mine = new Set<string>();

  #unstack(): void {
    if (this.state() !== "sending") return;
    moveOffOthers(this.#b, this.#mine);
  }

  get notes(): readonly QueuedNote[] {
    return this.#notes;
  }

  /** Why the queued notes wait, or "sending" when the board takes them now. */
  state(): OutboxState {
    const g = this.#gate();
    if (!this.#b.provider.wsconnected || !this.#b.provider.synced || g.role === null) return "waiting-connection";
    if (g.role === "viewer") return "waiting-role";
    if (g.locked && g.role !== "facilitator") return "waiting-lock";
    return "sending";
  }

  /** Called with the notes the board now holds (and that left the list). */
  onChange(fn: (saved: QueuedNote[]) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Keeps a new note and sends it if the board takes it now. */
  add(n: Omit<QueuedNote, "id" | "at" | "private">): QueuedNote {
    const note: QueuedNote = { ...n, id: randomId(), at: Date.now(), private: this.#gate().private };
    this.#notes.push(note);
    this.#save();
    this.flush();
    this.#emit([]);
    return note;
  }

  /** Sends every note not sent by this page yet, when the board takes them. */
  flush(): void {
    if (this.state() !== "sending") return;
    const b = this.#b;
    const me = b.doc.clientID;
    const saved: QueuedNote[] = [];
    for (const n of this.#notes) {
      if (n.client === me) continue;
      if (b.notes.has(n.id)) {
        // Written by this phone before a reload, and the board has it.
        saved.push(n);
        continue;
      }
      if (n.private && this.#gate().private) {
        n.client = me;
        n.clock = undefined;
        b.app.send({ type: "put_private_note", note: this.#privateNote(n) });
        continue;
      }
      // A full area grows (what lies below moves down) in the same change as the note.
      transact(b, () => {
        const spot = this.#spot(n.frame, true);
        addNote(b, { x: spot.x, y: spot.y, color: n.color, text: n.text, frame: n.frame, kind: n.kind, pair: n.pair }, n.id);
      });
      this.#mine.add(n.id);
      // A remedy and its obstacle point at each other (as on the canvas).
      const obstacle = n.pair ? b.notes.get(n.pair) : undefined;
      if (obstacle && !obstacle.get(NOTE_FIELDS.pair)) transact(b, () => obstacle.set(NOTE_FIELDS.pair, n.id));
      n.client = me;
      n.clock = b.delivery.clock();
    }
    this.#drop(saved);
    this.#save();
    this.#emit(saved);
  }

  #check(): void {
    const d = this.#b.delivery;
    const me = this.#b.doc.clientID;
    const saved = this.#notes.filter((n) => n.client === me && n.clock !== undefined && d.saved(n.clock));
    if (saved.length) {
      this.#drop(saved);
      this.#save();
    }
    this.#emit(saved);
  }

  #privateSaved(notes: Note[]): void {
    const held = new Set(notes.map((n) => n.id));
    const saved = this.#notes.filter((n) => n.private && n.clock === undefined && n.client === this.#b.doc.clientID && held.has(n.id));
    if (!saved.length) return;
    this.#drop(saved);
    this.#save();
    this.#emit(saved);
  }

  #privateNote(n: QueuedNote): Note {
    const spot = this.#spot(n.frame);
    const note: Note = {
      id: n.id,
      text: n.text,
      x: spot.x,
      y: spot.y,
      w: DEFAULT_NOTE_W,
      h: DEFAULT_NOTE_H,
      color: n.color,
      author: this.#b.me.name,
      frame: n.frame,
      createdAt: n.at,
    };
    if (n.kind) note.kind = n.kind;
    if (this.#b.identity) note.authorId = this.#b.identity;
    return note;
  }

  /**
   * Free space inside the note's area (or in a band below the origin outside any). With
   * `makeRoom`, a full area grows on the board; without (a private note, which the
   * server places when it is revealed), the board is left as it is.
   */
  #spot(frame: string | null, makeRoom = false): { x: number; y: number } {
    const b = this.#b;
    if (frame && b.frames.has(frame)) {
      const spot = makeRoom
        ? placeInFrame(b, frame, DEFAULT_NOTE_W, DEFAULT_NOTE_H)
        : planInFrame(b, frame, DEFAULT_NOTE_W, DEFAULT_NOTE_H);
      if (spot) return { x: spot.x, y: spot.y };
    }
    const taken: Rect[] = [];
    b.notes.forEach((m) => taken.push(noteRect(m)));
    b.frames.forEach((m) => taken.push(frameRect(m)));
    return freeSpot({ x: 0, y: 0, w: 1600, h: 20000 }, taken, DEFAULT_NOTE_W, DEFAULT_NOTE_H, 0, 0);
  }

  #drop(saved: QueuedNote[]): void {
    if (!saved.length) return;
    const gone = new Set(saved.map((n) => n.id));
    this.#notes = this.#notes.filter((n) => !gone.has(n.id));
  }

  #emit(saved: QueuedNote[]): void {
    for (const fn of this.#listeners) fn(saved);
  }

  #load(): QueuedNote[] {
    try {
      const raw = localStorage.getItem(this.#key);
      const list = raw ? (JSON.parse(raw) as unknown) : [];
      return Array.isArray(list) ? (list as QueuedNote[]).filter((n) => typeof n?.id === "string" && typeof n.text === "string") : [];
    } catch {
      return [];
    }
  }

  #save(): void {
    try {
      if (this.#notes.length) localStorage.setItem(this.#key, JSON.stringify(this.#notes));
      else localStorage.removeItem(this.#key);
    } catch {
      /* storage full or disabled: the notes stay in this page */
    }
  }
}
