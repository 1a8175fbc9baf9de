// Starts the local stack: wrangler dev (Worker + Durable Objects, local mode) and the local VM pool.
// Used by `npm start` and by the end-to-end tests, so both run the same thing.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseControlConfig, type ControlConfig } from "../core/config.js";
import { LocalPool } from "./local-pool.js";
import { ensureDevVars } from "./dev-vars.js";

export interface StackOptions {
  port: number;
  /** SERFLOW_CONFIG JSON (already read from the file). */
  config: unknown;
  /** Where wrangler keeps local DO storage; counts survive restarts when this is kept. */
  persistDir?: string;
  log?: (line: string) => void;
  /** Start the VM pool (the e2e tests of the Worker alone do not). */
  vmPool?: boolean;
  firstVmPort?: number;
  cwd?: string;
  /** Extra Worker vars (e.g. SERFLOW_VM_TIMEOUT_MS). */
  vars?: Record<string, string>;
}

export interface Stack {
  url: string;
  adminToken: string;
  signingKey: string;
  config: ControlConfig;
  pool: LocalPool | null;
  wrangler: ChildProcess;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DEFAULT_PORT = 8787;

export async function startStack(opts: StackOptions): Promise<Stack> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const config = parseControlConfig(opts.config); // throws a message naming the bad key
  const cwd = opts.cwd ?? ROOT;
  const { vars } = ensureDevVars(`${cwd}/.dev.vars`);
  const url = `http://127.0.0.1:${opts.port}`;
  const wranglerBin = `${ROOT}node_modules/wrangler/bin/wrangler.js`;
  const args = [wranglerBin, "dev", "--local", "--ip", "127.0.0.1", "--port", String(opts.port), "--var", `SERFLOW_CONFIG:${JSON.stringify(opts.config ?? {})}`, "--log-level", "warn", "--show-interactive-dev-session=false"];
  if (opts.persistDir) args.push("--persist-to", opts.persistDir);
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const wrangler = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so workerd goes down with it
  });
  // Offline, wrangler cannot fetch the `Request.cf` placeholder and says so at length: not our news.
  const noise = /Request\.cf|ENOTFOUND workers\.cloudflare\.com|GetAddrInfoReqWrap/;
  const relay = (chunk: Buffer) => chunk.toString().trimEnd().split("\n").filter((l) => l && !noise.test(l)).forEach((l) => log(`[worker] ${l}`));
  wrangler.stdout!.on("data", relay);
  wrangler.stderr!.on("data", relay);
  let exited = false;
  wrangler.on("exit", () => (exited = true));

  const stopWrangler = async () => {
    if (exited) return;
    const gone = new Promise((r) => wrangler.once("exit", r));
    try {
      process.kill(-wrangler.pid!, "SIGTERM");
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-wrangler.pid!, "SIGKILL");
      } catch {}
    }, 5_000);
    await gone;
    clearTimeout(t);
  };

  try {
    await waitFor(`${url}/v2/health/ready`, 90_000, () => exited);
  } catch (err) {
    await stopWrangler();
    throw err;
  }

  let pool: LocalPool | null = null;
  if (opts.vmPool !== false) {
    pool = new LocalPool({
      workerUrl: url,
      model: "mnist",
      adminToken: vars.SERFLOW_ADMIN_TOKEN,
      signingKey: vars.SERFLOW_SIGNING_KEY,
      bootDelayS: config.vm.bootTimeS,
      slots: config.vm.slots,
      queueMs: config.vm.queueMs,
      firstPort: opts.firstVmPort ?? opts.port + 100,
      pollIntervalMs: 1_000,
      log,
    });
    pool.start();
  }

  return {
    url,
    adminToken: vars.SERFLOW_ADMIN_TOKEN,
    signingKey: vars.SERFLOW_SIGNING_KEY,
    config,
    pool,
    wrangler,
    async stop() {
      await pool?.stop();
      await stopWrangler();
    },
  };
}

export async function waitFor(url: string, timeoutMs: number, gaveUp: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gaveUp()) throw new Error(`gave up waiting for ${url}: the process exited`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${url}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
