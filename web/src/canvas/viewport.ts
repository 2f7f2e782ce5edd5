// Pan and zoom of the infinite canvas (one CSS transform on the world element), and the
// background grid that follows it.
import { clamp } from "../util";

export const MIN_ZOOM = 0.1;
export const MAX_ZOOM = 4;

/**
 * Pan and zoom of the infinite canvas, applied as one CSS transform on the world
 * element: screen = world * zoom + (x, y), relative to the host's top-left corner.
 */
export class Viewport {
  x = 0;
  y = 0;
  zoom = 1;
  #rect: DOMRect;
  #appliedZoom = NaN;
  onChange: (() => void) | null = null;
  onZoom: ((zoom: number) => void) | null = null;

  #host: HTMLElement;

  #world: HTMLElement;

  constructor(
    host: HTMLElement,
    world: HTMLElement,

  ) {

    this.#host = host;

    this.#world = world;
    this.#rect = host.getBoundingClientRect();
    new ResizeObserver(() => {
      const before = this.#rect;
      this.#rect = this.#host.getBoundingClientRect();
      // The middle of the view stays in the middle (a panel opening below, a phone turning).
      const dx = (this.#rect.width - before.width) / 2;
      const dy = (this.#rect.height - before.height) / 2;
      if (dx || dy) this.panBy(dx, dy);
    }).observe(host);
    // Focusing an element inside an overflow:hidden box can scroll it; the transform is
    // the only positioning we want.
    host.addEventListener("scroll", () => {
      host.scrollLeft = 0;
      host.scrollTop = 0;
    });
    this.apply();
  }

  get width(): number {
    return this.#rect.width;
  }

  get height(): number {
    return this.#rect.height;
  }

  refreshRect(): void {
    this.#rect = this.#host.getBoundingClientRect();
  }

  apply(): void {
    this.#world.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.zoom})`;
    if (this.zoom !== this.#appliedZoom) {
      this.#appliedZoom = this.zoom;
      this.#host.dataset.zoom = String(Math.round(this.zoom * 100));
      this.onZoom?.(this.zoom);
    }
    this.onChange?.();
  }

  /** Canvas coordinates of a point given in client (page) coordinates. */
  toWorld(clientX: number, clientY: number): { x: number; y: number } {
    return {
      x: (clientX - this.#rect.left - this.x) / this.zoom,
      y: (clientY - this.#rect.top - this.y) / this.zoom,
    };
  }

  /** Canvas coordinates of the middle of the visible area. */
  center(): { x: number; y: number } {
    return this.toWorld(this.#rect.left + this.#rect.width / 2, this.#rect.top + this.#rect.height / 2);
  }

  panBy(dx: number, dy: number): void {
    this.x += dx;
    this.y += dy;
    this.apply();
  }

  /** Zooms by `factor`, keeping the point under (clientX, clientY) in place. */
  zoomAt(clientX: number, clientY: number, factor: number): void {
    this.setZoomAt(clientX, clientY, this.zoom * factor);
  }

  setZoomAt(clientX: number, clientY: number, zoom: number): void {
    const z = clamp(zoom, MIN_ZOOM, MAX_ZOOM);
    const p = this.toWorld(clientX, clientY);
    this.zoom = z;
    this.x = clientX - this.#rect.left - p.x * z;
    this.y = clientY - this.#rect.top - p.y * z;
    this.apply();
  }

  zoomCenter(factor: number): void {
    this.zoomAt(this.#rect.left + this.#rect.width / 2, this.#rect.top + this.#rect.height / 2, factor);
  }

  /** Puts canvas point (wx, wy) in the middle of the view, at the given zoom. */
  centerOn(wx: number, wy: number, zoom = this.zoom): void {
    this.zoom = clamp(zoom, MIN_ZOOM, MAX_ZOOM);
    this.x = this.#rect.width / 2 - wx * this.zoom;
    this.y = this.#rect.height / 2 - wy * this.zoom;
    this.apply();
  }

  /** Shows the whole rectangle, at most at 100 %. */
  fit(r: { x: number; y: number; w: number; h: number }, margin = 48): void {
    const zw = (this.#rect.width - margin * 2) / Math.max(r.w, 1);
    const zh = (this.#rect.height - margin * 2) / Math.max(r.h, 1);
    this.centerOn(r.x + r.w / 2, r.y + r.h / 2, Math.min(1, zw, zh));
  }

  /** Whether a canvas rectangle is fully visible. */
  isVisible(r: { x: number; y: number; w: number; h: number }): boolean {
    const left = r.x * this.zoom + this.x;
    const top = r.y * this.zoom + this.y;
    return left >= 0 && top >= 0 && left + r.w * this.zoom <= this.#rect.width && top + r.h * this.zoom <= this.#rect.height;
  }
}

/**
 * Moves the dot grid with the canvas: one transform, shifted by the pan modulo the
 * grid's spacing, which stays between 12 and 48 px whatever the zoom. The grid element
 * starts 48 px left of and above the viewport (see app.css). Takes the spacing shown
 * now and returns the one shown after.
 */
export function moveGrid(grid: HTMLElement, vp: Viewport, shownSize: number): number {
  let size = 24 * vp.zoom;
  while (size < 12) size *= 2;
  while (size > 48) size /= 2;
  if (size !== shownSize) grid.style.backgroundSize = `${size}px ${size}px`;
  const ox = (((vp.x + 48) % size) + size) % size;
  const oy = (((vp.y + 48) % size) + size) % size;
  grid.style.transform = `translate(${ox}px, ${oy}px)`;
  return size;
}
