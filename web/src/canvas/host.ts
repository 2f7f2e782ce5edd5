// The canvas's shared state, as its parts (rendering, gestures, keyboard, text editing,
// commands) see it: the views on screen, the selection, the layers, and the few
// operations they call on one another. `CanvasView` in canvas.ts implements it; the
// parts import this file only, never canvas.ts or each other's classes.
import type * as Y from "yjs";
import type { Board, YMap } from "../board";
import type { Role } from "../generated/protocol";
import type { NoteColor } from "../schema";
import type { VoteModel } from "../vote";
import type { WorkshopModel } from "../workshop";
import type { Presence } from "./presence";
import type { Viewport } from "./viewport";
import type { WorkshopUi } from "./workshop-bar";

/** A note on screen, with the values last drawn (so a render touches only what changed). */
export interface NoteView {
  id: string;
  el: HTMLElement;
  textEl: HTMLElement;
  authorEl: HTMLElement;
  editorsEl: HTMLElement;
  x: number;
  y: number;
  w: number;
  h: number;
  color: string;
  text: string;
  author: string;
  /** The note's role in the workshop (its own kind, or its area's). */
  kind: string;
  remedyBtn: HTMLButtonElement | null;
}

/** The maps the canvas renders: the live board's, or those of a historical Y.Doc. */
export interface Shown {
  notes: Y.Map<YMap>;
  frames: Y.Map<YMap>;
}

/** A frame on screen, with the values last drawn. */
export interface FrameView {
  id: string;
  el: HTMLElement;
  titleEl: HTMLElement;
  guideEl: HTMLElement;
  x: number;
  y: number;
  w: number;
  h: number;
  title: string;
  guide: string;
  area: string;
}

/** The note whose text is being edited in place. */
export interface NoteEditing {
  id: string;
  area: HTMLTextAreaElement;
  text: Y.Text;
  observer: (e: Y.YTextEvent) => void;
  composing: boolean;
}

/** Text editing of notes and frame titles (text-edit.ts). */
export interface Editor {
  readonly editing: NoteEditing | null;
  editingFrame: string | null;
  startEdit(id: string): void;
  endEdit(refocus: boolean): void;
  editFrameTitle(id: string): void;
}

/** The pointer gesture in progress, as the rest of the canvas needs it (gestures.ts). */
export interface GestureState {
  /** Whether a gesture (pan, drag, resize, band, pinch) is under way. */
  readonly active: boolean;
  /** Space held: a drag pans. */
  spaceDown: boolean;
  finish(cancelled: boolean): void;
}

export type Pos = { x: number; y: number };

export const MIN_NOTE = { w: 80, h: 60 };
export const MIN_FRAME = { w: 160, h: 120 };

export interface CanvasHost {
  readonly board: Board;
  /** The notes and frames on screen: the live board's, or a historical doc's (read-only). */
  readonly shown: Shown;
  readonly historical: boolean;
  readonly canEdit: boolean;
  /** The server refused the board for good. */
  readonly dead: boolean;
  readonly role: Role | null;
  /** The colour new notes get. */
  readonly color: NoteColor;
  readonly vp: Viewport;
  readonly presence: Presence;
  readonly votes: VoteModel;
  readonly workshop: WorkshopModel;
  readonly workshopUi: WorkshopUi;
  /** The focusable canvas element (`main.viewport`). */
  readonly canvasEl: HTMLElement;
  readonly world: HTMLElement;
  readonly notesLayer: HTMLElement;
  readonly framesLayer: HTMLElement;
  readonly band: HTMLElement;
  readonly shield: HTMLElement;
  readonly notes: Map<string, NoteView>;
  readonly frames: Map<string, FrameView>;
  readonly selNotes: Set<string>;
  readonly selFrames: Set<string>;
  /** Notes carrying vote controls or the common-goal badge. */
  readonly voteNotes: Set<string>;
  /** Notes this page added (N, double-click): moved off another one added at the same moment. */
  readonly mine: Set<string>;
  readonly editor: Editor;
  readonly gestures: GestureState;
  /** Whether the person moved the view themselves since the page opened. */
  interacted: boolean;
  /** Set while focus moves because of a pointer or a command, not the keyboard. */
  focusFromPointer: boolean;
  onUserMove: (() => void) | null;

  selectOnly(notes: Iterable<string>, frames?: Iterable<string>): void;
  setSelection(notes: Set<string>, frames: Set<string>): void;
  updateSelectionUi(): void;
  toggleHistory(): void;
}
