// Editing text in place: a note's text in a textarea bound to its Y.Text (remote edits
// keep the caret where it was), and a frame's title in an input.
import type * as Y from "yjs";
import { ensureText, setFrameTitle, transact } from "../board";
import { applyText, transformIndex } from "../textdiff";
import { h } from "../util";
import type { CanvasHost, Editor, NoteEditing } from "./host";

export class TextEditing implements Editor {
  readonly #c: CanvasHost;
  #editing: NoteEditing | null = null;
  editingFrame: string | null = null;

  constructor(c: CanvasHost) {
    this.#c = c;
  }

  get editing(): NoteEditing | null {
    return this.#editing;
  }

  startEdit(id: string): void {
    if (!this.#c.canEdit) return;
    if (this.#editing?.id === id) return;
    this.endEdit(false);
    const m = this.#c.board.notes.get(id);
    const v = this.#c.notes.get(id);
    if (!m || !v) return;
    const text = ensureText(this.#c.board, m);
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
      transact(this.#c.board, () => applyText(text, area.value));
    };
    area.addEventListener("input", commit);
    area.addEventListener("compositionstart", () => (ed.composing = true));
    area.addEventListener("compositionend", () => {
      ed.composing = false;
      commit();
    });
    area.addEventListener("blur", () => {
      if (this.#editing === ed) this.endEdit(false);
    });
    area.addEventListener("keydown", (e) => {
      if (e.key === "Escape" || (e.key === "Enter" && (e.ctrlKey || e.metaKey))) {
        e.preventDefault();
        e.stopPropagation();
        this.endEdit(true);
      }
    });
    text.observe(ed.observer);
    this.#editing = ed;
    v.el.classList.add("editing");
    v.textEl.hidden = true;
    v.el.append(area);
    area.focus({ preventScroll: true });
    area.setSelectionRange(area.value.length, area.value.length);
    this.#c.presence.setEditing(id);
    this.#c.board.undo.stopCapturing();
  }

  endEdit(refocus: boolean): void {
    const ed = this.#editing;
    if (!ed) return;
    this.#editing = null;
    ed.text.unobserve(ed.observer);
    if (!ed.composing && ed.area.value !== ed.text.toString() && this.#c.board.notes.has(ed.id)) {
      transact(this.#c.board, () => applyText(ed.text, ed.area.value));
    }
    const v = this.#c.notes.get(ed.id);
    const hadFocus = document.activeElement === ed.area;
    ed.area.remove();
    if (v) {
      v.el.classList.remove("editing");
      v.textEl.hidden = false;
      if (refocus || hadFocus) {
        this.#c.focusFromPointer = true;
        v.el.focus({ preventScroll: true });
        this.#c.focusFromPointer = false;
      }
    }
    this.#c.presence.setEditing(null);
    this.#c.board.undo.stopCapturing();
  }

  editFrameTitle(id: string): void {
    if (!this.#c.canEdit) return;
    const v = this.#c.frames.get(id);
    if (!v || this.editingFrame === id) return;
    this.editingFrame = id;
    const input = h("input", { type: "text", class: "frame-title-input", "aria-label": "Frame title", maxlength: 120 });
    input.value = v.title;
    let done = false;
    const finish = (save: boolean) => {
      if (done) return;
      done = true;
      if (save) setFrameTitle(this.#c.board, id, input.value.trim() || "Frame");
      this.editingFrame = null;
      const cur = this.#c.frames.get(id);
      if (cur) {
        cur.titleEl.textContent = cur.title;
        this.#c.focusFromPointer = true;
        cur.titleEl.focus({ preventScroll: true });
        this.#c.focusFromPointer = false;
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
}
