// Structure of the web client's sources: no import cycle between modules (static and
// type imports alike), every file under src/canvas/ opens with a comment saying what it
// does, and no hand-written file is over 600 lines. Reads the import lines; no bundler.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");
const MAX_LINES = 600;

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

const files = sources(src);
const rel = (p) => relative(src, p).replace(/\\/g, "/");
/** Generated from the Rust protocol crate: not hand-written. */
const generated = (p) => rel(p).startsWith("generated/");

/** The relative modules a file imports: `import`/`export ... from`, `import "x"`, `import("x")`. */
export function importsOf(text) {
  const specs = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of text.matchAll(re)) specs.push(m[1] ?? m[2] ?? m[3]);
  return specs.filter((s) => s.startsWith("."));
}

function resolveSpec(from, spec) {
  const base = resolve(dirname(from), spec);
  for (const p of [base, `${base}.ts`, join(base, "index.ts")]) if (existsSync(p) && statSync(p).isFile()) return p;
  return null;
}

const graph = new Map(
  files.map((f) => [
    f,
    importsOf(readFileSync(f, "utf8")).map((s) => {
      const to = resolveSpec(f, s);
      assert.ok(to, `${rel(f)} imports ${s}, which does not resolve`);
      return to;
    }),
  ]),
);

/** Every cycle's members, found by Tarjan's strongly connected components. */
function cycles(g) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const found = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) found.push(comp.map(rel).sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return found;
}

test("the import parser sees every form of import", () => {
  const text = [
    'import * as Y from "yjs";',
    'import { a,\n  b } from "./one";',
    'import type { T } from "../two";',
    'export { c } from "./three";',
    'import "./four";',
    'const m = await import("./five");',
  ].join("\n");
  assert.deepEqual(importsOf(text), ["./one", "../two", "./three", "./four", "./five"]);
});

test("the cycle finder finds a cycle, and none where there is none", () => {
  const g = new Map([
    ["/s/a.ts", ["/s/b.ts"]],
    ["/s/b.ts", ["/s/c.ts"]],
    ["/s/c.ts", ["/s/a.ts"]],
    ["/s/d.ts", ["/s/a.ts"]],
  ]);
  assert.equal(cycles(g).length, 1);
  assert.equal(cycles(new Map([["/s/a.ts", ["/s/b.ts"]], ["/s/b.ts", []]])).length, 0);
});

test("the canvas is split into modules", () => {
  const canvas = files.filter((f) => rel(f).startsWith("canvas/")).map(rel);
  for (const part of ["canvas.ts", "render.ts", "gestures.ts", "keyboard.ts", "text-edit.ts", "toolbar.ts"]) {
    assert.ok(canvas.includes(`canvas/${part}`), `canvas/${part} missing`);
  }
});

test("no import cycle between the web client's modules", () => {
  assert.deepEqual(cycles(graph), []);
});

test("every file under src/canvas/ opens with a comment saying what it does", () => {
  for (const f of files.filter((p) => rel(p).startsWith("canvas/"))) {
    const first = readFileSync(f, "utf8").split("\n")[0];
    assert.match(first, /^\/\/ \S|^\/\*\*? \S/, `${rel(f)} opens with: ${first}`);
  }
});

test(`no hand-written source file is over ${MAX_LINES} lines`, () => {
  for (const f of files.filter((p) => !generated(p))) {
    const lines = readFileSync(f, "utf8").split("\n").length - 1;
    assert.ok(lines <= MAX_LINES, `${rel(f)}: ${lines} lines`);
  }
});
