// Who else is on the board: cursors, avatars and who edits which note, through the
// provider's awareness (our own name, colour, cursor and note being edited go out too).
import type { Awareness } from "y-protocols/awareness";
import { USER_COLORS, type Identity } from "../identity";
import { h, initials } from "../util";

export interface PresenceState {
  user?: { name?: unknown; color?: unknown };
  cursor?: { x?: unknown; y?: unknown } | null;
  editing?: unknown;
}

export interface Person {
  clientId: number;
  name: string;
  color: string;
}

const CURSOR_INTERVAL_MS = 50;

function personOf(clientId: number, s: PresenceState): Person {
  const name = typeof s.user?.name === "string" && s.user.name ? s.user.name : "Anonymous";
  const color = typeof s.user?.color === "string" && /^#[0-9a-f]{3,8}$/i.test(s.user.color) ? s.user.color : "#455a64";
  return { clientId, name, color };
}

/**
 * Live presence through the provider's awareness: our own state (name, colour, cursor,
 * note being edited), others' cursors drawn in the canvas layer, and the avatar list.
 */
export class Presence {
  #cursors = new Map<number, HTMLElement>();
  #editingOf = new Map<number, string>();
  #pendingCursor: { x: number; y: number } | null = null;
  #cursorTimer: number | null = null;
  #lastCursorSent = 0;
  #avatarKey = "";

  #awareness: Awareness;

  #cursorLayer: HTMLElement;

  #avatars: HTMLElement;

  #onEditors: (noteId: string, editors: Person[]) => void;

  constructor(
    awareness: Awareness,
    me: Identity,
    cursorLayer: HTMLElement,
    avatars: HTMLElement,
    /** Called when the set of remote editors of a note changes. */
    onEditors: (noteId: string, editors: Person[]) => void,

  ) {

    this.#awareness = awareness;

    this.#cursorLayer = cursorLayer;

    this.#avatars = avatars;

    this.#onEditors = onEditors;
    awareness.setLocalState({ user: { name: me.name, color: me.color }, cursor: null, editing: null });
    awareness.on("change", this.#onChange);
    this.#renderAvatars();
  }

  destroy(): void {
    this.#awareness.off("change", this.#onChange);
    if (this.#cursorTimer !== null) clearTimeout(this.#cursorTimer);
  }

  /** Our pointer moved (canvas coordinates), or left the canvas (null). Throttled. */
  setCursor(pos: { x: number; y: number } | null): void {
    this.#pendingCursor = pos;
    if (this.#cursorTimer !== null) return;
    const wait = CURSOR_INTERVAL_MS - (performance.now() - this.#lastCursorSent);
    if (wait <= 0 || pos === null) {
      this.#flushCursor();
    } else {
      this.#cursorTimer = window.setTimeout(() => this.#flushCursor(), wait);
    }
  }

  #flushCursor(): void {
    if (this.#cursorTimer !== null) clearTimeout(this.#cursorTimer);
    this.#cursorTimer = null;
    this.#lastCursorSent = performance.now();
    const p = this.#pendingCursor;
    this.#awareness.setLocalStateField("cursor", p ? { x: Math.round(p.x), y: Math.round(p.y) } : null);
  }

  setEditing(noteId: string | null): void {
    this.#awareness.setLocalStateField("editing", noteId);
  }

  /** Everyone on the board, us first. */
  people(): Person[] {
    const own = this.#awareness.clientID;
    const out: Person[] = [];
    this.#awareness.getStates().forEach((s, id) => {
      if (s && (s as PresenceState).user) out.push(personOf(id, s as PresenceState));
    });
    out.sort((a, b) => (a.clientId === own ? -1 : b.clientId === own ? 1 : a.name.localeCompare(b.name)));
    return out;
  }

  /** Remote people editing the given note. */
  editorsOf(noteId: string): Person[] {
    const out: Person[] = [];
    for (const [client, note] of this.#editingOf) {
      if (note !== noteId) continue;
      const s = this.#awareness.getStates().get(client) as PresenceState | undefined;
      if (s) out.push(personOf(client, s));
    }
    return out;
  }

  #onChange = (
    change: { added: number[]; updated: number[]; removed: number[] },
  ): void => {
    const own = this.#awareness.clientID;
    const states = this.#awareness.getStates();
    const touchedNotes = new Set<string>();
    for (const id of [...change.added, ...change.updated, ...change.removed]) {
      if (id === own) continue;
      const s = states.get(id) as PresenceState | undefined;
      this.#renderCursor(id, s);
      const before = this.#editingOf.get(id);
      const after = s && typeof s.editing === "string" ? s.editing : undefined;
      if (before !== after) {
        if (before) touchedNotes.add(before);
        if (after) touchedNotes.add(after);
        if (after) this.#editingOf.set(id, after);
        else this.#editingOf.delete(id);
      }
    }
    for (const noteId of touchedNotes) this.#onEditors(noteId, this.editorsOf(noteId));
    this.#renderAvatars();
  };

  #renderCursor(clientId: number, s: PresenceState | undefined): void {
    let el = this.#cursors.get(clientId);
    const c = s?.cursor;
    const x = c && typeof c.x === "number" ? c.x : NaN;
    const y = c && typeof c.y === "number" ? c.y : NaN;
    if (!s || !Number.isFinite(x) || !Number.isFinite(y)) {
      if (el) {
        el.remove();
        this.#cursors.delete(clientId);
      }
      return;
    }
    const p = personOf(clientId, s);
    if (!el) {
      el = h(
        "div",
        { class: "cursor", "aria-hidden": "true" },
        arrow(),
        h("span", { class: "cursor-name" }),
      );
      this.#cursors.set(clientId, el);
      this.#cursorLayer.append(el);
    }
    const label = el.lastElementChild as HTMLElement;
    if (label.textContent !== p.name) label.textContent = p.name;
    el.style.setProperty("--c", p.color);
    el.style.transform = `translate(${x}px, ${y}px) scale(var(--iz, 1))`;
  }

  #renderAvatars(): void {
    const people = this.people();
    const key = people.map((p) => `${p.clientId}:${p.name}:${p.color}`).join("|");
    if (key === this.#avatarKey) return;
    this.#avatarKey = key;
    const own = this.#awareness.clientID;
    const shown = people.slice(0, 10);
    // Two people never share a colour in the list: a repeated one takes the next free.
    const used = new Set<string>();
    const items = shown.map((p) => {
      let color = p.color;
      if (used.has(color)) color = USER_COLORS.find((c) => !used.has(c)) ?? color;
      used.add(color);
      const label = p.clientId === own ? `${p.name} (you)` : p.name;
      const avatar = h(
        "li",
        { class: "avatar", title: label, "aria-label": label },
        h("span", { "aria-hidden": "true" }, initials(p.name)),
      );
      // Through the CSSOM: a style attribute would break the Content-Security-Policy.
      avatar.style.background = color;
      return avatar;
    });
    if (people.length > shown.length) {
      const more = people.length - shown.length;
      items.push(h("li", { class: "avatar more", "aria-label": `${more} more` }, `+${more}`));
    }
    this.#avatars.replaceChildren(...items);
    this.#avatars.setAttribute("aria-label", `${people.length} ${people.length === 1 ? "person" : "people"} on this board`);
  }
}

function arrow(): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "22");
  svg.setAttribute("viewBox", "0 0 18 22");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M1 1 L1 18 L5.5 13.8 L8.6 21 L11.6 19.7 L8.6 12.6 L15 12.6 Z");
  svg.append(path);
  return svg;
}
