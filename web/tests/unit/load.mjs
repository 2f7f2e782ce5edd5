// Loads a TypeScript module of the web client for a unit test: esbuild bundles it (with
// its relative imports) into tests/unit/.build/, packages stay imports that node resolves
// from node_modules (so a test and the module share one yjs), and the result is imported.
import { build } from "esbuild";
import { mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "..", "..", "src");
const out = join(here, ".build");

/** Imports `web/src/<rel>` (e.g. "textdiff.ts"), compiled for node. */
export async function loadSrc(rel) {
  await mkdir(out, { recursive: true });
  // One file per module and process: test files run in parallel.
  const file = join(out, `${basename(rel, ".ts")}-${process.pid}.mjs`);
  await build({
    entryPoints: [join(src, rel)],
    outfile: file,
    bundle: true,
    packages: "external",
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
  });
  return import(pathToFileURL(file).href);
}
