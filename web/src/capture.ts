import * as Y from "yjs";
import {
  addNote,
  frameRect,
  freeSpot,
  noteColor,
  noteFrame,
  NOTE_POSITION_KEYS,
  noteRect,
  noteText,
  num,
  str,
  type Board,
  type Rect,
} from "./board";
import { withToken } from "./api";
import { connectionIndicator } from "./connection";
import { askName, userColor } from "./identity";
import { openBoard, showRefusal } from "./open";
import { DEFAULT_NOTE_H, DEFAULT_NOTE_W, FRAME_FIELDS, META_FIELDS, NOTE_FIELDS, NOTE_COLORS, type BoardInfo, type NoteColor } from "./schema";
import { h, setTitle } from "./util";
import { VoteModel, votePanel } from "./vote";
import { kindForFrame, WorkshopModel } from "./workshop";

const COLOR_KEY = "commonboard.noteColor";

/** The phone page `/b/{id}/capture`: write notes into a frame, see the frame's notes live. */
export async function mountCapture(root: HTMLElement, boardId: string): Promise<void> {
  document.body.dataset.page = "capture";
  const opened = await openBoard(root, boardId);
  if (!opened) return;
  const { board, info, token } = opened;
  board.provider.awareness.setLocalState({ user: { name: board.me.name, color: board.me.color }, cursor: null, editing: null });
  buildCapture(root, board, info, token);
}

function buildCapture(root: HTMLElement, b: Board, infoP: Promise<BoardInfo | Error>, token: string | null): void {
  let dead = false;
  const refused = (why: unknown): boolean => {
    if (dead) return true;
    const shown = showRefusal(root, b.id, why);
    if (shown) {
      dead = true;
      b.provider.destroy();
    }
    return shown;
  };
  const frameKey = `commonboard.captureFrame.${b.id}`;
  const title = h("h1", { class: "capture-title" }, "Board");
  const conn = connectionIndicator(b.provider, refused);
  const select = h("select", { id: "capture-frame", name: "frame" });
  const text = h("textarea", { id: "capture-text", name: "text", rows: 4, required: true, maxlength: 2000, placeholder: "One idea per note" });
  let color: NoteColor = "yellow";
  try {
    const c = localStorage.getItem(COLOR_KEY);
    if (c && (NOTE_COLORS as readonly string[]).includes(c)) color = c as NoteColor;
  } catch {
    /* ignore */
  }
  const swatches = h("div", { class: "swatches" });
  for (const c of NOTE_COLORS) {
    const input = h("input", { type: "radio", name: "color", value: c, id: `color-${c}`, checked: c === color });
    input.addEventListener("change", () => {
      color = c;
      try {
        localStorage.setItem(COLOR_KEY, c);
      } catch {
        /* ignore */
      }
    });
    swatches.append(
      h("label", { class: `swatch-choice note-${c}`, for: `color-${c}` }, input, h("span", {}, c[0].toUpperCase() + c.slice(1))),
    );
  }
  const status = h("p", { class: "capture-status", role: "status", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary big add-note" }, "Add note");
  const form = h(
    "form",
    { class: "capture-form" },
    h("label", { for: "capture-frame" }, "Frame"),
    select,
    h("label", { for: "capture-text" }, "Your note"),
    text,
    h("fieldset", {}, h("legend", {}, "Colour"), swatches),
    submit,
    status,
  );
  // Private writing: notes go to the server only, listed here until the reveal.
  const workshop = new WorkshopModel(b);
  const exposed = (window as unknown as { __commonboard?: Record<string, unknown> }).__commonboard;
  if (exposed) exposed.workshop = workshop;
  const privateTitle = h("h2", { id: "capture-private-title" }, "Your private notes");
  const privateList = h("ul", { class: "capture-notes", "aria-labelledby": "capture-private-title" });
  const privateInfo = h("p", { class: "capture-private-info" });
  const privateSection = h("section", { class: "capture-private", hidden: true }, privateTitle, privateInfo, privateList);
  const renderPrivate = () => {
    const on = workshop.isPrivate;
    const mine = [...workshop.privateNotes.values()];
    privateSection.hidden = !on && !mine.length;
    privateInfo.textContent = on
      ? "Private writing is on: your notes stay hidden from the others until the facilitator reveals them."
      : "";
    submit.textContent = on ? "Add private note" : "Add note";
    privateList.replaceChildren(
      ...mine.map((n) => {
        const del = h("button", { type: "button", class: "link", "aria-label": `Delete private note: ${n.text}` }, "delete");
        del.addEventListener("click", () => workshop.deletePrivate(n.id));
        return h(
          "li",
          { class: `capture-note private note-${n.color}`, "data-id": n.id },
          h("span", { class: "capture-note-text" }, n.text || "(empty)"),
          h("span", { class: "capture-note-author" }, "private · ", del),
        );
      }),
    );
  };
  workshop.onChange(renderPrivate);
  const listTitle = h("h2", { id: "capture-list-title" }, "Notes");
  const list = h("ul", { class: "capture-notes", "aria-labelledby": "capture-list-title" });
  const meName = h("strong", {}, b.me.name);
  const rename = h("button", { type: "button", class: "link" }, "change");
  rename.addEventListener("click", async () => {
    const name = await askName(undefined, b.me.name);
    b.me.name = name;
    b.me.color = userColor();
    meName.textContent = name;
    b.provider.params = { ...b.provider.params, name };
    b.app.send({ type: "set_name", name });
    b.provider.awareness.setLocalStateField("user", { name, color: b.me.color });
  });
  root.replaceChildren(
    h(
      "main",
      { class: "page capture" },
      h("header", { class: "capture-head" }, title, conn),
      votePanel(new VoteModel(b), true),
      form,
      privateSection,
      h("section", { class: "capture-list" }, listTitle, list),
      h(
        "p",
        { class: "muted capture-foot" },
        "You are ",
        meName,
        " (",
        rename,
        ") · ",
        h("a", { href: withToken(`/b/${encodeURIComponent(b.id)}`, token) }, "Open the full board"),
      ),
    ),
  );

  let apiTitle = "";
  const renderTitle = () => {
    const t = str(b.meta, META_FIELDS.title) || apiTitle || "Board";
    title.textContent = t;
    setTitle(`Add notes · ${t}`);
  };
  b.meta.observe(renderTitle);
  infoP.then((info) => {
    if (info instanceof Error) {
      refused(info);
      return;
    }
    apiTitle = info.title;
    renderTitle();
    if (info.role === "viewer") {
      for (const el of form.querySelectorAll<HTMLInputElement | HTMLButtonElement>("select, textarea, input, button")) el.disabled = true;
      status.textContent = "This link only shows the board. Ask the facilitator for the participants' link to add notes.";
    }
  });
  renderTitle();

  let wanted = "";
  try {
    wanted = localStorage.getItem(frameKey) ?? "";
  } catch {
    /* ignore */
  }
  const renderFrames = () => {
    const current = select.value || wanted;
    const frames: { id: string; title: string; createdAt: number }[] = [];
    b.frames.forEach((m, id) => frames.push({ id, title: str(m, FRAME_FIELDS.title) || "Frame", createdAt: num(m, FRAME_FIELDS.createdAt, 0) }));
    frames.sort((a, z) => a.createdAt - z.createdAt || a.title.localeCompare(z.title));
    const opts = [h("option", { value: "" }, "No frame"), ...frames.map((f) => h("option", { value: f.id }, f.title))];
    select.replaceChildren(...opts);
    select.value = frames.some((f) => f.id === current) ? current : "";
    renderList();
  };
  select.addEventListener("change", () => {
    wanted = select.value;
    try {
      localStorage.setItem(frameKey, wanted);
    } catch {
      /* ignore */
    }
    renderList();
  });

  let listFrame = 0;
  const renderList = () => {
    if (listFrame) return;
    listFrame = requestAnimationFrame(() => {
      listFrame = 0;
      const frame = select.value || null;
      const frameTitle = frame ? str(b.frames.get(frame)!, FRAME_FIELDS.title) || "Frame" : null;
      listTitle.textContent = frame ? `Notes in “${frameTitle}”` : "Notes in no frame";
      const items: { id: string; text: string; author: string; color: string; at: number }[] = [];
      b.notes.forEach((m, id) => {
        if (noteFrame(m) === frame) {
          items.push({ id, text: noteText(m), author: str(m, NOTE_FIELDS.author) || "someone", color: noteColor(m), at: num(m, NOTE_FIELDS.createdAt, 0) });
        }
      });
      items.sort((a, z) => z.at - a.at);
      list.replaceChildren(
        ...(items.length
          ? items.map((n) =>
              h(
                "li",
                { class: `capture-note note-${n.color}`, "data-id": n.id },
                h("span", { class: "capture-note-text" }, n.text || "(empty)"),
                h("span", { class: "capture-note-author" }, n.author),
              ),
            )
          : [h("li", { class: "muted empty" }, "No notes yet.")]),
      );
    });
  };

  b.frames.observeDeep(renderFrames);
  // Someone dragging or resizing notes on the canvas changes nothing this list shows.
  const geometry = new Set<string>([...NOTE_POSITION_KEYS, NOTE_FIELDS.w, NOTE_FIELDS.h]);
  b.notes.observeDeep((events) => {
    const relevant = events.some(
      (ev) => ev.target === b.notes || !(ev instanceof Y.YMapEvent) || [...ev.keysChanged].some((k) => !geometry.has(k)),
    );
    if (relevant) renderList();
  });
  renderFrames();

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) {
      status.textContent = "Write something first.";
      text.focus();
      return;
    }
    const frame = select.value || null;
    let spot: { x: number; y: number };
    if (frame && b.frames.get(frame)) {
      const area = frameRect(b.frames.get(frame)!);
      const taken: Rect[] = [];
      b.notes.forEach((m) => {
        const r = noteRect(m);
        if (r.x < area.x + area.w && r.x + r.w > area.x && r.y < area.y + area.h && r.y + r.h > area.y) taken.push(r);
      });
      spot = freeSpot(area, taken, DEFAULT_NOTE_W, DEFAULT_NOTE_H);
    } else {
      // Outside every frame: the first free place in a band below the origin.
      const taken: Rect[] = [];
      b.notes.forEach((m) => taken.push(noteRect(m)));
      b.frames.forEach((m) => taken.push(frameRect(m)));
      spot = freeSpot({ x: 0, y: 0, w: 1600, h: 20000 }, taken, DEFAULT_NOTE_W, DEFAULT_NOTE_H, 0, 0);
    }
    const kind = kindForFrame(b, frame);
    if (workshop.isPrivate) {
      // Taken by others' private notes too: spread one's own notes out.
      const mine = [...workshop.privateNotes.values()].length;
      workshop.addPrivate({ x: spot.x + (mine % 4) * 14, y: spot.y + (mine % 4) * 14, w: DEFAULT_NOTE_W, h: DEFAULT_NOTE_H, color, frame, text: value, kind });
      text.value = "";
      status.textContent = "Private note added: only you see it until the reveal.";
      text.focus();
      return;
    }
    addNote(b, { x: spot.x, y: spot.y, color, text: value, frame, kind });
    text.value = "";
    status.textContent = "Note added.";
    text.focus();
  });
}
