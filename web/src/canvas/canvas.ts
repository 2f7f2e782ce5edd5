import * as Y from "yjs";
import {
  addFrame,
  addNote,
  assignFrames,
  deleteItems,
  ensureText,
  frameAt,
  frameRect,
  freeSpot,
  moveOffOthers,
  num,
  noteColor,
  noteFrame,
  noteRect,
  noteText,
  refreshFrameMembers,
  setColor,
  setFrameTitle,
  setFramePos,
  setNotePos,
  setSize,
  str,
  transact,
  type Board,
  type Rect,
  type YMap,
} from "../board";
import { createPresenterLink, tokenOf, withToken } from "../api";
import { connectionIndicator } from "../connection";
import { askName, userColor } from "../identity";
import { DEFAULT_NOTE_H, DEFAULT_NOTE_W, FRAME_FIELDS, META_FIELDS, NOTE_FIELDS, NOTE_COLORS, ROOTS, type BoardInfo, type NoteColor } from "../schema";
import { applyText, transformIndex } from "../textdiff";
import { h, isTextInput, setTitle } from "../util";
import { Presence, type Person } from "./presence";
import { moveGrid, Viewport } from "./viewport";
import { showShareDialog } from "./share";
import { myPhoneButton } from "./my-phone";
import { openBoard, showRefusal } from "../open";
import { decorateNote, VoteModel, votePanel } from "../vote";
import { showVoteDialog } from "./vote-dialog";
import type { HistoryHost, HistoryMode } from "../history/panel";
import { restoredNotice } from "../history/notice";
import type { Role } from "../generated/protocol";
import { NOTE_KINDS } from "../generated/protocol";
import { areaFrame, kindForFrame, WorkshopModel } from "../workshop";
import { WorkshopUi, type WorkshopHost } from "./workshop-bar";

interface NoteView {
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
interface Shown {
  notes: Y.Map<YMap>;
  frames: Y.Map<YMap>;
}

interface FrameView {
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

type Gesture =
  | { kind: "pan"; pointerId: number; lastX: number; lastY: number; startX: number; startY: number; moved: boolean; hitKey: string }
  | {
      kind: "drag";
      pointerId: number;
      startX: number;
      startY: number;
      moved: boolean;
      notes: Map<string, { x: number; y: number }>;
      frames: Map<string, { x: number; y: number }>;
      direct: Set<string>;
      dx: number;
      dy: number;
      hitKey: string;
      collapseTo: { kind: "note" | "frame"; id: string } | null;
    }
  | { kind: "resize"; pointerId: number; target: "note" | "frame"; id: string; startX: number; startY: number; w: number; h: number; dw: number; dh: number; moved: boolean }
  | { kind: "band"; pointerId: number; start: { x: number; y: number }; base: Set<string>; baseFrames: Set<string> }
  | { kind: "pinch"; startDist: number; startZoom: number; anchor: { x: number; y: number } };

const MIN_NOTE = { w: 80, h: 60 };
const MIN_FRAME = { w: 160, h: 120 };
const NEW_FRAME = { w: 560, h: 400 };
const COLOR_KEY = "commonboard.noteColor";
const COLOR_LABEL: Record<NoteColor, string> = {
  yellow: "Yellow",
  pink: "Pink",
  green: "Green",
  blue: "Blue",
  orange: "Orange",
  purple: "Purple",
};

function defaultColor(): NoteColor {
  try {
    const c = localStorage.getItem(COLOR_KEY);
    if (c && (NOTE_COLORS as readonly string[]).includes(c)) return c as NoteColor;
  } catch {
    /* ignore */
  }
  return "yellow";
}

/** The board page: `/b/{id}`. */
export async function mountCanvas(root: HTMLElement, boardId: string): Promise<void> {
  const opened = await openBoard(root, boardId);
  if (opened) new CanvasView(root, opened.board, opened.info, opened.token);
}

class CanvasView implements HistoryHost, WorkshopHost {
  #host: HTMLElement;
  #world: HTMLElement;
  #framesLayer: HTMLElement;
  #notesLayer: HTMLElement;
  #cursorLayer: HTMLElement;
  #band: HTMLElement;
  #shield: HTMLElement;
  #grid: HTMLElement;
  #gridSize = 0;
  #vp: Viewport;
  #presence: Presence;
  #titleEl: HTMLElement;
  #zoomLabel: HTMLButtonElement;
  #deleteBtn: HTMLButtonElement;
  #undoBtn: HTMLButtonElement;
  #redoBtn: HTMLButtonElement;
  #colorBtns = new Map<NoteColor, HTMLButtonElement>();
  #meBtn: HTMLButtonElement;

  #notes = new Map<string, NoteView>();
  #frames = new Map<string, FrameView>();
  #selNotes = new Set<string>();
  #selFrames = new Set<string>();
  #color: NoteColor = defaultColor();

  #editing: {
    id: string;
    area: HTMLTextAreaElement;
    text: Y.Text;
    observer: (e: Y.YTextEvent) => void;
    composing: boolean;
  } | null = null;
  #editingFrame: string | null = null;

  #pointers = new Map<number, { x: number; y: number }>();
  #gesture: Gesture | null = null;
  #spaceDown = false;
  #lastTap: { t: number; x: number; y: number; key: string } | null = null;
  #dragFrame = 0;
  #interacted = false;
  #focusFromPointer = false;
  #apiTitle = "";
  #dead = false;
  #canEdit = true;
  #roleEditable = true;
  #page!: HTMLElement;
  #votes: VoteModel;
  /** Notes carrying vote controls or the common-goal badge. */
  #voteNotes = new Set<string>();
  #voteBtn!: HTMLButtonElement;

  #root: HTMLElement;

  #board: Board;
  /** The notes and frames on screen: the live board's, or a historical doc's (read-only). */
  #shown: Shown;
  #historical = false;
  #unobserveShown: () => void = () => {};
  /** Inside `batch`: changed ids wait here and render once at its end. */
  #batching = 0;
  #dirtyNotes = new Set<string>();
  #dirtyFrames = new Set<string>();
  /** Notes outlined as changed by the history update(s) shown, with their author. */
  #marked = new Map<string, string>();
  /** History mode, loaded on the first use of its button. */
  #history: Promise<HistoryMode> | null = null;
  #historyBtn: HTMLButtonElement;
  /** The link's access token, if any (the history API wants it too). */
  #token: string | null;
  #role: Role | null = null;
  #workshop: WorkshopModel;
  #workshopUi: WorkshopUi;

  constructor(root: HTMLElement, board: Board, infoP: Promise<BoardInfo | Error>, token: string | null) {
    this.#root = root;
    this.#board = board;
    this.#shown = { notes: board.notes, frames: board.frames };
    this.#token = token;
    const b = board;
    this.#titleEl = h("h1", { class: "board-title" }, "Board");
    this.#world = h("div", { class: "world" });
    this.#framesLayer = h("div", { class: "frames-layer" });
    this.#notesLayer = h("div", { class: "notes-layer" });
    this.#band = h("div", { class: "band", hidden: true, "aria-hidden": "true" });
    this.#cursorLayer = h("div", { class: "cursors-layer", "aria-hidden": "true" });
    // Notes come first in the tab order (frames draw below them by z-index, see app.css).
    this.#world.append(this.#notesLayer, this.#framesLayer, this.#band, this.#cursorLayer);
    const help = h(
      "p",
      { class: "help", id: "canvas-help" },
      "Double-click or N: new note · F: frame · Enter: edit · arrows: move · Delete: remove · drag: pan · Shift+drag: select · wheel: zoom",
    );
    // Covers the canvas while panning, so pointer moves hit-test one element, not every note.
    this.#shield = h("div", { class: "pan-shield", hidden: true, "aria-hidden": "true" });
    this.#grid = h("div", { class: "grid", "aria-hidden": "true" });
    this.#host = h(
      "main",
      { class: "viewport", tabindex: 0, "aria-label": "Board canvas", "aria-describedby": "canvas-help" },
      this.#grid,
      this.#world,
      this.#shield,
    );

    // Toolbar.
    const btn = (label: string, text: string, onClick: () => void, extra: Record<string, string> = {}) => {
      const el = h("button", { type: "button", class: "tool", "aria-label": label, title: label, ...extra }, text);
      el.addEventListener("click", onClick);
      return el;
    };
    const addNoteBtn = btn("Add note (N)", "+ Note", () => this.#createNoteAtCenter(), { "aria-keyshortcuts": "N" });
    const addFrameBtn = btn("Add frame (F)", "+ Frame", () => this.#createFrameAtCenter(), { "aria-keyshortcuts": "F" });
    const palette = h("div", { class: "palette", role: "group", "aria-label": "Note colour" });
    for (const c of NOTE_COLORS) {
      const el = h("button", {
        type: "button",
        class: `tool swatch note-${c}`,
        "aria-label": `${COLOR_LABEL[c]} note colour`,
        title: COLOR_LABEL[c],
        "aria-pressed": String(c === this.#color),
      });
      el.addEventListener("click", () => this.#pickColor(c));
      this.#colorBtns.set(c, el);
      palette.append(el);
    }
    this.#deleteBtn = btn("Delete selected (Delete)", "Delete", () => this.#deleteSelection(), { "aria-keyshortcuts": "Delete" });
    this.#undoBtn = btn("Undo (Ctrl+Z)", "↶", () => this.#undo(), { "aria-keyshortcuts": "Control+Z" });
    this.#redoBtn = btn("Redo (Ctrl+Shift+Z)", "↷", () => this.#redo(), { "aria-keyshortcuts": "Control+Shift+Z" });
    const zoomOut = btn("Zoom out (-)", "−", () => this.#vp.zoomCenter(1 / 1.25));
    this.#zoomLabel = btn("Reset zoom to 100% (0)", "100%", () => this.#vp.zoomCenter(1 / this.#vp.zoom));
    const zoomIn = btn("Zoom in (+)", "+", () => this.#vp.zoomCenter(1.25));
    const fit = btn("Fit board to screen", "⤢", () => this.#fitContent());
    const captureBase = `/b/${encodeURIComponent(b.id)}/capture`;
    const capture = h(
      "a",
      { class: "tool", href: withToken(captureBase, token), target: "_blank", rel: "noopener", title: "Phone capture page", "aria-label": "Open phone capture page" },
      "Capture",
    );
    for (const el of [addNoteBtn, addFrameBtn, palette, this.#deleteBtn, this.#undoBtn, this.#redoBtn]) el.classList.add("edit-tool");
    const viewOnly = h("span", { class: "view-only", title: "This link shows the board without changing it" }, "View only");
    const historyBadge = h("span", { class: "history-badge", title: "The board as it was; the live board goes on meanwhile" }, "Viewing history");
    const share = h("button", { type: "button", class: "tool share", hidden: true, "aria-haspopup": "dialog" }, "Share");
    this.#votes = new VoteModel(b);
    this.#workshop = new WorkshopModel(b);
    this.#workshopUi = new WorkshopUi(this.#workshop, this, token);
    // Tests read the workshop as the server reported it (steps, timer, private notes).
    const exposed = (window as unknown as { __commonboard?: Record<string, unknown> }).__commonboard;
    if (exposed) exposed.workshop = this.#workshop;
    this.#historyBtn = h(
      "button",
      { type: "button", class: "tool history-toggle", "aria-expanded": "false", "aria-controls": "history-panel", "aria-keyshortcuts": "H", title: "History (H)" },
      "History",
    );
    this.#historyBtn.addEventListener("click", () => this.#toggleHistory());
    this.#voteBtn = h("button", { type: "button", class: "tool vote-open", "aria-haspopup": "dialog", title: "Select candidate notes first" }, "Vote on selected notes");
    this.#voteBtn.addEventListener("click", () => this.#openVoteDialog());
    const lockBtn = h("button", { type: "button", class: "tool lock", "aria-pressed": "false" }, "Lock board");
    lockBtn.addEventListener("click", () => this.#votes.send({ type: "lock", locked: !this.#votes.locked }));
    const facilitatorTools = h("div", { class: "facilitator-tools", role: "group", "aria-label": "Facilitator", hidden: true }, this.#voteBtn, lockBtn);
    const lockedBadge = h("span", { class: "locked-badge", hidden: true, title: "Only the facilitator can change the board now" }, "Locked");
    const toolbar = h(
      "div",
      { class: "toolbar", role: "toolbar", "aria-label": "Board tools" },
      addNoteBtn,
      addFrameBtn,
      palette,
      this.#deleteBtn,
      h("span", { class: "sep", "aria-hidden": "true" }),
      this.#undoBtn,
      this.#redoBtn,
      h("span", { class: "sep", "aria-hidden": "true" }),
      zoomOut,
      this.#zoomLabel,
      zoomIn,
      fit,
      capture,
      h("span", { class: "sep", "aria-hidden": "true" }),
      this.#historyBtn,
    );
    rovingToolbar(toolbar);

    const avatars = h("ul", { class: "avatars", "aria-label": "People on this board" });
    const conn = connectionIndicator(b.provider, (why) => this.#refused(why), b.delivery);
    this.#meBtn = h("button", { type: "button", class: "me", title: "Change your name" }, b.me.name);
    this.#meBtn.addEventListener("click", () => this.#rename());
    // Keyboard users reach the notes without walking through the toolbar and frames.
    const skip = h("a", { class: "skip-link", href: "#" }, "Skip to the notes");
    skip.addEventListener("click", (e) => {
      e.preventDefault();
      const first = this.#notesLayer.querySelector<HTMLElement>(".note");
      (first ?? this.#host).focus();
    });
    const header = h(
      "header",
      { class: "topbar" },
      h("a", { class: "home-link", href: "/", "aria-label": "Commonboard home" }, "◧"),
      this.#titleEl,
      toolbar,
      h("div", { class: "topbar-right" }, facilitatorTools, lockedBadge, viewOnly, historyBadge, share, avatars, myPhoneButton(b), this.#meBtn, conn),
    );
    this.#page = h(
      "div",
      { class: "board-page" },
      skip,
      header,
      this.#workshopUi.bar,
      this.#workshopUi.followBar,
      this.#host,
      help,
      votePanel(this.#votes, false),
      this.#workshopUi.panels,
      restoredNotice(b.app),
    );
    b.app.on("restored", () => void this.#history?.then((m) => m.refresh()));
    this.#votes.onChange(() => {
      const v = this.#votes;
      facilitatorTools.hidden = v.role !== "facilitator";
      lockBtn.setAttribute("aria-pressed", String(v.locked));
      lockBtn.textContent = v.locked ? "Unlock board" : "Lock board";
      lockedBadge.hidden = !v.locked;
      if (v.role) this.#setRole(v.role);
      if (v.role) this.#applyEditable();
      this.#decorateVoteNotes();
    });
    root.replaceChildren(this.#page);
    // Panels floating over the canvas start below the top bar and the workshop bar, whose
    // heights change as they wrap.
    const chrome = new ResizeObserver(() => {
      const hgt = header.offsetHeight + (this.#workshopUi.bar.hidden ? 0 : this.#workshopUi.bar.offsetHeight);
      this.#page.style.setProperty("--chrome-h", `${hgt}px`);
    });
    chrome.observe(header);
    chrome.observe(this.#workshopUi.bar);
    // With a token the role is unknown until the server says: read-only until then.
    this.#roleEditable = !token;
    this.#setEditable(!token);
    document.body.dataset.page = "board";

    this.#vp = new Viewport(this.#host, this.#world);
    this.#vp.onZoom = (z) => {
      const iz = String(1 / z);
      this.#cursorLayer.style.setProperty("--iz", iz);
      this.#band.style.setProperty("--iz", iz);
      this.#zoomLabel.textContent = `${Math.round(z * 100)}%`;
    };
    this.#vp.onChange = () => (this.#gridSize = moveGrid(this.#grid, this.#vp, this.#gridSize));
    this.#vp.centerOn(0, 0, 1);
    this.#world.append(this.#workshopUi.privateLayer);

    this.#presence = new Presence(b.provider.awareness, b.me, this.#cursorLayer, avatars, (id, eds) => this.#renderEditors(id, eds));

    // Model → DOM.
    this.#show({ notes: b.notes, frames: b.frames });
    b.meta.observe(() => this.#renderTitle());
    infoP.then((info) => {
      if (info instanceof Error) {
        if (!this.#refused(info)) {
          this.#roleEditable = true; // the server still enforces roles
          this.#applyEditable();
        }
        return;
      }
      this.#apiTitle = info.title;
      this.#renderTitle();
      this.#roleEditable = info.role !== "viewer";
      if (!this.#votes.role && info.role) this.#setRole(info.role);
      this.#applyEditable();
      // The facilitator hands out the capture page with the participants' link.
      const participant = tokenOf(info.links?.participant);
      if (participant) capture.setAttribute("href", withToken(captureBase, participant));
      const links = info.links;
      if (links) {
        share.hidden = false;
        share.addEventListener("click", async () => {
          // The big screen gets a presenter link of its own, never the facilitator's.
          const presenter = await createPresenterLink(this.#board.id, this.#token).catch(() => undefined);
          showShareDialog(links, presenter);
        });
      }
    });
    this.#renderTitle();

    const updateUndo = () => {
      this.#undoBtn.disabled = b.undo.undoStack.length === 0;
      this.#redoBtn.disabled = b.undo.redoStack.length === 0;
    };
    b.undo.on("stack-item-added", updateUndo);
    b.undo.on("stack-item-popped", updateUndo);
    b.undo.on("stack-cleared", updateUndo);
    updateUndo();
    this.#updateSelectionUi();

    let firstSync = true;
    b.provider.on("sync", (synced) => {
      if (!synced || !firstSync) return;
      firstSync = false;
      if (!this.#interacted && !this.#workshopUi.landOnStep()) this.#fitContent(true);
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          performance.mark("commonboard:first-render");
          document.documentElement.dataset.ready = "true";
        }),
      );
    });

    this.#bindPointer();
    this.#bindKeyboard();
  }

  // ------------------------------------------------------------ history

  #toggleHistory(): void {
    this.#history ??= import("../history/panel").then(({ HistoryMode }) => {
      const mode = new HistoryMode(
        { boardId: this.#board.id, token: this.#token, name: () => this.#board.me.name, button: this.#historyBtn },
        this,
      );
      mode.setRole(this.#role);
      this.#page.append(mode.panel);
      return mode;
    });
    this.#history.then(
      (mode) => mode.toggle(),
      (err: unknown) => console.error(err),
    );
  }

  #setRole(role: Role): void {
    this.#role = role;
    void this.#history?.then((m) => m.setRole(role));
  }

  // ------------------------------------------------------------ what is shown

  /**
   * Shows a historical board read-only (`doc`), or the live board again (null). The live
   * doc keeps syncing meanwhile; only what the canvas observes and renders changes. Views
   * of ids present before or after are re-rendered in place, so nothing flickers.
   */
  showDoc(doc: Y.Doc | null): void {
    const historical = doc !== null;
    if (historical !== this.#historical) {
      this.#finishGesture(true);
      this.#endEdit(false);
      this.#historical = historical;
      this.#page.classList.toggle("history-mode", historical);
      this.#applyEditable();
    }
    const b = this.#board;
    this.#show(doc ? { notes: doc.getMap<YMap>(ROOTS.notes), frames: doc.getMap<YMap>(ROOTS.frames) } : { notes: b.notes, frames: b.frames });
    if (!historical) {
      this.markChanged(new Map());
      this.#decorateVoteNotes();
    }
  }

  /** Runs `fn` (applying several updates) and renders what it changed once, at the end. */
  batch(fn: () => void): void {
    this.#batching++;
    try {
      fn();
    } finally {
      this.#batching--;
      this.#flushDirty();
    }
  }

  /** Outlines the given notes and tags each with the name of who changed it; clears the others. */
  markChanged(marks: Map<string, string>): void {
    for (const id of this.#marked.keys()) {
      if (marks.has(id)) continue;
      const el = this.#notes.get(id)?.el;
      if (!el) continue;
      el.classList.remove("history-changed");
      el.querySelector(":scope > .history-by")?.remove();
    }
    for (const [id, name] of marks) {
      const el = this.#notes.get(id)?.el;
      if (!el) continue;
      el.classList.add("history-changed");
      let tag = el.querySelector<HTMLElement>(":scope > .history-by");
      if (!tag) el.append((tag = h("span", { class: "history-by" })));
      tag.textContent = `Changed by ${name}`;
    }
    this.#marked = new Map(marks);
  }

  #show(next: Shown): void {
    this.#unobserveShown();
    const prev = this.#shown;
    this.#shown = next;
    const notes = new Set<string>(this.#notes.keys());
    next.notes.forEach((_, id) => notes.add(id));
    const frames = new Set<string>(this.#frames.keys());
    next.frames.forEach((_, id) => frames.add(id));
    if (prev !== next) this.#setSelection(new Set(), new Set());
    for (const id of frames) this.#renderFrame(id);
    for (const id of notes) this.#renderNote(id);
    this.#scheduleReadingOrder();
    const onNotes = (events: Y.YEvent<Y.AbstractType<unknown>>[]) => {
      for (const ev of events) {
        if (ev.target === next.notes) for (const k of (ev as Y.YMapEvent<unknown>).keysChanged) this.#dirtyNotes.add(k);
        else if (typeof ev.path[0] === "string") this.#dirtyNotes.add(ev.path[0]);
      }
      this.#flushDirty();
    };
    const onFrames = (events: Y.YEvent<Y.AbstractType<unknown>>[]) => {
      for (const ev of events) {
        if (ev.target === next.frames) for (const k of (ev as Y.YMapEvent<unknown>).keysChanged) this.#dirtyFrames.add(k);
        else if (typeof ev.path[0] === "string") this.#dirtyFrames.add(ev.path[0]);
      }
      this.#flushDirty();
    };
    next.notes.observeDeep(onNotes);
    next.frames.observeDeep(onFrames);
    this.#unobserveShown = () => {
      next.notes.unobserveDeep(onNotes);
      next.frames.unobserveDeep(onFrames);
    };
  }

  #flushDirty(): void {
    if (this.#batching) return;
    const frames = this.#dirtyFrames;
    const notes = this.#dirtyNotes;
    this.#dirtyFrames = new Set();
    this.#dirtyNotes = new Set();
    for (const id of frames) this.#renderFrame(id);
    for (const id of notes) this.#renderNote(id);
    if (frames.size || notes.size) this.#scheduleReadingOrder();
    if (notes.size && this.#mine.size) {
      clearTimeout(this.#unstackTimer);
      this.#unstackTimer = window.setTimeout(() => {
        if (!this.#gesture && this.#canEdit && !this.#historical) moveOffOthers(this.#board, this.#mine);
      }, 300);
    }
  }

  /** Notes this page added (N, double-click): moved off another one added at the same moment. */
  #mine = new Set<string>();
  #unstackTimer = 0;

  #orderTimer = 0;

  /**
   * Puts the notes in reading order for the keyboard and screen readers: area by area
   * (areas left to right, then top to bottom), and inside an area by rows. Done when
   * the board is still (no gesture, no note focused or edited), so nothing moves under
   * a pointer or loses focus.
   */
  #scheduleReadingOrder(): void {
    clearTimeout(this.#orderTimer);
    this.#orderTimer = window.setTimeout(() => {
      if (this.#gesture || this.#editing || this.#notesLayer.contains(document.activeElement)) {
        this.#scheduleReadingOrder();
        return;
      }
      const areas = new Map<string, number>();
      const frames: { id: string; x: number; y: number }[] = [];
      this.#shown.frames.forEach((m, id) => frames.push({ id, ...frameRect(m) }));
      frames.sort((a, z) => a.x - z.x || a.y - z.y);
      frames.forEach((f, i) => areas.set(f.id, i));
      const views = [...this.#notes.values()].map((v) => {
        const m = this.#shown.notes.get(v.id);
        const f = m ? noteFrame(m) : null;
        return { v, area: f !== null && areas.has(f) ? areas.get(f)! : frames.length, row: Math.round(v.y / 40), x: v.x };
      });
      views.sort((a, z) => a.area - z.area || a.row - z.row || a.x - z.x);
      const inOrder = views.every((o, i) => this.#notesLayer.children[i] === o.v.el);
      if (!inOrder) this.#notesLayer.append(...views.map((o) => o.v.el));
    }, 400);
  }

  // ------------------------------------------------------------ rendering

  #renderTitle(): void {
    const t = str(this.#board.meta, META_FIELDS.title) || this.#apiTitle || "Untitled board";
    this.#titleEl.textContent = t;
    setTitle(t);
  }

  #renderNote(id: string): void {
    const m = this.#shown.notes.get(id);
    let v = this.#notes.get(id);
    if (!m) {
      if (v) {
        if (this.#editing?.id === id) this.#endEdit(false);
        const hadFocus = v.el.contains(document.activeElement);
        v.el.remove();
        this.#notes.delete(id);
        if (this.#selNotes.delete(id)) this.#updateSelectionUi();
        if (hadFocus) this.#host.focus({ preventScroll: true });
      }
      return;
    }
    if (!v) {
      // Cloning one prepared element is much cheaper than building each note afresh.
      const el = noteTemplate().cloneNode(true) as HTMLElement;
      el.dataset.id = id;
      const [textEl, authorEl, editorsEl] = el.children as unknown as HTMLElement[];
      v = { id, el, textEl, authorEl, editorsEl, x: NaN, y: NaN, w: NaN, h: NaN, color: "", text: "\u0000", author: "\u0000", kind: "", remedyBtn: null };
      this.#notes.set(id, v);
      this.#notesLayer.append(el);
      const eds = this.#presence.editorsOf(id);
      if (eds.length) this.#renderEditors(id, eds);
    }
    const r = noteRect(m);
    if (r.x !== v.x || r.y !== v.y) {
      v.x = r.x;
      v.y = r.y;
      v.el.style.left = `${r.x}px`;
      v.el.style.top = `${r.y}px`;
    }
    if (r.w !== v.w || r.h !== v.h) {
      v.w = r.w;
      v.h = r.h;
      v.el.style.width = `${r.w}px`;
      v.el.style.height = `${r.h}px`;
    }
    const color = noteColor(m);
    if (color !== v.color) {
      if (v.color) v.el.classList.remove(`note-${v.color}`);
      v.el.classList.add(`note-${color}`);
      v.color = color;
    }
    const text = noteText(m);
    const author = str(m, NOTE_FIELDS.author) || "someone";
    if (text !== v.text || author !== v.author) {
      if (text !== v.text) v.textEl.textContent = text;
      if (author !== v.author) v.authorEl.textContent = author;
      v.text = text;
      v.author = author;
      v.el.setAttribute("aria-label", `Note by ${author}: ${text || "(empty)"}`);
      if (this.#voteNotes.has(id)) decorateNote(this.#votes, id, v.el);
    }
    this.#decorateKind(id, m, v);
  }

  /** An obstacle offers "How we manage it" until it has a remedy. */
  #decorateKind(id: string, m: YMap, v: NoteView): void {
    const own = m.get(NOTE_FIELDS.kind);
    const kind = (typeof own === "string" && own) || kindForFrame(this.#board, noteFrame(m)) || "";
    if (v.kind !== kind) {
      v.kind = kind;
      if (kind) v.el.dataset.kind = kind;
      else delete v.el.dataset.kind;
    }
    const wants = kind === NOTE_KINDS.obstacle && !this.#historical && !m.get(NOTE_FIELDS.pair);
    if (!wants && !v.remedyBtn) return;
    if (wants && !v.remedyBtn) {
      const btn = h("button", { type: "button", class: "note-remedy edit-tool" }, "How we manage it");
      btn.addEventListener("click", (e) => {
        e.stopPropagation();
        this.#addRemedy(id);
      });
      v.el.append(btn);
      v.remedyBtn = btn;
    } else if (!wants && v.remedyBtn) {
      v.remedyBtn.remove();
      v.remedyBtn = null;
      return;
    }
    v.remedyBtn!.setAttribute("aria-label", `How we manage it: ${v.text || "obstacle"}`);
  }

  /** A remedy note beside the obstacle (in the remedies area when there is one), paired both ways. */
  #addRemedy(obstacleId: string): void {
    if (!this.#canEdit) return;
    const b = this.#board;
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
    this.#selectOnly([id]);
    this.#startEdit(id);
  }

  // ------------------------------------------------------------ workshop host

  get canEdit(): boolean {
    return this.#canEdit;
  }

  get interacted(): boolean {
    return this.#interacted;
  }

  onUserMove: (() => void) | null = null;

  /**
   * Fits a canvas rectangle on screen; with `minZoom`, a rectangle too large to fit at
   * that zoom shows its top-left part at that zoom instead (text stays readable).
   */
  fitRect(r: Rect, minZoom = 0): void {
    this.#interacted = true;
    const margin = 48;
    const zoom = Math.min(1, (this.#vp.width - 2 * margin) / r.w, (this.#vp.height - 2 * margin) / r.h);
    if (zoom >= minZoom) {
      this.#vp.fit(r, margin);
      return;
    }
    const w = Math.min(r.w, (this.#vp.width - 2 * margin) / minZoom);
    const h = Math.min(r.h, (this.#vp.height - 2 * margin) / minZoom);
    this.#vp.centerOn(r.x + w / 2, r.y + h / 2, minZoom);
  }

  /** The view's centre and zoom. */
  view(): { x: number; y: number; zoom: number } {
    const c = this.#vp.center();
    return { x: c.x, y: c.y, zoom: this.#vp.zoom };
  }

  showView(x: number, y: number, zoom: number): void {
    this.#interacted = true;
    this.#vp.centerOn(x, y, zoom);
  }

  toWorld(clientX: number, clientY: number): { x: number; y: number } {
    return this.#vp.toWorld(clientX, clientY);
  }

  /** Vote controls on the current vote's candidates, the badge on the common goal. */
  #decorateVoteNotes(): void {
    const next = new Set<string>(this.#votes.current?.settings.candidates ?? []);
    const goal = this.#votes.commonGoal;
    if (goal) next.add(goal);
    for (const id of new Set([...this.#voteNotes, ...next])) {
      const el = this.#notes.get(id)?.el;
      if (el) decorateNote(this.#votes, id, el);
    }
    this.#voteNotes = next;
  }

  #openVoteDialog(): void {
    const ids = [...this.#selNotes];
    if (!ids.length) return;
    showVoteDialog(ids.length, (s) => this.#votes.send({ type: "open_vote", settings: { ...s, candidates: ids } }));
  }

  /** Editable unless a viewer, or the board is locked and this is not the facilitator. */
  #applyEditable(): void {
    const v = this.#votes;
    const roleOk = v.role ? v.role !== "viewer" : this.#roleEditable;
    this.#setEditable(roleOk && !(v.locked && v.role !== "facilitator") && !this.#historical);
  }

  #renderEditors(noteId: string, editors: Person[]): void {
    const v = this.#notes.get(noteId);
    if (!v) return;
    if (editors.length === 0) {
      v.el.classList.remove("remote-editing");
      v.editorsEl.hidden = true;
      v.el.style.removeProperty("--editor");
      return;
    }
    v.el.classList.add("remote-editing");
    v.el.style.setProperty("--editor", editors[0].color);
    v.editorsEl.hidden = false;
    v.editorsEl.textContent = `${editors.map((p) => p.name).join(", ")} editing`;
  }

  #renderFrame(id: string): void {
    const m = this.#shown.frames.get(id);
    let v = this.#frames.get(id);
    if (!m) {
      if (v) {
        if (this.#editingFrame === id) this.#editingFrame = null;
        v.el.remove();
        this.#frames.delete(id);
        if (this.#selFrames.delete(id)) this.#updateSelectionUi();
      }
      return;
    }
    if (!v) {
      const titleEl = h("div", { class: "frame-title", tabindex: 0, role: "group", "aria-roledescription": "frame", "data-id": id });
      const guideEl = h("p", { class: "frame-guide", hidden: true });
      const el = h(
        "section",
        { class: "frame", "data-id": id },
        titleEl,
        guideEl,
        h("div", { class: "frame-resize", "aria-hidden": "true" }),
      );
      v = { id, el, titleEl, guideEl, x: NaN, y: NaN, w: NaN, h: NaN, title: "\u0000", guide: "", area: "" };
      this.#frames.set(id, v);
      this.#framesLayer.append(el);
    }
    const r = frameRect(m);
    if (r.x !== v.x || r.y !== v.y) {
      v.x = r.x;
      v.y = r.y;
      v.el.style.transform = `translate(${r.x}px, ${r.y}px)`;
    }
    if (r.w !== v.w || r.h !== v.h) {
      v.w = r.w;
      v.h = r.h;
      v.el.style.width = `${r.w}px`;
      v.el.style.height = `${r.h}px`;
    }
    const title = str(m, FRAME_FIELDS.title) || "Frame";
    if (title !== v.title) {
      v.title = title;
      if (this.#editingFrame !== id) v.titleEl.textContent = title;
      v.titleEl.setAttribute("aria-label", `Frame: ${title}`);
      v.el.setAttribute("aria-label", `Frame ${title}`);
    }
    // Template frames: the step's guidance in the frame, areas marked as such.
    const guide = str(m, FRAME_FIELDS.guide);
    if (guide !== v.guide) {
      v.guide = guide;
      v.guideEl.textContent = guide;
      v.guideEl.hidden = !guide;
    }
    const area = str(m, FRAME_FIELDS.area);
    if (area !== v.area) {
      v.area = area;
      if (area) v.el.dataset.area = area;
      else delete v.el.dataset.area;
      v.el.classList.toggle("area-frame", !!area && !str(m, FRAME_FIELDS.guide));
    }
  }


  // ------------------------------------------------------------ selection

  #selectOnly(notes: Iterable<string>, frames: Iterable<string> = []): void {
    this.#setSelection(new Set(notes), new Set(frames));
  }

  #setSelection(notes: Set<string>, frames: Set<string>): void {
    for (const id of this.#selNotes) if (!notes.has(id)) this.#notes.get(id)?.el.classList.remove("selected");
    for (const id of notes) this.#notes.get(id)?.el.classList.add("selected");
    for (const id of this.#selFrames) if (!frames.has(id)) this.#frames.get(id)?.el.classList.remove("selected");
    for (const id of frames) this.#frames.get(id)?.el.classList.add("selected");
    this.#selNotes = notes;
    this.#selFrames = frames;
    this.#updateSelectionUi();
  }

  #updateSelectionUi(): void {
    const n = this.#selNotes.size + this.#selFrames.size;
    if (this.#voteBtn) {
      this.#voteBtn.disabled = this.#selNotes.size === 0;
      this.#voteBtn.title = this.#selNotes.size ? `Open a vote on the ${this.#selNotes.size} selected notes` : "Select candidate notes first";
    }
    this.#deleteBtn.disabled = n === 0;
    for (const [c, el] of this.#colorBtns) {
      let pressed = c === this.#color;
      if (this.#selNotes.size) {
        pressed = true;
        for (const id of this.#selNotes) {
          const m = this.#shown.notes.get(id);
          if (!m || noteColor(m) !== c) pressed = false;
        }
      }
      el.setAttribute("aria-pressed", String(pressed));
    }
  }

  #pickColor(c: NoteColor): void {
    this.#color = c;
    try {
      localStorage.setItem(COLOR_KEY, c);
    } catch {
      /* ignore */
    }
    if (this.#selNotes.size && this.#canEdit) setColor(this.#board, this.#selNotes, c);
    this.#updateSelectionUi();
  }

  /** Notes that move with the selection: selected ones and those in selected frames. */
  #movingSet(): { notes: Map<string, { x: number; y: number }>; frames: Map<string, { x: number; y: number }> } {
    const notes = new Map<string, { x: number; y: number }>();
    const frames = new Map<string, { x: number; y: number }>();
    for (const id of this.#selFrames) {
      const f = this.#shown.frames.get(id);
      if (f) frames.set(id, frameRect(f));
    }
    this.#shown.notes.forEach((m, id) => {
      const f = noteFrame(m);
      if (this.#selNotes.has(id) || (f && frames.has(f))) notes.set(id, noteRect(m));
    });
    return { notes, frames };
  }

  // ------------------------------------------------------------ commands

  #createNoteAt(wx: number, wy: number): void {
    if (!this.#canEdit) return;
    let x = Math.round(wx - DEFAULT_NOTE_W / 2);
    let y = Math.round(wy - DEFAULT_NOTE_H / 2);
    // Repeated "N" at the same spot cascades instead of stacking exactly.
    for (let i = 0; i < 30; i++) {
      let clash = false;
      this.#board.notes.forEach((m) => {
        const r = noteRect(m);
        if (Math.abs(r.x - x) < 6 && Math.abs(r.y - y) < 6) clash = true;
      });
      if (!clash) break;
      x += 24;
      y += 24;
    }
    const frame = frameAt(this.#board, x + DEFAULT_NOTE_W / 2, y + DEFAULT_NOTE_H / 2);
    const kind = kindForFrame(this.#board, frame);
    if (this.#workshop.isPrivate) {
      // Private writing: the note goes to the server alone, not into the shared doc.
      const n = this.#workshop.addPrivate({ x, y, w: DEFAULT_NOTE_W, h: DEFAULT_NOTE_H, color: this.#color, frame, kind });
      this.#workshopUi.focusPrivate(n.id);
      return;
    }
    this.#board.undo.stopCapturing();
    const id = addNote(this.#board, { x, y, color: this.#color, frame, kind });
    this.#board.undo.stopCapturing();
    this.#mine.add(id);
    this.#selectOnly([id]);
    this.#startEdit(id);
  }

  /**
   * N: a note in free space of the area under the screen's centre, else of the current
   * step's first area, else near the centre; never on top of another note.
   */
  #createNoteAtCenter(): void {
    if (!this.#canEdit) return;
    const b = this.#board;
    const c = this.#vp.center();
    let frame = frameAt(b, c.x, c.y);
    const stepIndex = this.#workshop.state?.step;
    const step = stepIndex !== undefined ? this.#workshop.state?.steps[stepIndex]?.id : undefined;
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
    const area = frame ? frameRect(b.frames.get(frame)!) : { x: c.x - DEFAULT_NOTE_W, y: c.y - DEFAULT_NOTE_H, w: DEFAULT_NOTE_W * 4, h: DEFAULT_NOTE_H * 4 };
    const spot = freeSpot(area, taken, DEFAULT_NOTE_W, DEFAULT_NOTE_H, frame ? 16 : 0, frame ? 44 : 0);
    this.#createNoteAt(spot.x + DEFAULT_NOTE_W / 2, spot.y + DEFAULT_NOTE_H / 2);
    const m = this.#shown.notes.get([...this.#selNotes][0] ?? "");
    if (m) this.#ensureVisible([...this.#selNotes][0]);
  }

  #createFrameAtCenter(): void {
    if (!this.#canEdit) return;
    const c = this.#vp.center();
    const w = Math.min(NEW_FRAME.w, Math.max(MIN_FRAME.w, (this.#vp.width * 0.8) / this.#vp.zoom));
    const hh = Math.min(NEW_FRAME.h, Math.max(MIN_FRAME.h, (this.#vp.height * 0.8) / this.#vp.zoom));
    this.#board.undo.stopCapturing();
    const id = addFrame(this.#board, { x: c.x - w / 2, y: c.y - hh / 2, w, h: hh }, `Frame ${this.#board.frames.size + 1}`);
    this.#board.undo.stopCapturing();
    this.#selectOnly([], [id]);
    const v = this.#frames.get(id);
    if (v) {
      this.#focusFromPointer = true;
      v.titleEl.focus({ preventScroll: true });
      this.#focusFromPointer = false;
    }
  }

  #deleteSelection(): void {
    if (!this.#canEdit) return;
    if (!this.#selNotes.size && !this.#selFrames.size) return;
    this.#board.undo.stopCapturing();
    deleteItems(this.#board, [...this.#selNotes], [...this.#selFrames]);
    this.#board.undo.stopCapturing();
    this.#setSelection(new Set(), new Set());
    this.#host.focus({ preventScroll: true });
  }

  #moveSelection(dx: number, dy: number): void {
    if (!this.#canEdit) return;
    const { notes, frames } = this.#movingSet();
    transact(this.#board, () => {
      for (const [id, p] of frames) {
        const m = this.#board.frames.get(id);
        if (m) setFramePos(m, p.x + dx, p.y + dy);
      }
      for (const [id, p] of notes) {
        const m = this.#board.notes.get(id);
        if (m) setNotePos(m, p.x + dx, p.y + dy);
      }
    });
    assignFrames(this.#board, this.#selNotes);
    const first = [...this.#selNotes][0];
    if (first) this.#ensureVisible(first);
  }

  #resizeSelection(dw: number, dh: number): void {
    if (!this.#canEdit) return;
    transact(this.#board, () => {
      for (const id of this.#selNotes) {
        const m = this.#board.notes.get(id);
        if (!m) continue;
        const r = noteRect(m);
        setSize(m, Math.max(MIN_NOTE.w, r.w + dw), Math.max(MIN_NOTE.h, r.h + dh));
      }
      for (const id of this.#selFrames) {
        const m = this.#board.frames.get(id);
        if (!m) continue;
        const r = frameRect(m);
        setSize(m, Math.max(MIN_FRAME.w, r.w + dw), Math.max(MIN_FRAME.h, r.h + dh));
      }
    });
    for (const id of this.#selFrames) refreshFrameMembers(this.#board, id);
    assignFrames(this.#board, this.#selNotes);
  }

  #undo(): void {
    if (!this.#canEdit) return;
    this.#board.undo.undo();
  }

  #redo(): void {
    if (!this.#canEdit) return;
    this.#board.undo.redo();
  }

  #fitContent(onlyIfContent = false): void {
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
    this.#shown.notes.forEach((m) => grow(noteRect(m)));
    this.#shown.frames.forEach((m) => grow(frameRect(m)));
    if (r) this.#vp.fit(r);
    else if (!onlyIfContent) this.#vp.centerOn(0, 0, 1);
  }

  #ensureVisible(noteId: string): void {
    const m = this.#shown.notes.get(noteId);
    if (!m) return;
    const r = noteRect(m);
    if (!this.#vp.isVisible(r)) this.#vp.centerOn(r.x + r.w / 2, r.y + r.h / 2);
  }

  async #rename(): Promise<void> {
    const name = await askName(undefined, this.#board.me.name);
    this.#board.me.name = name;
    this.#board.me.color = userColor();
    this.#meBtn.textContent = name;
    this.#board.provider.params = { ...this.#board.provider.params, name };
    // A label: the server keeps the same person under the new name.
    this.#board.app.send({ type: "set_name", name });
    this.#board.provider.awareness.setLocalStateField("user", { name, color: this.#board.me.color });
  }

  /** The server refused the board for good: show why, and stop syncing. */
  #refused(why: unknown): boolean {
    if (this.#dead) return true;
    const shown = showRefusal(this.#root, this.#board.id, why);
    if (shown) {
      this.#dead = true;
      this.#presence.destroy();
      this.#board.provider.destroy();
    }
    return shown;
  }

  /** Viewers see the board live but change nothing: editing tools hide, gestures only select. */
  #setEditable(editable: boolean): void {
    this.#canEdit = editable;
    this.#page.classList.toggle("read-only", !editable);
    if (!editable) this.#endEdit(false);
  }

  // ------------------------------------------------------------ editing

  #startEdit(id: string): void {
    if (!this.#canEdit) return;
    if (this.#editing?.id === id) return;
    this.#endEdit(false);
    const m = this.#board.notes.get(id);
    const v = this.#notes.get(id);
    if (!m || !v) return;
    const text = ensureText(this.#board, m);
    const area = h("textarea", { class: "note-input", "aria-label": `Text of note by ${v.author}`, spellcheck: "true" });
    area.value = text.toString();
    const ed = {
      id,
      area,
      text,
      composing: false,
      observer: (e: Y.YTextEvent) => {
        if (ed.composing) return;
        const next = text.toString();
        if (area.value === next) return;
        const delta = e.delta as { insert?: unknown; retain?: number; delete?: number }[];
        const s = transformIndex(delta, area.selectionStart);
        const en = transformIndex(delta, area.selectionEnd);
        area.value = next;
        if (document.activeElement === area) area.setSelectionRange(s, en);
      },
    };
    const commit = () => {
      if (ed.composing) return;
      transact(this.#board, () => applyText(text, area.value));
    };
    area.addEventListener("input", commit);
    area.addEventListener("compositionstart", () => (ed.composing = true));
    area.addEventListener("compositionend", () => {
      ed.composing = false;
      commit();
    });
    area.addEventListener("blur", () => {
      if (this.#editing === ed) this.#endEdit(false);
    });
    area.addEventListener("keydown", (e) => {
      if (e.key === "Escape" || (e.key === "Enter" && (e.ctrlKey || e.metaKey))) {
        e.preventDefault();
        e.stopPropagation();
        this.#endEdit(true);
      }
    });
    text.observe(ed.observer);
    this.#editing = ed;
    v.el.classList.add("editing");
    v.textEl.hidden = true;
    v.el.append(area);
    area.focus({ preventScroll: true });
    area.setSelectionRange(area.value.length, area.value.length);
    this.#presence.setEditing(id);
    this.#board.undo.stopCapturing();
  }

  #endEdit(refocus: boolean): void {
    const ed = this.#editing;
    if (!ed) return;
    this.#editing = null;
    ed.text.unobserve(ed.observer);
    if (!ed.composing && ed.area.value !== ed.text.toString() && this.#board.notes.has(ed.id)) {
      transact(this.#board, () => applyText(ed.text, ed.area.value));
    }
    const v = this.#notes.get(ed.id);
    const hadFocus = document.activeElement === ed.area;
    ed.area.remove();
    if (v) {
      v.el.classList.remove("editing");
      v.textEl.hidden = false;
      if (refocus || hadFocus) {
        this.#focusFromPointer = true;
        v.el.focus({ preventScroll: true });
        this.#focusFromPointer = false;
      }
    }
    this.#presence.setEditing(null);
    this.#board.undo.stopCapturing();
  }

  #editFrameTitle(id: string): void {
    if (!this.#canEdit) return;
    const v = this.#frames.get(id);
    if (!v || this.#editingFrame === id) return;
    this.#editingFrame = id;
    const input = h("input", { type: "text", class: "frame-title-input", "aria-label": "Frame title", maxlength: 120 });
    input.value = v.title;
    let done = false;
    const finish = (save: boolean) => {
      if (done) return;
      done = true;
      if (save) setFrameTitle(this.#board, id, input.value.trim() || "Frame");
      this.#editingFrame = null;
      const cur = this.#frames.get(id);
      if (cur) {
        cur.titleEl.textContent = cur.title;
        this.#focusFromPointer = true;
        cur.titleEl.focus({ preventScroll: true });
        this.#focusFromPointer = false;
      }
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        finish(true);
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
    v.titleEl.replaceChildren(input);
    input.focus({ preventScroll: true });
    input.select();
  }

  // ------------------------------------------------------------ pointer

  #hit(target: EventTarget | null): { kind: "note" | "note-resize" | "frame" | "frame-resize" | "empty"; id: string } {
    const t = target instanceof Element ? target : null;
    const nr = t?.closest(".note-resize");
    if (nr) return { kind: "note-resize", id: (nr.closest(".note") as HTMLElement).dataset.id! };
    const n = t?.closest(".note") as HTMLElement | null;
    if (n) return { kind: "note", id: n.dataset.id! };
    const fr = t?.closest(".frame-resize");
    if (fr) return { kind: "frame-resize", id: (fr.closest(".frame") as HTMLElement).dataset.id! };
    const ft = t?.closest(".frame-title") as HTMLElement | null;
    if (ft) return { kind: "frame", id: ft.dataset.id! };
    return { kind: "empty", id: "" };
  }

  #bindPointer(): void {
    const host = this.#host;
    host.addEventListener("pointerdown", (e) => this.#onPointerDown(e));
    window.addEventListener("pointermove", (e) => this.#onPointerMove(e));
    window.addEventListener("pointerup", (e) => this.#onPointerUp(e, false));
    window.addEventListener("pointercancel", (e) => this.#onPointerUp(e, true));
    host.addEventListener("pointermove", (e) => {
      if (e.pointerType !== "touch") this.#presence.setCursor(this.#vp.toWorld(e.clientX, e.clientY));
    });
    host.addEventListener("pointerleave", (e) => {
      if (e.pointerType !== "touch" && !this.#gesture) this.#presence.setCursor(null);
    });
    host.addEventListener("wheel", (e) => this.#onWheel(e), { passive: false });
    this.#notesLayer.addEventListener("click", (e) => {
      const del = (e.target as Element).closest(".note-delete");
      const id = (del?.closest(".note") as HTMLElement | null)?.dataset.id;
      if (!id || !this.#canEdit) return;
      e.stopPropagation();
      this.#board.undo.stopCapturing();
      deleteItems(this.#board, [id], []);
    });
    host.addEventListener("contextmenu", (e) => {
      if (this.#gesture) e.preventDefault();
    });
    // Keyboard focus entering a note or frame title selects it and brings it into view.
    this.#world.addEventListener("focusin", (e) => {
      if (this.#focusFromPointer) return;
      const t = e.target as HTMLElement;
      if (t.classList.contains("note")) {
        const id = t.dataset.id!;
        if (!this.#selNotes.has(id)) this.#selectOnly([id]);
        this.#ensureVisible(id);
      } else if (t.classList.contains("frame-title")) {
        const id = t.dataset.id!;
        if (!this.#selFrames.has(id)) this.#selectOnly([], [id]);
        const f = this.#shown.frames.get(id);
        if (f) {
          const r = frameRect(f);
          if (!this.#vp.isVisible({ x: r.x, y: r.y, w: Math.min(r.w, 200), h: 40 })) this.#vp.centerOn(r.x + r.w / 2, r.y + r.h / 2);
        }
      }
    });
  }

  #focusQuietly(el: HTMLElement): void {
    if (document.activeElement === el) return;
    this.#focusFromPointer = true;
    el.focus({ preventScroll: true });
    this.#focusFromPointer = false;
  }

  #onPointerDown(e: PointerEvent): void {
    const t = e.target as HTMLElement;
    if (t.closest("textarea, input, button, select, a")) return;
    if (e.button !== 0 && e.button !== 1) return;
    this.#interacted = true;
    this.onUserMove?.();
    this.#pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (e.pointerType === "touch" && this.#pointers.size === 2) {
      this.#finishGesture(true);
      const [a, b] = [...this.#pointers.values()];
      const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      this.#gesture = {
        kind: "pinch",
        startDist: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)),
        startZoom: this.#vp.zoom,
        anchor: this.#vp.toWorld(mid.x, mid.y),
      };
      e.preventDefault();
      return;
    }
    if (this.#gesture) return;
    const hit = this.#hit(t);
    const additive = e.shiftKey || e.ctrlKey || e.metaKey;
    if (e.button === 1 || this.#spaceDown) {
      e.preventDefault();
      this.#startPan(e, "pan");
      return;
    }
    if (!this.#canEdit && hit.kind !== "empty") {
      // Viewers: clicking a note or frame selects it (to read it); nothing moves.
      const id = hit.id;
      if (hit.kind.startsWith("note")) this.#selectOnly([id]);
      else this.#selectOnly([], [id]);
      const el = hit.kind.startsWith("note") ? this.#notes.get(id)?.el : this.#frames.get(id)?.titleEl;
      if (el) this.#focusQuietly(el);
      this.#pointers.delete(e.pointerId);
      return;
    }
    if (hit.kind === "note-resize" || hit.kind === "frame-resize") {
      e.preventDefault();
      const target = hit.kind === "note-resize" ? "note" : "frame";
      const m = target === "note" ? this.#board.notes.get(hit.id) : this.#board.frames.get(hit.id);
      if (!m) return;
      const r = target === "note" ? noteRect(m) : frameRect(m);
      if (target === "note") {
        if (!this.#selNotes.has(hit.id)) this.#selectOnly([hit.id]);
      } else if (!this.#selFrames.has(hit.id)) this.#selectOnly([], [hit.id]);
      this.#gesture = { kind: "resize", pointerId: e.pointerId, target, id: hit.id, startX: e.clientX, startY: e.clientY, w: r.w, h: r.h, dw: 0, dh: 0, moved: false };
      return;
    }
    if (hit.kind === "note" || hit.kind === "frame") {
      const isNote = hit.kind === "note";
      const sel = isNote ? this.#selNotes : this.#selFrames;
      let collapseTo: { kind: "note" | "frame"; id: string } | null = null;
      if (additive) {
        const notes = new Set(this.#selNotes);
        const frames = new Set(this.#selFrames);
        const s = isNote ? notes : frames;
        if (s.has(hit.id)) s.delete(hit.id);
        else s.add(hit.id);
        this.#setSelection(notes, frames);
        if (!s.has(hit.id)) {
          this.#pointers.delete(e.pointerId);
          return;
        }
      } else if (!sel.has(hit.id)) {
        if (isNote) this.#selectOnly([hit.id]);
        else this.#selectOnly([], [hit.id]);
      } else {
        collapseTo = { kind: hit.kind, id: hit.id };
      }
      const el = isNote ? this.#notes.get(hit.id)?.el : this.#frames.get(hit.id)?.titleEl;
      if (el && !(this.#editing?.id === hit.id)) this.#focusQuietly(el);
      const { notes, frames } = this.#movingSet();
      this.#gesture = {
        kind: "drag",
        pointerId: e.pointerId,
        startX: e.clientX,
        startY: e.clientY,
        moved: false,
        notes,
        frames,
        direct: new Set(this.#selNotes),
        dx: 0,
        dy: 0,
        hitKey: `${hit.kind}:${hit.id}`,
        collapseTo,
      };
      return;
    }
    // Empty canvas.
    this.#focusQuietly(this.#host);
    if (e.shiftKey) {
      e.preventDefault();
      const start = this.#vp.toWorld(e.clientX, e.clientY);
      this.#gesture = { kind: "band", pointerId: e.pointerId, start, base: new Set(this.#selNotes), baseFrames: new Set(this.#selFrames) };
      this.#band.hidden = false;
      this.#drawBand(start, start);
      return;
    }
    this.#startPan(e, "empty");
  }

  #startPan(e: PointerEvent, hitKey: string): void {
    this.#gesture = { kind: "pan", pointerId: e.pointerId, lastX: e.clientX, lastY: e.clientY, startX: e.clientX, startY: e.clientY, moved: false, hitKey };
    this.#host.classList.add("panning");
    this.#shield.hidden = false;
  }

  #onPointerMove(e: PointerEvent): void {
    if (this.#pointers.has(e.pointerId)) this.#pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    const g = this.#gesture;
    if (!g) return;
    if (g.kind === "pinch") {
      if (this.#pointers.size < 2) return;
      const [a, b] = [...this.#pointers.values()];
      const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      const dist = Math.max(1, Math.hypot(a.x - b.x, a.y - b.y));
      const z = Math.min(4, Math.max(0.1, (g.startZoom * dist) / g.startDist));
      // Keep the canvas point first under the fingers' midpoint under it now.
      this.#vp.zoom = z;
      this.#vp.refreshRect();
      const p = this.#vp.toWorld(mid.x, mid.y);
      this.#vp.x += (p.x - g.anchor.x) * z;
      this.#vp.y += (p.y - g.anchor.y) * z;
      this.#vp.apply();
      return;
    }
    if (e.pointerId !== g.pointerId) return;
    const dist = Math.hypot(e.clientX - ("startX" in g ? g.startX : e.clientX), e.clientY - ("startY" in g ? g.startY : e.clientY));
    switch (g.kind) {
      case "pan": {
        if (!g.moved && dist < 3) return;
        g.moved = true;
        this.#vp.panBy(e.clientX - g.lastX, e.clientY - g.lastY);
        g.lastX = e.clientX;
        g.lastY = e.clientY;
        return;
      }
      case "drag": {
        if (!g.moved && dist < 4) return;
        if (!g.moved) {
          g.moved = true;
          this.#board.undo.stopCapturing();
          this.#board.undo.captureTimeout = 1e9;
          for (const id of g.notes.keys()) this.#notes.get(id)?.el.classList.add("dragging");
        }
        g.dx = (e.clientX - g.startX) / this.#vp.zoom;
        g.dy = (e.clientY - g.startY) / this.#vp.zoom;
        this.#scheduleDragWrite();
        return;
      }
      case "resize": {
        if (!g.moved && dist < 2) return;
        if (!g.moved) {
          g.moved = true;
          this.#board.undo.stopCapturing();
          this.#board.undo.captureTimeout = 1e9;
        }
        g.dw = (e.clientX - g.startX) / this.#vp.zoom;
        g.dh = (e.clientY - g.startY) / this.#vp.zoom;
        this.#scheduleDragWrite();
        return;
      }
      case "band": {
        const p = this.#vp.toWorld(e.clientX, e.clientY);
        this.#drawBand(g.start, p);
        this.#selectBand(g, p);
        return;
      }
    }
  }

  #scheduleDragWrite(): void {
    if (this.#dragFrame) return;
    this.#dragFrame = requestAnimationFrame(() => {
      this.#dragFrame = 0;
      this.#writeGesture();
    });
  }

  #writeGesture(): void {
    const g = this.#gesture;
    if (!g) return;
    if (g.kind === "drag" && g.moved) {
      const dx = Math.round(g.dx);
      const dy = Math.round(g.dy);
      transact(this.#board, () => {
        for (const [id, p] of g.frames) {
          const m = this.#board.frames.get(id);
          if (m) setFramePos(m, p.x + dx, p.y + dy);
        }
        for (const [id, p] of g.notes) {
          const m = this.#board.notes.get(id);
          if (m) setNotePos(m, p.x + dx, p.y + dy);
        }
      });
    } else if (g.kind === "resize" && g.moved) {
      const min = g.target === "note" ? MIN_NOTE : MIN_FRAME;
      const m = g.target === "note" ? this.#board.notes.get(g.id) : this.#board.frames.get(g.id);
      if (m) transact(this.#board, () => setSize(m as YMap, Math.max(min.w, g.w + g.dw), Math.max(min.h, g.h + g.dh)));
    }
  }

  #onPointerUp(e: PointerEvent, cancelled: boolean): void {
    this.#pointers.delete(e.pointerId);
    const g = this.#gesture;
    if (!g) return;
    if (g.kind === "pinch") {
      if (this.#pointers.size < 2) this.#gesture = null;
      return;
    }
    if (e.pointerId !== g.pointerId) return;
    const moved = "moved" in g ? g.moved : true;
    const hitKey = "hitKey" in g ? g.hitKey : "";
    if (g.kind === "drag" && !moved && !cancelled && g.collapseTo) {
      const c = g.collapseTo;
      if (c.kind === "note") this.#selectOnly([c.id]);
      else this.#selectOnly([], [c.id]);
    }
    if (g.kind === "pan" && !moved && !cancelled && hitKey === "empty" && !e.shiftKey) {
      this.#setSelection(new Set(), new Set());
    }
    this.#finishGesture(cancelled);
    // Taps: a second one on the same thing soon after is a double-tap / double-click.
    if (!moved && !cancelled && hitKey) {
      const now = performance.now();
      const lt = this.#lastTap;
      if (lt && now - lt.t < 450 && Math.hypot(e.clientX - lt.x, e.clientY - lt.y) < 12 && lt.key === hitKey) {
        this.#lastTap = null;
        this.#onDoubleTap(hitKey, e);
      } else {
        this.#lastTap = { t: now, x: e.clientX, y: e.clientY, key: hitKey };
      }
    }
  }

  #finishGesture(cancelled: boolean): void {
    const g = this.#gesture;
    if (!g) return;
    if (this.#dragFrame) {
      cancelAnimationFrame(this.#dragFrame);
      this.#dragFrame = 0;
    }
    if (g.kind === "drag" && g.moved) {
      this.#writeGesture();
      for (const id of g.notes.keys()) this.#notes.get(id)?.el.classList.remove("dragging");
      if (!cancelled) assignFrames(this.#board, g.direct);
      this.#board.undo.captureTimeout = 500;
      this.#board.undo.stopCapturing();
    } else if (g.kind === "resize" && g.moved) {
      this.#writeGesture();
      if (g.target === "frame") refreshFrameMembers(this.#board, g.id);
      else assignFrames(this.#board, [g.id]);
      this.#board.undo.captureTimeout = 500;
      this.#board.undo.stopCapturing();
    } else if (g.kind === "band") {
      this.#band.hidden = true;
    }
    this.#host.classList.remove("panning");
    this.#shield.hidden = true;
    this.#gesture = null;
  }

  #onDoubleTap(hitKey: string, e: PointerEvent): void {
    const [kind, id] = hitKey.split(":");
    if (kind === "empty") {
      const p = this.#vp.toWorld(e.clientX, e.clientY);
      this.#createNoteAt(p.x, p.y);
    } else if (kind === "note") {
      this.#selectOnly([id]);
      this.#startEdit(id);
    } else if (kind === "frame") {
      this.#editFrameTitle(id);
    }
  }

  #drawBand(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const x = Math.min(a.x, b.x);
    const y = Math.min(a.y, b.y);
    this.#band.style.transform = `translate(${x}px, ${y}px)`;
    this.#band.style.width = `${Math.abs(a.x - b.x)}px`;
    this.#band.style.height = `${Math.abs(a.y - b.y)}px`;
  }

  #selectBand(g: Extract<Gesture, { kind: "band" }>, p: { x: number; y: number }): void {
    const x1 = Math.min(g.start.x, p.x);
    const y1 = Math.min(g.start.y, p.y);
    const x2 = Math.max(g.start.x, p.x);
    const y2 = Math.max(g.start.y, p.y);
    const notes = new Set(g.base);
    const frames = new Set(g.baseFrames);
    this.#shown.notes.forEach((m, id) => {
      const r = noteRect(m);
      if (r.x < x2 && r.x + r.w > x1 && r.y < y2 && r.y + r.h > y1) notes.add(id);
    });
    this.#shown.frames.forEach((m, id) => {
      const r = frameRect(m);
      if (r.x >= x1 && r.y >= y1 && r.x + r.w <= x2 && r.y + r.h <= y2) frames.add(id);
    });
    this.#setSelection(notes, frames);
  }

  #onWheel(e: WheelEvent): void {
    const t = e.target as HTMLElement;
    if (t instanceof HTMLTextAreaElement && !e.ctrlKey && t.scrollHeight > t.clientHeight) return;
    e.preventDefault();
    this.#interacted = true;
    this.onUserMove?.();
    const scale = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    const dx = e.deltaX * scale;
    const dy = e.deltaY * scale;
    if (e.ctrlKey || e.metaKey) {
      // Trackpad pinch (reported as ctrl+wheel) or ctrl+wheel.
      this.#vp.zoomAt(e.clientX, e.clientY, Math.exp(-dy * 0.01));
      return;
    }
    // A mouse wheel clicks in whole steps on one axis; a trackpad scrolls smoothly on two.
    const mouseWheel = e.deltaMode !== 0 || (dx === 0 && Math.abs(dy) >= 40 && Number.isInteger(dy));
    if (mouseWheel && !e.shiftKey) {
      this.#vp.zoomAt(e.clientX, e.clientY, Math.exp(-dy * 0.0015));
    } else if (e.shiftKey && dx === 0) {
      this.#vp.panBy(-dy, 0);
    } else {
      this.#vp.panBy(-dx, -dy);
    }
  }

  // ------------------------------------------------------------ keyboard

  #bindKeyboard(): void {
    document.addEventListener("keydown", (e) => {
      if (this.#dead || document.querySelector("dialog[open]")) return;
      const t = e.target as HTMLElement;
      // The history panel's controls (scrubber, speed) take their own keys.
      if (t.closest?.(".history-panel")) return;
      // So do the workshop's tables (a checkbox must not take Delete to the canvas).
      if (t.closest?.(".ws-panel")) return;
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key;
      if (mod && !e.altKey && (key === "z" || key === "Z") && !(t instanceof HTMLInputElement && t.classList.contains("frame-title-input"))) {
        e.preventDefault();
        if (e.shiftKey) this.#redo();
        else this.#undo();
        return;
      }
      if (mod && !e.altKey && (key === "y" || key === "Y")) {
        e.preventDefault();
        this.#redo();
        return;
      }
      if (isTextInput(t)) return;
      if (t.closest(".toolbar") && key.startsWith("Arrow")) return;
      if (key === " ") {
        if (t.closest("button, a")) return;
        e.preventDefault();
        if (!this.#spaceDown) {
          this.#spaceDown = true;
          this.#host.classList.add("space-pan");
        }
        return;
      }
      if (mod && (key === "a" || key === "A")) {
        e.preventDefault();
        this.#selectOnly(this.#shown.notes.keys());
        return;
      }
      if (mod || (e.altKey && !key.startsWith("Arrow"))) return;
      const arrows: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (key in arrows) {
        e.preventDefault();
        const [ax, ay] = arrows[key];
        const step = e.shiftKey ? 50 : 10;
        if (this.#selNotes.size || this.#selFrames.size) {
          if (e.altKey) this.#resizeSelection(ax * step, ay * step);
          else this.#moveSelection(ax * step, ay * step);
        } else {
          this.onUserMove?.();
          this.#vp.panBy(-ax * 60, -ay * 60);
        }
        return;
      }
      const selected = this.#selNotes.size + this.#selFrames.size;
      if (key.length === 1 && key !== " " && selected > 0) {
        // Typing with a note selected edits it (the text goes on at its end); with
        // anything else selected, letters do nothing rather than act on the board.
        if (this.#canEdit && this.#selNotes.size === 1 && !this.#selFrames.size) {
          e.preventDefault();
          const id = [...this.#selNotes][0];
          this.#startEdit(id);
          const ed = this.#editing;
          if (ed?.id === id) {
            ed.area.value += key;
            ed.area.setSelectionRange(ed.area.value.length, ed.area.value.length);
            ed.area.dispatchEvent(new Event("input"));
          }
        }
        if (!"+=-_0".includes(key)) return;
      }
      switch (key) {
        case "n":
        case "N":
          e.preventDefault();
          this.#createNoteAtCenter();
          break;
        case "f":
        case "F":
          e.preventDefault();
          this.#createFrameAtCenter();
          break;
        case "h":
        case "H":
          // History is a mode of its own: not for viewers, who only watch the board.
          if (this.#role === "viewer") return;
          e.preventDefault();
          this.#toggleHistory();
          break;
        case "Delete":
        case "Backspace":
          if (t.closest("button, a")) return;
          e.preventDefault();
          this.#deleteSelection();
          break;
        case "Enter": {
          const note = t.closest(".note") as HTMLElement | null;
          const ft = t.closest(".frame-title") as HTMLElement | null;
          if (note && t === note) {
            e.preventDefault();
            this.#startEdit(note.dataset.id!);
          } else if (ft) {
            e.preventDefault();
            this.#editFrameTitle(ft.dataset.id!);
          }
          break;
        }
        case "Escape":
          this.#setSelection(new Set(), new Set());
          this.#host.focus({ preventScroll: true });
          break;
        case "+":
        case "=":
          this.#vp.zoomCenter(1.25);
          break;
        case "-":
        case "_":
          this.#vp.zoomCenter(1 / 1.25);
          break;
        case "0":
          this.#vp.zoomCenter(1 / this.#vp.zoom);
          break;
      }
    });
    document.addEventListener("keyup", (e) => {
      if (e.key === " " && this.#spaceDown) {
        this.#spaceDown = false;
        this.#host.classList.remove("space-pan");
      }
    });
    window.addEventListener("blur", () => {
      this.#spaceDown = false;
      this.#host.classList.remove("space-pan");
    });
  }
}

let template: HTMLElement | null = null;

/** The DOM of an empty note: text, author, remote editors' label, delete button, resize handle. */
function noteTemplate(): HTMLElement {
  template ??= h(
    "div",
    { class: "note", tabindex: 0, role: "group", "aria-roledescription": "sticky note" },
    h("div", { class: "note-text" }),
    h("div", { class: "note-author", "aria-hidden": "true" }),
    h("div", { class: "note-editors", hidden: true }),
    h("button", { type: "button", class: "note-delete", tabindex: -1, "aria-label": "Delete note", title: "Delete note" }, "×"),
    h("div", { class: "note-resize", "aria-hidden": "true" }),
  );
  return template;
}

/** Arrow keys move focus between a toolbar's controls; Tab enters and leaves it once. */
function rovingToolbar(toolbar: HTMLElement): void {
  const items = () =>
    [...toolbar.querySelectorAll<HTMLElement>("button, a")].filter(
      (el) => !(el as HTMLButtonElement).disabled && el.getClientRects().length > 0,
    );
  const setCurrent = (cur: HTMLElement) => {
    for (const el of toolbar.querySelectorAll<HTMLElement>("button, a")) el.tabIndex = el === cur ? 0 : -1;
  };
  toolbar.addEventListener("focusin", (e) => setCurrent(e.target as HTMLElement));
  toolbar.addEventListener("keydown", (e) => {
    const list = items();
    const i = list.indexOf(document.activeElement as HTMLElement);
    let next = -1;
    if (e.key === "ArrowRight" || e.key === "ArrowDown") next = (i + 1) % list.length;
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") next = (i - 1 + list.length) % list.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = list.length - 1;
    if (next < 0) return;
    e.preventDefault();
    list[next].focus();
  });
  // Keep exactly one tab stop, even when the current one becomes disabled.
  new MutationObserver(() => {
    const list = items();
    if (!list.some((el) => el.tabIndex === 0) && list.length) setCurrent(list[0]);
  }).observe(toolbar, { subtree: true, attributes: true, attributeFilter: ["disabled"] });
  const first = items()[0];
  if (first) setCurrent(first);
}
