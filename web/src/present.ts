// The big-screen presentation view `/b/{id}/present`: the live board read-only, following
// the facilitator's viewport, with the current step, the shared timer, who speaks now,
// private writing, and a QR code that brings phones in the room to the capture page.
import { AccessError, boardToken, getBoard, NotFoundError } from "./api";
import { connectBoard, destroyBoard, str } from "./board";
import { connectionIndicator } from "./connection";
import { showRefusal } from "./open";
import { JoinCode } from "./present/qr";
import { Stage } from "./present/stage";
import { WorkshopStatus } from "./present/status";
import { PresentActions } from "./present/actions";
import { PresentVote } from "./present/vote";
import { META_FIELDS, type BoardInfo } from "./schema";
import { h, isTextInput, setTitle } from "./util";

/** The name the big screen's connection is recorded under. */
const SCREEN_NAME = "Big screen";
const QR_KEY = "commonboard.presentQr";
/** The pointer and the controls fade after this long without a move (a screen, not a desk). */
const IDLE_MS = 3000;

/** The page's own stylesheet, added once (app.css is loaded by index.html). */
function loadStyles(): void {
  if (document.querySelector('link[data-style="present"]')) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/present.css", "data-style": "present" }));
}

function qrWanted(): boolean {
  try {
    return localStorage.getItem(QR_KEY) !== "hidden";
  } catch {
    return true;
  }
}

function rememberQr(shown: boolean): void {
  try {
    localStorage.setItem(QR_KEY, shown ? "shown" : "hidden");
  } catch {
    /* a preference only */
  }
}

export async function mountPresent(root: HTMLElement, boardId: string): Promise<void> {
  loadStyles();
  document.body.dataset.page = "present";
  setTitle("Presentation");
  const token = boardToken(boardId);
  let info: BoardInfo | null = null;
  try {
    info = await getBoard(boardId, token);
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof AccessError) {
      showRefusal(root, boardId, err);
      return;
    }
    // Anything else (the API briefly unreachable): the socket says more, and retries.
    console.error(err);
  }

  // The big screen takes part in no editing: no name to ask, no presence to show.
  const board = connectBoard(boardId, { name: SCREEN_NAME, color: "#455a64" }, token);
  board.provider.awareness.setLocalState(null);
  const app = board.app;

  const stage = new Stage(board.notes, board.frames);
  const status = new WorkshopStatus(() => app.serverNow());
  const join = new JoinCode();
  join.el.id = "present-qr";

  const title = h("h1", { class: "present-title" }, info?.title ?? "Board");
  const renderTitle = () => {
    const t = str(board.meta, META_FIELDS.title) || info?.title || "Board";
    title.textContent = t;
    setTitle(`Presenting · ${t}`);
  };
  board.meta.observe(renderTitle);
  renderTitle();

  const vote = new PresentVote(board);
  const actions = new PresentActions(board);
  const side = h("aside", { class: "present-side", "aria-label": "Workshop" }, status.turns, vote.goal, actions.el, vote.el, status.writing, join.el);
  const layout = () => {
    side.hidden = [status.turns, status.writing, join.el, vote.el, vote.goal, actions.el].every((el) => el.hidden);
  };
  status.onLayout = layout;
  vote.onLayout = layout;
  actions.onLayout = layout;
  // Everyone in the room sees when the facilitator locked the board.
  const lockedBadge = h("p", { class: "present-locked", role: "status", hidden: true }, "Board locked");
  app.on("welcome", (m) => (lockedBadge.hidden = !m.locked));
  app.on("board_state", (m) => (lockedBadge.hidden = !m.locked));

  let dead = false;
  const refused = (why: unknown) => {
    if (dead) return;
    if (showRefusal(root, boardId, why)) {
      dead = true;
      destroyBoard(board);
    }
  };
  const conn = connectionIndicator(board.provider, refused);

  const follow = h("p", { class: "present-follow", role: "status" }, "Showing the whole board");
  const fullBtn = h(
    "button",
    { type: "button", class: "present-button", "aria-keyshortcuts": "F", "aria-pressed": "false" },
    "Full screen (F)",
  );
  const qrBtn = h(
    "button",
    { type: "button", class: "present-button", "aria-keyshortcuts": "Q", "aria-controls": "present-qr", "aria-expanded": "true" },
    "Hide QR code (Q)",
  );
  const controls = h("div", { class: "present-controls", role: "group", "aria-label": "Presentation controls" }, follow, fullBtn, qrBtn, conn);

  const page = h(
    "div",
    { class: "present-page read-only" },
    h("header", { class: "present-top" }, h("div", { class: "present-heading" }, title, status.step), lockedBadge, status.timer),
    stage.host,
    side,
    controls,
  );
  root.replaceChildren(page);

  // ------------------------------------------------------------ QR code
  const showQr = (shown: boolean) => {
    join.el.hidden = !shown;
    qrBtn.textContent = shown ? "Hide QR code (Q)" : "Show QR code (Q)";
    qrBtn.setAttribute("aria-expanded", String(shown));
    layout();
  };
  const toggleQr = () => {
    const shown = !!join.el.hidden;
    rememberQr(shown);
    showQr(shown);
  };
  qrBtn.addEventListener("click", toggleQr);
  showQr(qrWanted());
  void join.load(boardId, token);

  // ------------------------------------------------------------ full screen
  const fullscreenOk = typeof document.documentElement.requestFullscreen === "function";
  fullBtn.hidden = !fullscreenOk;
  const toggleFullscreen = () => {
    if (!fullscreenOk) return;
    const p = document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen();
    p.catch((err: unknown) => console.warn("full screen refused", err));
  };
  fullBtn.addEventListener("click", toggleFullscreen);
  document.addEventListener("fullscreenchange", () => {
    const on = !!document.fullscreenElement;
    fullBtn.setAttribute("aria-pressed", String(on));
    fullBtn.textContent = on ? "Leave full screen (F)" : "Full screen (F)";
  });

  document.addEventListener("keydown", (e) => {
    if (dead || e.ctrlKey || e.metaKey || e.altKey || e.repeat || isTextInput(e.target)) return;
    if (e.key === "f" || e.key === "F") {
      e.preventDefault();
      toggleFullscreen();
    } else if (e.key === "q" || e.key === "Q") {
      e.preventDefault();
      toggleQr();
    }
  });

  // The pointer and the controls get out of the way until someone moves the mouse.
  let idleTimer = 0;
  const awake = () => {
    page.classList.remove("idle");
    clearTimeout(idleTimer);
    idleTimer = window.setTimeout(() => page.classList.add("idle"), IDLE_MS);
  };
  for (const type of ["pointermove", "pointerdown", "keydown"]) document.addEventListener(type, awake, { passive: true });
  awake();

  // ------------------------------------------------------------ the workshop, the view
  app.on("workshop", (m) => {
    status.show(m.state);
    const i = m.state.step;
    const step = i !== undefined && i !== null ? (m.state.steps[i]?.id ?? null) : null;
    stage.markStep(step);
    actions.showStep(step);
  });
  app.on("viewport", (m) => {
    stage.follow(m.viewport);
    follow.textContent = "Following the facilitator";
  });

  let firstSync = true;
  board.provider.on("sync", (synced: boolean) => {
    if (!synced || !firstSync) return;
    firstSync = false;
    if (!stage.following) stage.fitAll();
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        document.documentElement.dataset.ready = "true";
      }),
    );
  });
  layout();
}
