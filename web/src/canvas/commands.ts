// What the toolbar, the keyboard and gestures do to the board: add notes and frames,
// delete, move and resize the selection, undo, redo, and fit or scroll the view.
import {
  addFrame,
  addNote,
  assignFrames,
  deleteItems,
  frameAt,
  frameRect,
  freeSpot,
  noteFrame,
  num,
  noteRect,
  placeInFrame,
  planInFrame,
  refreshFrameMembers,
  setFramePos,
  setNotePos,
  setSize,
  str,
  transact,
  type Rect,
} from "../board";
import { NOTE_KINDS } from "../generated/protocol";
import { DEFAULT_NOTE_H, DEFAULT_NOTE_W, FRAME_FIELDS, NOTE_FIELDS } from "../schema";
import { areaFrame, kindForFrame } from "../workshop";
import { MIN_FRAME, MIN_NOTE, type CanvasHost, type Pos } from "./host";

const NEW_FRAME = { w: 560, h: 400 };

/** A remedy note beside the obstacle (in the remedies area when there is one), paired both ways. */
export function addRemedy(c: CanvasHost, obstacleId: string): void {
  if (!c.canEdit) return;
  const b = c.board;
  const o = b.notes.get(obstacleId);
  if (!o) return;
  const r = noteRect(o);
  const area = areaFrame(b, "remedies");
  let x = r.x + r.w + 24;
  let y = r.y;
  if (area) {
    x = area.rect.x + 16;
    y = Math.min(Math.max(r.y, area.rect.y + 44), area.rect.y + area.rect.h - DEFAULT_NOTE_H - 16);
  }
  b.undo.stopCapturing();
  const frame = frameAt(b, x + DEFAULT_NOTE_W / 2, y + DEFAULT_NOTE_H / 2);
  const id = addNote(b, { x, y, color: "green", frame, kind: NOTE_KINDS.remedy, pair: obstacleId });
  transact(b, () => o.set(NOTE_FIELDS.pair, id));
  b.undo.stopCapturing();
  c.selectOnly([id]);
  c.editor.startEdit(id);
}

export function createNoteAt(c: CanvasHost, wx: number, wy: number): void {
  if (!c.canEdit) return;
  let x = Math.round(wx - DEFAULT_NOTE_W / 2);
  let y = Math.round(wy - DEFAULT_NOTE_H / 2);
  // Repeated "N" at the same spot cascades instead of stacking exactly.
  for (let i = 0; i < 30; i++) {
    let clash = false;
    c.board.notes.forEach((m) => {
      const r = noteRect(m);
      if (Math.abs(r.x - x) < 6 && Math.abs(r.y - y) < 6) clash = true;
    });
    if (!clash) break;
    x += 24;
    y += 24;
  }
  const frame = frameAt(c.board, x + DEFAULT_NOTE_W / 2, y + DEFAULT_NOTE_H / 2);
  const kind = kindForFrame(c.board, frame);
  if (c.workshop.isPrivate) {
    // Private writing: the note goes to the server alone, not into the shared doc.
    const n = c.workshop.addPrivate({ x, y, w: DEFAULT_NOTE_W, h: DEFAULT_NOTE_H, color: c.color, frame, kind });
    c.workshopUi.focusPrivate(n.id);
    return;
  }
  c.board.undo.stopCapturing();
  const id = addNote(c.board, { x, y, color: c.color, frame, kind });
  c.board.undo.stopCapturing();
  c.mine.add(id);
  c.selectOnly([id]);
  c.editor.startEdit(id);
}

/**
 * N: a note in free space of the area under the screen's centre, else of the current
 * step's first area, else near the centre; never on top of another note.
 */
export function createNoteAtCenter(c: CanvasHost): void {
  if (!c.canEdit) return;
  const b = c.board;
  const ctr = c.vp.center();
  let frame = frameAt(b, ctr.x, ctr.y);
  const stepIndex = c.workshop.state?.step;
  const step = stepIndex !== undefined ? c.workshop.state?.steps[stepIndex]?.id : undefined;
  if (step && (!frame || !str(b.frames.get(frame)!, FRAME_FIELDS.area))) {
    let first: string | null = null;
    let firstAt = Infinity;
    b.frames.forEach((m, id) => {
      if (str(m, FRAME_FIELDS.step) !== step || !str(m, FRAME_FIELDS.area)) return;
      const at = num(m, FRAME_FIELDS.createdAt, 0);
      if (at < firstAt) [first, firstAt] = [id, at];
    });
    if (first && (!frame || str(b.frames.get(frame)!, FRAME_FIELDS.step) === step)) frame = first;
  }
  const taken: Rect[] = [];
  b.notes.forEach((m) => taken.push(noteRect(m)));
  const area = { x: ctr.x - DEFAULT_NOTE_W, y: ctr.y - DEFAULT_NOTE_H, w: DEFAULT_NOTE_W * 4, h: DEFAULT_NOTE_H * 4 };
  // In an area: its free space, the area growing when full (not for a private note:
  // the server places those when they are revealed).
  const place = c.workshop.isPrivate ? planInFrame : placeInFrame;
  const spot = (frame ? place(b, frame, DEFAULT_NOTE_W, DEFAULT_NOTE_H) : null) ?? freeSpot(area, taken, DEFAULT_NOTE_W, DEFAULT_NOTE_H, 0, 0);
  createNoteAt(c, spot.x + DEFAULT_NOTE_W / 2, spot.y + DEFAULT_NOTE_H / 2);
  const m = c.shown.notes.get([...c.selNotes][0] ?? "");
  if (m) ensureVisible(c, [...c.selNotes][0]);
}

export function createFrameAtCenter(c: CanvasHost): void {
  if (!c.canEdit) return;
  const ctr = c.vp.center();
  const w = Math.min(NEW_FRAME.w, Math.max(MIN_FRAME.w, (c.vp.width * 0.8) / c.vp.zoom));
  const hh = Math.min(NEW_FRAME.h, Math.max(MIN_FRAME.h, (c.vp.height * 0.8) / c.vp.zoom));
  c.board.undo.stopCapturing();
  const id = addFrame(c.board, { x: ctr.x - w / 2, y: ctr.y - hh / 2, w, h: hh }, `Frame ${c.board.frames.size + 1}`);
  c.board.undo.stopCapturing();
  c.selectOnly([], [id]);
  const v = c.frames.get(id);
  if (v) {
    c.focusFromPointer = true;
    v.titleEl.focus({ preventScroll: true });
    c.focusFromPointer = false;
  }
}

export function deleteSelection(c: CanvasHost): void {
  if (!c.canEdit) return;
  if (!c.selNotes.size && !c.selFrames.size) return;
  c.board.undo.stopCapturing();
  deleteItems(c.board, [...c.selNotes], [...c.selFrames]);
  c.board.undo.stopCapturing();
  c.setSelection(new Set(), new Set());
  c.canvasEl.focus({ preventScroll: true });
}

export function moveSelection(c: CanvasHost, dx: number, dy: number): void {
  if (!c.canEdit) return;
  const { notes, frames } = movingSet(c);
  transact(c.board, () => {
    for (const [id, p] of frames) {
      const m = c.board.frames.get(id);
      if (m) setFramePos(m, p.x + dx, p.y + dy);
    }
    for (const [id, p] of notes) {
      const m = c.board.notes.get(id);
      if (m) setNotePos(m, p.x + dx, p.y + dy);
    }
  });
  assignFrames(c.board, c.selNotes);
  const first = [...c.selNotes][0];
  if (first) ensureVisible(c, first);
}

export function resizeSelection(c: CanvasHost, dw: number, dh: number): void {
  if (!c.canEdit) return;
  transact(c.board, () => {
    for (const id of c.selNotes) {
      const m = c.board.notes.get(id);
      if (!m) continue;
      const r = noteRect(m);
      setSize(m, Math.max(MIN_NOTE.w, r.w + dw), Math.max(MIN_NOTE.h, r.h + dh));
    }
    for (const id of c.selFrames) {
      const m = c.board.frames.get(id);
      if (!m) continue;
      const r = frameRect(m);
      setSize(m, Math.max(MIN_FRAME.w, r.w + dw), Math.max(MIN_FRAME.h, r.h + dh));
    }
  });
  for (const id of c.selFrames) refreshFrameMembers(c.board, id);
  assignFrames(c.board, c.selNotes);
}

export function undo(c: CanvasHost): void {
  if (!c.canEdit) return;
  c.board.undo.undo();
}

export function redo(c: CanvasHost): void {
  if (!c.canEdit) return;
  c.board.undo.redo();
}

export function fitContent(c: CanvasHost, onlyIfContent = false): void {
  let r: Rect | null = null;
  const grow = (q: Rect) => {
    if (!r) r = { ...q };
    else {
      const x2 = Math.max(r.x + r.w, q.x + q.w);
      const y2 = Math.max(r.y + r.h, q.y + q.h);
      r.x = Math.min(r.x, q.x);
      r.y = Math.min(r.y, q.y);
      r.w = x2 - r.x;
      r.h = y2 - r.y;
    }
  };
  c.shown.notes.forEach((m) => grow(noteRect(m)));
  c.shown.frames.forEach((m) => grow(frameRect(m)));
  if (r) c.vp.fit(r);
  else if (!onlyIfContent) c.vp.centerOn(0, 0, 1);
}

export function ensureVisible(c: CanvasHost, noteId: string): void {
  const m = c.shown.notes.get(noteId);
  if (!m) return;
  const r = noteRect(m);
  if (!c.vp.isVisible(r)) c.vp.centerOn(r.x + r.w / 2, r.y + r.h / 2);
}

/** Notes that move with the selection: selected ones and those in selected frames. */
export function movingSet(c: CanvasHost): { notes: Map<string, Pos>; frames: Map<string, Pos> } {
  const notes = new Map<string, Pos>();
  const frames = new Map<string, Pos>();
  for (const id of c.selFrames) {
    const f = c.shown.frames.get(id);
    if (f) frames.set(id, frameRect(f));
  }
  c.shown.notes.forEach((m, id) => {
    const f = noteFrame(m);
    if (c.selNotes.has(id) || (f && frames.has(f))) notes.set(id, noteRect(m));
  });
  return { notes, frames };
}
