// The workshop's tables beside the canvas: the possible collaborators (step 1: one row per
// team note, placed on the interaction × conflict plot) and the actions (step 4: text,
// owner, due date, done). Both edit the shared doc; inputs being typed into are never
// overwritten by a re-render.
import * as Y from "yjs";
import { addNote, freeSpot, noteRect, placeInFrame, num, setNoteText, setNotePos, str, transact, type Board, type Rect, type YMap } from "../board";
import { NOTE_KINDS } from "../generated/protocol";
import { ACTION_FIELDS, DEFAULT_NOTE_H, DEFAULT_NOTE_W, NOTE_FIELDS } from "../schema";
import { h, randomId } from "../util";
import { areaFrame, kindForFrame, plotSpot, teamRow } from "../workshop";

const LEVELS = ["never", "rarely", "monthly", "weekly", "daily"];

interface Host {
  readonly canEdit: boolean;
}

/** Sets an input's value unless someone is typing in it. */
function setValue(el: HTMLInputElement | HTMLSelectElement, v: string): void {
  if (document.activeElement !== el && el.value !== v) el.value = v;
}

/**
 * Actions whose id starts with this are the follow-up check-ins of step 5 (the minutes
 * list them under "Follow-up", and `actions.ics` has them as events).
 */
export const FOLLOW_UP_PREFIX = "followup-";

export class WorkshopPanels {
  readonly el: HTMLElement;
  readonly toggles: HTMLElement;
  #b: Board;
  #host: Host;
  #teams: HTMLElement;
  #teamsBody: HTMLTableSectionElement;
  #actions: HTMLElement;
  #actionsBody: HTMLTableSectionElement;
  #people: HTMLDataListElement;
  #teamsBtn: HTMLButtonElement;
  #actionsBtn: HTMLButtonElement;
  #teamRows = new Map<string, HTMLTableRowElement>();
  #actionRows = new Map<string, HTMLTableRowElement>();
  #frame = 0;

  constructor(b: Board, host: Host) {
    this.#b = b;
    this.#host = host;
    const closeBtn = (which: "teams" | "actions") => {
      const el = h("button", { type: "button", class: "tool ws-panel-close", "aria-label": "Close panel" }, "×");
      el.addEventListener("click", () => this.#toggle(which, false));
      return el;
    };
    /** A closable panel holding one table. */
    const panel = (
      which: "teams" | "actions",
      title: string,
      headers: (string | HTMLElement)[],
      body: HTMLElement,
      ...after: HTMLElement[]
    ) =>
      h(
        "section",
        { class: `ws-panel ws-${which}`, id: `ws-${which}`, "aria-labelledby": `ws-${which}-title`, hidden: true },
        h("div", { class: "ws-panel-head" }, h("h2", { id: `ws-${which}-title` }, title), closeBtn(which)),
        h(
          "div",
          { class: "ws-table-wrap" },
          h(
            "table",
            { class: "ws-table" },
            h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { scope: "col" }, t)))),
            body,
          ),
        ),
        ...after,
      );
    // Collaborators.
    this.#teamsBody = h("tbody");
    const addTeam = h("button", { type: "button", class: "tool edit-tool ws-add-team" }, "+ Add team");
    addTeam.addEventListener("click", () => this.#addTeam());
    const teamColumns = ["Team", "They expect of us", "We expect of them", "Interaction", "Conflict", "Approach first"];
    this.#teams = panel("teams", "Possible collaborators", teamColumns, this.#teamsBody, addTeam);
    // Actions.
    this.#actionsBody = h("tbody");
    this.#people = h("datalist", { id: "ws-people" });
    const addAction = h("button", { type: "button", class: "tool edit-tool ws-add-action" }, "+ Add action");
    addAction.addEventListener("click", () => this.#addAction());
    // Step 5: the check-in that follows the actions up, with a date, an owner and an agenda.
    const addFollowUp = h("button", { type: "button", class: "tool edit-tool ws-add-followup" }, "+ Add follow-up check-in");
    addFollowUp.addEventListener("click", () => this.#addAction(FOLLOW_UP_PREFIX));
    const remove = h("span", { class: "visually-hidden" }, "Remove");
    const actionColumns = ["Action", "Owner", "Due", "Done", remove];
    this.#actions = panel("actions", "Actions and follow-up", actionColumns, this.#actionsBody, h("div", { class: "ws-panel-buttons" }, addAction, addFollowUp), this.#people);
    this.el = h("div", { class: "ws-panels" }, this.#teams, this.#actions);
    this.#teamsBtn = h("button", { type: "button", class: "tool ws-toggle-teams", "aria-expanded": "false", "aria-controls": "ws-teams" }, "Collaborators");
    this.#teamsBtn.addEventListener("click", () => this.#toggle("teams", !!this.#teams.hidden));
    this.#actionsBtn = h("button", { type: "button", class: "tool ws-toggle-actions", "aria-expanded": "false", "aria-controls": "ws-actions" }, "Actions");
    this.#actionsBtn.addEventListener("click", () => this.#toggle("actions", !!this.#actions.hidden));
    this.toggles = h("span", { class: "ws-toggles" }, this.#teamsBtn, this.#actionsBtn);

    b.notes.observeDeep(() => this.#schedule());
    b.actions.observeDeep(() => this.#schedule());
    // Awareness changes with every cursor move: only the owners' suggestions depend on it.
    b.provider.awareness.on("change", () => {
      if (!this.#actions.hidden) this.#renderPeople();
    });
    this.#schedule();
  }

  /** Renders the open tables again (after a change of role, for example). */
  refresh(): void {
    this.#schedule();
  }

  /** Opens the table the step works with (collaborators, next steps), closes the other. */
  openFor(step: string | null): void {
    this.#toggle("teams", step === "collaborators");
    this.#toggle("actions", step === "next-steps" || step === "follow-up");
  }

  #toggle(which: "teams" | "actions", open: boolean): void {
    const panel = which === "teams" ? this.#teams : this.#actions;
    const btn = which === "teams" ? this.#teamsBtn : this.#actionsBtn;
    panel.hidden = !open;
    btn.setAttribute("aria-expanded", String(open));
    if (open) this.#render();
  }

  #schedule(): void {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#render();
    });
  }

  #render(): void {
    if (!this.#teams.hidden) this.#renderTeams();
    if (!this.#actions.hidden) this.#renderActions();
  }

  // ---------------------------------------------------------------- teams

  #isTeam(m: YMap): boolean {
    const k = str(m, NOTE_FIELDS.kind);
    if (k) return k === NOTE_KINDS.team;
    return kindForFrame(this.#b, str(m, NOTE_FIELDS.frame) || null) === NOTE_KINDS.team;
  }

  #renderTeams(): void {
    const ids: { id: string; at: number }[] = [];
    this.#b.notes.forEach((m, id) => {
      if (this.#isTeam(m)) ids.push({ id, at: num(m, NOTE_FIELDS.createdAt, 0) });
    });
    ids.sort((a, z) => a.at - z.at || a.id.localeCompare(z.id));
    const keep = new Set(ids.map((x) => x.id));
    for (const [id, tr] of this.#teamRows) {
      if (!keep.has(id)) {
        tr.remove();
        this.#teamRows.delete(id);
      }
    }
    ids.forEach(({ id }, i) => {
      const m = this.#b.notes.get(id)!;
      let tr = this.#teamRows.get(id);
      if (!tr) tr = this.#makeTeamRow(id);
      if (this.#teamsBody.children[i] !== tr) this.#teamsBody.insertBefore(tr, this.#teamsBody.children[i] ?? null);
      const row = teamRow(id, m);
      const [name, expects, we, inter, conf, chosen] = [...tr.querySelectorAll<HTMLInputElement | HTMLSelectElement>("input, select")];
      setValue(name, row.name);
      setValue(expects, row.expectsOfUs);
      setValue(we, row.weExpect);
      setValue(inter, String(Math.round(row.interaction)));
      setValue(conf, String(Math.round(row.conflict)));
      (chosen as HTMLInputElement).checked = row.chosen;
      const label = row.name || "unnamed team";
      expects.setAttribute("aria-label", `What ${label} expects of us`);
      we.setAttribute("aria-label", `What we expect of ${label}`);
      inter.setAttribute("aria-label", `How often we interact with ${label}`);
      conf.setAttribute("aria-label", `How often our aims conflict with ${label}`);
      chosen.setAttribute("aria-label", `Approach ${label} first`);
      for (const el of [name, expects, we, inter, conf, chosen]) el.disabled = !this.#host.canEdit;
      tr.classList.toggle("chosen", row.chosen);
    });
  }

  #makeTeamRow(id: string): HTMLTableRowElement {
    const b = this.#b;
    const text = (cls: string) => h("input", { type: "text", class: cls, maxlength: 300, autocomplete: "off" });
    const level = (cls: string) => {
      const s = h("select", { class: cls });
      LEVELS.forEach((l, i) => s.append(h("option", { value: i }, `${i} · ${l}`)));
      return s;
    };
    const name = text("ws-team-name");
    name.setAttribute("aria-label", "Team name");
    const expects = text("ws-team-expects");
    const we = text("ws-team-we");
    const inter = level("ws-team-interaction");
    const conf = level("ws-team-conflict");
    const chosen = h("input", { type: "checkbox", class: "ws-team-chosen" });
    const field = (key: string, value: unknown) => {
      const m = b.notes.get(id);
      if (m && m.get(key) !== value) transact(b, () => m.set(key, value));
    };
    name.addEventListener("input", () => setNoteText(b, id, name.value));
    expects.addEventListener("input", () => field(NOTE_FIELDS.expectsOfUs, expects.value));
    we.addEventListener("input", () => field(NOTE_FIELDS.weExpect, we.value));
    const place = () => {
      const m = b.notes.get(id);
      if (!m) return;
      const i = Number(inter.value);
      const c = Number(conf.value);
      const plot = areaFrame(b, "plot");
      transact(b, () => {
        if (m.get(NOTE_FIELDS.interaction) !== i) m.set(NOTE_FIELDS.interaction, i);
        if (m.get(NOTE_FIELDS.conflict) !== c) m.set(NOTE_FIELDS.conflict, c);
        if (str(m, NOTE_FIELDS.kind) !== NOTE_KINDS.team) m.set(NOTE_FIELDS.kind, NOTE_KINDS.team);
        if (plot) {
          const r = noteRect(m);
          const w = Math.min(r.w, 140);
          const hh = Math.min(r.h, 90);
          // Teams at the same place stack with a small offset, in the table's order.
          const nth = [...this.#teamRows.keys()].indexOf(id);
          const spot = plotSpot(plot.rect, i, c, w, hh);
          if (r.w !== w || r.h !== hh) {
            m.set(NOTE_FIELDS.w, w);
            m.set(NOTE_FIELDS.h, hh);
          }
          setNotePos(m, spot.x + (nth % 4) * 10, spot.y + (nth % 4) * 10);
          if (str(m, NOTE_FIELDS.frame) !== plot.id) m.set(NOTE_FIELDS.frame, plot.id);
        }
      });
    };
    inter.addEventListener("change", place);
    conf.addEventListener("change", place);
    chosen.addEventListener("change", () => field(NOTE_FIELDS.chosen, chosen.checked));
    const tr = h(
      "tr",
      { "data-id": id },
      h("td", {}, name),
      h("td", {}, expects),
      h("td", {}, we),
      h("td", {}, inter),
      h("td", {}, conf),
      h("td", { class: "center" }, chosen),
    );
    this.#teamRows.set(id, tr);
    return tr;
  }

  #addTeam(): void {
    const b = this.#b;
    if (!this.#host.canEdit) return;
    const area = areaFrame(b, "teams");
    const rect: Rect = area?.rect ?? { x: 0, y: -400, w: 800, h: 360 };
    const taken: Rect[] = [];
    b.notes.forEach((m) => taken.push(noteRect(m)));
    const spot = (area ? placeInFrame(b, area.id, DEFAULT_NOTE_W, DEFAULT_NOTE_H) : null) ?? freeSpot(rect, taken, DEFAULT_NOTE_W, DEFAULT_NOTE_H);
    const id = addNote(b, {
      x: spot.x,
      y: spot.y,
      color: "blue",
      frame: area?.id ?? null,
      kind: NOTE_KINDS.team,
      fields: {
        [NOTE_FIELDS.expectsOfUs]: "",
        [NOTE_FIELDS.weExpect]: "",
        [NOTE_FIELDS.interaction]: 0,
        [NOTE_FIELDS.conflict]: 0,
        [NOTE_FIELDS.chosen]: false,
      },
    });
    this.#renderTeams();
    this.#teamRows.get(id)?.querySelector("input")?.focus();
  }

  // ---------------------------------------------------------------- actions

  /** People in the room without a device (from the turn order): owners too. */
  #named: string[] = [];

  /** Names the owner field suggests besides who is present (people added by name). */
  setNamedPeople(names: string[]): void {
    this.#named = names;
    if (!this.#actions.hidden) this.#renderPeople();
  }

  #renderPeople(): void {
    const names = new Set<string>(this.#named);
    for (const st of this.#b.provider.awareness.getStates().values()) {
      const n = (st as { user?: { name?: string } }).user?.name;
      if (n) names.add(n);
    }
    const sorted = [...names].sort();
    const key = sorted.join("\n");
    if (this.#people.dataset.key !== key) {
      this.#people.dataset.key = key;
      this.#people.replaceChildren(...sorted.map((n) => h("option", { value: n })));
    }
  }

  #renderActions(): void {
    this.#renderPeople();
    const ids: { id: string; at: number }[] = [];
    this.#b.actions.forEach((m, id) => ids.push({ id, at: num(m, ACTION_FIELDS.createdAt, 0) }));
    ids.sort((a, z) => a.at - z.at || a.id.localeCompare(z.id));
    const keep = new Set(ids.map((x) => x.id));
    for (const [id, tr] of this.#actionRows) {
      if (!keep.has(id)) {
        tr.remove();
        this.#actionRows.delete(id);
      }
    }
    ids.forEach(({ id }, i) => {
      const m = this.#b.actions.get(id)!;
      let tr = this.#actionRows.get(id);
      if (!tr) tr = this.#makeActionRow(id);
      if (this.#actionsBody.children[i] !== tr) this.#actionsBody.insertBefore(tr, this.#actionsBody.children[i] ?? null);
      const [text, owner, due, done] = [...tr.querySelectorAll<HTMLInputElement>("input")];
      setValue(text, str(m, ACTION_FIELDS.text));
      setValue(owner, str(m, ACTION_FIELDS.owner));
      setValue(due, str(m, ACTION_FIELDS.due));
      done.checked = m.get(ACTION_FIELDS.done) === true;
      const followUp = id.startsWith(FOLLOW_UP_PREFIX);
      tr.classList.toggle("followup", followUp);
      text.placeholder = followUp ? "Follow-up: agenda of the check-in" : "What we will do";
      const label = str(m, ACTION_FIELDS.text) || (followUp ? "follow-up check-in" : "new action");
      owner.setAttribute("aria-label", `Owner of ${label}`);
      due.setAttribute("aria-label", `Due date of ${label}`);
      done.setAttribute("aria-label", `Done: ${label}`);
      tr.querySelector(".ws-action-remove")?.setAttribute("aria-label", `Remove action: ${label}`);
      for (const el of tr.querySelectorAll<HTMLInputElement | HTMLButtonElement>("input, button")) el.disabled = !this.#host.canEdit;
      tr.classList.toggle("done", done.checked);
    });
  }

  #makeActionRow(id: string): HTMLTableRowElement {
    const b = this.#b;
    const text = h("input", { type: "text", class: "ws-action-text", maxlength: 500, autocomplete: "off", "aria-label": "Action" });
    const owner = h("input", { type: "text", class: "ws-action-owner", maxlength: 120, list: "ws-people", autocomplete: "off" });
    const due = h("input", { type: "date", class: "ws-action-due" });
    const done = h("input", { type: "checkbox", class: "ws-action-done" });
    const remove = h("button", { type: "button", class: "tool ws-action-remove" }, "×");
    const field = (key: string, value: unknown) => {
      const m = b.actions.get(id);
      if (m && m.get(key) !== value) transact(b, () => m.set(key, value));
    };
    text.addEventListener("input", () => field(ACTION_FIELDS.text, text.value));
    owner.addEventListener("input", () => field(ACTION_FIELDS.owner, owner.value));
    due.addEventListener("change", () => field(ACTION_FIELDS.due, due.value));
    done.addEventListener("change", () => field(ACTION_FIELDS.done, done.checked));
    remove.addEventListener("click", () => transact(b, () => b.actions.delete(id)));
    const tr = h("tr", { "data-id": id }, h("td", {}, text), h("td", {}, owner), h("td", {}, due), h("td", { class: "center" }, done), h("td", {}, remove));
    this.#actionRows.set(id, tr);
    return tr;
  }

  #addAction(prefix = ""): void {
    const b = this.#b;
    if (!this.#host.canEdit) return;
    const id = prefix + randomId();
    transact(b, () => {
      const m = new Y.Map<unknown>();
      m.set(ACTION_FIELDS.text, prefix ? "Are the actions done? What is in the way?" : "");
      m.set(ACTION_FIELDS.owner, "");
      m.set(ACTION_FIELDS.due, "");
      m.set(ACTION_FIELDS.done, false);
      m.set(ACTION_FIELDS.createdAt, Date.now());
      b.actions.set(id, m);
    });
    this.#renderActions();
    this.#actionRows.get(id)?.querySelector("input")?.focus();
  }
}
