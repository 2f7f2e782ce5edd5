// The board schema as the client uses it: names and types come from the file generated
// from the Rust protocol crate; this module only adds what derives from them.
import { NOTE_COLORS, NOTE_SIZE } from "./generated/protocol";

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
