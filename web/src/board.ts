import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import {
  DEFAULT_NOTE_H,
  DEFAULT_NOTE_W,
  FRAME_FIELDS,
  NOTE_FIELDS,
  NOTE_COLORS,
  notePos,
  ROOTS,
  setFramePos,
  setNotePos,
  type NoteColor,
} from "./schema";
import type { Identity } from "./identity";
import { isPersonal, savePersonalToken } from "./api";
import { applyText } from "./textdiff";
import { randomId } from "./util";
import { AppChannel } from "./app-channel";
import { Delivery } from "./delivery";
import { placeInArea, scan, type Item, type Layout } from "./placement";

/** Origin of every transaction made by this user; the only one the undo manager tracks. */
export const LOCAL = { origin: "commonboard-local" };

export type YMap = Y.Map<unknown>;

export interface Board {
  id: string;
  doc: Y.Doc;
  provider: WebsocketProvider;
  meta: YMap;
  notes: Y.Map<YMap>;
  frames: Y.Map<YMap>;
  actions: Y.Map<YMap>;
  undo: Y.UndoManager;
  me: Identity;
  /** Application messages (votes, lock) on the board's socket. */
  app: AppChannel;
  /** This connection's stable identity (from the server's welcome; empty until then). */
  identity: string;
  /** The personal token the server issued for this browser's person, if it did. */
  personalToken?: string;
  /** What the server saved of this browser's changes, and what it refused. */
  delivery: Delivery;
}

export function wsBase(): string {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

/**
 * Opens the board's Y.Doc and connects it to the server, with the link's access token
 * (`token`) when there is one. The server says who this connection is in its welcome;
 * when it issued a new person (a shared link), its personal token is kept for the
 * board and used from then on, reconnections included, so this browser stays that
 * person.
 */
export function connectBoard(id: string, me: Identity, token: string | null): Board {
  const doc = new Y.Doc();
  const meta = doc.getMap<unknown>(ROOTS.meta);
  const notes = doc.getMap<YMap>(ROOTS.notes);
  const frames = doc.getMap<YMap>(ROOTS.frames);
  const actions = doc.getMap<YMap>(ROOTS.actions);
  const params: Record<string, string> = { name: me.name };
  if (token) params.token = token;
  const provider = new WebsocketProvider(wsBase(), id, doc, { params });
  // Registered before the socket opens, so the first `hello` goes out with it.
  const app = new AppChannel(provider);
  const undo = new Y.UndoManager([notes, frames, actions], {
    trackedOrigins: new Set<unknown>([LOCAL]),
    captureTimeout: 500,
  });
  const board = { id, doc, provider, meta, notes, frames, actions, undo, me, app, identity: "" } as Board;
  board.delivery = new Delivery(board);
  if (token && isPersonal(token)) board.personalToken = token;
  app.on("welcome", (m) => {
    board.identity = m.identity;
    if (m.token) {
      savePersonalToken(id, m.token);
      provider.params = { ...provider.params, token: m.token };
      board.personalToken = m.token;
    }
    // Others list who is present (the turn order) by this id.
    if (provider.awareness.getLocalState()) provider.awareness.setLocalStateField("id", m.identity);
  });
  (window as unknown as { __commonboard: unknown }).__commonboard = { doc, provider, Y, board };
  return board;
}

export function destroyBoard(b: Board): void {
  b.undo.destroy();
  b.provider.destroy();
  b.doc.destroy();
}

// ---------------------------------------------------------------- reading

export function num(m: YMap, key: string, fallback: number): number {
  const v = m.get(key);
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

export function str(m: YMap, key: string, fallback = ""): string {
  const v = m.get(key);
  return typeof v === "string" ? v : fallback;
}

export function noteText(m: YMap): string {
  const t = m.get(NOTE_FIELDS.text);
  if (t instanceof Y.Text) return t.toString();
  return typeof t === "string" ? t : "";
}

export function noteColor(m: YMap): NoteColor {
  const c = m.get(NOTE_FIELDS.color);
  return (NOTE_COLORS as readonly unknown[]).includes(c) ? (c as NoteColor) : "yellow";
}

export function noteFrame(m: YMap): string | null {
  const f = m.get(NOTE_FIELDS.frame);
  return typeof f === "string" && f ? f : null;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export function noteRect(m: YMap): Rect {
  const { x, y } = notePos(m);
  return {
    x,
    y,
    w: num(m, NOTE_FIELDS.w, DEFAULT_NOTE_W),
    h: num(m, NOTE_FIELDS.h, DEFAULT_NOTE_H),
  };
}

// A note's position is read and written only through these (see `schema.ts`).
export { notePos, setNotePos, setFramePos, NOTE_POSITION_KEYS } from "./schema";

export function frameRect(m: YMap): Rect {
  return {
    x: num(m, FRAME_FIELDS.x, 0),
    y: num(m, FRAME_FIELDS.y, 0),
    w: num(m, FRAME_FIELDS.w, 480),
    h: num(m, FRAME_FIELDS.h, 360),
  };
}

export function contains(r: Rect, px: number, py: number): boolean {
  return px >= r.x && px <= r.x + r.w && py >= r.y && py <= r.y + r.h;
}

/** The frame whose area holds the point (the smallest one when frames overlap). */
export function frameAt(b: Board, px: number, py: number): string | null {
  let best: string | null = null;
  let bestArea = Infinity;
  b.frames.forEach((f, id) => {
    const r = frameRect(f);
    if (contains(r, px, py) && r.w * r.h < bestArea) {
      best = id;
      bestArea = r.w * r.h;
    }
  });
  return best;
}

// ---------------------------------------------------------------- writing

export function transact(b: Board, fn: () => void): void {
  b.doc.transact(fn, LOCAL);
}

export interface NewNote {
  x: number;
  y: number;
  w?: number;
  h?: number;
  color: NoteColor;
  text?: string;
  frame?: string | null;
  /** The note's role in the workshop method (see `NOTE_KINDS`). */
  kind?: string;
  pair?: string;
  /** Extra plain fields (a team's row, for example). */
  fields?: Record<string, unknown>;
}

export function addNote(b: Board, n: NewNote, id = randomId()): string {
  transact(b, () => {
    const m = new Y.Map<unknown>();
    const text = new Y.Text();
    if (n.text) text.insert(0, n.text);
    m.set(NOTE_FIELDS.text, text);
    setNotePos(m, n.x, n.y);
    m.set(NOTE_FIELDS.w, n.w ?? DEFAULT_NOTE_W);
    m.set(NOTE_FIELDS.h, n.h ?? DEFAULT_NOTE_H);
    m.set(NOTE_FIELDS.color, n.color);
    m.set(NOTE_FIELDS.author, b.me.name);
    m.set(NOTE_FIELDS.frame, n.frame ?? null);
    m.set(NOTE_FIELDS.createdAt, Date.now());
    if (n.kind) m.set(NOTE_FIELDS.kind, n.kind);
    if (b.identity) m.set(NOTE_FIELDS.authorId, b.identity);
    if (n.pair) m.set(NOTE_FIELDS.pair, n.pair);
    for (const [k, v] of Object.entries(n.fields ?? {})) m.set(k, v);
    b.notes.set(id, m);
  });
  return id;
}

/** The note's Y.Text, creating one (from a plain string value) when missing. */
export function ensureText(b: Board, m: YMap): Y.Text {
  const t = m.get(NOTE_FIELDS.text);
  if (t instanceof Y.Text) return t;
  const text = new Y.Text(typeof t === "string" ? t : "");
  transact(b, () => m.set(NOTE_FIELDS.text, text));
  return text;
}

export function setNoteText(b: Board, id: string, next: string): void {
  const m = b.notes.get(id);
  if (!m) return;
  const t = ensureText(b, m);
  transact(b, () => applyText(t, next));
}

export function addFrame(b: Board, r: Rect, title: string): string {
  const id = randomId();
  transact(b, () => {
    const m = new Y.Map<unknown>();
    m.set(FRAME_FIELDS.title, title);
    m.set(FRAME_FIELDS.x, Math.round(r.x));
    m.set(FRAME_FIELDS.y, Math.round(r.y));
    m.set(FRAME_FIELDS.w, Math.round(r.w));
    m.set(FRAME_FIELDS.h, Math.round(r.h));
    m.set(FRAME_FIELDS.createdAt, Date.now());
    b.frames.set(id, m);
    refreshFrameMembers(b, id);
  });
  return id;
}

/** Sets each note's frame from where its centre lies. */
export function assignFrames(b: Board, noteIds: Iterable<string>): void {
  transact(b, () => {
    for (const id of noteIds) {
      const m = b.notes.get(id);
      if (!m) continue;
      const r = noteRect(m);
      const f = frameAt(b, r.x + r.w / 2, r.y + r.h / 2);
      if (noteFrame(m) !== f) m.set(NOTE_FIELDS.frame, f);
    }
  });
}

/**
 * After a frame was created or resized: notes whose centre left it are reassigned, and
 * notes in no frame whose centre now lies inside it join it.
 */
export function refreshFrameMembers(b: Board, frameId: string): void {
  const f = b.frames.get(frameId);
  if (!f) return;
  const fr = frameRect(f);
  const changed: string[] = [];
  b.notes.forEach((m, id) => {
    const r = noteRect(m);
    const inside = contains(fr, r.x + r.w / 2, r.y + r.h / 2);
    const cur = noteFrame(m);
    if ((cur === frameId && !inside) || (cur === null && inside)) changed.push(id);
  });
  if (changed.length) assignFrames(b, changed);
}

export function setFrameTitle(b: Board, id: string, title: string): void {
  const m = b.frames.get(id);
  if (!m || str(m, FRAME_FIELDS.title) === title) return;
  transact(b, () => m.set(FRAME_FIELDS.title, title));
}

export function setColor(b: Board, ids: Iterable<string>, color: NoteColor): void {
  transact(b, () => {
    for (const id of ids) {
      const m = b.notes.get(id);
      if (m && m.get(NOTE_FIELDS.color) !== color) m.set(NOTE_FIELDS.color, color);
    }
  });
}

/** Deletes notes and frames; notes of a deleted frame stay, in no frame. */
export function deleteItems(b: Board, noteIds: Iterable<string>, frameIds: Iterable<string>): void {
  const frames = new Set(frameIds);
  transact(b, () => {
    for (const id of noteIds) b.notes.delete(id);
    if (frames.size) {
      b.notes.forEach((m) => {
        const f = noteFrame(m);
        if (f && frames.has(f)) m.set(NOTE_FIELDS.frame, null);
      });
      for (const id of frames) b.frames.delete(id);
    }
  });
}

export function setSize(m: YMap, w: number, h: number): void {
  w = Math.round(w);
  h = Math.round(h);
  if (m.get(NOTE_FIELDS.w) !== w) m.set(NOTE_FIELDS.w, w);
  if (m.get(NOTE_FIELDS.h) !== h) m.set(NOTE_FIELDS.h, h);
}

/**
 * A free spot for a note of size w×h in `area`, avoiding the given rectangles; rows go
 * on below the area when it is full (for places outside any frame: see `placeInFrame`).
 */
export function freeSpot(area: Rect, taken: Rect[], w: number, h: number, pad = 16, top = 44): { x: number; y: number } {
  const more = 200 * Math.max(1, Math.round(h / 2 + 6));
  return scan({ ...area, h: area.h + more }, taken, w, h, pad, top) ?? { x: area.x + pad, y: area.y + area.h + more };
}

/**
 * Origin of the moves placement makes (`moveOffOthers`, an area growing to make room):
 * not the person's own edit, so not tracked by the undo manager.
 */
const PLACEMENT = { origin: "commonboard-placement" };

/** The board's frames and notes as placement items (without the note `skip`). */
function placementItems(b: Board, skip?: string): { frames: Item[]; notes: Item[] } {
  const frames: Item[] = [];
  const notes: Item[] = [];
  b.frames.forEach((m, id) => frames.push({ id, r: frameRect(m) }));
  b.notes.forEach((m, id) => {
    if (id !== skip) notes.push({ id, r: noteRect(m) });
  });
  return { frames, notes };
}

/**
 * Where a note of w×h goes in the frame `frameId` (see `placement.ts`) and what has to
 * move to make room; writes nothing. Null when the board has no such frame.
 */
export function planInFrame(b: Board, frameId: string, w: number, h: number, skip?: string): { x: number; y: number; layout: Layout } | null {
  const { frames, notes } = placementItems(b, skip);
  const area = frames.findIndex((f) => f.id === frameId);
  return area < 0 ? null : placeInArea(frames, notes, area, w, h);
}

/** Writes what placing a note moved: frames grown or moved down, notes moved down. */
export function applyLayout(b: Board, layout: Layout, origin: object = PLACEMENT): void {
  if (!layout.frames.length && !layout.notes.length) return;
  b.doc.transact(() => {
    for (const f of layout.frames) {
      const m = b.frames.get(f.id);
      if (!m) continue;
      setFramePos(m, f.r.x, f.r.y);
      if (m.get(FRAME_FIELDS.h) !== Math.round(f.r.h)) m.set(FRAME_FIELDS.h, Math.round(f.r.h));
    }
    for (const n of layout.notes) {
      const m = b.notes.get(n.id);
      if (m) setNotePos(m, n.r.x, n.r.y);
    }
  }, origin);
}

/**
 * A place for a note of w×h in the frame `frameId`, making room when the frame is full
 * (it grows; what lies below it moves down), written with `origin`. Null when the board
 * has no such frame.
 */
export function placeInFrame(b: Board, frameId: string, w: number, h: number, skip?: string, origin: object = PLACEMENT): { x: number; y: number } | null {
  const plan = planInFrame(b, frameId, w, h, skip);
  if (!plan) return null;
  applyLayout(b, plan.layout, origin);
  return { x: plan.x, y: plan.y };
}

/**
 * Two people adding notes at the same moment may pick the same free place: of two
 * overlapping notes the later one (by creation time, then id) moves to free space of
 * its area. Each client moves only the notes in `ids` (its own), so they never fight,
 * and only just after they were made (`withinMs`): a note someone later puts on top of
 * another on purpose stays there.
 */
export function moveOffOthers(b: Board, ids: Iterable<string>, withinMs = 5000): void {
  const order = (m: YMap, id: string) => [num(m, NOTE_FIELDS.createdAt, 0), id] as const;
  for (const id of ids) {
    const m = b.notes.get(id);
    if (!m) continue;
    const [at, key] = order(m, id);
    if (Date.now() - at > withinMs) continue;
    const r = noteRect(m);
    let covered = false;
    b.notes.forEach((o, oid) => {
      if (covered || oid === id) return;
      const [oat, okey] = order(o, oid);
      if (oat > at || (oat === at && okey >= key)) return;
      const q = noteRect(o);
      covered = r.x < q.x + q.w && r.x + r.w > q.x && r.y < q.y + q.h && r.y + r.h > q.y;
    });
    if (!covered) continue;
    const taken: Rect[] = [];
    b.notes.forEach((o, oid) => {
      if (oid !== id) taken.push(noteRect(o));
    });
    const frame = noteFrame(m);
    // Not the person's own edit: undo leaves it alone.
    b.doc.transact(() => {
      const spot =
        (frame ? placeInFrame(b, frame, r.w, r.h, id, PLACEMENT) : null) ??
        freeSpot({ x: r.x - 16, y: r.y - 44, w: r.w * 4, h: r.h * 4 }, taken, r.w, r.h);
      setNotePos(m, spot.x, spot.y);
    }, PLACEMENT);
  }
}
