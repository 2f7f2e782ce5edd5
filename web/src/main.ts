// Router: loads only the code of the page being shown (the home page needs no Yjs).
import { h, setTitle } from "./util";

async function route(): Promise<void> {
  const root = document.getElementById("app")!;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  let m: RegExpMatchArray | null;
  if (path === "/") {
    (await import("./home")).mountHome(root);
  } else if ((m = path.match(/^\/b\/([^/]+)\/capture$/))) {
    await (await import("./capture")).mountCapture(root, decodeURIComponent(m[1]));
  } else if ((m = path.match(/^\/b\/([^/]+)\/present$/))) {
    await (await import("./present")).mountPresent(root, decodeURIComponent(m[1]));
  } else if ((m = path.match(/^\/b\/([^/]+)$/))) {
    await (await import("./canvas/canvas")).mountCanvas(root, decodeURIComponent(m[1]));
  } else {
    setTitle("Page not found");
    root.replaceChildren(
      h(
        "main",
        { class: "page narrow" },
        h("h1", {}, "Page not found"),
        h("p", {}, h("a", { href: "/", class: "button primary" }, "Go to the home page")),
      ),
    );
  }
}

route().catch((err: unknown) => {
  console.error(err);
  const root = document.getElementById("app")!;
  root.replaceChildren(
    h("main", { class: "page narrow", role: "alert" }, h("h1", {}, "Something went wrong"), h("p", {}, String(err))),
  );
});
