// The board page's toolbar: add note and frame, the colour palette, delete, undo and
// redo, zoom, fit, the capture link and the History button, with arrow-key focus
// movement between its controls. The caller supplies what each control does.
import { NOTE_COLORS, type NoteColor } from "../schema";
import { h } from "../util";

const COLOR_KEY = "commonboard.noteColor";
const COLOR_LABEL: Record<NoteColor, string> = {
  yellow: "Yellow",
  pink: "Pink",
  green: "Green",
  blue: "Blue",
  orange: "Orange",
  purple: "Purple",
};

/** The colour new notes get: the last one picked on this browser, else yellow. */
export function defaultColor(): NoteColor {
  try {
    const c = localStorage.getItem(COLOR_KEY);
    if (c && (NOTE_COLORS as readonly string[]).includes(c)) return c as NoteColor;
  } catch {
    /* ignore */
  }
  return "yellow";
}

/** Remembers the colour picked, for the next board opened on this browser. */
export function rememberColor(c: NoteColor): void {
  try {
    localStorage.setItem(COLOR_KEY, c);
  } catch {
    /* ignore */
  }
}

/** What the toolbar's controls do. */
export interface ToolbarActions {
  addNote(): void;
  addFrame(): void;
  pickColor(c: NoteColor): void;
  deleteSelection(): void;
  undo(): void;
  redo(): void;
  /** Zoom about the view's centre by this factor. */
  zoomBy(factor: number): void;
  resetZoom(): void;
  fit(): void;
  toggleHistory(): void;
}

/** The toolbar and the controls whose state the canvas keeps up to date. */
export interface Toolbar {
  el: HTMLElement;
  deleteBtn: HTMLButtonElement;
  undoBtn: HTMLButtonElement;
  redoBtn: HTMLButtonElement;
  zoomLabel: HTMLButtonElement;
  colorBtns: Map<NoteColor, HTMLButtonElement>;
  historyBtn: HTMLButtonElement;
  capture: HTMLAnchorElement;
}

export function buildToolbar(a: ToolbarActions, color: NoteColor, captureHref: string): Toolbar {
  const btn = (label: string, text: string, onClick: () => void, extra: Record<string, string> = {}) => {
    const el = h("button", { type: "button", class: "tool", "aria-label": label, title: label, ...extra }, text);
    el.addEventListener("click", onClick);
    return el;
  };
  const addNoteBtn = btn("Add note (N)", "+ Note", () => a.addNote(), { "aria-keyshortcuts": "N" });
  const addFrameBtn = btn("Add frame (F)", "+ Frame", () => a.addFrame(), { "aria-keyshortcuts": "F" });
  const palette = h("div", { class: "palette", role: "group", "aria-label": "Note colour" });
  const colorBtns = new Map<NoteColor, HTMLButtonElement>();
  for (const c of NOTE_COLORS) {
    const el = h("button", {
      type: "button",
      class: `tool swatch note-${c}`,
      "aria-label": `${COLOR_LABEL[c]} note colour`,
      title: COLOR_LABEL[c],
      "aria-pressed": String(c === color),
    });
    el.addEventListener("click", () => a.pickColor(c));
    colorBtns.set(c, el);
    palette.append(el);
  }
  const deleteBtn = btn("Delete selected (Delete)", "Delete", () => a.deleteSelection(), { "aria-keyshortcuts": "Delete" });
  const undoBtn = btn("Undo (Ctrl+Z)", "↶", () => a.undo(), { "aria-keyshortcuts": "Control+Z" });
  const redoBtn = btn("Redo (Ctrl+Shift+Z)", "↷", () => a.redo(), { "aria-keyshortcuts": "Control+Shift+Z" });
  const zoomOut = btn("Zoom out (-)", "−", () => a.zoomBy(1 / 1.25));
  const zoomLabel = btn("Reset zoom to 100% (0)", "100%", () => a.resetZoom());
  const zoomIn = btn("Zoom in (+)", "+", () => a.zoomBy(1.25));
  const fit = btn("Fit board to screen", "⤢", () => a.fit());
  const capture = h(
    "a",
    { class: "tool", href: captureHref, target: "_blank", rel: "noopener", title: "Phone capture page", "aria-label": "Open phone capture page" },
    "Capture",
  );
  for (const el of [addNoteBtn, addFrameBtn, palette, deleteBtn, undoBtn, redoBtn]) el.classList.add("edit-tool");
  const historyBtn = h(
    "button",
    { type: "button", class: "tool history-toggle", "aria-expanded": "false", "aria-controls": "history-panel", "aria-keyshortcuts": "H", title: "History (H)" },
    "History",
  );
  historyBtn.addEventListener("click", () => a.toggleHistory());
  const el = h(
    "div",
    { class: "toolbar", role: "toolbar", "aria-label": "Board tools" },
    addNoteBtn,
    addFrameBtn,
    palette,
    deleteBtn,
    h("span", { class: "sep", "aria-hidden": "true" }),
    undoBtn,
    redoBtn,
    h("span", { class: "sep", "aria-hidden": "true" }),
    zoomOut,
    zoomLabel,
    zoomIn,
    fit,
    capture,
    h("span", { class: "sep", "aria-hidden": "true" }),
    historyBtn,
  );
  rovingToolbar(el);
  return { el, deleteBtn, undoBtn, redoBtn, zoomLabel, colorBtns, historyBtn, capture };
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
