// The Worker as `wrangler deploy` would upload it, served through the Miniflare API: one workerd process,
// without `wrangler dev`'s proxy and inspector, whose memory grows under load (README, Reliability).
// Used by the local stack (scripts/stack.ts) and by `npm run bench:memory`.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { modelDirs, readModelFolder } from "../models/folder.js";
import { Log, LogLevel, Miniflare, type MiniflareOptions, type ModuleDefinition } from "miniflare";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What the local Worker needs from wrangler.toml. */
export interface WorkerConfig {
  name: string;
  compatibilityDate: string;
  vars: Record<string, string>;
  durableObjects: Record<string, { className: string; useSQLite: boolean }>;
  /** R2 bucket bindings (Miniflare's local R2). */
  r2Buckets: string[];
}

/**
 * Reads the few keys above from wrangler.toml. Not a TOML parser: string values and string arrays on one
 * line, which is all the file uses (importing wrangler's own reader costs 3 s of start-up).
 */
export function readWorkerConfig(path = join(ROOT, "wrangler.toml")): WorkerConfig {
  const tables: Array<{ name: string; keys: Record<string, string | string[]> }> = [{ name: "", keys: {} }];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const table = line.match(/^\s*\[\[?([\w.]+)\]\]?\s*$/);
    if (table) tables.push({ name: table[1], keys: {} });
    const kv = line.match(/^\s*(\w+)\s*=\s*(".*"|\[.*\])\s*(#.*)?$/);
    if (kv)
      tables[tables.length - 1].keys[kv[1]] = kv[2].startsWith("[")
        ? [...kv[2].matchAll(/"([^"]*)"/g)].map((m) => m[1])
        : JSON.parse(kv[2]);
  }
  const top = tables[0].keys;
  if (typeof top.name !== "string" || typeof top.compatibility_date !== "string")
    throw new Error(`${path}: name and compatibility_date must be set`);
  const sqlite = new Set(tables.filter((t) => t.name === "migrations").flatMap((t) => t.keys.new_sqlite_classes ?? []));
  const durableObjects: WorkerConfig["durableObjects"] = {};
  for (const t of tables.filter((t) => t.name === "durable_objects.bindings")) {
    const className = String(t.keys.class_name);
    durableObjects[String(t.keys.name)] = { className, useSQLite: sqlite.has(className) };
  }
  const vars = Object.fromEntries(
    Object.entries(tables.find((t) => t.name === "vars")?.keys ?? {}).map(([k, v]) => [k, String(v)]),
  );
  const r2Buckets = tables.filter((t) => t.name === "r2_buckets").map((t) => String(t.keys.binding));
  return { name: top.name, compatibilityDate: top.compatibility_date, vars, durableObjects, r2Buckets };
}

// The module type of each file wrangler writes; the rules match wrangler.toml's (`index.js.map` and the
// README are not modules). Miniflare cannot infer these from `scriptPath` for a bundle like this one.
const typeOf = (f: string): ModuleDefinition["type"] | null =>
  f === "index.js"
    ? "ESModule"
    : f.endsWith(".onnx")
      ? "Data"
      : f.endsWith(".wasm")
        ? "CompiledWasm"
        : /\.(js|css)$/.test(f)
          ? "Text"
          : null;

/** Bundles the Worker with `wrangler deploy --dry-run` and returns its modules, entry first, in memory. */
export async function buildWorker(): Promise<{ modules: ModuleDefinition[]; modulesRoot: string }> {
  const dir = mkdtempSync(join(tmpdir(), "serflow-bundle-"));
  try {
    await promisify(execFile)(
      process.execPath,
      [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", dir],
      {
        cwd: ROOT,
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
        maxBuffer: 16 << 20,
      },
    ).catch((err) => {
      throw new Error(`building the Worker bundle failed: ${err.stderr || err.message}`);
    });
    const files = readdirSync(dir)
      .filter((f) => typeOf(f))
      .sort((a, b) => Number(b === "index.js") - Number(a === "index.js"));
    // Paths stay relative to modulesRoot (the import specifiers in index.js); contents are read now, so
    // the directory can go.
    return {
      modules: files.map((f) => ({
        type: typeOf(f)!,
        path: join(dir, f),
        contents: readFileSync(join(dir, f)) as Uint8Array<ArrayBuffer>,
      })),
      modulesRoot: dir,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface StartWorkerOptions {
  bindings: Record<string, string>;
  host?: string;
  port?: number;
  /** Durable Object storage (and any other) lives under this directory; in memory when unset. */
  persistDir?: string;
  /** Worker console output and Miniflare's own warnings, a line at a time. */
  log?: (line: string) => void;
}

/** Puts every `location: "r2"` stage file into the local MODELS bucket at NAME/FILE, as a deploy would. */
async function uploadR2Stages(mf: Miniflare, config: WorkerConfig): Promise<void> {
  if (!config.r2Buckets.includes("MODELS")) return;
  const bucket = await mf.getR2Bucket("MODELS");
  for (const dir of modelDirs()) {
    const { manifest, files } = readModelFolder(dir);
    for (const s of manifest.stages.filter((s) => s.location === "r2")) {
      // A plain ArrayBuffer: Miniflare's proxy refuses a Buffer that views Node's shared pool.
      const b = files.get(s.file) as Buffer;
      await bucket.put(
        `${manifest.name}/${s.file}`,
        b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer,
      );
    }
  }
}

/** Starts Serflow's Worker with its Durable Objects in a Miniflare instance; resolves once it listens. */
export async function startWorker(
  opts: StartWorkerOptions,
  config = readWorkerConfig(),
): Promise<{ mf: Miniflare; url: string }> {
  const log = opts.log ?? (() => {});
  const { modules, modulesRoot } = await buildWorker();
  class RelayLog extends Log {
    protected log(message: string) {
      log(`[miniflare] ${message}`);
    }
  }
  const options: MiniflareOptions = {
    name: config.name,
    modules,
    modulesRoot,
    compatibilityDate: config.compatibilityDate,
    durableObjects: config.durableObjects,
    r2Buckets: config.r2Buckets,
    bindings: { ...config.vars, ...opts.bindings },
    // Requests go to the Worker on a socket of its own, not through Miniflare's entry worker (pretty
    // error pages, live reload, request logs): under load that second Worker per request made workerd grow
    // 49 -> 166 MB in 5 minutes for a Worker that only returns "ok", 49 -> 88 without it (bench:memory).
    unsafeDirectSockets: [{ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0 }],
    host: "127.0.0.1",
    port: 0,
    defaultPersistRoot: opts.persistDir,
    cf: false, // offline: no fetch of the `Request.cf` placeholder from workers.cloudflare.com
    log: new RelayLog(LogLevel.WARN),
    // workerd's own noise is already dropped by Miniflare; console.warn/error keep their level.
    handleStructuredLogs: ({ level, message }) => {
      const tag = level === "log" || level === "info" ? "[worker]" : `[worker] ${level}:`;
      message
        .split("\n")
        .filter((l) => l.trim())
        .forEach((l) => log(`${tag} ${l}`));
    },
  };
  // Miniflare's constructor adds SIGINT/SIGTERM listeners that exit at once, ahead of the caller's own
  // (npm start drains the VMs first). Its `exit` hook stays: workerd is killed however the process ends.
  const signals = ["SIGINT", "SIGTERM"] as const;
  const before = signals.map((s) => process.listeners(s));
  const mf = new Miniflare(options);
  signals.forEach((s, i) =>
    process
      .listeners(s)
      .filter((l) => !before[i].includes(l))
      .forEach((l) => process.off(s, l)),
  );
  try {
    await mf.ready;
    await uploadR2Stages(mf, config);
    return { mf, url: (await mf.unsafeGetDirectURL()).toString().replace(/\/$/, "") };
  } catch (err) {
    await mf.dispose().catch(() => {});
    throw err;
  }
}
