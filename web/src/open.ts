import { AccessError, boardToken, getBoard, NotFoundError, rememberBoard } from "./api";
import { connectBoard, type Board } from "./board";
import { ensureIdentity, storedName } from "./identity";
import { accessPage, notFoundPage } from "./notfound";
import type { BoardInfo } from "./schema";

export interface OpenedBoard {
  board: Board;
  /** The board's metadata from the HTTP API (an Error when that failed). */
  info: Promise<BoardInfo | Error>;
  /** The access token the page was opened with, if any. */
  token: string | null;
}

/**
 * What the canvas and the capture page share: the link's token, the board's metadata,
 * the person's name (asked once), and the live connection. Resolves to null when a
 * refusal page was shown instead.
 */
export async function openBoard(root: HTMLElement, boardId: string): Promise<OpenedBoard | null> {
  const token = boardToken(boardId);
  const info: Promise<BoardInfo | Error> = getBoard(boardId, token).then(
    (i) => {
      rememberBoard({ id: i.id, title: i.title, created_at: i.created_at, token: token ?? undefined });
      return i;
    },
    (e: Error) => e,
  );
  if (!storedName()) {
    // Ask for a name only once the board is known to exist and open with this link.
    const i = await info;
    if (showRefusal(root, boardId, i)) return null;
    await ensureIdentity(i instanceof Error ? undefined : i.title);
  }
  const me = await ensureIdentity();
  return { board: connectBoard(boardId, me, token), info, token };
}

/** Shows the page for a refused board (not found, or not opened by this link). */
export function showRefusal(root: HTMLElement, boardId: string, why: unknown): boolean {
  if (why instanceof NotFoundError || why === "not-found") {
    notFoundPage(root, boardId);
    return true;
  }
  if (why instanceof AccessError || why === "access") {
    accessPage(root);
    return true;
  }
  return false;
}
