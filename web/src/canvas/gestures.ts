// Pointer gestures on the canvas: pan (drag on empty space, middle button, space+drag),
// drag and resize of notes and frames, band selection (shift+drag), two-finger pinch,
// double-tap, and the wheel (zoom or pan).
import { assignFrames, deleteItems, frameRect, noteRect, refreshFrameMembers, setFramePos, setNotePos, setSize, transact, type YMap } from "../board";
import { createNoteAt, ensureVisible, movingSet } from "./commands";
import { MIN_FRAME, MIN_NOTE, type CanvasHost, type GestureState, type Pos } from "./host";

type Gesture =
  | { kind: "pan"; pointerId: number; lastX: number; lastY: number; startX: number; startY: number; moved: boolean; hitKey: string }
  | {
      kind: "drag";
      pointerId: number;
      startX: number;
      startY: number;
      moved: boolean;
      notes: Map<string, Pos>;
      frames: Map<string, Pos>;
      direct: Set<string>;
      dx: number;
      dy: number;
      hitKey: string;
      collapseTo: { kind: "note" | "frame"; id: string } | null;
    }
  | { kind: "resize"; pointerId: number; target: "note" | "frame"; id: string; startX: number; startY: number; w: number; h: number; dw: number; dh: number; moved: boolean }
  | { kind: "band"; pointerId: number; start: Pos; base: Set<string>; baseFrames: Set<string> }
  | { kind: "pinch"; startDist: number; startZoom: number; anchor: Pos };

export class Gestures implements GestureState {
  readonly #c: CanvasHost;
  #pointers = new Map<number, Pos>();
  #gesture: Gesture | null = null;
  spaceDown = false;
  #lastTap: { t: number; x: number; y: number; key: string } | null = null;
  #dragFrame = 0;

  /** Listens on the canvas (and the window, for moves and releases outside it). */
  constructor(c: CanvasHost) {
    this.#c = c;
    this.#bindPointer();
  }

  get active(): boolean {
    return this.#gesture !== null;
  }

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
    const host = this.#c.canvasEl;
    host.addEventListener("pointerdown", (e) => this.#onPointerDown(e));
    window.addEventListener("pointermove", (e) => this.#onPointerMove(e));
    window.addEventListener("pointerup", (e) => this.#onPointerUp(e, false));
    window.addEventListener("pointercancel", (e) => this.#onPointerUp(e, true));
    host.addEventListener("pointermove", (e) => {
      if (e.pointerType !== "touch") this.#c.presence.setCursor(this.#c.vp.toWorld(e.clientX, e.clientY));
    });
    host.addEventListener("pointerleave", (e) => {
      if (e.pointerType !== "touch" && !this.#gesture) this.#c.presence.setCursor(null);
    });
    host.addEventListener("wheel", (e) => this.#onWheel(e), { passive: false });
    this.#c.notesLayer.addEventListener("click", (e) => {
      const del = (e.target as Element).closest(".note-delete");
      const id = (del?.closest(".note") as HTMLElement | null)?.dataset.id;
      if (!id || !this.#c.canEdit) return;
      e.stopPropagation();
      this.#c.board.undo.stopCapturing();
      deleteItems(this.#c.board, [id], []);
    });
    host.addEventListener("contextmenu", (e) => {
      if (this.#gesture) e.preventDefault();
    });
    // Keyboard focus entering a note or frame title selects it and brings it into view.
    this.#c.world.addEventListener("focusin", (e) => {
      if (this.#c.focusFromPointer) return;
      const t = e.target as HTMLElement;
      if (t.classList.contains("note")) {
        const id = t.dataset.id!;
        if (!this.#c.selNotes.has(id)) this.#c.selectOnly([id]);
        ensureVisible(this.#c, id);
      } else if (t.classList.contains("frame-title")) {
        const id = t.dataset.id!;
        if (!this.#c.selFrames.has(id)) this.#c.selectOnly([], [id]);
        const f = this.#c.shown.frames.get(id);
        if (f) {
          const r = frameRect(f);
          if (!this.#c.vp.isVisible({ x: r.x, y: r.y, w: Math.min(r.w, 200), h: 40 })) this.#c.vp.centerOn(r.x + r.w / 2, r.y + r.h / 2);
        }
      }
    });
  }

  #focusQuietly(el: HTMLElement): void {
    if (document.activeElement === el) return;
    this.#c.focusFromPointer = true;
    el.focus({ preventScroll: true });
    this.#c.focusFromPointer = false;
  }

  #onPointerDown(e: PointerEvent): void {
    const t = e.target as HTMLElement;
    if (t.closest("textarea, input, button, select, a")) return;
    if (e.button !== 0 && e.button !== 1) return;
    this.#c.interacted = true;
    this.#c.onUserMove?.();
    this.#pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (e.pointerType === "touch" && this.#pointers.size === 2) {
      this.finish(true);
      const [a, b] = [...this.#pointers.values()];
      const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      this.#gesture = {
        kind: "pinch",
        startDist: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)),
        startZoom: this.#c.vp.zoom,
        anchor: this.#c.vp.toWorld(mid.x, mid.y),
      };
      e.preventDefault();
      return;
    }
    if (this.#gesture) return;
    const hit = this.#hit(t);
    const additive = e.shiftKey || e.ctrlKey || e.metaKey;
    if (e.button === 1 || this.spaceDown) {
      e.preventDefault();
      this.#startPan(e, "pan");
      return;
    }
    if (!this.#c.canEdit && hit.kind !== "empty") {
      // Viewers: clicking a note or frame selects it (to read it); nothing moves.
      const id = hit.id;
      if (hit.kind.startsWith("note")) this.#c.selectOnly([id]);
      else this.#c.selectOnly([], [id]);
      const el = hit.kind.startsWith("note") ? this.#c.notes.get(id)?.el : this.#c.frames.get(id)?.titleEl;
      if (el) this.#focusQuietly(el);
      this.#pointers.delete(e.pointerId);
      return;
    }
    if (hit.kind === "note-resize" || hit.kind === "frame-resize") {
      e.preventDefault();
      const target = hit.kind === "note-resize" ? "note" : "frame";
      const m = target === "note" ? this.#c.board.notes.get(hit.id) : this.#c.board.frames.get(hit.id);
      if (!m) return;
      const r = target === "note" ? noteRect(m) : frameRect(m);
      if (target === "note") {
        if (!this.#c.selNotes.has(hit.id)) this.#c.selectOnly([hit.id]);
      } else if (!this.#c.selFrames.has(hit.id)) this.#c.selectOnly([], [hit.id]);
      this.#gesture = { kind: "resize", pointerId: e.pointerId, target, id: hit.id, startX: e.clientX, startY: e.clientY, w: r.w, h: r.h, dw: 0, dh: 0, moved: false };
      return;
    }
    if (hit.kind === "note" || hit.kind === "frame") {
      const isNote = hit.kind === "note";
      const sel = isNote ? this.#c.selNotes : this.#c.selFrames;
      let collapseTo: { kind: "note" | "frame"; id: string } | null = null;
      if (additive) {
        const notes = new Set(this.#c.selNotes);
        const frames = new Set(this.#c.selFrames);
        const s = isNote ? notes : frames;
        if (s.has(hit.id)) s.delete(hit.id);
        else s.add(hit.id);
        this.#c.setSelection(notes, frames);
        if (!s.has(hit.id)) {
          this.#pointers.delete(e.pointerId);
          return;
        }
      } else if (!sel.has(hit.id)) {
        if (isNote) this.#c.selectOnly([hit.id]);
        else this.#c.selectOnly([], [hit.id]);
      } else {
        collapseTo = { kind: hit.kind, id: hit.id };
      }
      const el = isNote ? this.#c.notes.get(hit.id)?.el : this.#c.frames.get(hit.id)?.titleEl;
      if (el && !(this.#c.editor.editing?.id === hit.id)) this.#focusQuietly(el);
      const { notes, frames } = movingSet(this.#c);
      this.#gesture = {
        kind: "drag",
        pointerId: e.pointerId,
        startX: e.clientX,
        startY: e.clientY,
        moved: false,
        notes,
        frames,
        direct: new Set(this.#c.selNotes),
        dx: 0,
        dy: 0,
        hitKey: `${hit.kind}:${hit.id}`,
        collapseTo,
      };
      return;
    }
    // Empty canvas.
    this.#focusQuietly(this.#c.canvasEl);
    if (e.shiftKey) {
      e.preventDefault();
      const start = this.#c.vp.toWorld(e.clientX, e.clientY);
      this.#gesture = { kind: "band", pointerId: e.pointerId, start, base: new Set(this.#c.selNotes), baseFrames: new Set(this.#c.selFrames) };
      this.#c.band.hidden = false;
      this.#drawBand(start, start);
      return;
    }
    this.#startPan(e, "empty");
  }

  #startPan(e: PointerEvent, hitKey: string): void {
    this.#gesture = { kind: "pan", pointerId: e.pointerId, lastX: e.clientX, lastY: e.clientY, startX: e.clientX, startY: e.clientY, moved: false, hitKey };
    this.#c.canvasEl.classList.add("panning");
    this.#c.shield.hidden = false;
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
      this.#c.vp.zoom = z;
      this.#c.vp.refreshRect();
      const p = this.#c.vp.toWorld(mid.x, mid.y);
      this.#c.vp.x += (p.x - g.anchor.x) * z;
      this.#c.vp.y += (p.y - g.anchor.y) * z;
      this.#c.vp.apply();
      return;
    }
    if (e.pointerId !== g.pointerId) return;
    const dist = Math.hypot(e.clientX - ("startX" in g ? g.startX : e.clientX), e.clientY - ("startY" in g ? g.startY : e.clientY));
    switch (g.kind) {
      case "pan": {
        if (!g.moved && dist < 3) return;
        g.moved = true;
        this.#c.vp.panBy(e.clientX - g.lastX, e.clientY - g.lastY);
        g.lastX = e.clientX;
        g.lastY = e.clientY;
        return;
      }
      case "drag": {
        if (!g.moved && dist < 4) return;
        if (!g.moved) {
          g.moved = true;
          this.#c.board.undo.stopCapturing();
          this.#c.board.undo.captureTimeout = 1e9;
          for (const id of g.notes.keys()) this.#c.notes.get(id)?.el.classList.add("dragging");
        }
        g.dx = (e.clientX - g.startX) / this.#c.vp.zoom;
        g.dy = (e.clientY - g.startY) / this.#c.vp.zoom;
        this.#scheduleDragWrite();
        return;
      }
      case "resize": {
        if (!g.moved && dist < 2) return;
        if (!g.moved) {
          g.moved = true;
          this.#c.board.undo.stopCapturing();
          this.#c.board.undo.captureTimeout = 1e9;
        }
        g.dw = (e.clientX - g.startX) / this.#c.vp.zoom;
        g.dh = (e.clientY - g.startY) / this.#c.vp.zoom;
        this.#scheduleDragWrite();
        return;
      }
      case "band": {
        const p = this.#c.vp.toWorld(e.clientX, e.clientY);
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
      transact(this.#c.board, () => {
        for (const [id, p] of g.frames) {
          const m = this.#c.board.frames.get(id);
          if (m) setFramePos(m, p.x + dx, p.y + dy);
        }
        for (const [id, p] of g.notes) {
          const m = this.#c.board.notes.get(id);
          if (m) setNotePos(m, p.x + dx, p.y + dy);
        }
      });
    } else if (g.kind === "resize" && g.moved) {
      const min = g.target === "note" ? MIN_NOTE : MIN_FRAME;
      const m = g.target === "note" ? this.#c.board.notes.get(g.id) : this.#c.board.frames.get(g.id);
      if (m) transact(this.#c.board, () => setSize(m as YMap, Math.max(min.w, g.w + g.dw), Math.max(min.h, g.h + g.dh)));
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
      if (c.kind === "note") this.#c.selectOnly([c.id]);
      else this.#c.selectOnly([], [c.id]);
    }
    if (g.kind === "pan" && !moved && !cancelled && hitKey === "empty" && !e.shiftKey) {
      this.#c.setSelection(new Set(), new Set());
    }
    this.finish(cancelled);
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

  finish(cancelled: boolean): void {
    const g = this.#gesture;
    if (!g) return;
    if (this.#dragFrame) {
      cancelAnimationFrame(this.#dragFrame);
      this.#dragFrame = 0;
    }
    if (g.kind === "drag" && g.moved) {
      this.#writeGesture();
      for (const id of g.notes.keys()) this.#c.notes.get(id)?.el.classList.remove("dragging");
      if (!cancelled) assignFrames(this.#c.board, g.direct);
      this.#c.board.undo.captureTimeout = 500;
      this.#c.board.undo.stopCapturing();
    } else if (g.kind === "resize" && g.moved) {
      this.#writeGesture();
      if (g.target === "frame") refreshFrameMembers(this.#c.board, g.id);
      else assignFrames(this.#c.board, [g.id]);
      this.#c.board.undo.captureTimeout = 500;
      this.#c.board.undo.stopCapturing();
    } else if (g.kind === "band") {
      this.#c.band.hidden = true;
    }
    this.#c.canvasEl.classList.remove("panning");
    this.#c.shield.hidden = true;
    this.#gesture = null;
  }

  #onDoubleTap(hitKey: string, e: PointerEvent): void {
    const [kind, id] = hitKey.split(":");
    if (kind === "empty") {
      const p = this.#c.vp.toWorld(e.clientX, e.clientY);
      createNoteAt(this.#c, p.x, p.y);
    } else if (kind === "note") {
      this.#c.selectOnly([id]);
      this.#c.editor.startEdit(id);
    } else if (kind === "frame") {
      this.#c.editor.editFrameTitle(id);
    }
  }

  #drawBand(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const x = Math.min(a.x, b.x);
    const y = Math.min(a.y, b.y);
    this.#c.band.style.transform = `translate(${x}px, ${y}px)`;
    this.#c.band.style.width = `${Math.abs(a.x - b.x)}px`;
    this.#c.band.style.height = `${Math.abs(a.y - b.y)}px`;
  }

  #selectBand(g: Extract<Gesture, { kind: "band" }>, p: { x: number; y: number }): void {
    const x1 = Math.min(g.start.x, p.x);
    const y1 = Math.min(g.start.y, p.y);
    const x2 = Math.max(g.start.x, p.x);
    const y2 = Math.max(g.start.y, p.y);
    const notes = new Set(g.base);
    const frames = new Set(g.baseFrames);
    this.#c.shown.notes.forEach((m, id) => {
      const r = noteRect(m);
      if (r.x < x2 && r.x + r.w > x1 && r.y < y2 && r.y + r.h > y1) notes.add(id);
    });
    this.#c.shown.frames.forEach((m, id) => {
      const r = frameRect(m);
      if (r.x >= x1 && r.y >= y1 && r.x + r.w <= x2 && r.y + r.h <= y2) frames.add(id);
    });
    this.#c.setSelection(notes, frames);
  }

  #onWheel(e: WheelEvent): void {
    const t = e.target as HTMLElement;
    if (t instanceof HTMLTextAreaElement && !e.ctrlKey && t.scrollHeight > t.clientHeight) return;
    e.preventDefault();
    this.#c.interacted = true;
    this.#c.onUserMove?.();
    const scale = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    const dx = e.deltaX * scale;
    const dy = e.deltaY * scale;
    if (e.ctrlKey || e.metaKey) {
      // Trackpad pinch (reported as ctrl+wheel) or ctrl+wheel.
      this.#c.vp.zoomAt(e.clientX, e.clientY, Math.exp(-dy * 0.01));
      return;
    }
    // A mouse wheel clicks in whole steps on one axis; a trackpad scrolls smoothly on two.
    const mouseWheel = e.deltaMode !== 0 || (dx === 0 && Math.abs(dy) >= 40 && Number.isInteger(dy));
    if (mouseWheel && !e.shiftKey) {
      this.#c.vp.zoomAt(e.clientX, e.clientY, Math.exp(-dy * 0.0015));
    } else if (e.shiftKey && dx === 0) {
      this.#c.vp.panBy(-dy, 0);
    } else {
      this.#c.vp.panBy(-dx, -dy);
    }
  }
}
