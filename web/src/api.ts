import type { BoardInfo, CreateBoardRequest } from "./schema";
import type { TemplateInfo } from "./generated/protocol";

export class NotFoundError extends Error {}
/** The board exists but this link does not open it (no token, expired, revoked). */
export class AccessError extends Error {}

/** The server's `{error}` message of a failed response, else its status. */
export async function errorText(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: string };
    if (body && typeof body.error === "string") return body.error;
  } catch {
    /* not JSON */
  }
  return `HTTP ${res.status}`;
}

export async function createBoard(req: CreateBoardRequest): Promise<BoardInfo> {
  const res = await fetch("/api/boards", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(req),
  });
  if (!res.ok) throw new Error(await errorText(res));
  return (await res.json()) as BoardInfo;
}

export async function listTemplates(): Promise<TemplateInfo[]> {
  const res = await fetch("/api/templates", { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(await errorText(res));
  const body = (await res.json()) as TemplateInfo[] | { templates?: TemplateInfo[] };
  return Array.isArray(body) ? body : (body.templates ?? []);
}

/** Request headers carrying the link's access token, when there is one. */
export function authHeaders(token: string | null, accept = "application/json"): Record<string, string> {
  const headers: Record<string, string> = { accept };
  if (token) headers.authorization = `Bearer ${token}`;
  return headers;
}

export async function getBoard(id: string, token: string | null): Promise<BoardInfo> {
  const headers = authHeaders(token);
  const res = await fetch(`/api/boards/${encodeURIComponent(id)}`, { headers });
  if (res.status === 404) throw new NotFoundError(await errorText(res));
  if (res.status === 401 || res.status === 403) throw new AccessError(await errorText(res));
  if (!res.ok) throw new Error(await errorText(res));
  return (await res.json()) as BoardInfo;
}

/** Boards this browser created or opened, newest first. */
export interface KnownBoard {
  id: string;
  title: string;
  created_at?: string;
  opened_at: number;
  created_here?: boolean;
  /** The access token this browser opened the board with, if any. */
  token?: string;
}

const BOARDS_KEY = "commonboard.boards";

export function knownBoards(): KnownBoard[] {
  try {
    const raw = localStorage.getItem(BOARDS_KEY);
    const list = raw ? (JSON.parse(raw) as KnownBoard[]) : [];
    return Array.isArray(list) ? list.filter((b) => b && typeof b.id === "string") : [];
  } catch {
    return [];
  }
}

export function rememberBoard(b: Omit<KnownBoard, "opened_at">): void {
  const list = knownBoards();
  const prev = list.find((x) => x.id === b.id);
  const entry: KnownBoard = {
    ...prev,
    ...b,
    created_here: b.created_here || prev?.created_here,
    token: b.token || prev?.token,
    opened_at: Date.now(),
  };
  const next = [entry, ...list.filter((x) => x.id !== b.id)].slice(0, 50);
  try {
    localStorage.setItem(BOARDS_KEY, JSON.stringify(next));
  } catch {
    /* storage full or disabled: the list is a convenience only */
  }
}

export function forgetBoard(id: string): void {
  try {
    localStorage.setItem(BOARDS_KEY, JSON.stringify(knownBoards().filter((b) => b.id !== id)));
  } catch {
    /* ignore */
  }
}

// ---------------------------------------------------------------- access tokens

/**
 * The token this page opens the board with. A shared participant link names no person:
 * the server gives each new connection one, with a personal token this browser keeps
 * per board, so once it has one it opens the board as that person (a reload, another
 * network). A personal link in the URL (another device's QR code) is that person's own.
 * Any other link of the page (facilitator, viewer, presenter) is used as it is.
 */
export function boardToken(boardId: string): string | null {
  const fromUrl = new URLSearchParams(location.search).get("token");
  const personal = personalToken(boardId);
  // A person kept from before the facilitator rotated the shared link is refused now:
  // the new link makes a new person.
  if (fromUrl) return personal && isSharedParticipant(fromUrl) && sameLinks(personal, fromUrl) ? personal : fromUrl;
  return personal ?? knownBoards().find((b) => b.id === boardId)?.token ?? null;
}

const PERSON_KEY = "commonboard.person.";

/** The personal token this browser keeps for a board, if it was given one. */
export function personalToken(boardId: string): string | null {
  try {
    return localStorage.getItem(PERSON_KEY + boardId);
  } catch {
    return null;
  }
}

/** Keeps the personal token the server issued for this browser's person on a board. */
export function savePersonalToken(boardId: string, token: string): void {
  try {
    localStorage.setItem(PERSON_KEY + boardId, token);
  } catch {
    /* private mode: the person lasts as long as the page */
  }
}

/** Whether two tokens were issued under the same links generation. */
function sameLinks(a: string, b: string): boolean {
  const [x, y] = [claimsOf(a), claimsOf(b)];
  return x?.g !== undefined && x.g === y?.g;
}

/** What a token's (signed, not secret) payload says: its role, person and links generation. */
function claimsOf(token: string): { r?: string; i?: string; g?: number } | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json) as { r?: string; i?: string; g?: number };
  } catch {
    return null;
  }
}

/** Whether a token is a person's own (a participant with a person). */
export function isPersonal(token: string): boolean {
  const claims = claimsOf(token);
  return claims?.r === "participant" && !!claims.i;
}

/** Whether a token is the shared participant link (a participant without a person). */
export function isSharedParticipant(token: string): boolean {
  const claims = claimsOf(token);
  return claims?.r === "participant" && !claims.i;
}

/** `POST /api/boards/{id}/presenter` (facilitator): the big screen's link. */
export async function createPresenterLink(boardId: string, token: string | null): Promise<string> {
  const res = await fetch(`/api/boards/${encodeURIComponent(boardId)}/presenter`, {
    method: "POST",
    headers: authHeaders(token),
  });
  if (!res.ok) throw new Error(await errorText(res));
  const body = (await res.json()) as { url: string };
  return body.url;
}

/** The token carried by a link such as `/b/ID?token=…`. */
export function tokenOf(link: string | undefined): string | null {
  if (!link) return null;
  try {
    return new URL(link, location.origin).searchParams.get("token");
  } catch {
    return null;
  }
}

/** `path` with `?token=` added when there is one. */
export function withToken(path: string, token: string | null): string {
  return token ? `${path}?token=${encodeURIComponent(token)}` : path;
}


