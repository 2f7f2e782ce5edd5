import { forgetBoard } from "./api";
import { h, setTitle } from "./util";

/** The page shown for a board that does not exist (HTTP 404 or WebSocket close 4404). */
export function notFoundPage(root: HTMLElement, boardId: string): void {
  forgetBoard(boardId);
  problemPage(
    root,
    "Board not found",
    "This board does not exist, or the link is incomplete. Check the link you were given, or ask the facilitator for a new one.",
  );
}

/** The page shown when the link does not open the board (no token, expired or revoked). */
export function accessPage(root: HTMLElement): void {
  problemPage(
    root,
    "This link does not open the board",
    "Boards are opened with the link the facilitator shares. This one is missing its access token, has expired, or was replaced by a new link: ask the facilitator for the current one.",
  );
}

function problemPage(root: HTMLElement, title: string, text: string): void {
  setTitle(title);
  document.body.dataset.page = "problem";
  root.replaceChildren(
    h(
      "main",
      { class: "page narrow problem", role: "alert" },
      h("h1", {}, title),
      h("p", {}, text),
      h("p", {}, h("a", { href: "/", class: "button primary" }, "Go to the home page")),
    ),
  );
}
