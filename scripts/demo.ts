// `npm run demo`: the hybrid at work on one machine, with no other command. It starts the local stack
// (scripts/stack.ts) with VMs cheap enough to pay off at the demo's load, sends real held-out digits,
// prints the plan, the routes, the VMs and the cost as they change, waits for the VMs to scale back down
// and stops everything by itself (about 2 minutes). Exit 1 when no VM took a deep stage or a request failed.
import { fileURLToPath } from "node:url";
import { freePort, startStack, type Stack } from "./stack.js";
import { DEFAULT_LOAD, runLoad, type LoadSummary } from "./load-gen.js";
import { processTree } from "./proc.js";
import { DEFAULT_VM } from "../core/config.js";

export interface DemoOptions {
  /** Load: a quarter of `rps` for the first third, then `rps` (load-gen's "step"). */
  rps: number;
  loadS: number;
  /** After the load, how long to wait for the VMs to scale down to zero before stopping anyway. */
  drainS: number;
  printEveryS: number;
  log: (line: string) => void;
}

export const DEMO_OPTIONS: DemoOptions = { rps: 80, loadS: 60, drainS: 45, printEveryS: 4, log: console.log };

/**
 * VMs priced to pay off at the demo's load: the demo model's deep stages take about 0.1 ms, so at real
 * prices (DEFAULT_VM's $0.085/h) a VM never pays off and the plan rightly stays on Workers. Short boot, window and
 * hysteresis so that a whole scale-up and scale-down fits in two minutes.
 */
export const DEMO_CONFIG = {
  vm: { usd_per_hour: 0.00001, boot_s: 10, min: 0, max: 2 },
  control_period_s: 2,
  window_s: 30,
  scale_down_delay_s: 10,
};

export interface DemoResult {
  load: LoadSummary;
  /** Rows whose deep stages ran on a VM, from the Worker's own counters. */
  vmRows: number;
  rows: number;
  maxVmsRunning: number;
  costUsd: number;
  allWorkersUsd: number;
  vmOnlyUsd: number;
  /** Processes the demo started (workerd, vm-services) still alive after the stop (should be 0). */
  leftoverProcesses: number;
}

interface DashboardJson {
  stats: { requests: number; routes: Record<string, number> };
  plan: {
    reason: string;
    stages: { stage: number; placement: "worker" | "vm" }[];
    vms: { desired: number; running: number; booting: number };
    vm_seconds_total: number;
  };
  savings: { actualUsd: number; allWorkersUsd: number; vmOnlyUsd: number; vmOnlyVms: number };
}

const usd = (v: number) => `$${v.toFixed(Math.min(10, Math.max(2, 2 - Math.floor(Math.log10(Math.abs(v) || 1)))))}`;
const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "-");
const vmRowsOf = (routes: Record<string, number>) =>
  Object.entries(routes).reduce((a, [route, n]) => a + (route.includes("v") ? n : 0), 0);
const rowsOf = (routes: Record<string, number>) => Object.values(routes).reduce((a, n) => a + n, 0);

export async function runDemo(o: DemoOptions = DEMO_OPTIONS): Promise<DemoResult> {
  const log = o.log;
  const t0 = Date.now();
  const elapsed = () => `${String(Math.round((Date.now() - t0) / 1000)).padStart(4)} s`;
  log(
    `demo: VMs at $${DEMO_CONFIG.vm.usd_per_hour}/h (priced to pay off at this load; the default is $${DEFAULT_VM.costUsdPerHour}/h),`,
  );
  log(
    `      boot ${DEMO_CONFIG.vm.boot_s} s, control period ${DEMO_CONFIG.control_period_s} s, up to ${DEMO_CONFIG.vm.max} VMs`,
  );
  const port = Number(process.env.PORT ?? (await freePort()));
  const stack: Stack = await startStack({
    port,
    config: DEMO_CONFIG,
    firstVmPort: port + 1,
    // The pool's decisions (VM started, stopping) are part of the story; the VMs' and bundler's lines are not.
    log: (l) => {
      if (l.startsWith("[pool]") || l.includes("exited unexpectedly")) log(`${elapsed()}  ${l}`);
    },
  });
  const admin = async (): Promise<DashboardJson> => {
    const res = await fetch(`${stack.url}/v2/models/mnist/dashboard`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) throw new Error(`dashboard JSON: ${res.status}`);
    return (await res.json()) as DashboardJson;
  };

  let last: DashboardJson | null = null;
  let lastReason = "";
  let prevRoutes: Record<string, number> = {};
  let maxVmsRunning = 0;
  const report = async () => {
    const d = await admin().catch(() => null);
    if (!d) return;
    last = d;
    maxVmsRunning = Math.max(maxVmsRunning, d.plan.vms.running);
    // The reason's figures move every period: print it again only when its wording changes.
    const shape = d.plan.reason.replace(/[\d.,]+/g, "#");
    if (shape !== lastReason) {
      lastReason = shape;
      log(`${elapsed()}  plan: ${d.plan.reason}`);
    }
    const onVm = d.plan.stages.filter((st) => st.placement === "vm").map((st) => st.stage);
    const placement = onVm.length ? `stages ${onVm.join(",")} on VMs` : "all on Workers";
    const delta: Record<string, number> = {};
    for (const [r, n] of Object.entries(d.stats.routes)) delta[r] = n - (prevRoutes[r] ?? 0);
    prevRoutes = d.stats.routes;
    const rows = rowsOf(delta);
    const s = d.savings;
    log(
      `${elapsed()}  ${placement.padEnd(18)}| ${String(rows).padStart(4)} rows: Workers only ${pct(rows - vmRowsOf(delta), rows).padStart(6)}, ` +
        `deep stages on a VM ${pct(vmRowsOf(delta), rows).padStart(6)} | VMs desired ${d.plan.vms.desired} running ` +
        `${d.plan.vms.running} booting ${d.plan.vms.booting} | cost ${usd(s.actualUsd)} vs all on Workers ` +
        `${usd(s.allWorkersUsd)} (saved ${pct(s.allWorkersUsd - s.actualUsd, s.allWorkersUsd)})`,
    );
  };

  let load: LoadSummary | null = null;
  const ticker = setInterval(() => void report(), o.printEveryS * 1000);
  // Ctrl-C ends the load and the wait early; the stack is stopped all the same.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    log(`${elapsed()}  stack up at ${stack.url}; ${o.loadS} s of load: ${o.rps / 4} req/s, then ${o.rps} req/s`);
    load = await runLoad(
      { ...DEFAULT_LOAD, url: stack.url, rps: o.rps, durationS: o.loadS, pattern: "step" },
      undefined,
      abort.signal,
    );
    log(
      `${elapsed()}  load done: ${load.ok} of ${load.sent} ok, p50 ${load.latencyMs.p50.toFixed(1)} ms, p99 ${load.latencyMs.p99.toFixed(1)} ms; waiting for the VMs to scale down`,
    );
    const until = Date.now() + o.drainS * 1000;
    while (!abort.signal.aborted && Date.now() < until && (stack.pool?.live.length ?? 0) > 0)
      await new Promise((r) => setTimeout(r, 1_000));
    await report();
  } finally {
    clearInterval(ticker);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stack.stop();
  }
  // Everything the demo started (workerd, vm-services) is a descendant of this process.
  // (tsx's esbuild service is one too, and is tsx's to stop.)
  const leftoverProcesses = [...processTree(process.pid)].filter(
    ([p, c]) => p !== process.pid && c !== "esbuild",
  ).length;
  const d = last as DashboardJson | null;
  const routes = d?.stats.routes ?? {};
  const result: DemoResult = {
    load: load!,
    vmRows: vmRowsOf(routes),
    rows: rowsOf(routes),
    maxVmsRunning,
    costUsd: d?.savings.actualUsd ?? 0,
    allWorkersUsd: d?.savings.allWorkersUsd ?? 0,
    vmOnlyUsd: d?.savings.vmOnlyUsd ?? 0,
    leftoverProcesses,
  };
  log(`
demo summary (${elapsed().trim()}):
  requests ${result.load.sent} sent, ${result.load.ok} ok, ${result.load.failed} failed
  rows whose deep stages ran on a VM: ${result.vmRows} of ${result.rows} (${pct(result.vmRows, result.rows)}); at most ${maxVmsRunning} VM(s) running
  VM time billed: ${(d?.plan.vm_seconds_total ?? 0).toFixed(0)} s
  cost ${usd(result.costUsd)}; all on Workers ${usd(result.allWorkersUsd)} (saved ${pct(result.allWorkersUsd - result.costUsd, result.allWorkersUsd)}: every request pays
    the Worker's fee either way, and the VMs save only the deep stages' CPU time, about 0.1 ms a row here);
  VMs only (${d?.savings.vmOnlyVms ?? 1} always on, at the demo's contrived VM price) ${usd(result.vmOnlyUsd)}
  processes left: ${leftoverProcesses}`);
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runDemo()
    .then((r) => {
      const ok = r.vmRows > 0 && r.load.failed === 0 && r.leftoverProcesses === 0;
      if (!ok) console.error("demo: the hybrid did not show (no deep stage on a VM, a failure, or a process left)");
      process.exit(ok ? 0 : 1);
    })
    .catch((err) => {
      console.error(`demo: ${(err as Error).message}`);
      process.exit(1);
    });
}
