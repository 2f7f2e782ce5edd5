// The board schema as the client uses it: names and types come from the file generated
// from the Rust protocol crate; this module only adds what derives from them.
import { FRAME_FIELDS, NOTE_COLORS, NOTE_FIELDS, NOTE_SIZE } from "./generated/protocol";

export {
  ROOTS,
  META_FIELDS,
  NOTE_FIELDS,
  FRAME_FIELDS,
  ACTION_FIELDS,
  NOTE_COLORS,
  CLOSE_CODES,
} from "./generated/protocol";
export type { BoardInfo, BoardLinks, CreateBoardRequest, ApiError, Note, Frame, BoardMeta, Role } from "./generated/protocol";

export type NoteColor = (typeof NOTE_COLORS)[number];

export const DEFAULT_NOTE_W: number = NOTE_SIZE.w;
export const DEFAULT_NOTE_H: number = NOTE_SIZE.h;

/** What the position helpers need of a note's or frame's `Y.Map` (kept free of Yjs so tests can load this module alone). */
export interface FieldMap {
  get(key: string): unknown;
  set(key: string, value: unknown): unknown;
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * Where a note is. A note keeps its position in one entry, `pos` = `[x, y]`: each
 * overwrite of a map entry leaves a deleted item in the document for good, so a move
 * that set `x` and `y` left two behind. Boards written before `pos` hold `x` and `y`
 * entries: they are read when `pos` is not an array of two finite numbers, else 0.
 * The one place that reads a note's position from its map.
 */
export function notePos(m: FieldMap): { x: number; y: number } {
  const p = m.get(NOTE_FIELDS.pos);
  if (Array.isArray(p) && p.length === 2 && finite(p[0]) && finite(p[1])) return { x: p[0], y: p[1] };
  const x = m.get(NOTE_FIELDS.x);
  const y = m.get(NOTE_FIELDS.y);
  return { x: finite(x) ? x : 0, y: finite(y) ? y : 0 };
}

/**
 * Moves a note (or places a new one): sets its `pos` to `[x, y]`, rounded, unless it is
 * already there. A note of an older board keeps its `x` and `y`, no longer read. The
 * one place that writes a note's position.
 */
export function setNotePos(m: FieldMap, x: number, y: number): void {
  const pos = [Math.round(x), Math.round(y)];
  const now = integrated(m) ? m.get(NOTE_FIELDS.pos) : undefined;
  if (Array.isArray(now) && now.length === 2 && now[0] === pos[0] && now[1] === pos[1]) return;
  m.set(NOTE_FIELDS.pos, pos);
}

/** Moves a frame. Frames keep separate `x` and `y` entries: they rarely move. */
export function setFramePos(m: FieldMap, x: number, y: number): void {
  x = Math.round(x);
  y = Math.round(y);
  const known = integrated(m);
  if (!known || m.get(FRAME_FIELDS.x) !== x) m.set(FRAME_FIELDS.x, x);
  if (!known || m.get(FRAME_FIELDS.y) !== y) m.set(FRAME_FIELDS.y, y);
}

/**
 * Whether a map can be read: a Y.Map not yet added to a document cannot (Yjs warns
 * "Invalid access" on every read), so a new note's or frame's fields are only written.
 */
function integrated(m: FieldMap): boolean {
  return !("doc" in m) || (m as { doc: unknown }).doc != null;
}

/**
 * The keys of a note's map that hold its position: `pos`, and the `x` and `y` of older
 * boards. Observers that tell a move from other changes look for these.
 */
export const NOTE_POSITION_KEYS: ReadonlySet<string> = new Set([NOTE_FIELDS.pos, NOTE_FIELDS.x, NOTE_FIELDS.y]);
