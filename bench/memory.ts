// `npm run bench:memory -- [--minutes 5]`: where workerd's memory goes under a steady load. Four workerd
// processes side by side, each sent ~95 requests/s for the same minutes, RSS printed every 30 s:
//   1. a trivial Worker (`new Response("ok")`) through Miniflare's entry worker (Miniflare's default);
//   2. the same Worker on a direct socket (how `npm start` serves Serflow);
//   3. Serflow's bundle under plain `workerd serve`, only the onnxruntime-web chain
//      (`POST /internal/v1/bench/bare`, a different digit each time);
//   4. the same with V8 optimizing all of ORT's WASM up front (`--no-wasm-dynamic-tiering`), where by
//      default it optimizes each function once it is hot.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Miniflare, type ModuleDefinition } from "miniflare";
import { descendantPids, rssMb } from "../scripts/proc.js";
import { buildWorker, readWorkerConfig, type WorkerConfig } from "../scripts/bundle.js";
import { waitFor } from "../scripts/stack.js";
import { loadHeldout } from "../model/heldout.js";

const { values: a } = parseArgs({ options: { minutes: { type: "string", default: "5" } } });
const durationMs = Number(a.minutes) * 60_000;
if (!(durationMs > 0)) throw new Error(`--minutes must be a positive number, got "${a.minutes}"`);
const TOKEN = "bench";
/** The binary Miniflare runs (the workerd package's CommonJS `default` export is its path). */
const workerdBin: string = createRequire(import.meta.url)("workerd").default;

interface Target {
  label: string;
  pid: number;
  send: () => Promise<Response>;
}

/** A Miniflare instance serving a trivial Worker, and the pid of its workerd (the one new since before). */
async function trivialWorker(direct: boolean): Promise<Target & { mf: Miniflare }> {
  const before = new Set(descendantPids("workerd"));
  const mf = new Miniflare({
    modules: true,
    script: `export default { fetch() { return new Response("ok"); } }`,
    compatibilityDate: "2026-04-01",
    cf: false,
    ...(direct ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {}),
  });
  const url = (direct ? await mf.unsafeGetDirectURL() : await mf.ready).toString();
  const pid = descendantPids("workerd").find((p) => !before.has(p))!;
  return {
    mf,
    pid,
    label: `trivial Worker, ${direct ? "direct socket" : "Miniflare entry worker"}`,
    send: () => fetch(url),
  };
}

/** Serflow's bundle in a plain `workerd serve` (capnp config written here), with the given V8 flags. */
async function plainWorkerd(
  modules: ModuleDefinition[],
  config: WorkerConfig,
  dir: string,
  port: number,
  v8Flags: string[],
): Promise<Target & { stop: () => void }> {
  mkdirSync(join(dir, "do"), { recursive: true });
  const kind = { ESModule: "esModule", Data: "data", CompiledWasm: "wasm", Text: "text" } as Record<string, string>;
  const mods = modules.map((m) => {
    const name = m.path.replace(/.*\//, "");
    writeFileSync(join(dir, name), m.contents!);
    return `(name = ${JSON.stringify(name)}, ${kind[m.type]} = embed ${JSON.stringify(name)})`;
  });
  const bindings = Object.entries({
    ...config.vars,
    SERFLOW_ADMIN_TOKEN: TOKEN,
    SERFLOW_SIGNING_KEY: "bench",
    SERFLOW_CONFIG: "{}",
  })
    .map(([k, v]) => `(name = ${JSON.stringify(k)}, text = ${JSON.stringify(v)})`)
    .concat(
      Object.entries(config.durableObjects).map(
        ([k, d]) => `(name = ${JSON.stringify(k)}, durableObjectNamespace = ${JSON.stringify(d.className)})`,
      ),
    );
  const namespaces = Object.values(config.durableObjects).map(
    (d) =>
      `(className = ${JSON.stringify(d.className)}, uniqueKey = "bench-${d.className}", enableSql = ${d.useSQLite})`,
  );
  writeFileSync(
    join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  v8Flags = [ ${v8Flags.map((f) => JSON.stringify(f)).join(", ")} ],
  services = [ (name = "main", worker = .w), (name = "disk", disk = (path = ${JSON.stringify(join(dir, "do"))}, writable = true)) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ]
);
const w :Workerd.Worker = (
  modules = [ ${mods.join(", ")} ],
  compatibilityDate = ${JSON.stringify(config.compatibilityDate)},
  bindings = [ ${bindings.join(", ")} ],
  durableObjectNamespaces = [ ${namespaces.join(", ")} ],
  durableObjectStorage = (localDisk = "disk"),
);
`,
  );
  const proc = spawn(workerdBin, ["serve", "--experimental", join(dir, "config.capnp")], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/health/live`, 60_000);
  const { rows } = loadHeldout();
  let i = 0;
  return {
    pid: proc.pid!,
    label: `Serflow's ORT chain, plain workerd${v8Flags.length ? `, ${v8Flags.join(" ")}` : ""}`,
    send: () =>
      fetch(`${url}/internal/v1/bench/bare`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ data: Array.from(rows[i++ % rows.length]) }),
      }),
    stop: () => proc.kill(),
  };
}

/** ~95 requests/s (10 at a time, then 90 ms) until the deadline; every response must be a 200. */
async function load(t: Target, deadline: number): Promise<number> {
  let sent = 0;
  while (Date.now() < deadline) {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const res = await t.send();
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${t.label}: ${res.status}`);
      }),
    );
    sent += 10;
    await new Promise((r) => setTimeout(r, 90));
  }
  return sent;
}

const dir = mkdtempSync(join(tmpdir(), "serflow-memory-"));
const port = 19600 + Math.floor(Math.random() * 300);
const entry = await trivialWorker(false);
const direct = await trivialWorker(true);
const config = readWorkerConfig();
const { modules } = await buildWorker(); // once: bundling takes ~3 s
const dynamic = await plainWorkerd(modules, config, join(dir, "a"), port, []);
const eager = await plainWorkerd(modules, config, join(dir, "b"), port + 1, ["--no-wasm-dynamic-tiering"]);
const targets = [entry, direct, dynamic, eager];
try {
  const rss = () => targets.map((t) => Math.round(rssMb(t.pid) ?? NaN));
  const series = [rss()];
  console.error(
    `bench:memory: ${a.minutes} min, RSS (MB) every 30 s of:\n${targets.map((t, i) => `  ${i + 1}. ${t.label}`).join("\n")}`,
  );
  console.error(`  0 s: ${series[0].join(" / ")}`);
  const start = Date.now();
  const timer = setInterval(() => {
    series.push(rss());
    console.error(`  ${Math.round((Date.now() - start) / 1000)} s: ${series[series.length - 1].join(" / ")}`);
  }, 30_000);
  const sent = await Promise.all(targets.map((t) => load(t, start + durationMs)));
  clearInterval(timer);
  series.push(rss());
  targets.forEach((t, i) =>
    console.log(`${t.label}: ${sent[i]} requests, RSS ${series.map((s) => s[i]).join(" -> ")} MB`),
  );
} finally {
  dynamic.stop();
  eager.stop();
  await entry.mf.dispose();
  await direct.mf.dispose();
  rmSync(dir, { recursive: true, force: true });
}
