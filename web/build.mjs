// Bundles the web client into dist/: app.js (a small router, minified, with source map)
// plus one chunk per page and shared chunks, index.html (with modulepreload links for the
// board page's chunks) and app.css. Prints the sizes, raw and gzip.
import { build } from "esbuild";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const result = await build({
  entryPoints: { app: join(here, "src/main.ts") },
  outdir: dist,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["es2022", "chrome100", "firefox100", "safari15"],
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

await copyFile(join(here, "static", "app.css"), join(dist, "app.css"));
// The presentation view's stylesheet, loaded by that page only.
await copyFile(join(here, "static", "present.css"), join(dist, "present.css"));

const outputs = result.metafile.outputs;
const rel = (p) => relative(here, join(here, p)).replace(/\\/g, "/");
const sizes = new Map();
for (const path of Object.keys(outputs)) {
  if (!path.endsWith(".js")) continue;
  const bytes = await readFile(join(here, path));
  sizes.set(path, { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
}
const fmt = (s) => `${s.raw} bytes raw, ${s.gzip} bytes gzip`;
let total = { raw: 0, gzip: 0 };
for (const [path, s] of sizes) {
  total = { raw: total.raw + s.raw, gzip: total.gzip + s.gzip };
  console.log(`${rel(path).replace(/^dist\//, "")}: ${fmt(s)}`);
}
console.log(`all JavaScript: ${fmt(total)}`);

// What each page loads: the router, the page's chunk, and everything it imports.
const entry = Object.keys(outputs).find((p) => outputs[p].entryPoint?.endsWith("src/main.ts"));
const closure = (start) => {
  const seen = new Set();
  const walk = (p) => {
    if (seen.has(p)) return;
    seen.add(p);
    for (const imp of outputs[p].imports) if (imp.kind === "import-statement") walk(imp.path);
  };
  walk(entry);
  if (start) walk(start);
  return seen;
};
const pages = { home: "src/home.ts", board: "src/canvas/canvas.ts", capture: "src/capture.ts" };
for (const [page, src] of Object.entries(pages)) {
  const chunk = Object.keys(outputs).find((p) => p.endsWith(".js") && outputs[p].entryPoint === src);
  let s = { raw: 0, gzip: 0 };
  for (const p of closure(chunk)) {
    const one = sizes.get(p);
    s = { raw: s.raw + one.raw, gzip: s.gzip + one.gzip };
  }
  console.log(`${page} page JavaScript: ${fmt(s)}`);
}
// index.html: preload the board page's chunks, so the browser fetches them in parallel
// with app.js instead of one after the other (the board is the page that matters most;
// on the home page this warms the cache for the board opened next).
const boardChunk = Object.keys(outputs).find((p) => p.endsWith(".js") && outputs[p].entryPoint === pages.board);
const preload = [...closure(boardChunk)]
  .filter((p) => p !== entry)
  .map((p) => `    <link rel="modulepreload" href="/${relative(dist, join(here, p)).replace(/\\/g, "/")}" />`)
  .join("\n");
const html = await readFile(join(here, "static", "index.html"), "utf8");
if (!html.includes("<!-- build: modulepreload -->")) throw new Error("static/index.html lost its modulepreload marker");
await writeFile(join(dist, "index.html"), html.replace("    <!-- build: modulepreload -->", preload));

const css = await readFile(join(dist, "app.css"));
console.log(`app.css: ${css.length} bytes raw, ${gzipSync(css, { level: 9 }).length} bytes gzip`);
