// Drawing the board's notes and frames: each view is created once (notes cloned from
// a prepared template) and then updated in place, touching only what changed.
import { frameRect, noteColor, noteFrame, noteRect, noteText, str, type YMap } from "../board";
import { NOTE_KINDS } from "../generated/protocol";
import { FRAME_FIELDS, NOTE_FIELDS } from "../schema";
import { h } from "../util";
import { decorateNote } from "../vote";
import { kindForFrame } from "../workshop";
import { addRemedy } from "./commands";
import type { CanvasHost, NoteView } from "./host";
import type { Person } from "./presence";

export function renderNote(c: CanvasHost, id: string): void {
  const m = c.shown.notes.get(id);
  let v = c.notes.get(id);
  if (!m) {
    if (v) {
      if (c.editor.editing?.id === id) c.editor.endEdit(false);
      const hadFocus = v.el.contains(document.activeElement);
      v.el.remove();
      c.notes.delete(id);
      if (c.selNotes.delete(id)) c.updateSelectionUi();
      if (hadFocus) c.canvasEl.focus({ preventScroll: true });
    }
    return;
  }
  if (!v) {
    // Cloning one prepared element is much cheaper than building each note afresh.
    const el = noteTemplate().cloneNode(true) as HTMLElement;
    el.dataset.id = id;
    const [textEl, authorEl, editorsEl] = el.children as unknown as HTMLElement[];
    v = { id, el, textEl, authorEl, editorsEl, x: NaN, y: NaN, w: NaN, h: NaN, color: "", text: "\u0000", author: "\u0000", kind: "", remedyBtn: null };
    c.notes.set(id, v);
    c.notesLayer.append(el);
    const eds = c.presence.editorsOf(id);
    if (eds.length) renderEditors(c, id, eds);
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
    if (c.voteNotes.has(id)) decorateNote(c.votes, id, v.el);
  }
  decorateKind(c, id, m, v);
}

/** An obstacle offers "How we manage it" until it has a remedy. */
export function decorateKind(c: CanvasHost, id: string, m: YMap, v: NoteView): void {
  const own = m.get(NOTE_FIELDS.kind);
  const kind = (typeof own === "string" && own) || kindForFrame(c.board, noteFrame(m)) || "";
  if (v.kind !== kind) {
    v.kind = kind;
    if (kind) v.el.dataset.kind = kind;
    else delete v.el.dataset.kind;
  }
  const wants = kind === NOTE_KINDS.obstacle && !c.historical && !m.get(NOTE_FIELDS.pair);
  if (!wants && !v.remedyBtn) return;
  if (wants && !v.remedyBtn) {
    const btn = h("button", { type: "button", class: "note-remedy edit-tool" }, "How we manage it");
    btn.addEventListener("click", (e) => {
      e.stopPropagation();
      addRemedy(c, id);
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

export function renderEditors(c: CanvasHost, noteId: string, editors: Person[]): void {
  const v = c.notes.get(noteId);
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

export function renderFrame(c: CanvasHost, id: string): void {
  const m = c.shown.frames.get(id);
  let v = c.frames.get(id);
  if (!m) {
    if (v) {
      if (c.editor.editingFrame === id) c.editor.editingFrame = null;
      v.el.remove();
      c.frames.delete(id);
      if (c.selFrames.delete(id)) c.updateSelectionUi();
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
    c.frames.set(id, v);
    c.framesLayer.append(el);
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
    if (c.editor.editingFrame !== id) v.titleEl.textContent = title;
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

/** Orders the notes layer area by area, then by rows (see `#scheduleReadingOrder` in canvas.ts). */
export function putInReadingOrder(c: CanvasHost): void {
  const areas = new Map<string, number>();
  const frames: { id: string; x: number; y: number }[] = [];
  c.shown.frames.forEach((m, id) => frames.push({ id, ...frameRect(m) }));
  frames.sort((a, z) => a.x - z.x || a.y - z.y);
  frames.forEach((f, i) => areas.set(f.id, i));
  const views = [...c.notes.values()].map((v) => {
    const m = c.shown.notes.get(v.id);
    const f = m ? noteFrame(m) : null;
    return { v, area: f !== null && areas.has(f) ? areas.get(f)! : frames.length, row: Math.round(v.y / 40), x: v.x };
  });
  views.sort((a, z) => a.area - z.area || a.row - z.row || a.x - z.x);
  const inOrder = views.every((o, i) => c.notesLayer.children[i] === o.v.el);
  if (!inOrder) c.notesLayer.append(...views.map((o) => o.v.el));
}
