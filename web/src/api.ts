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

/** The access token of the page's link (`?token=`), else the one remembered for the board. */
export function boardToken(boardId: string): string | null {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) return fromUrl;
  return knownBoards().find((b) => b.id === boardId)?.token ?? null;
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

/** A stable random id for this browser (the server's identity for open boards). */
export function browserId(): string {
  const key = "commonboard.user";
  try {
    let id = localStorage.getItem(key);
    if (!id) {
      const b = new Uint8Array(8);
      crypto.getRandomValues(b);
      id = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(key, id);
    }
    return id;
  } catch {
    return "";
  }
}
