// The board page (`/b/{id}`): builds the page around the canvas and holds the state its
// parts share (see host.ts): what is shown (the live board or a historical doc), the
// selection, editability by role, lock and history mode, and the workshop host API.
// Drawing is in render.ts, pointer gestures in gestures.ts, keys in keyboard.ts, text
// editing in text-edit.ts, board commands in commands.ts and the toolbar in toolbar.ts.
import type * as Y from "yjs";
import { moveOffOthers, noteColor, setColor, str, type Board, type Rect, type YMap } from "../board";
import { createPresenterLink, tokenOf, withToken } from "../api";
import { connectionIndicator } from "../connection";
import { askName, userColor } from "../identity";
import { META_FIELDS, ROOTS, type BoardInfo, type NoteColor } from "../schema";
import { h, setTitle } from "../util";
import { Presence } from "./presence";
import { moveGrid, Viewport } from "./viewport";
import { showShareDialog } from "./share";
import { myPhoneButton } from "./my-phone";
import { openBoard, showRefusal } from "../open";
import { decorateNote, VoteModel, votePanel } from "../vote";
import { showVoteDialog } from "./vote-dialog";
import type { HistoryHost, HistoryMode } from "../history/panel";
import { restoredNotice } from "../history/notice";
import type { Role } from "../generated/protocol";
import { WorkshopModel } from "../workshop";
import { WorkshopUi, type WorkshopHost } from "./workshop-bar";
import { createFrameAtCenter, createNoteAtCenter, deleteSelection, fitContent, redo, undo } from "./commands";
import { Gestures } from "./gestures";
import type { CanvasHost, FrameView, NoteView, Shown } from "./host";
import { bindKeyboard } from "./keyboard";
import { putInReadingOrder, renderEditors, renderFrame, renderNote } from "./render";
import { TextEditing } from "./text-edit";
import { buildToolbar, defaultColor, rememberColor } from "./toolbar";

/** The board page: `/b/{id}`. */
export async function mountCanvas(root: HTMLElement, boardId: string): Promise<void> {
  const opened = await openBoard(root, boardId);
  if (opened) new CanvasView(root, opened.board, opened.info, opened.token);
}

class CanvasView implements CanvasHost, HistoryHost, WorkshopHost {
  readonly canvasEl: HTMLElement;
  readonly world: HTMLElement;
  readonly framesLayer: HTMLElement;
  readonly notesLayer: HTMLElement;
  readonly band: HTMLElement;
  readonly shield: HTMLElement;
  readonly vp: Viewport;
  readonly presence: Presence;
  readonly notes = new Map<string, NoteView>();
  readonly frames = new Map<string, FrameView>();
  selNotes = new Set<string>();
  selFrames = new Set<string>();
  color: NoteColor = defaultColor();
  readonly editor: TextEditing = new TextEditing(this);
  gestures!: Gestures;
  interacted = false;
  focusFromPointer = false;
  dead = false;
  canEdit = true;
  readonly votes: VoteModel;
  /** Notes carrying vote controls or the common-goal badge. */
  voteNotes = new Set<string>();
  readonly board: Board;
  /** The notes and frames on screen: the live board's, or a historical doc's (read-only). */
  shown: Shown;
  historical = false;
  role: Role | null = null;
  readonly workshop: WorkshopModel;
  readonly workshopUi: WorkshopUi;
  /** Notes this page added (N, double-click): moved off another one added at the same moment. */
  readonly mine = new Set<string>();
  onUserMove: (() => void) | null = null;

  #cursorLayer: HTMLElement;
  #grid: HTMLElement;
  #gridSize = 0;
  #titleEl: HTMLElement;
  #zoomLabel: HTMLButtonElement;
  #deleteBtn: HTMLButtonElement;
  #undoBtn: HTMLButtonElement;
  #redoBtn: HTMLButtonElement;
  #colorBtns: Map<NoteColor, HTMLButtonElement>;
  #meBtn: HTMLButtonElement;
  #apiTitle = "";
  #roleEditable = true;
  #page!: HTMLElement;
  #voteBtn!: HTMLButtonElement;
  #root: HTMLElement;
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
  #unstackTimer = 0;
  #orderTimer = 0;

  constructor(root: HTMLElement, board: Board, infoP: Promise<BoardInfo | Error>, token: string | null) {
    this.#root = root;
    this.board = board;
    this.shown = { notes: board.notes, frames: board.frames };
    this.#token = token;
    const b = board;
    this.#titleEl = h("h1", { class: "board-title" }, "Board");
    this.world = h("div", { class: "world" });
    this.framesLayer = h("div", { class: "frames-layer" });
    this.notesLayer = h("div", { class: "notes-layer" });
    this.band = h("div", { class: "band", hidden: true, "aria-hidden": "true" });
    this.#cursorLayer = h("div", { class: "cursors-layer", "aria-hidden": "true" });
    // Notes come first in the tab order (frames draw below them by z-index, see app.css).
    this.world.append(this.notesLayer, this.framesLayer, this.band, this.#cursorLayer);
    const help = h(
      "p",
      { class: "help", id: "canvas-help" },
      "Double-click or N: new note · F: frame · Enter: edit · arrows: move · Delete: remove · drag: pan · Shift+drag: select · wheel: zoom",
    );
    // Covers the canvas while panning, so pointer moves hit-test one element, not every note.
    this.shield = h("div", { class: "pan-shield", hidden: true, "aria-hidden": "true" });
    this.#grid = h("div", { class: "grid", "aria-hidden": "true" });
    this.canvasEl = h(
      "main",
      { class: "viewport", tabindex: 0, "aria-label": "Board canvas", "aria-describedby": "canvas-help" },
      this.#grid,
      this.world,
      this.shield,
    );

    const captureBase = `/b/${encodeURIComponent(b.id)}/capture`;
    const tb = buildToolbar(
      {
        addNote: () => createNoteAtCenter(this),
        addFrame: () => createFrameAtCenter(this),
        pickColor: (c) => this.#pickColor(c),
        deleteSelection: () => deleteSelection(this),
        undo: () => undo(this),
        redo: () => redo(this),
        zoomBy: (f) => this.vp.zoomCenter(f),
        resetZoom: () => this.vp.zoomCenter(1 / this.vp.zoom),
        fit: () => fitContent(this),
        toggleHistory: () => this.toggleHistory(),
      },
      this.color,
      withToken(captureBase, token),
    );
    const { el: toolbar, capture } = tb;
    this.#deleteBtn = tb.deleteBtn;
    this.#undoBtn = tb.undoBtn;
    this.#redoBtn = tb.redoBtn;
    this.#zoomLabel = tb.zoomLabel;
    this.#colorBtns = tb.colorBtns;
    this.#historyBtn = tb.historyBtn;
    const viewOnly = h("span", { class: "view-only", title: "This link shows the board without changing it" }, "View only");
    const historyBadge = h("span", { class: "history-badge", title: "The board as it was; the live board goes on meanwhile" }, "Viewing history");
    const share = h("button", { type: "button", class: "tool share", hidden: true, "aria-haspopup": "dialog" }, "Share");
    this.votes = new VoteModel(b);
    this.workshop = new WorkshopModel(b);
    this.workshopUi = new WorkshopUi(this.workshop, this, token);
    // Tests read the workshop as the server reported it (steps, timer, private notes).
    const exposed = (window as unknown as { __commonboard?: Record<string, unknown> }).__commonboard;
    if (exposed) exposed.workshop = this.workshop;
    this.#voteBtn = h("button", { type: "button", class: "tool vote-open", "aria-haspopup": "dialog", title: "Select candidate notes first" }, "Vote on selected notes");
    this.#voteBtn.addEventListener("click", () => this.#openVoteDialog());
    const lockBtn = h("button", { type: "button", class: "tool lock", "aria-pressed": "false" }, "Lock board");
    lockBtn.addEventListener("click", () => this.votes.send({ type: "lock", locked: !this.votes.locked }));
    const facilitatorTools = h("div", { class: "facilitator-tools", role: "group", "aria-label": "Facilitator", hidden: true }, this.#voteBtn, lockBtn);
    const lockedBadge = h("span", { class: "locked-badge", hidden: true, title: "Only the facilitator can change the board now" }, "Locked");

    const avatars = h("ul", { class: "avatars", "aria-label": "People on this board" });
    const conn = connectionIndicator(b.provider, (why) => this.#refused(why), b.delivery);
    this.#meBtn = h("button", { type: "button", class: "me", title: "Change your name" }, b.me.name);
    this.#meBtn.addEventListener("click", () => this.#rename());
    // Keyboard users reach the notes without walking through the toolbar and frames.
    const skip = h("a", { class: "skip-link", href: "#" }, "Skip to the notes");
    skip.addEventListener("click", (e) => {
      e.preventDefault();
      const first = this.notesLayer.querySelector<HTMLElement>(".note");
      (first ?? this.canvasEl).focus();
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
      this.workshopUi.bar,
      this.workshopUi.followBar,
      this.canvasEl,
      help,
      votePanel(this.votes, false),
      this.workshopUi.panels,
      restoredNotice(b.app),
    );
    b.app.on("restored", () => void this.#history?.then((m) => m.refresh()));
    this.votes.onChange(() => {
      const v = this.votes;
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
      const hgt = header.offsetHeight + (this.workshopUi.bar.hidden ? 0 : this.workshopUi.bar.offsetHeight);
      this.#page.style.setProperty("--chrome-h", `${hgt}px`);
    });
    chrome.observe(header);
    chrome.observe(this.workshopUi.bar);
    // With a token the role is unknown until the server says: read-only until then.
    this.#roleEditable = !token;
    this.#setEditable(!token);
    document.body.dataset.page = "board";

    this.vp = new Viewport(this.canvasEl, this.world);
    this.vp.onZoom = (z) => {
      const iz = String(1 / z);
      this.#cursorLayer.style.setProperty("--iz", iz);
      this.band.style.setProperty("--iz", iz);
      this.#zoomLabel.textContent = `${Math.round(z * 100)}%`;
    };
    this.vp.onChange = () => (this.#gridSize = moveGrid(this.#grid, this.vp, this.#gridSize));
    this.vp.centerOn(0, 0, 1);
    this.world.append(this.workshopUi.privateLayer);

    this.presence = new Presence(b.provider.awareness, b.me, this.#cursorLayer, avatars, (id, eds) => renderEditors(this, id, eds));

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
      if (!this.votes.role && info.role) this.#setRole(info.role);
      this.#applyEditable();
      // The facilitator hands out the capture page with the participants' link.
      const participant = tokenOf(info.links?.participant);
      if (participant) capture.setAttribute("href", withToken(captureBase, participant));
      const links = info.links;
      if (links) {
        share.hidden = false;
        share.addEventListener("click", async () => {
          // The big screen gets a presenter link of its own, never the facilitator's.
          const presenter = await createPresenterLink(this.board.id, this.#token).catch(() => undefined);
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
    this.updateSelectionUi();

    let firstSync = true;
    b.provider.on("sync", (synced) => {
      if (!synced || !firstSync) return;
      firstSync = false;
      if (!this.interacted && !this.workshopUi.landOnStep()) fitContent(this, true);
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          performance.mark("commonboard:first-render");
          document.documentElement.dataset.ready = "true";
        }),
      );
    });

    this.gestures = new Gestures(this);
    bindKeyboard(this);
  }

  // ------------------------------------------------------------ history

  toggleHistory(): void {
    this.#history ??= import("../history/panel").then(({ HistoryMode }) => {
      const mode = new HistoryMode(
        { boardId: this.board.id, token: this.#token, name: () => this.board.me.name, button: this.#historyBtn },
        this,
      );
      mode.setRole(this.role);
      this.#page.append(mode.panel);
      return mode;
    });
    this.#history.then(
      (mode) => mode.toggle(),
      (err: unknown) => console.error(err),
    );
  }

  #setRole(role: Role): void {
    this.role = role;
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
    if (historical !== this.historical) {
      this.gestures.finish(true);
      this.editor.endEdit(false);
      this.historical = historical;
      this.#page.classList.toggle("history-mode", historical);
      this.#applyEditable();
    }
    const b = this.board;
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
      const el = this.notes.get(id)?.el;
      if (!el) continue;
      el.classList.remove("history-changed");
      el.querySelector(":scope > .history-by")?.remove();
    }
    for (const [id, name] of marks) {
      const el = this.notes.get(id)?.el;
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
    const prev = this.shown;
    this.shown = next;
    const notes = new Set<string>(this.notes.keys());
    next.notes.forEach((_, id) => notes.add(id));
    const frames = new Set<string>(this.frames.keys());
    next.frames.forEach((_, id) => frames.add(id));
    if (prev !== next) this.setSelection(new Set(), new Set());
    for (const id of frames) renderFrame(this, id);
    for (const id of notes) renderNote(this, id);
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
    for (const id of frames) renderFrame(this, id);
    for (const id of notes) renderNote(this, id);
    if (frames.size || notes.size) this.#scheduleReadingOrder();
    if (notes.size && this.mine.size) {
      clearTimeout(this.#unstackTimer);
      this.#unstackTimer = window.setTimeout(() => {
        if (!this.gestures.active && this.canEdit && !this.historical) moveOffOthers(this.board, this.mine);
      }, 300);
    }
  }

  /**
   * Puts the notes in reading order for the keyboard and screen readers: area by area
   * (areas left to right, then top to bottom), and inside an area by rows. Done when
   * the board is still (no gesture, no note focused or edited), so nothing moves under
   * a pointer or loses focus.
   */
  #scheduleReadingOrder(): void {
    clearTimeout(this.#orderTimer);
    this.#orderTimer = window.setTimeout(() => {
      if (this.gestures.active || this.editor.editing || this.notesLayer.contains(document.activeElement)) {
        this.#scheduleReadingOrder();
        return;
      }
      putInReadingOrder(this);
    }, 400);
  }

  // ------------------------------------------------------------ title

  #renderTitle(): void {
    const t = str(this.board.meta, META_FIELDS.title) || this.#apiTitle || "Untitled board";
    this.#titleEl.textContent = t;
    setTitle(t);
  }

  // ------------------------------------------------------------ workshop host

  /**
   * Fits a canvas rectangle on screen; with `minZoom`, a rectangle too large to fit at
   * that zoom shows its top-left part at that zoom instead (text stays readable).
   */
  fitRect(r: Rect, minZoom = 0): void {
    this.interacted = true;
    const margin = 48;
    const zoom = Math.min(1, (this.vp.width - 2 * margin) / r.w, (this.vp.height - 2 * margin) / r.h);
    if (zoom >= minZoom) {
      this.vp.fit(r, margin);
      return;
    }
    const w = Math.min(r.w, (this.vp.width - 2 * margin) / minZoom);
    const h = Math.min(r.h, (this.vp.height - 2 * margin) / minZoom);
    this.vp.centerOn(r.x + w / 2, r.y + h / 2, minZoom);
  }

  /** The view's centre and zoom. */
  view(): { x: number; y: number; zoom: number } {
    const c = this.vp.center();
    return { x: c.x, y: c.y, zoom: this.vp.zoom };
  }

  showView(x: number, y: number, zoom: number): void {
    this.interacted = true;
    this.vp.centerOn(x, y, zoom);
  }

  toWorld(clientX: number, clientY: number): { x: number; y: number } {
    return this.vp.toWorld(clientX, clientY);
  }

  /** Vote controls on the current vote's candidates, the badge on the common goal. */
  #decorateVoteNotes(): void {
    const next = new Set<string>(this.votes.current?.settings.candidates ?? []);
    const goal = this.votes.commonGoal;
    if (goal) next.add(goal);
    for (const id of new Set([...this.voteNotes, ...next])) {
      const el = this.notes.get(id)?.el;
      if (el) decorateNote(this.votes, id, el);
    }
    this.voteNotes = next;
  }

  #openVoteDialog(): void {
    const ids = [...this.selNotes];
    if (!ids.length) return;
    showVoteDialog(ids.length, (s) => this.votes.send({ type: "open_vote", settings: { ...s, candidates: ids } }));
  }

  /** Editable unless a viewer, or the board is locked and this is not the facilitator. */
  #applyEditable(): void {
    const v = this.votes;
    const roleOk = v.role ? v.role !== "viewer" : this.#roleEditable;
    this.#setEditable(roleOk && !(v.locked && v.role !== "facilitator") && !this.historical);
  }

  // ------------------------------------------------------------ selection

  selectOnly(notes: Iterable<string>, frames: Iterable<string> = []): void {
    this.setSelection(new Set(notes), new Set(frames));
  }

  setSelection(notes: Set<string>, frames: Set<string>): void {
    for (const id of this.selNotes) if (!notes.has(id)) this.notes.get(id)?.el.classList.remove("selected");
    for (const id of notes) this.notes.get(id)?.el.classList.add("selected");
    for (const id of this.selFrames) if (!frames.has(id)) this.frames.get(id)?.el.classList.remove("selected");
    for (const id of frames) this.frames.get(id)?.el.classList.add("selected");
    this.selNotes = notes;
    this.selFrames = frames;
    this.updateSelectionUi();
  }

  updateSelectionUi(): void {
    const n = this.selNotes.size + this.selFrames.size;
    if (this.#voteBtn) {
      this.#voteBtn.disabled = this.selNotes.size === 0;
      this.#voteBtn.title = this.selNotes.size ? `Open a vote on the ${this.selNotes.size} selected notes` : "Select candidate notes first";
    }
    this.#deleteBtn.disabled = n === 0;
    for (const [c, el] of this.#colorBtns) {
      let pressed = c === this.color;
      if (this.selNotes.size) {
        pressed = true;
        for (const id of this.selNotes) {
          const m = this.shown.notes.get(id);
          if (!m || noteColor(m) !== c) pressed = false;
        }
      }
      el.setAttribute("aria-pressed", String(pressed));
    }
  }

  #pickColor(c: NoteColor): void {
    this.color = c;
    rememberColor(c);
    if (this.selNotes.size && this.canEdit) setColor(this.board, this.selNotes, c);
    this.updateSelectionUi();
  }

  // ------------------------------------------------------------ name, refusal, editability

  async #rename(): Promise<void> {
    const name = await askName(undefined, this.board.me.name);
    this.board.me.name = name;
    this.board.me.color = userColor();
    this.#meBtn.textContent = name;
    this.board.provider.params = { ...this.board.provider.params, name };
    // A label: the server keeps the same person under the new name.
    this.board.app.send({ type: "set_name", name });
    this.board.provider.awareness.setLocalStateField("user", { name, color: this.board.me.color });
  }

  /** The server refused the board for good: show why, and stop syncing. */
  #refused(why: unknown): boolean {
    if (this.dead) return true;
    const shown = showRefusal(this.#root, this.board.id, why);
    if (shown) {
      this.dead = true;
      this.presence.destroy();
      this.board.provider.destroy();
    }
    return shown;
  }

  /** Viewers see the board live but change nothing: editing tools hide, gestures only select. */
  #setEditable(editable: boolean): void {
    this.canEdit = editable;
    this.#page.classList.toggle("read-only", !editable);
    if (!editable) this.editor.endEdit(false);
  }

}
