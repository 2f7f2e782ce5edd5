import type * as Y from "yjs";

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

export interface TextChange {
  index: number;
  remove: number;
  insert: string;
}

/**
 * The smallest single replacement turning `prev` into `next`: their common prefix and
 * suffix stay, the middle is replaced. Never splits a surrogate pair.
 */
export function diffText(prev: string, next: string): TextChange | null {
  if (prev === next) return null;
  const min = Math.min(prev.length, next.length);
  let start = 0;
  while (start < min && prev.charCodeAt(start) === next.charCodeAt(start)) start++;
  if (start > 0 && isHigh(prev.charCodeAt(start - 1))) start--;
  let endPrev = prev.length;
  let endNext = next.length;
  while (
    endPrev > start &&
    endNext > start &&
    prev.charCodeAt(endPrev - 1) === next.charCodeAt(endNext - 1)
  ) {
    endPrev--;
    endNext--;
  }
  if (endPrev < prev.length && isLow(prev.charCodeAt(endPrev))) {
    endPrev++;
    endNext++;
  }
  return { index: start, remove: endPrev - start, insert: next.slice(start, endNext) };
}

/** Applies `next` to a Y.Text as a minimal delete + insert (call inside a transaction). */
export function applyText(ytext: Y.Text, next: string): void {
  const change = diffText(ytext.toString(), next);
  if (!change) return;
  if (change.remove > 0) ytext.delete(change.index, change.remove);
  if (change.insert.length > 0) ytext.insert(change.index, change.insert);
}

type DeltaOp = { insert?: unknown; retain?: number; delete?: number };

/** Where a caret at `index` ends up after a (remote) Y.Text delta. */
export function transformIndex(delta: DeltaOp[], index: number): number {
  let oldPos = 0;
  let result = index;
  for (const op of delta) {
    if (oldPos > index) break;
    if (op.retain !== undefined) {
      oldPos += op.retain;
    } else if (op.insert !== undefined) {
      const len = typeof op.insert === "string" ? op.insert.length : 1;
      if (oldPos < index) result += len;
    } else if (op.delete !== undefined) {
      if (oldPos < index) result -= Math.min(op.delete, index - oldPos);
      oldPos += op.delete;
    }
  }
  return Math.max(0, result);
}
