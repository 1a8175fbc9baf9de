// Starts the local stack: the Worker with its Durable Objects in Miniflare (one workerd process, a child
// of this one; scripts/bundle.ts) and the local VM pool. Used by `npm start`, the soak, the benchmark and
// the end-to-end tests, so all run the same thing.
import { basename } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { modelDirs } from "../models/folder.js";
import { parseControlConfig, type ControlConfig } from "../core/config.js";
import { LocalPool } from "./local-pool.js";
import { ensureDevVars } from "./dev-vars.js";
import { startWorker } from "./bundle.js";
import { descendantPids } from "./proc.js";

export interface StackOptions {
  port: number;
  /** SERFLOW_CONFIG JSON (already read from the file). */
  config: unknown;
  /** Where Durable Object storage lives; counts survive restarts when this is kept. In memory when unset. */
  persistDir?: string;
  log?: (line: string) => void;
  /** Start the VM pools (the e2e tests of the Worker alone do not). */
  vmPool?: boolean;
  /** Models that get a local VM pool (default: every folder under models/). */
  vmPoolModels?: string[];
  firstVmPort?: number;
  /** Where .dev.vars is (default: the repository root). */
  cwd?: string;
  /** Extra Worker vars (e.g. SERFLOW_VM_TIMEOUT_MS). */
  vars?: Record<string, string>;
}

export interface Stack {
  url: string;
  adminToken: string;
  signingKey: string;
  config: ControlConfig;
  /** The VM pool of the first model (mnist when present); `pools` has one per model. */
  pool: LocalPool | null;
  pools: Map<string, LocalPool>;
  /** The workerd process serving the Worker (Linux: found through /proc), or null when not found. */
  workerPid: number | null;
  /** Calls `fn` once if workerd goes away while the stack is up (checked every second). */
  onWorkerExit(fn: () => void): void;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DEFAULT_PORT = 8787;
/** Local VMs of the k-th model listen from firstVmPort + k * this. */
const VM_PORTS_PER_MODEL = 50;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const config = parseControlConfig(opts.config); // throws a message naming the bad key
  const { vars } = ensureDevVars(`${opts.cwd ?? ROOT}/.dev.vars`);
  log("serflow: building the Worker bundle (wrangler deploy --dry-run) ...");
  const before = new Set(descendantPids("workerd"));
  const { mf, url } = await startWorker({
    // .dev.vars as wrangler dev reads it, then the caller's vars; the config always wins.
    bindings: { ...vars, ...opts.vars, SERFLOW_CONFIG: JSON.stringify(opts.config ?? {}) },
    port: opts.port,
    persistDir: opts.persistDir,
    log,
  });
  const workerPid = descendantPids("workerd").find((p) => !before.has(p)) ?? null;
  let stopped = false;
  const stopWorker = async () => {
    stopped = true;
    await mf.dispose(); // SIGKILLs workerd and waits for it
  };
  try {
    // Ready once workerd serves and every manifest parses; the ONNX sessions load on the first infer.
    await waitFor(`${url}/v2/health/ready`, 30_000);
  } catch (err) {
    await stopWorker();
    throw err;
  }

  // One VM pool per model, each following its own model's plan (VMs serve only that model).
  const pools = new Map<string, LocalPool>();
  const names = opts.vmPoolModels ?? modelDirs().map((d) => basename(d));
  names.sort((a, b) => Number(b === "mnist") - Number(a === "mnist"));
  for (const [k, model] of opts.vmPool === false ? [] : names.entries()) {
    const pool = new LocalPool({
      workerUrl: url,
      model,
      adminToken: vars.SERFLOW_ADMIN_TOKEN,
      signingKey: vars.SERFLOW_SIGNING_KEY,
      bootDelayS: config.vm.bootTimeS,
      slots: config.vm.slots,
      // Calls carry their own wait budget; this is the wait of a call that carries none.
      queueMs: Number.isFinite(config.vm.queueMs) ? config.vm.queueMs : 0,
      firstPort: (opts.firstVmPort ?? opts.port + 100) + VM_PORTS_PER_MODEL * k,
      pollIntervalMs: 1_000,
      log,
    });
    pool.start();
    pools.set(model, pool);
  }
  const pool = pools.values().next().value ?? null;

  return {
    url,
    adminToken: vars.SERFLOW_ADMIN_TOKEN,
    signingKey: vars.SERFLOW_SIGNING_KEY,
    config,
    pool,
    pools,
    workerPid,
    onWorkerExit(fn) {
      // Miniflare keeps its workerd ChildProcess private, so poll the pid instead.
      if (workerPid === null) return;
      const timer = setInterval(() => {
        if (stopped) clearInterval(timer);
        else if (!alive(workerPid)) {
          clearInterval(timer);
          fn();
        }
      }, 1_000);
      timer.unref();
    },
    async stop() {
      await Promise.all([...pools.values()].map((p) => p.stop()));
      if (!stopped) await stopWorker();
    },
  };
}

export async function waitFor(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${url}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}
