// The import graph as the architecture has it: core/ at the bottom (runtime-free), the demo model's
// library above it, the adapters above that (none importing another), and what composes them on top.
// `npm run check:imports` prints the folder graph; scripts/import-graph.test.ts keeps it true.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import ts from "typescript";

/** A folder may import only folders of a lower layer (and itself). */
export const LAYERS: Record<string, number> = {
  core: 0,
  model: 1, // the demo model's build and held-out digits
  models: 1, // built models: manifests, ONNX files, held-out digits (data)
  worker: 2,
  "durable-objects": 2,
  "vm-service": 2,
  scripts: 2,
  sim: 2,
  bench: 3,
  test: 3,
  ".": 3, // the deployment's entry module (index.ts), vitest.config.ts
};

/** Edges that break the layering knowingly, each with the reason; a listed edge that is gone fails too. */
export const KNOWN_EXCEPTIONS: Record<string, string> = {};

export type Edge = { from: string; to: string };

export const folderOf = (file: string) => (file.includes("/") ? file.slice(0, file.indexOf("/")) : ".");

/** Repository-relative paths of the internal files a source file imports (type-only imports included). */
export function importsOf(file: string, text: string, exists: (p: string) => boolean): string[] {
  const out: string[] = [];
  for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!spec.startsWith(".")) {
      out.push(spec); // a package or a runtime module (node:*, cloudflare:*)
      continue;
    }
    const p = normalize(join(dirname(file), spec));
    const ts_ = p.replace(/\.js$/, ".ts");
    out.push(p.endsWith(".js") && exists(ts_) ? ts_ : p);
  }
  return out;
}

/** Strongly connected components with more than one file (Tarjan): each is an import cycle. */
export function cycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || next.get(v)?.includes(v)) out.push(scc.sort());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** Everything wrong with a graph of internal edges (from/to repository-relative paths) and package imports. */
export function violations(edges: Edge[], packages: Edge[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of edges) {
    const [a, b] = [folderOf(e.from), folderOf(e.to)];
    if (a === b) continue;
    const key = `${e.from} -> ${e.to}`;
    if (key in KNOWN_EXCEPTIONS) {
      seen.add(key);
      continue;
    }
    if (!(a in LAYERS)) out.push(`${e.from}: folder ${a}/ has no layer in scripts/import-graph.ts`);
    else if (!(b in LAYERS)) out.push(`${key}: folder ${b}/ has no layer in scripts/import-graph.ts`);
    else if (LAYERS[b] >= LAYERS[a])
      out.push(`${key}: ${a}/ (layer ${LAYERS[a]}) may import only lower layers, not ${b}/ (layer ${LAYERS[b]})`);
  }
  for (const p of packages)
    if (folderOf(p.from) === "core" && /^(node|cloudflare):/.test(p.to))
      out.push(`${p.from} -> ${p.to}: core/ is runtime-free`);
  for (const key of Object.keys(KNOWN_EXCEPTIONS))
    if (!seen.has(key)) out.push(`${key}: listed in KNOWN_EXCEPTIONS but no longer imported; remove it from the list`);
  for (const c of cycles(edges)) out.push(`import cycle among ${c.join(", ")}`);
  return out;
}

/** Folders that hold no source of ours: dependencies, build output, local state (dot-folders too). */
const SKIP = new Set(["node_modules", "dist", "tmp", "results", "reports"]);

function tsFiles(root: string, dir = ""): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const p = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) return e.name.startsWith(".") || SKIP.has(e.name) ? [] : tsFiles(root, p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

const isOurs = (root: string, p: string) =>
  p.includes("/") && !p.startsWith("@") && !p.startsWith("node_modules/") && existsSync(join(root, p));

/** The repository's TypeScript files and their imports. */
export function repoGraph(root: string): { files: string[]; edges: Edge[]; packages: Edge[] } {
  const files = tsFiles(root);
  const edges: Edge[] = [];
  const packages: Edge[] = [];
  // A path into node_modules (the Worker imports uPlot's files by path) is a package, not ours.
  for (const from of files)
    for (const to of new Set(importsOf(from, readFileSync(join(root, from), "utf8"), (p) => existsSync(join(root, p)))))
      (isOurs(root, to) ? edges : packages).push({ from, to });
  return { files, edges, packages };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { files, edges, packages } = repoGraph(process.cwd());
  const folders = new Map<string, number>();
  for (const e of edges) {
    const [a, b] = [folderOf(e.from), folderOf(e.to)];
    if (a !== b) folders.set(`${a} -> ${b}`, (folders.get(`${a} -> ${b}`) ?? 0) + 1);
  }
  console.log(`${files.length} files, ${edges.length} internal imports; between folders:`);
  for (const [k, n] of [...folders].sort()) console.log(`  ${k}  (${n})`);
  for (const [k, why] of Object.entries(KNOWN_EXCEPTIONS)) console.log(`known exception: ${k} (${why})`);
  const bad = violations(edges, packages);
  for (const v of bad) console.error(v);
  console.log(bad.length ? `${bad.length} violations` : "no cycle, no import against the layers");
  process.exit(bad.length ? 1 : 0);
}
