import { h } from "./util";

/** Colours for people (cursors, avatars): all carry white text at >= 4.5:1 contrast. */
/** Dark enough for white initials, and told apart at a glance (one red, one pink...). */
export const USER_COLORS = [
  "#b71c1c",
  "#1565c0",
  "#2e7d32",
  "#6a1b9a",
  "#a14a00",
  "#00695c",
  "#ad1457",
  "#37474f",
  "#5d4037",
  "#283593",
];

const NAME_KEY = "commonboard.name";
const COLOR_KEY = "commonboard.color";

export interface Identity {
  name: string;
  color: string;
}

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* ignore */
  }
}

export function storedName(): string | null {
  const n = read(NAME_KEY);
  return n && n.trim() ? n.trim() : null;
}

export function saveName(name: string): void {
  write(NAME_KEY, name.trim());
}

export function userColor(): string {
  let c = read(COLOR_KEY);
  if (!c || !USER_COLORS.includes(c)) {
    const r = new Uint8Array(1);
    crypto.getRandomValues(r);
    c = USER_COLORS[r[0] % USER_COLORS.length];
    write(COLOR_KEY, c);
  }
  return c;
}

/** The user's identity; asks for a name (once, remembered) when none is stored. */
export async function ensureIdentity(boardTitle?: string): Promise<Identity> {
  const name = storedName() ?? (await askName(boardTitle));
  return { name, color: userColor() };
}

/** Shows a modal asking for a display name; resolves when one is entered. */
export function askName(boardTitle?: string, current = ""): Promise<string> {
  return new Promise((resolve) => {
    const input = h("input", {
      id: "name-input",
      name: "name",
      type: "text",
      required: true,
      maxlength: 40,
      autocomplete: "nickname",
      value: current,
    });
    const form = h(
      "form",
      { method: "dialog", class: "name-form" },
      h("h2", { id: "name-title" }, boardTitle ? `Join “${boardTitle}”` : "Join the board"),
      h("label", { for: "name-input" }, "Your name, as others will see it"),
      input,
      h("button", { type: "submit", class: "primary big" }, "Join"),
    );
    const dialog = h("dialog", { class: "name-dialog", "aria-labelledby": "name-title" }, form);
    // Escape must not leave the page without a name.
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = input.value.trim().slice(0, 40);
      if (!name) {
        input.focus();
        return;
      }
      saveName(name);
      dialog.close();
      dialog.remove();
      resolve(name);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
