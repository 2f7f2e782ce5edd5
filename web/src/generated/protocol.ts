// Generated from the Rust `commonboard-protocol` crate. Do not edit by hand:
// run `UPDATE_BINDINGS=1 cargo test -p commonboard-protocol` to regenerate.

export type BoardMeta = { title: string, template: string, createdAt: number, };

export type Note = { id: string, text: string, x: number, y: number, w: number, h: number, color: string, author: string, frame: string | null, createdAt: number, };

export type Frame = { id: string, title: string, x: number, y: number, w: number, h: number, createdAt: number, };

export type Action = { id: string, text: string, owner: string, due: string, done: boolean, createdAt: number, };

export type BoardSnapshot = { meta: BoardMeta, notes: Array<Note>, frames: Array<Frame>, actions: Array<Action>, };

export type ClientMessage = { "type": "hello", 
/**
 * The application protocol version the client speaks.
 */
version: number, };

export type ServerMessage = { "type": "welcome", 
/**
 * The application protocol version the server speaks.
 */
version: number, 
/**
 * The server's identifier for this connection, unique while the board is loaded.
 */
connection: number, 
/**
 * The role this connection holds on the board.
 */
role: Role, 
/**
 * Server time in milliseconds since the Unix epoch, so clients can show
 * server-driven countdowns without trusting their own clock.
 */
server_time_ms: number, } | { "type": "error", 
/**
 * Machine-readable reason.
 */
code: ErrorCode, 
/**
 * Human-readable explanation, safe to show to the user.
 */
message: string, };

export type Role = "facilitator" | "participant" | "viewer";

export type ErrorCode = "unsupported_version" | "forbidden";

export type CreateBoardRequest = { 
/**
 * Shown at the top of the board and in lists.
 */
title: string, 
/**
 * Name of the template to start from; blank when absent.
 */
template?: string, };

export type BoardInfo = { 
/**
 * Unguessable identifier (128 random bits, hex).
 */
id: string, 
/**
 * The board's title.
 */
title: string, 
/**
 * Template the board was created from (`blank` when none).
 */
template: string, 
/**
 * Creation time, RFC 3339.
 */
created_at: string, 
/**
 * Path of the board's page in the web client.
 */
url: string, };

export type ApiError = { 
/**
 * What went wrong, safe to show to the user.
 */
error: string, };

/** Message type of Commonboard application messages (JSON inside a var-length buffer). */
export const MSG_APP = 100;

/** Version of the application protocol. */
export const APP_PROTOCOL_VERSION = 1;

/** Names of the root shared types of a board's Y.Doc. */
export const ROOTS = {
  meta: "meta",
  notes: "notes",
  frames: "frames",
  actions: "actions",
} as const;

/** Field names of the `meta` map. */
export const META_FIELDS = {
  title: "title",
  template: "template",
  createdAt: "createdAt",
} as const;

/** Field names of a note's map. */
export const NOTE_FIELDS = {
  text: "text",
  x: "x",
  y: "y",
  w: "w",
  h: "h",
  color: "color",
  author: "author",
  frame: "frame",
  createdAt: "createdAt",
} as const;

/** Field names of a frame's map. */
export const FRAME_FIELDS = {
  title: "title",
  x: "x",
  y: "y",
  w: "w",
  h: "h",
  createdAt: "createdAt",
} as const;

/** Field names of an action's map. */
export const ACTION_FIELDS = {
  text: "text",
  owner: "owner",
  due: "due",
  done: "done",
  createdAt: "createdAt",
} as const;

/** Colours a note may take. */
export const NOTE_COLORS = ["yellow", "pink", "green", "blue", "orange", "purple"] as const;

/** Size of a new note, in canvas pixels. */
export const NOTE_SIZE = { w: 160, h: 120 } as const;

/** WebSocket close codes the server uses. */
export const CLOSE_CODES = {
  goingAway: 1001,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tooSlow: 4408,
  boardNotFound: 4404,
  notSaved: 4503,
} as const;
