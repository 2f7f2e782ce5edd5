// Keyboard shortcuts of the board page: undo/redo, N and F to add, arrows to move
// (Alt: resize) or pan, typing to edit the selected note, Enter, Delete, Escape, zoom
// keys, H for history, and space held to pan with the pointer.
import { isTextInput } from "../util";
import { createFrameAtCenter, createNoteAtCenter, deleteSelection, moveSelection, redo, resizeSelection, undo } from "./commands";
import type { CanvasHost } from "./host";

/** Listens on the document: the canvas takes keys wherever focus is, except in dialogs and panels. */
export function bindKeyboard(c: CanvasHost): void {
  document.addEventListener("keydown", (e) => {
    if (c.dead || document.querySelector("dialog[open]")) return;
    const t = e.target as HTMLElement;
    // The history panel's controls (scrubber, speed) take their own keys.
    if (t.closest?.(".history-panel")) return;
    // So do the workshop's tables (a checkbox must not take Delete to the canvas).
    if (t.closest?.(".ws-panel")) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key;
    if (mod && !e.altKey && (key === "z" || key === "Z") && !(t instanceof HTMLInputElement && t.classList.contains("frame-title-input"))) {
      e.preventDefault();
      if (e.shiftKey) redo(c);
      else undo(c);
      return;
    }
    if (mod && !e.altKey && (key === "y" || key === "Y")) {
      e.preventDefault();
      redo(c);
      return;
    }
    if (isTextInput(t)) return;
    if (t.closest(".toolbar") && key.startsWith("Arrow")) return;
    if (key === " ") {
      if (t.closest("button, a")) return;
      e.preventDefault();
      if (!c.gestures.spaceDown) {
        c.gestures.spaceDown = true;
        c.canvasEl.classList.add("space-pan");
      }
      return;
    }
    if (mod && (key === "a" || key === "A")) {
      e.preventDefault();
      c.selectOnly(c.shown.notes.keys());
      return;
    }
    if (mod || (e.altKey && !key.startsWith("Arrow"))) return;
    const arrows: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (key in arrows) {
      e.preventDefault();
      const [ax, ay] = arrows[key];
      const step = e.shiftKey ? 50 : 10;
      if (c.selNotes.size || c.selFrames.size) {
        if (e.altKey) resizeSelection(c, ax * step, ay * step);
        else moveSelection(c, ax * step, ay * step);
      } else {
        c.onUserMove?.();
        c.vp.panBy(-ax * 60, -ay * 60);
      }
      return;
    }
    const selected = c.selNotes.size + c.selFrames.size;
    if (key.length === 1 && key !== " " && selected > 0) {
      // Typing with a note selected edits it (the text goes on at its end); with
      // anything else selected, letters do nothing rather than act on the board.
      if (c.canEdit && c.selNotes.size === 1 && !c.selFrames.size) {
        e.preventDefault();
        const id = [...c.selNotes][0];
        c.editor.startEdit(id);
        const ed = c.editor.editing;
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
        createNoteAtCenter(c);
        break;
      case "f":
      case "F":
        e.preventDefault();
        createFrameAtCenter(c);
        break;
      case "h":
      case "H":
        // History is a mode of its own: not for viewers, who only watch the board.
        if (c.role === "viewer") return;
        e.preventDefault();
        c.toggleHistory();
        break;
      case "Delete":
      case "Backspace":
        if (t.closest("button, a")) return;
        e.preventDefault();
        deleteSelection(c);
        break;
      case "Enter": {
        const note = t.closest(".note") as HTMLElement | null;
        const ft = t.closest(".frame-title") as HTMLElement | null;
        if (note && t === note) {
          e.preventDefault();
          c.editor.startEdit(note.dataset.id!);
        } else if (ft) {
          e.preventDefault();
          c.editor.editFrameTitle(ft.dataset.id!);
        }
        break;
      }
      case "Escape":
        c.setSelection(new Set(), new Set());
        c.canvasEl.focus({ preventScroll: true });
        break;
      case "+":
      case "=":
        c.vp.zoomCenter(1.25);
        break;
      case "-":
      case "_":
        c.vp.zoomCenter(1 / 1.25);
        break;
      case "0":
        c.vp.zoomCenter(1 / c.vp.zoom);
        break;
    }
  });
  document.addEventListener("keyup", (e) => {
    if (e.key === " " && c.gestures.spaceDown) {
      c.gestures.spaceDown = false;
      c.canvasEl.classList.remove("space-pan");
    }
  });
  window.addEventListener("blur", () => {
    c.gestures.spaceDown = false;
    c.canvasEl.classList.remove("space-pan");
  });
}
