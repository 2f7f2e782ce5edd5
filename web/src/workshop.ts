// The workshop flow as the server reports it (steps, timer, private writing, turns), what
// the template's areas mean for the notes written in them, and private notes: written
// outside the Y.Doc until the facilitator reveals them.
import { frameRect, noteText, num, setNoteText, str, type Board, type Rect, type YMap } from "./board";
import type { Note, Role, Timer, TurnPerson, Turns, WorkshopState } from "./generated/protocol";
import { NOTE_KINDS } from "./generated/protocol";
import { FRAME_FIELDS, NOTE_FIELDS } from "./schema";
import { randomId } from "./util";

/** The kind a note takes when it is written inside an area frame. */
export const AREA_KIND: Record<string, string> = {
  teams: NOTE_KINDS.team,
  plot: NOTE_KINDS.team,
  needs: NOTE_KINDS.need,
  value: NOTE_KINDS.need,
  outcomes: NOTE_KINDS.need,
  costs: NOTE_KINDS.need,
  risks: NOTE_KINDS.need,
  candidates: NOTE_KINDS.goal,
  chosen: NOTE_KINDS.goal,
  obstacles: NOTE_KINDS.obstacle,
  remedies: NOTE_KINDS.remedy,
  followup: NOTE_KINDS.followUp,
};

/** The kind of a note written in the given frame (none outside an area). */
export function kindForFrame(b: Board, frameId: string | null): string | undefined {
  if (!frameId) return undefined;
  const f = b.frames.get(frameId);
  const area = f ? str(f, FRAME_FIELDS.area) : "";
  return AREA_KIND[area];
}

/** The first frame of an area (`teams`, `plot`, `remedies`...), with its id. */
export function areaFrame(b: Board, area: string): { id: string; rect: Rect } | null {
  let found: { id: string; rect: Rect } | null = null;
  b.frames.forEach((m, id) => {
    if (!found && str(m, FRAME_FIELDS.area) === area) found = { id, rect: frameRect(m) };
  });
  return found;
}

/** The frame of a step (`collaborators`, `obstacles`...): the largest frame carrying it. */
export function stepFrame(b: Board, step: string): { id: string; rect: Rect } | null {
  let found: { id: string; rect: Rect } | null = null;
  b.frames.forEach((m, id) => {
    if (str(m, FRAME_FIELDS.step) !== step) return;
    const r = frameRect(m);
    if (!found || r.w * r.h > found.rect.w * found.rect.h) found = { id, rect: r };
  });
  return found;
}

/** A note's kind: its own, else that of the area it sits in. */
export function noteKind(b: Board, m: YMap): string | undefined {
  const k = str(m, NOTE_FIELDS.kind);
  if (k) return k;
  return kindForFrame(b, str(m, NOTE_FIELDS.frame) || null);
}

/** Whole seconds left on a timer at server time `nowMs`, rounded up; 0 once it ran out. */
export function secondsLeftAt(timer: Timer, nowMs: number): number {
  return Math.max(0, Math.ceil((timer.ends_at_ms - nowMs) / 1000));
}

/** Who speaks now in a turn order, if one is running. */
export function speakerOf(turns: Turns | undefined): TurnPerson | null {
  if (!turns || turns.current === undefined || turns.current === null) return null;
  return turns.people[turns.current] ?? null;
}

/** The workshop as this connection sees it. */
export class WorkshopModel {
  readonly board: Board;
  role: Role | null = null;
  state: WorkshopState | null = null;
  /** This person's private notes, by id (the server's list, plus unsent local edits). */
  privateNotes = new Map<string, Note>();
  /** The server's last refusal of a workshop message. */
  error = "";
  #listeners = new Set<() => void>();
  #timers = new Map<string, number>();

  constructor(board: Board) {
    this.board = board;
    const app = board.app;
    app.on("welcome", (m) => {
      this.role = m.role;
      this.#emit();
    });
    app.on("workshop", (m) => {
      if (this.state?.private && !m.state.private) this.#carryOver();
      this.state = m.state;
      this.error = "";
      this.#emit();
    });
    app.on("private_notes", (m) => {
      const next = new Map<string, Note>();
      for (const n of m.notes) next.set(n.id, this.#timers.has(n.id) ? (this.privateNotes.get(n.id) ?? n) : n);
      this.privateNotes = next;
      this.#emit();
    });
    app.on("error", (m) => {
      this.error = m.message;
      this.#emit();
    });
  }

  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(): void {
    for (const fn of this.#listeners) fn();
  }

  get facilitator(): boolean {
    return this.role === "facilitator";
  }

  get isPrivate(): boolean {
    return !!this.state?.private;
  }

  /** Seconds left on the timer (0 when it ran out), or null without a timer. */
  secondsLeft(): number | null {
    const t = this.state?.timer;
    if (!t) return null;
    return secondsLeftAt(t, this.board.app.serverNow());
  }

  /** Who speaks now, if a turn order is running. */
  speaker(): TurnPerson | null {
    return speakerOf(this.state?.turns);
  }

  // ---------------------------------------------------------------- private notes

  /** Writes a new private note (sent to the server only; never into the Y.Doc). */
  addPrivate(n: { x: number; y: number; w: number; h: number; color: string; frame: string | null; text?: string; kind?: string }): Note {
    const note: Note = {
      id: randomId(),
      text: n.text ?? "",
      x: Math.round(n.x),
      y: Math.round(n.y),
      w: n.w,
      h: n.h,
      color: n.color,
      author: this.board.me.name,
      frame: n.frame,
      createdAt: Date.now(),
    };
    if (n.kind) note.kind = n.kind;
    if (this.board.identity) note.authorId = this.board.identity;
    this.privateNotes.set(note.id, note);
    this.board.app.send({ type: "put_private_note", note });
    this.#emit();
    return note;
  }

  /** Changes a private note; sent after a short pause (typing sends one message, not one per key). */
  editPrivate(id: string, patch: Partial<Note>, delayMs = 400): void {
    const cur = this.privateNotes.get(id);
    if (!cur) return;
    const next = { ...cur, ...patch };
    this.privateNotes.set(id, next);
    clearTimeout(this.#timers.get(id));
    this.#timers.set(
      id,
      window.setTimeout(() => {
        this.#timers.delete(id);
        const n = this.privateNotes.get(id);
        if (n) this.board.app.send({ type: "put_private_note", note: n });
      }, delayMs),
    );
  }

  /** Sends pending edits at once (before the reveal, or when leaving the field). */
  flushPrivate(): void {
    for (const [id, t] of this.#timers) {
      clearTimeout(t);
      const n = this.privateNotes.get(id);
      if (n) this.board.app.send({ type: "put_private_note", note: n });
    }
    this.#timers.clear();
  }

  /**
   * The reveal came while edits waited to be sent: the notes now live in the doc (with
   * the text the server had), so the waiting text goes there once they arrive.
   */
  #carryOver(): void {
    for (const [id, t] of this.#timers) {
      clearTimeout(t);
      const text = this.privateNotes.get(id)?.text;
      if (text === undefined) continue;
      let tries = 0;
      const apply = () => {
        if (this.board.notes.has(id)) setNoteText(this.board, id, text);
        else if (++tries < 25) window.setTimeout(apply, 200);
      };
      apply();
    }
    this.#timers.clear();
  }

  deletePrivate(id: string): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    this.privateNotes.delete(id);
    this.board.app.send({ type: "delete_private_note", id });
    this.#emit();
  }
}

/** A team note's row of the collaborators table, read from the note's map. */
export interface TeamRow {
  id: string;
  name: string;
  expectsOfUs: string;
  weExpect: string;
  interaction: number;
  conflict: number;
  chosen: boolean;
}

export function teamRow(id: string, m: YMap): TeamRow {
  return {
    id,
    name: noteText(m),
    expectsOfUs: str(m, NOTE_FIELDS.expectsOfUs),
    weExpect: str(m, NOTE_FIELDS.weExpect),
    interaction: num(m, NOTE_FIELDS.interaction, 0),
    conflict: num(m, NOTE_FIELDS.conflict, 0),
    chosen: m.get(NOTE_FIELDS.chosen) === true,
  };
}

/** Where a team's note goes on the plot: interaction to the right, conflict upwards. */
export function plotSpot(plot: Rect, interaction: number, conflict: number, w: number, h: number): { x: number; y: number } {
  const pad = 16;
  const top = 48;
  const spanX = Math.max(0, plot.w - 2 * pad - w);
  const spanY = Math.max(0, plot.h - top - pad - h);
  return {
    x: plot.x + pad + (Math.min(4, Math.max(0, interaction)) / 4) * spanX,
    y: plot.y + top + ((4 - Math.min(4, Math.max(0, conflict))) / 4) * spanY,
  };
}
