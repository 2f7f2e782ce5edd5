import * as Y from "yjs";
import { noteColor, noteFrame, NOTE_POSITION_KEYS, noteText, num, str, type Board } from "./board";
import { withToken } from "./api";
import { CaptureOutbox, type QueuedNote } from "./capture-outbox";
import { connectionIndicator } from "./connection";
import type { Role } from "./generated/protocol";
import { NOTE_KINDS } from "./generated/protocol";
import { askName, userColor } from "./identity";
import { openBoard, showRefusal } from "./open";
import { FRAME_FIELDS, META_FIELDS, NOTE_FIELDS, NOTE_COLORS, type BoardInfo, type NoteColor } from "./schema";
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
  const conn = connectionIndicator(b.provider, refused, b.delivery);

  // What the board says about writing now: role, lock, private writing.
  let role: Role | null = null;
  let locked = false;
  const workshop = new WorkshopModel(b);
  const exposed = (window as unknown as { __commonboard?: Record<string, unknown> }).__commonboard;
  if (exposed) exposed.workshop = workshop;
  const outbox = new CaptureOutbox(b, () => ({ role, locked, private: workshop.isPrivate }));
  if (exposed) exposed.outbox = outbox;

  const banner = h("p", { class: "capture-banner", role: "alert", hidden: true });
  // The workshop as the room sees it: step, timer, who speaks, your turn.
  const stepEl = h("p", { class: "capture-step" });
  const timerEl = h("span", { class: "capture-timer", hidden: true });
  const speakerEl = h("p", { class: "capture-speaker", hidden: true });
  const passBtn = h("button", { type: "button", class: "primary big capture-pass", hidden: true }, "Pass: nothing more from me");
  passBtn.addEventListener("click", () => {
    if (!b.app.send({ type: "turn", action: "pass" })) turnError.textContent = "Not connected: your pass was not sent. Try again in a moment.";
  });
  const turnError = h("p", { class: "capture-error", role: "alert" });
  const announce = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  const strip = h("section", { class: "capture-workshop", "aria-label": "Workshop", hidden: true }, h("div", { class: "capture-step-row" }, stepEl, timerEl), speakerEl, passBtn, turnError, announce);

  const select = h("select", { id: "capture-frame", name: "frame" });
  const pairLabel = h("label", { for: "capture-pair", hidden: true }, "Remedy for which obstacle");
  const pairSelect = h("select", { id: "capture-pair", name: "pair", hidden: true });
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
    h("label", { for: "capture-frame" }, "Area"),
    select,
    pairLabel,
    pairSelect,
    h("label", { for: "capture-text" }, "Your note"),
    text,
    h("fieldset", {}, h("legend", {}, "Colour"), swatches),
    submit,
    status,
  );
  // Notes written here that the board does not hold yet, and why they wait.
  const waitingTitle = h("h2", { id: "capture-waiting-title" }, "Not on the board yet");
  const waitingInfo = h("p", { class: "capture-waiting-info" });
  const waitingList = h("ul", { class: "capture-notes", "aria-labelledby": "capture-waiting-title" });
  const waitingSection = h("section", { class: "capture-waiting", hidden: true }, waitingTitle, waitingInfo, waitingList);

  // Private writing: notes go to the server only, listed here until the reveal.
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
      : mine.length
        ? "Private writing is off: these stay hidden until the facilitator reveals them; new notes go on the board."
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
      banner,
      strip,
      votePanel(new VoteModel(b), true),
      form,
      waitingSection,
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
  });
  renderTitle();

  // ------------------------------------------------------------ lock, role, refusals
  const renderGate = () => {
    const viewer = role === "viewer";
    for (const el of form.querySelectorAll<HTMLInputElement | HTMLButtonElement>("select, textarea, input, button")) el.disabled = viewer;
    let say = "";
    if (viewer) say = "This link only shows the board. Ask the facilitator for the participants' link to add notes.";
    else if (locked && role !== "facilitator")
      say = "The facilitator locked the board. Notes you write now stay on this phone and go on the board when it is unlocked.";
    else if (b.delivery.refusal) say = `Not saved: ${b.delivery.refusal}. Your notes stay on this phone until the board takes them.`;
    banner.textContent = say;
    banner.hidden = !say;
    renderWaiting();
  };
  b.app.on("welcome", (m) => {
    role = m.role;
    locked = m.locked;
    renderGate();
    outbox.flush();
  });
  b.app.on("board_state", (m) => {
    locked = m.locked;
    renderGate();
    outbox.flush();
  });
  b.delivery.onChange(renderGate);
  b.provider.on("status", () => renderWaiting());

  // ------------------------------------------------------------ notes waiting to go
  /** The submit that the status line is about, until its note is on the board. */
  let awaited = "";
  const WAITING: Record<string, string> = {
    "waiting-lock": "The board is locked: kept on this phone, it goes on the board when the facilitator unlocks it.",
    "waiting-role": "This link cannot add notes.",
    "waiting-connection": "Not connected: kept on this phone, sent when the connection is back.",
    sending: "Sending…",
  };
  /** A note on its way is listed only if it takes longer than this (no flicker). */
  const SENDING_QUIET_MS = 2000;
  let recheck = 0;
  const renderWaiting = () => {
    const state = outbox.state();
    const now = Date.now();
    const waiting = outbox.notes.filter((n) => state !== "sending" || now - n.at >= SENDING_QUIET_MS);
    if (state === "sending" && waiting.length < outbox.notes.length) {
      clearTimeout(recheck);
      recheck = window.setTimeout(renderWaiting, SENDING_QUIET_MS);
    }
    waitingSection.hidden = !waiting.length;
    waitingInfo.textContent = WAITING[state];
    waitingList.replaceChildren(
      ...waiting.map((n) =>
        h(
          "li",
          { class: `capture-note waiting note-${n.color}`, "data-id": n.id, "data-state": state },
          h("span", { class: "capture-note-text" }, n.text),
          h("span", { class: "capture-note-author" }, state === "sending" ? "sending…" : "waiting · kept on this phone"),
        ),
      ),
    );
    if (awaited && waiting.some((n) => n.id === awaited) && state !== "sending") status.textContent = WAITING[state];
  };
  outbox.onChange((saved: QueuedNote[]) => {
    renderWaiting();
    const mine = saved.find((n) => n.id === awaited);
    if (mine) {
      awaited = "";
      status.textContent = mine.private && workshop.isPrivate ? "Private note saved: only you see it until the reveal." : "Note added to the board.";
    } else if (saved.length) {
      announce.textContent = `${saved.length === 1 ? "A note" : `${saved.length} notes`} from this phone reached the board.`;
    }
  });

  // ------------------------------------------------------------ the workshop strip
  let lastStep: number | undefined = -1;
  let lastSpeaker = "";
  const renderWorkshop = () => {
    const st = workshop.state;
    strip.hidden = !st || (!st.steps.length && !st.timer && !st.turns);
    if (!st) return;
    const info = st.step !== undefined ? st.steps[st.step] : undefined;
    stepEl.textContent = info
      ? `Step ${st.step! + 1} of ${st.steps.length}: ${info.title.replace(/^\d+\.\s*/, "")}`
      : st.steps.length
        ? "The workshop has not started"
        : "";
    const speaker = workshop.speaker();
    const t = st.turns;
    speakerEl.hidden = !t;
    const mine = !!speaker && speaker.id === b.identity;
    if (t) speakerEl.textContent = speaker ? (mine ? `Your turn (round ${t.round + 1})` : `Speaking: ${speaker.name} · round ${t.round + 1}`) : "Everyone passed: the round is over";
    speakerEl.classList.toggle("mine", mine);
    passBtn.hidden = !mine;
    if (!mine) turnError.textContent = "";
    const said = speaker ? `${speaker.id}:${t?.round}` : t ? "done" : "";
    if (said !== lastSpeaker) {
      lastSpeaker = said;
      if (mine) announce.textContent = "Your turn to speak";
      else if (speaker) announce.textContent = `${speaker.name} speaks`;
      else if (t) announce.textContent = "Everyone passed";
    }
    if (st.step !== lastStep) {
      const first = lastStep === -1;
      lastStep = st.step;
      if (!first && info) announce.textContent = `Now: ${info.title}`;
      renderFrames(true);
    }
    renderTimer();
    renderPrivate();
    renderGate();
  };
  const renderTimer = () => {
    const left = workshop.secondsLeft();
    timerEl.hidden = left === null;
    if (left !== null) timerEl.textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left` : "Time's up";
  };
  window.setInterval(renderTimer, 1000);
  workshop.onChange(renderWorkshop);

  // ------------------------------------------------------------ areas, current step first
  let wanted = "";
  try {
    wanted = localStorage.getItem(frameKey) ?? "";
  } catch {
    /* ignore */
  }
  /** Whether the person chose an area themselves (else it follows the step). */
  let chosen = !!wanted;
  const renderFrames = (stepChanged = false) => {
    const step = workshop.state?.step !== undefined ? workshop.state.steps[workshop.state.step]?.id : undefined;
    const frames: { id: string; title: string; createdAt: number; step: string; area: string; x: number; y: number }[] = [];
    b.frames.forEach((m, id) =>
      frames.push({
        id,
        title: str(m, FRAME_FIELDS.title) || "Frame",
        createdAt: num(m, FRAME_FIELDS.createdAt, 0),
        step: str(m, FRAME_FIELDS.step),
        area: str(m, FRAME_FIELDS.area),
        x: num(m, FRAME_FIELDS.x, 0),
        y: num(m, FRAME_FIELDS.y, 0),
      }),
    );
    // A template's areas share a creation time: then left to right, top to bottom, the
    // order its columns are read in.
    frames.sort((a, z) => a.createdAt - z.createdAt || a.x - z.x || a.y - z.y || a.title.localeCompare(z.title));
    // Only frames notes go into: areas, or a step's frame that has no areas inside.
    const steps = new Set(frames.filter((f) => f.area && f.step).map((f) => f.step));
    const usable = frames.filter((f) => f.area || !f.step || !steps.has(f.step));
    const now = usable.filter((f) => step && f.step === step);
    const rest = usable.filter((f) => !(step && f.step === step));
    const option = (f: { id: string; title: string }) => h("option", { value: f.id }, f.title);
    const groups: HTMLElement[] = [];
    if (now.length) groups.push(h("optgroup", { label: "This step" }, ...now.map(option)));
    groups.push(h("optgroup", { label: now.length ? "Other areas" : "Areas" }, ...rest.map(option), h("option", { value: "" }, "No area")));
    const current = select.value || wanted;
    select.replaceChildren(...groups);
    if (stepChanged && !chosen && now.length) select.value = now[0].id;
    else select.value = usable.some((f) => f.id === current) ? current : now[0]?.id ?? "";
    if (stepChanged && chosen && now.length && !now.some((f) => f.id === select.value)) {
      // A new step: its first area, unless the person picked one of this step's.
      select.value = now[0].id;
      chosen = false;
    }
    renderPair();
    renderList();
  };
  select.addEventListener("change", () => {
    wanted = select.value;
    chosen = true;
    try {
      localStorage.setItem(frameKey, wanted);
    } catch {
      /* ignore */
    }
    renderPair();
    renderList();
  });

  /** A remedy names the obstacle it manages. */
  const renderPair = () => {
    const f = select.value ? b.frames.get(select.value) : undefined;
    const remedy = !!f && str(f, FRAME_FIELDS.area) === "remedies";
    pairLabel.hidden = pairSelect.hidden = !remedy;
    if (!remedy) return;
    const before = pairSelect.value;
    const obstacles: { id: string; text: string; at: number }[] = [];
    b.notes.forEach((m, id) => {
      if (str(m, NOTE_FIELDS.kind) === NOTE_KINDS.obstacle || kindForFrame(b, noteFrame(m)) === NOTE_KINDS.obstacle)
        obstacles.push({ id, text: noteText(m) || "(empty)", at: num(m, NOTE_FIELDS.createdAt, 0) });
    });
    obstacles.sort((a, z) => a.at - z.at);
    pairSelect.replaceChildren(h("option", { value: "" }, "No obstacle in particular"), ...obstacles.map((o) => h("option", { value: o.id }, o.text.slice(0, 80))));
    pairSelect.value = obstacles.some((o) => o.id === before) ? before : "";
  };

  let listFrame = 0;
  const renderList = () => {
    if (listFrame) return;
    listFrame = requestAnimationFrame(() => {
      listFrame = 0;
      const frame = select.value || null;
      const frameTitle = frame ? str(b.frames.get(frame)!, FRAME_FIELDS.title) || "Frame" : null;
      listTitle.textContent = frame ? `Notes in “${frameTitle}”` : "Notes in no area";
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

  b.frames.observeDeep(() => renderFrames());
  // Someone dragging or resizing notes on the canvas changes nothing this list shows.
  const geometry = new Set<string>([...NOTE_POSITION_KEYS, NOTE_FIELDS.w, NOTE_FIELDS.h]);
  b.notes.observeDeep((events) => {
    const relevant = events.some(
      (ev) => ev.target === b.notes || !(ev instanceof Y.YMapEvent) || [...ev.keysChanged].some((k) => !geometry.has(k)),
    );
    if (relevant) {
      renderList();
      if (!pairSelect.hidden) renderPair();
    }
  });
  renderFrames();
  renderWaiting();

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) {
      status.textContent = "Write something first.";
      text.focus();
      return;
    }
    if (role === "viewer") {
      status.textContent = "This link only shows the board: the note was not added.";
      return;
    }
    const frame = select.value || null;
    const kind = kindForFrame(b, frame);
    const pair = !pairSelect.hidden && pairSelect.value ? pairSelect.value : undefined;
    const note = outbox.add({ text: value, frame, color, kind, pair });
    text.value = "";
    awaited = note.id;
    const state = outbox.state();
    status.textContent = outbox.notes.some((n) => n.id === note.id) ? WAITING[state] : "Note added to the board.";
    text.focus();
  });
}
