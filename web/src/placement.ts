/**
 * Where a new note goes (the same rule as the server's `placement.rs`): the first free
 * place inside its area, row by row, never on top of another note. A full area grows
 * downward by a row, and whatever lies below it in its column (the next area and its
 * notes) moves down by as much, so a note never covers another area or its title.
 */

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A frame or a note: its id and where it is. */
export interface Item {
  id: string;
  r: Rect;
}

/** Space kept free around a note, in canvas pixels. */
const GAP = 12;
/** Margin inside an area's sides and bottom. */
export const PAD = 16;
/** Room left at the top of an area for its title. */
export const TITLE = 44;
/** Rows an area may grow by for one note before giving up. */
const MAX_ROWS = 200;

const bottom = (r: Rect) => r.y + r.h;

/** Whether the two overlap once each keeps half the gap around it. */
function crowds(a: Rect, b: Rect): boolean {
  const half = GAP / 2;
  return a.x < b.x + b.w + half && a.x + a.w + half > b.x && a.y < b.y + b.h + half && a.y + a.h + half > b.y;
}

function sharesColumn(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.w && a.x + a.w > b.x;
}

function holds(a: Rect, b: Rect): boolean {
  return a.x <= b.x && a.y <= b.y && a.x + a.w >= b.x + b.w && bottom(a) >= bottom(b);
}

/**
 * The top-left corner of the first place of `w` by `h` inside `area` (below `top`) that
 * crowds none of `taken`, scanning rows from the top left in half-note steps; null when
 * there is none.
 */
export function scan(area: Rect, taken: Rect[], w: number, h: number, pad = PAD, top = TITLE): { x: number; y: number } | null {
  const x0 = area.x + pad;
  const y0 = area.y + top;
  const maxX = Math.max(x0, area.x + area.w - pad - w);
  const maxY = Math.max(y0, area.y + area.h - pad - h);
  const stepX = Math.max(1, Math.round(w / 2 + GAP / 2));
  const stepY = Math.max(1, Math.round(h / 2 + GAP / 2));
  for (let y = y0; y <= maxY; y += stepY) {
    for (let x = x0; x <= maxX; x += stepX) {
      const spot = { x, y, w, h };
      if (!taken.some((r) => crowds(spot, r))) return { x, y };
    }
  }
  return null;
}

/** The frames (by index) that hold the frame `area`, such as the step around an area. */
function holders(frames: Item[], area: number): number[] {
  const rect = frames[area]!.r;
  return frames.flatMap((f, i) => (i !== area && holds(f.r, rect) ? [i] : []));
}

/**
 * What lies below `area` in its column and moves down when it grows: frames and notes
 * (by index) whose top is at or below the area's bottom and which share a column with
 * the area, with a frame already moving, or with a frame that holds the area (and so
 * grows with it) but not them.
 */
function below(frames: Item[], notes: Item[], area: number): { frames: number[]; notes: number[] } {
  const rect = frames[area]!.r;
  const edge = bottom(rect) - 0.5;
  const holding = holders(frames, area);
  const moving: number[] = [];
  const pushed = (item: Rect) =>
    item.y >= edge &&
    (sharesColumn(item, rect) ||
      moving.some((j) => sharesColumn(frames[j]!.r, item)) ||
      holding.some((j) => !holds(frames[j]!.r, item) && sharesColumn(frames[j]!.r, item)));
  for (let round = 0; round < frames.length; round++) {
    const before = moving.length;
    frames.forEach((f, i) => {
      if (i !== area && !moving.includes(i) && !holding.includes(i) && pushed(f.r)) moving.push(i);
    });
    if (moving.length === before) break;
  }
  return { frames: moving, notes: notes.flatMap((n, i) => (pushed(n.r) ? [i] : [])) };
}

/** What placing a note changed besides the note: frames grown or moved, notes moved. */
export interface Layout {
  frames: Item[];
  notes: Item[];
}

/**
 * A place for a note of `w` by `h` in the frame `frames[area]`: free space inside it,
 * else inside it once grown by as many rows as needed, with what lies below moved down
 * and the frames holding it grown by as much. `frames` and `notes` are not changed.
 */
export function placeInArea(frames: Item[], notes: Item[], area: number, w: number, h: number): { x: number; y: number; layout: Layout } {
  const rect = frames[area]!.r;
  const none: Layout = { frames: [], notes: [] };
  const inside = scan(rect, notes.map((n) => n.r), w, h);
  if (inside) return { ...inside, layout: none };
  const moving = below(frames, notes, area);
  const holding = holders(frames, area);
  const staying = notes.filter((_, i) => !moving.notes.includes(i)).map((n) => n.r);
  const row = h + GAP;
  for (let rows = 1; rows <= MAX_ROWS; rows++) {
    const dy = rows * row;
    const spot = scan({ ...rect, h: rect.h + dy }, staying, w, h);
    if (!spot) continue;
    const layout: Layout = { frames: [], notes: [] };
    frames.forEach((f, i) => {
      if (i === area || holding.includes(i)) layout.frames.push({ id: f.id, r: { ...f.r, h: f.r.h + dy } });
      else if (moving.frames.includes(i)) layout.frames.push({ id: f.id, r: { ...f.r, y: f.r.y + dy } });
    });
    for (const i of moving.notes) layout.notes.push({ id: notes[i]!.id, r: { ...notes[i]!.r, y: notes[i]!.r.y + dy } });
    return { ...spot, layout };
  }
  return { x: rect.x + PAD, y: bottom(rect), layout: none };
}
