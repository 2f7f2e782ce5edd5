import { createBoard, listTemplates, knownBoards, rememberBoard, tokenOf, withToken } from "./api";
import { h, setTitle } from "./util";

/** The home page: create a board, reopen one made or visited from this browser. */
export function mountHome(root: HTMLElement): void {
  setTitle(null);
  document.body.dataset.page = "home";
  const input = h("input", {
    id: "board-title",
    name: "title",
    type: "text",
    required: true,
    maxlength: 200,
    placeholder: "e.g. Platform × Payments: common goal",
    autocomplete: "off",
  });
  const submit = h("button", { type: "submit", class: "primary big" }, "Create board");
  // The template: radio buttons filled from the server, the collaboration workshop first.
  const DEFAULT_TEMPLATE = "collaboration-workshop";
  const choices = h("div", { class: "template-choices" });
  const templates = h(
    "fieldset",
    { class: "template-field", hidden: true },
    h("legend", {}, "Start from"),
    choices,
  );
  listTemplates().then(
    (list) => {
      if (!list.length) return;
      const sorted = [...list].sort((a, z) => Number(z.name === DEFAULT_TEMPLATE) - Number(a.name === DEFAULT_TEMPLATE));
      const def = sorted.some((t) => t.name === DEFAULT_TEMPLATE) ? DEFAULT_TEMPLATE : sorted[0].name;
      choices.replaceChildren(
        ...sorted.map((t) => {
          const id = `template-${t.name}`;
          const radio = h("input", { type: "radio", name: "template", id, value: t.name, checked: t.name === def, "aria-describedby": `${id}-desc` });
          const steps = t.steps.length ? ` Steps: ${t.steps.join(" · ")}.` : "";
          return h(
            "div",
            { class: "template-choice" },
            radio,
            h("label", { for: id }, h("strong", {}, t.title)),
            h("p", { class: "muted", id: `${id}-desc` }, t.description + steps),
          );
        }),
      );
      templates.hidden = false;
    },
    () => {
      /* no templates: a blank board, as before */
    },
  );
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "create-form" },
    h("label", { for: "board-title" }, "Board title"),
    h("div", { class: "row" }, input, submit),
    templates,
    error,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const title = input.value.trim();
    if (!title) {
      input.focus();
      return;
    }
    submit.disabled = true;
    error.hidden = true;
    try {
      const template = form.querySelector<HTMLInputElement>('input[name="template"]:checked')?.value;
      const info = await createBoard(template ? { title, template } : { title });
      // The creator runs the workshop: open the facilitator's link when the server gives one.
      const link = info.links?.facilitator ?? info.url ?? `/b/${encodeURIComponent(info.id)}`;
      rememberBoard({ id: info.id, title: info.title, created_at: info.created_at, created_here: true, token: tokenOf(link) ?? undefined });
      location.assign(link);
    } catch (err) {
      error.textContent = `Could not create the board: ${(err as Error).message}`;
      error.hidden = false;
      submit.disabled = false;
    }
  });

  const boards = knownBoards();
  const list = h("ul", { class: "board-list" });
  for (const b of boards) {
    const when = b.created_at ? new Date(b.created_at) : new Date(b.opened_at);
    const date = Number.isNaN(when.getTime()) ? "" : when.toLocaleDateString(undefined, { dateStyle: "medium" });
    list.append(
      h(
        "li",
        {},
        h("a", { href: withToken(`/b/${encodeURIComponent(b.id)}`, b.token ?? null), class: "board-link" }, b.title || "Untitled board"),
        h("span", { class: "muted" }, `${b.created_here ? "created" : "opened"} ${date}`),
      ),
    );
  }
  root.replaceChildren(
    h(
      "main",
      { class: "page narrow home" },
      h("h1", {}, h("span", { class: "logo", "aria-hidden": "true" }, "◧ "), "Commonboard"),
      h("p", { class: "lead" }, "A live sticky-note board for collaboration workshops: people in the room add notes from their phones, remote people join on the full canvas."),
      h("section", { "aria-labelledby": "new-board" }, h("h2", { id: "new-board" }, "New board"), form),
      h(
        "section",
        { "aria-labelledby": "your-boards" },
        h("h2", { id: "your-boards" }, "Your boards"),
        boards.length ? list : h("p", { class: "muted" }, "Boards you create or open in this browser appear here."),
      ),
    ),
  );
  input.focus();
}
