// The workshop on the board page: the bar (step, countdown, speaker, private writing, and
// the facilitator's controls), the private notes on the canvas, following the
// facilitator's view, and the downloads of the minutes.
import { authHeaders } from "../api";
import { noteRect, noteText, str, type Rect } from "../board";
import type { Note, TurnAction, TurnPerson } from "../generated/protocol";
import { NOTE_KINDS } from "../generated/protocol";
import { NOTE_FIELDS } from "../schema";
import { h } from "../util";
import { areaFrame, stepFrame, type WorkshopModel } from "../workshop";
import { showVoteDialog } from "./vote-dialog";
import { WorkshopPanels } from "./workshop-panels";

/**
 * The least zoom a board opens at on its current step: note text (15 px) shows at about
 * 11 px, the smallest text the board uses anywhere (a note's author line); at 60 % it
 * would be 9 px, and the 40 % of "Focus on this step" on a laptop makes it 6 px.
 */
const READABLE_ZOOM = 0.75;

/** What the workshop UI needs from the canvas. */
export interface WorkshopHost {
  readonly canEdit: boolean;
  /** Whether the person moved the view themselves since the page opened. */
  readonly interacted: boolean;
  /** Called whenever the person pans or zooms the view themselves. */
  onUserMove: (() => void) | null;
  fitRect(r: Rect, minZoom?: number): void;
  view(): { x: number; y: number; zoom: number };
  showView(x: number, y: number, zoom: number): void;
}

/**
 * The facilitator's view as it is shared with the room: whole pixels and a zoom to
 * three decimals. "Bring everyone here" and the big screen's follow use the same
 * rounding, so the last of them to arrive never moves a follower's view.
 */
function sharedView(host: WorkshopHost): { x: number; y: number; zoom: number } {
  const v = host.view();
  return { x: Math.round(v.x), y: Math.round(v.y), zoom: Math.round(v.zoom * 1000) / 1000 };
}

interface PrivateView {
  el: HTMLElement;
  area: HTMLTextAreaElement;
}

export class WorkshopUi {
  readonly bar: HTMLElement;
  readonly panels: HTMLElement;
  /** Private notes, drawn on the canvas above the shared ones. */
  readonly privateLayer: HTMLElement;
  #model: WorkshopModel;
  #host: WorkshopHost;
  #token: string | null;
  #private = new Map<string, PrivateView>();
  #lastStep: number | undefined = -1;
  #timesUpSaid = false;

  #stepEl: HTMLElement;
  #timerEl: HTMLElement;
  #announce: HTMLElement;
  #speakerEl: HTMLElement;
  #passBtn: HTMLButtonElement;
  #writingEl: HTMLElement;
  #facGroup: HTMLElement;
  #prevBtn: HTMLButtonElement;
  #nextBtn: HTMLButtonElement;
  #startTimerBtn: HTMLButtonElement;
  #stopTimerBtn: HTMLButtonElement;
  #privateBtn: HTMLButtonElement;
  #turnsBtn: HTMLButtonElement;
  #turnCtl: HTMLElement;
  #errorEl: HTMLElement;
  #voteGoalsBtn: HTMLButtonElement;
  #workshopPanels: WorkshopPanels;
  /** Whether this view follows the facilitator's (after "Bring everyone here"). */
  #following = false;
  readonly followBar: HTMLElement;
  /** The follow bar's "Following Fran". */
  readonly #followWhom: HTMLElement;
  /** The name of the facilitator whose view is followed, once the server said it. */
  #leader = "";
  #landed = false;

  constructor(model: WorkshopModel, host: WorkshopHost, token: string | null) {
    this.#model = model;
    this.#host = host;
    this.#token = token;
    const b = model.board;
    const button = (text: string, cls: string, onClick: () => void, attrs: Record<string, string> = {}) => {
      const el = h("button", { type: "button", class: `tool ${cls}`, ...attrs }, text);
      el.addEventListener("click", onClick);
      return el;
    };
    this.#stepEl = h("span", { class: "ws-step", "aria-live": "polite" });
    this.#timerEl = h("span", { class: "ws-timer", role: "timer", hidden: true });
    this.#announce = h("span", { class: "visually-hidden", "aria-live": "assertive" });
    this.#speakerEl = h("span", { class: "ws-speaker", "aria-live": "polite", hidden: true });
    this.#passBtn = button("Pass", "ws-pass", () => this.#turn("pass"), { hidden: "" });
    this.#writingEl = h("span", { class: "ws-writing", hidden: true });
    const focusBtn = button("Focus on this step", "ws-focus", () => this.focusStep());
    this.#prevBtn = button("Previous step", "ws-prev", () => this.#setStep(-1));
    this.#nextBtn = button("Next step", "ws-next", () => this.#setStep(1));
    this.#startTimerBtn = button("Start timer", "ws-timer-start", () => this.#startTimer());
    this.#stopTimerBtn = button("Stop timer", "ws-timer-stop", () => model.board.app.send({ type: "set_timer" }));
    this.#privateBtn = button("Write privately", "ws-private", () => {
      model.flushPrivate();
      model.board.app.send({ type: "set_private", private: !model.isPrivate });
    });
    this.#turnsBtn = button("Go round the room", "ws-turns", () => this.#showTurnsDialog(), { "aria-haspopup": "dialog" });
    this.#turnCtl = h(
      "span",
      { class: "ws-turn-controls", role: "group", "aria-label": "Turn order", hidden: true },
      button("Next speaker", "ws-turn-next", () => this.#turn("next")),
      button("Skip", "ws-turn-skip", () => this.#turn("skip")),
      button("Back", "ws-turn-back", () => this.#turn("back")),
      button("End round", "ws-turn-end", () => this.#turn("end")),
    );
    const bring = button("Bring everyone here", "ws-bring", () => {
      model.board.app.send({ type: "show_viewport", viewport: sharedView(host), bring: true });
    });
    const minutes = button("Minutes", "ws-minutes", () => this.#showMinutesDialog(), { "aria-haspopup": "dialog" });
    // Step 2 ends in a vote on the candidate goals: one button, no selecting by hand.
    this.#voteGoalsBtn = button("Vote on the candidate goals", "ws-vote-goals", () => this.#voteOnCandidates(), { hidden: "", "aria-haspopup": "dialog" });
    this.#facGroup = h(
      "span",
      { class: "ws-facilitator", role: "group", "aria-label": "Facilitator controls", hidden: true },
      this.#prevBtn,
      this.#nextBtn,
      this.#startTimerBtn,
      this.#stopTimerBtn,
      this.#privateBtn,
      this.#turnsBtn,
      this.#turnCtl,
      this.#voteGoalsBtn,
      bring,
      minutes,
    );
    this.#errorEl = h("span", { class: "ws-error error", role: "alert" });
    this.#workshopPanels = new WorkshopPanels(b, host);
    const toggles = this.#workshopPanels.toggles;
    this.bar = h(
      "section",
      { class: "workshop-bar", "aria-label": "Workshop", hidden: true },
      h("span", { class: "ws-now" }, this.#stepEl, this.#timerEl),
      focusBtn,
      toggles,
      this.#speakerEl,
      this.#passBtn,
      this.#writingEl,
      this.#facGroup,
      this.#errorEl,
      this.#announce,
    );
    this.panels = this.#workshopPanels.el;
    this.privateLayer = h("div", { class: "private-layer" });

    model.onChange(() => {
      this.#render();
      this.#workshopPanels.refresh();
      if (!this.#landed && !host.interacted) this.landOnStep();
    });
    // Follow mode: after "Bring everyone here", participants follow the facilitator's
    // view until they move themselves or press Stop.
    const stopFollow = button("Stop following", "follow-stop", () => this.#follow(false));
    this.#followWhom = h("span", { class: "follow-whom" }, "Following the facilitator's view");
    this.followBar = h("div", { class: "follow-bar", role: "status", hidden: true }, this.#followWhom, " · ", stopFollow);
    host.onUserMove = () => {
      if (this.#following) this.#follow(false);
    };
    b.app.on("viewport", (m) => {
      if (model.role === "facilitator" || !model.role) return;
      if (m.by) this.#leader = m.by;
      if (m.bring) this.#follow(true);
      if (this.#following) host.showView(m.viewport.x, m.viewport.y, m.viewport.zoom);
    });
    window.setInterval(() => this.#renderTimer(), 500);
    // Said to screen readers: a vote opening and closing (the step and the speaker are
    // live regions of their own, and so is "Time's up").
    const voteSaid = new Map<string, boolean>();
    b.app.on("vote", (m) => {
      const was = voteSaid.get(m.vote.id);
      voteSaid.set(m.vote.id, m.vote.open);
      if (was === m.vote.open) return;
      this.#announce.textContent = m.vote.open ? `Voting is open: ${m.vote.settings.title}` : was === undefined ? "" : `Voting closed: ${m.vote.settings.title}`;
    });
    // The big screen follows the facilitator's view: a few updates a second while it moves.
    let shown = "";
    window.setInterval(() => {
      if (!model.facilitator) return;
      const viewport = sharedView(host);
      const key = JSON.stringify(viewport);
      if (key === shown) return;
      shown = key;
      b.app.send({ type: "show_viewport", viewport, bring: false });
    }, 250);
    this.#render();
  }

  /** Opens the vote dialog on every note in the candidate goals area. */
  #voteOnCandidates(): void {
    const b = this.#model.board;
    const area = areaFrame(b, "candidates");
    const ids: { id: string; y: number; x: number }[] = [];
    b.notes.forEach((m, id) => {
      const r = noteRect(m);
      const inside = area && r.x + r.w / 2 >= area.rect.x && r.x + r.w / 2 <= area.rect.x + area.rect.w && r.y + r.h / 2 >= area.rect.y && r.y + r.h / 2 <= area.rect.y + area.rect.h;
      if (noteText(m).trim() && (str(m, NOTE_FIELDS.frame) === area?.id || inside || str(m, NOTE_FIELDS.kind) === NOTE_KINDS.goal)) ids.push({ id, ...r });
    });
    if (!ids.length) {
      this.#errorEl.textContent = "No candidate goals yet: write them in “Candidate goals”, then open the vote.";
      return;
    }
    ids.sort((a, z) => a.y - z.y || a.x - z.x);
    const candidates = ids.map((c) => c.id);
    showVoteDialog(candidates.length, (settings) => b.app.send({ type: "open_vote", settings: { ...settings, candidates } }));
  }

  #follow(on: boolean): void {
    this.#following = on;
    this.followBar.hidden = !on;
    // "Following Fran": the facilitator by name when the server said who leads.
    const said = this.#leader ? `Following ${this.#leader}` : "Following the facilitator's view";
    this.#followWhom.textContent = said;
    this.#announce.textContent = on ? said : "";
  }

  /**
   * Opens the board on the current step (at a zoom one can read) rather than the whole
   * board; true when there was a step to land on.
   */
  landOnStep(): boolean {
    const s = this.#model.state;
    const info = s?.step !== undefined ? s.steps[s.step] : undefined;
    const f = info ? stepFrame(this.#model.board, info.id) : null;
    if (!f) return false;
    this.#landed = true;
    this.#host.fitRect(f.rect, READABLE_ZOOM);
    return true;
  }

  /** Fits the current step's frame on screen. */
  focusStep(): void {
    const s = this.#model.state;
    const info = s?.step !== undefined ? s.steps[s.step] : undefined;
    if (!info) return;
    const f = stepFrame(this.#model.board, info.id);
    if (f) this.#host.fitRect(f.rect);
  }

  /** Puts the keyboard in a private note's text. */
  focusPrivate(id: string): void {
    this.#renderPrivate();
    this.#private.get(id)?.area.focus({ preventScroll: true });
  }

  #setStep(delta: number): void {
    const s = this.#model.state;
    if (!s || !s.steps.length) return;
    const cur = s.step ?? -1;
    const next = Math.min(s.steps.length - 1, Math.max(0, cur + delta));
    this.#model.board.app.send({ type: "set_step", step: next });
  }

  #startTimer(): void {
    const s = this.#model.state;
    const info = s?.step !== undefined ? s.steps[s.step] : undefined;
    const minutes = info?.minutes ?? 5;
    this.#model.board.app.send({ type: "set_timer", seconds: Math.round(minutes * 60) });
  }

  #turn(action: TurnAction): void {
    this.#model.board.app.send({ type: "turn", action });
  }

  #render(): void {
    const m = this.#model;
    const s = m.state;
    this.bar.hidden = !s;
    this.#facGroup.hidden = !m.facilitator;
    this.#errorEl.textContent = m.error;
    if (!s) {
      this.#renderPrivate();
      return;
    }
    const n = s.steps.length;
    const info = s.step !== undefined ? s.steps[s.step] : undefined;
    this.#stepEl.textContent = info ? `Step ${s.step! + 1} of ${n}: ${info.title.replace(/^\d+\.\s*/, "")}` : n ? `Workshop not started (${n} steps)` : "Workshop";
    this.#prevBtn.disabled = !n || (s.step ?? 0) <= 0;
    this.#nextBtn.disabled = !n || (s.step !== undefined && s.step >= n - 1);
    this.#nextBtn.textContent = s.step === undefined ? "Start workshop" : "Next step";
    this.#startTimerBtn.textContent = info?.minutes ? `Start ${info.minutes} min timer` : "Start 5 min timer";
    this.#stopTimerBtn.hidden = !s.timer;
    this.#privateBtn.textContent = s.private ? "Reveal notes" : "Write privately";
    this.#privateBtn.setAttribute("aria-pressed", String(s.private));
    // Turns.
    const speaker = m.speaker();
    const t = s.turns;
    if (t) this.#workshopPanels.setNamedPeople(t.people.map((p) => p.name));
    this.#speakerEl.hidden = !t;
    if (t) {
      this.#speakerEl.textContent = speaker
        ? `Speaking: ${speaker.name}${speaker.id === m.board.identity ? " (you)" : ""} · round ${t.round + 1}`
        : "Everyone passed";
    }
    // The speaker passes for themselves; the facilitator passes for anyone, such as
    // someone added by name without a device.
    const mine = !!speaker && speaker.id === m.board.identity;
    this.#passBtn.hidden = !speaker || (!mine && !m.facilitator);
    this.#voteGoalsBtn.hidden = info?.id !== "common-goal";
    this.#passBtn.textContent = mine ? "Pass" : `Pass for ${speaker?.name ?? ""}`;
    this.#turnCtl.hidden = !t;
    this.#turnsBtn.hidden = !!t;
    // Who writes privately.
    const writing = s.writing.filter((w) => w.notes > 0);
    this.#writingEl.hidden = !s.private && !writing.length;
    this.#writingEl.replaceChildren(
      h("span", {}, s.private ? "Writing privately" : "Private notes"),
      ...writing.map((w) =>
        h(
          "span",
          { class: "ws-writer", title: `${w.name}: ${w.notes} private ${w.notes === 1 ? "note" : "notes"}` },
          h("span", { class: "visually-hidden" }, `${w.name}: ${w.notes} ${w.notes === 1 ? "note" : "notes"}`),
          h("span", { "aria-hidden": "true" }, w.name, " ", ...Array.from({ length: Math.min(w.notes, 6) }, () => h("span", { class: "ws-blur" }))),
        ),
      ),
    );
    if (s.step !== this.#lastStep) {
      const first = this.#lastStep === -1;
      this.#lastStep = s.step;
      if (!first || info) this.#workshopPanels.openFor(info?.id ?? null);
    }
    const ends = s.timer?.ends_at_ms ?? null;
    if (ends !== this.#timerSaid) {
      if (ends !== null && this.#timerSaid !== -1) {
        const min = Math.round((s.timer!.seconds / 60) * 10) / 10;
        this.#announce.textContent = `Timer started: ${min} ${min === 1 ? "minute" : "minutes"}`;
      }
      this.#timerSaid = ends;
    }
    this.#renderTimer();
    this.#renderPrivate();
  }

  /** The countdown last announced (its end), -1 before the first state. */
  #timerSaid: number | null = -1;

  #renderTimer(): void {
    const left = this.#model.secondsLeft();
    this.#timerEl.hidden = left === null;
    if (left === null) {
      this.#timesUpSaid = false;
      return;
    }
    const text = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left` : "Time's up";
    if (this.#timerEl.textContent !== text) this.#timerEl.textContent = text;
    this.#timerEl.classList.toggle("up", left === 0);
    this.#timerEl.dataset.seconds = String(left);
    if (left === 0 && !this.#timesUpSaid) {
      this.#timesUpSaid = true;
      this.#announce.textContent = "Time's up";
    } else if (left > 0) this.#timesUpSaid = false;
  }

  #renderPrivate(): void {
    const notes = this.#model.privateNotes;
    for (const [id, v] of this.#private) {
      if (!notes.has(id)) {
        v.el.remove();
        this.#private.delete(id);
      }
    }
    for (const n of notes.values()) {
      let v = this.#private.get(n.id);
      if (!v) v = this.#makePrivate(n);
      v.el.style.left = `${n.x}px`;
      v.el.style.top = `${n.y}px`;
      v.el.style.width = `${n.w}px`;
      v.el.style.height = `${n.h}px`;
      if (document.activeElement !== v.area && v.area.value !== n.text) v.area.value = n.text;
    }
  }

  #makePrivate(n: Note): PrivateView {
    const area = h("textarea", { class: "private-input", "aria-label": "Private note (only you see it until the reveal)", maxlength: 2000 });
    area.value = n.text;
    area.addEventListener("input", () => this.#model.editPrivate(n.id, { text: area.value }));
    area.addEventListener("blur", () => this.#model.flushPrivate());
    area.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        area.blur();
      }
    });
    const del = h("button", { type: "button", class: "private-delete", "aria-label": "Delete private note", title: "Delete private note" }, "×");
    del.addEventListener("click", () => this.#model.deletePrivate(n.id));
    const el = h(
      "div",
      { class: `note private-note note-${n.color}`, "data-id": n.id, role: "group", "aria-roledescription": "private note" },
      h("span", { class: "private-tag" }, "Private"),
      area,
      del,
    );
    const v = { el, area };
    this.#private.set(n.id, v);
    this.privateLayer.append(el);
    return v;
  }

  /** The facilitator picks who goes round: everyone present, plus people added by name. */
  #showTurnsDialog(): void {
    const b = this.#model.board;
    const people: TurnPerson[] = [];
    const seen = new Set<string>();
    const states = [...b.provider.awareness.getStates().entries()].sort(([a], [z]) => a - z);
    for (const [clientId, st] of states) {
      const user = (st as { user?: { name?: string }; id?: string }).user;
      const id = (st as { id?: string }).id || `client-${clientId}`;
      if (!user?.name || seen.has(id)) continue;
      seen.add(id);
      people.push({ id, name: user.name });
    }
    const list = h("ul", { class: "turn-people" });
    const addRow = (p: TurnPerson) => {
      const cid = `turn-${p.id.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
      const box = h("input", { type: "checkbox", id: cid, checked: true, "data-id": p.id, "data-name": p.name });
      list.append(h("li", {}, h("label", { for: cid, class: "check" }, box, ` ${p.name}`)));
    };
    people.forEach(addRow);
    const name = h("input", { id: "turn-add-name", type: "text", maxlength: 80, autocomplete: "off" });
    const add = h("button", { type: "button", class: "tool" }, "Add");
    let extra = 0;
    const addByName = () => {
      const n = name.value.trim();
      if (!n) return;
      addRow({ id: `room-${Date.now().toString(36)}-${extra++}`, name: n });
      name.value = "";
      name.focus();
    };
    add.addEventListener("click", addByName);
    name.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        addByName();
      }
    });
    const cancel = h("button", { type: "button", class: "button" }, "Cancel");
    const form = h(
      "form",
      { class: "vote-form", method: "dialog" },
      h("h2", { id: "turns-title" }, "Go round the room"),
      h("p", { class: "muted" }, "Everyone ticked speaks in this order."),
      list,
      h("div", { class: "vote-field" }, h("label", { for: "turn-add-name" }, "Someone in the room without a device"), h("div", { class: "share-field" }, name, add)),
      h("div", { class: "share-actions" }, cancel, h("button", { type: "submit", class: "primary" }, "Start")),
    );
    const dialog = h("dialog", { class: "share-dialog turns-dialog", "aria-labelledby": "turns-title" }, form);
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const chosen = [...list.querySelectorAll<HTMLInputElement>("input[type=checkbox]")]
        .filter((c) => c.checked)
        .map((c) => ({ id: c.dataset.id!, name: c.dataset.name! }));
      dialog.close();
      if (chosen.length) b.app.send({ type: "start_turns", people: chosen });
    });
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  #showMinutesDialog(): void {
    const b = this.#model.board;
    const status = h("p", { class: "muted", role: "status" });
    const download = async (file: string, type: string) => {
      status.textContent = `Preparing ${file}…`;
      try {
        // The minutes give times in the reader's zone.
        const zone = Intl.DateTimeFormat().resolvedOptions().timeZone ?? "";
        const local = `?offset=${-new Date().getTimezoneOffset()}&zone=${encodeURIComponent(zone)}`;
        const res = await fetch(`/api/boards/${encodeURIComponent(b.id)}/${file}${file === "minutes.md" ? local : ""}`, {
          headers: authHeaders(this.#token, type),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const blob = await res.blob();
        const url = URL.createObjectURL(blob);
        const a = h("a", { href: url, download: file, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        status.textContent = `${file} downloaded.`;
      } catch (err) {
        status.textContent = `Could not download ${file}: ${(err as Error).message}`;
      }
    };
    const md = h("button", { type: "button", class: "primary" }, "Download minutes (Markdown)");
    md.addEventListener("click", () => void download("minutes.md", "text/markdown"));
    const ics = h("button", { type: "button", class: "button" }, "Download actions (calendar)");
    ics.addEventListener("click", () => void download("actions.ics", "text/calendar"));
    // Exports drawn and written by the server (see the README's "Integrations").
    const exports: [string, string, string][] = [
      ["Board picture (PNG)", "export.png", "image/png"],
      ["Board picture (SVG)", "export.svg", "image/svg+xml"],
      ["Actions (CSV)", "actions.csv", "text/csv"],
      ["Actions (JSON)", "actions.json", "application/json"],
    ];
    if (this.#model.facilitator) exports.push(["Whole board (file, to import elsewhere)", "board.json", "application/json"]);
    const exportButtons = exports.map(([label, file, type]) => {
      const button = h("button", { type: "button", class: "button" }, label);
      button.addEventListener("click", () => void download(file, type));
      return button;
    });
    const close = h("button", { type: "button", class: "button" }, "Close");
    const dialog = h(
      "dialog",
      { class: "share-dialog minutes-dialog", "aria-labelledby": "minutes-title" },
      h("h2", { id: "minutes-title" }, "Minutes"),
      h("p", {}, "The minutes list the participants, teams, goals, obstacles, actions and follow-up. Share them with everyone."),
      h("div", { class: "share-actions" }, md, ics, close),
      h("h3", {}, "Export"),
      h("div", { class: "share-actions" }, ...exportButtons),
      status,
    );
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    md.focus();
  }
}
