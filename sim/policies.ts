// The policies compared by the simulator (DESIGN section 6). Each is a Controller: a routing mode and
// a decision every periodS seconds. `serflow` calls core/policy.ts plan() unchanged.
import { bucketOf, HIST_BUCKETS, meanMs, quantileMs } from "../core/histogram.js";
import { percentilesFromMedianP99 } from "../core/lognormal.js";
import {
  initialPolicyState,
  type Observations,
  type Percentiles,
  type PolicyState,
  plan,
  workerFromVm,
} from "../core/policy.js";
import { type Controller, type EngineView, idleView } from "./engine.js";
import { Prng } from "./prng.js";
import type { Workload } from "./workload.js";

export const POLICIES = ["faas-only", "vm-max", "vm-autoscale", "spock", "libra", "serflow", "oracle"] as const;
/** Run only by name (not in `all`): LIBRA's own VM-only autoscaler, for its figures. */
export const EXTRA_POLICIES = ["libra-vm-autoscale"] as const;
export type PolicyName = (typeof POLICIES)[number] | (typeof EXTRA_POLICIES)[number];

/** Reactive autoscaling (vm-autoscale, spock): thresholds on VM utilisation over the period. */
export const AUTOSCALE = { periodS: 30, scaleOutAbove: 0.7, scaleInBelow: 0.3, scaleInCooldownS: 300 } as const;
/**
 * LIBRA as its published simulator runs (github Zongshun96/LIBRA, simulator/manager.py, vm_cloud.py):
 * EWMA weight of the per-second count and of its absolute deviation, how many deviations above the mean
 * the VMs are sized for, the share of that rate sent to VMs, and how often the VM count is decided.
 */
export const LIBRA = { alpha: 0.2, deviations: 1, vmShare: 0.8, updateS: 300 } as const;
/** Window over which the serflow adapter measures exit fractions (as the stats DO would). */
export const EXIT_WINDOW_S = 120;

/** Mean VM slot-seconds per request over the exit-fraction segments, the largest of them. */
function maxMeanWorkS(w: Workload): number {
  const vmMean = w.profile.stages.map((s) => percentilesFromMedianP99(s.vm_ms.median, s.vm_ms.p99).mean / 1000);
  let best = 0;
  for (const exits of w.segExit) {
    let r = 1;
    let work = 0;
    for (let i = 0; i < w.N; i++) {
      work += r * vmMean[i];
      r *= 1 - (i === w.N - 1 ? 1 : exits[i]);
    }
    best = Math.max(best, work);
  }
  return best;
}

/**
 * LIBRA's "uniform runtime": the mean VM time of a request as an operator measures it (exit-aware: a
 * request that exits early costs less), from the profile's exit fractions at t = 0.
 */
export function meanRequestVmS(w: Workload): number {
  let r = 1;
  let s = 0;
  for (let i = 0; i < w.N; i++) {
    const st = w.profile.stages[i];
    s += r * percentilesFromMedianP99(st.vm_ms.median, st.vm_ms.p99).mean;
    r *= 1 - (i === w.N - 1 ? 1 : w.segExit[0][i]);
  }
  return s / 1000;
}

export function faasOnly(): Controller {
  return { name: "faas-only", mode: "faas", periodS: 1e9, decide: () => ({ vms: 0, groupStart: null }) };
}

/** VMs for the peak second of the trace (exit-aware mean work), provisioned from the start; requests queue. */
export function vmMax(): Controller {
  let n = 1;
  return {
    name: "vm-max",
    mode: "queue",
    periodS: 1e9,
    initialVms(w, cfg) {
      const peak = Math.max(...w.trace) * w.scale;
      n = Math.max(1, Math.ceil((peak * maxMeanWorkS(w)) / cfg.vm.slots));
      return n;
    },
    decide: () => ({ vms: n, groupStart: 0 }),
  };
}

/** The trace's mean rate over its first minute: what the warm starts know of the load before t = 0. */
function firstMinuteRps(w: Workload): number {
  const first = w.trace.slice(0, 60);
  return (first.reduce((a, b) => a + b, 0) / Math.max(1, first.length)) * w.scale;
}

/** Reactive thresholds (scale out above 70% busy, in below 30% after a cooldown); VMs only, or Spock's mix. */
function autoscale(name: string, mode: "queue" | "spock"): Controller {
  let n = 1;
  let lastChange = -Infinity;
  return {
    name,
    mode,
    periodS: AUTOSCALE.periodS,
    initialVms(w, cfg) {
      // Warm start: enough VMs for the first minute at 50% utilisation.
      n = Math.max(1, Math.ceil((firstMinuteRps(w) * maxMeanWorkS(w)) / (0.5 * cfg.vm.slots)));
      return n;
    },
    decide(v: EngineView) {
      if (v.t > 0 && v.capacitySlotS > 0) {
        const u = v.busySlotS / v.capacitySlotS;
        const total = v.running + v.booting;
        if (u > AUTOSCALE.scaleOutAbove) {
          n = Math.min(v.cfg.vm.max * 100, Math.max(total + 1, Math.ceil((v.running * u) / AUTOSCALE.scaleOutAbove)));
          lastChange = v.t;
        } else if (
          u < AUTOSCALE.scaleInBelow &&
          v.booting === 0 &&
          v.t - lastChange >= AUTOSCALE.scaleInCooldownS &&
          total > 1
        ) {
          n = total - 1;
          lastChange = v.t;
        }
      }
      return { vms: n, groupStart: 0 };
    },
  };
}

export const vmAutoscale = (): Controller => autoscale("vm-autoscale", "queue");
/** Spock: reactive VM autoscaling; FaaS serves only while VMs are booting (otherwise requests queue). */
export const spock = (): Controller => autoscale("spock", "spock");

/**
 * LIBRA (manager.py, policy "hybrid"): every second, EWMA of the count x with weight alpha (the deviation
 * first, from the old mean: dev = (1-a) dev + a |mean - x|; mean = (1-a) mean + a x); from the first
 * second on and then every 300 s, share = floor(mean + dev), VMs = ceil(share / per-VM rate) where a VM
 * serves floor(k / uniform runtime) requests per second; the VM quota, floor(0.8 share) requests per
 * second (the first of each second), is lowered at once but raised only when the added VMs are up (after
 * bootTimeS). VM requests queue FIFO (vm_cloud.py); the rest go to FaaS. The decision at second t sees
 * the counts of seconds before t (LIBRA's sees its own second too: it acts one second later here).
 */
export function libra(): Controller {
  let mean = -1;
  let dev = 0;
  let vms = 0;
  let quota = 0;
  let raise: { at: number; quota: number } | null = null;
  let next = 1;
  return {
    name: "libra",
    mode: "queue",
    periodS: 1,
    decide(v: EngineView) {
      if (v.t === 0) return { vms: 0, groupStart: 0, vmQuotaPerS: 0 };
      const x = v.arrivals[v.t - 1];
      if (mean < 0) mean = x;
      else {
        dev = (1 - LIBRA.alpha) * dev + LIBRA.alpha * Math.abs(mean - x);
        mean = (1 - LIBRA.alpha) * mean + LIBRA.alpha * x;
      }
      if (v.t === next) {
        next += LIBRA.updateS;
        const share = Math.floor(Math.abs(mean + LIBRA.deviations * dev));
        const perVm = Math.max(1, Math.floor(v.cfg.vm.slots / meanRequestVmS(v.workload)));
        const want = Math.ceil(share / perVm);
        const q = Math.floor(share * LIBRA.vmShare);
        if (want > vms) raise = { at: v.t + v.cfg.vm.bootTimeS, quota: q };
        else quota = q;
        vms = want;
      }
      if (raise && v.t >= raise.at) {
        quota = raise.quota;
        raise = null;
      }
      return { vms, groupStart: 0, vmQuotaPerS: quota };
    },
  };
}

/** LIBRA's VM-only autoscaler (vm_cloud.py, policy "vm_cloud" with vm_auto_scaling). */
export const LIBRA_AUTOSCALE = {
  initialVms: 10,
  step: 10,
  graceS: 120,
  windowS: 300,
  outAbove: 0.7,
  inBelow: 0.3,
} as const;

/**
 * LIBRA's own VM autoscaling baseline as its code runs: 10 VMs booting at the start; every second the
 * busy share of all its VMs' slots (booting ones count); once more than 120 shares are held, their last-300 sum over 120
 * (as the code divides) above 0.7 adds 10 VMs, below 0.3 removes 10 (keeping 10); either clears the
 * history. VMs only, FIFO queue.
 */
export function libraVmAutoscale(): Controller {
  let n: number = LIBRA_AUTOSCALE.initialVms;
  let hist: number[] = [];
  return {
    name: "libra-vm-autoscale",
    mode: "queue",
    periodS: 1,
    decide(v: EngineView) {
      if (v.t > 0) {
        // Over the slots of every VM it holds, booting ones included, as calculate_utilization does.
        const slots = (v.running + v.booting) * v.cfg.vm.slots;
        hist.push(slots > 0 ? v.busySlotS / slots : 0);
        if (hist.length > LIBRA_AUTOSCALE.graceS) {
          const avg = hist.slice(-LIBRA_AUTOSCALE.windowS).reduce((a, b) => a + b, 0) / LIBRA_AUTOSCALE.graceS;
          if (avg > LIBRA_AUTOSCALE.outAbove) {
            n += LIBRA_AUTOSCALE.step;
            hist = [];
          } else if (avg < LIBRA_AUTOSCALE.inBelow) {
            if (n > LIBRA_AUTOSCALE.step) n -= LIBRA_AUTOSCALE.step;
            hist = [];
          }
        }
      }
      return { vms: n, groupStart: 0 };
    },
  };
}

/**
 * Service-time samples per stage: the stats DO keeps a histogram of every request's stage times since the
 * deployment (durable-objects/stats.ts), and so does the serflow adapter. Each decision adds the requests
 * that reached the stage since the last one, at most MAX (the simulator's time); a warm start begins with
 * all of a window's requests at the first minute's rate, at least MIN (a warm controller's estimate is
 * that of a full histogram, not of its first few thousand samples).
 */
export const SERVICE_SAMPLES = { min: 200, max: 2000 } as const;

/** Percentiles of a bucketed histogram, as the stats DO answers them (core/histogram.ts). */
function percentilesOf(counts: Float64Array): Percentiles {
  const rows: Array<[number, number]> = [];
  for (let b = 0; b < counts.length; b++) if (counts[b] > 0) rows.push([b, counts[b]]);
  const q = (p: number) => quantileMs(rows, p) ?? 0;
  return { mean: meanMs(rows) ?? 0, p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}

/**
 * Serflow: core/policy.ts plan() fed what the deployed controller observes, not the profile's truth:
 * exit fractions and rates measured over recent windows, VM service-time percentiles from a histogram
 * of every request's sampled stage times (as the stats DO keeps them), and Worker CPU as those VM times
 * x the Worker/VM ratios profiling measured (the profile's FaaS median and p99 over its VM's, as the
 * manifest's worker_cpu_ratio and worker_cpu_p99_ratio carry them in production).
 */
export function serflow(): Controller {
  let state: PolicyState = initialPolicyState();
  let rng: Prng | null = null;
  // Per stage, the histogram of VM stage times (bucket counts), and the last decision's second.
  let hist: Float64Array[] = [];
  let lastT = 0;
  // The seconds before t = 0: a warm start's (the first minute's mean rate, as vm-autoscale and spock
  // are warmed by), else zeros (a fresh deployment).
  let beforeRps = 0;
  return {
    name: "serflow",
    mode: "budget",
    periodS: 0, // set by makeController from the config
    // Warm start, as the other policies that start with VMs: the controller has run at the first minute's
    // rate for a window, and the VMs it wants then are up at t = 0.
    initialVms(w, cfg) {
      beforeRps = Math.round(firstMinuteRps(w));
      const none = new Int32Array(0);
      return this.decide(idleView(0, none, none, w, cfg)).vms;
    },
    decide(v: EngineView) {
      const w = v.workload;
      const N = w.N;
      rng ??= new Prng((w.seed ^ 0x0b5e7) >>> 0); // its own stream: the requests stay common to all policies
      // Exit fractions measured over the recent window; the profile's values before any traffic.
      const from = Math.max(0, v.t - EXIT_WINDOW_S);
      const ex = new Array<number>(N).fill(0);
      for (let t = from; t < v.t; t++) for (let i = 0; i < N; i++) ex[i] += v.exits[t * N + i];
      const prior = w.segExit[w.segmentAt(v.t)];
      let reached = ex.reduce((a, b) => a + b, 0);
      const exitFraction: number[] = [];
      for (let i = 0; i < N; i++) {
        exitFraction.push(reached > 0 ? ex[i] / reached : prior[i]);
        reached -= ex[i];
      }
      // The requests that reached each stage since the last decision join its histogram.
      const warm = hist.length === 0 ? Math.max(SERVICE_SAMPLES.min, beforeRps * v.cfg.windowS) : 0;
      if (warm > 0) hist = Array.from({ length: N }, () => new Float64Array(HIST_BUCKETS));
      let since = 0;
      for (let t = lastT; t < v.t; t++) since += v.arrivals[t];
      for (let i = 0; i < N; i++) {
        const add = Math.max(Math.min(SERVICE_SAMPLES.max, since), warm);
        for (let n = 0; n < add; n++) {
          const o = ((rng.next() * w.P) | 0) * (N + 1);
          hist[i][bucketOf(w.vmPS[o + i + 1] - w.vmPS[o + i])]++;
        }
        for (let t = lastT; t < v.t; t++) since -= v.exits[t * N + i];
      }
      lastT = v.t;
      // The whole window, as the stats DO answers it: zeros before a fresh deployment's first request (a
      // cold controller sees its first load as a step from nothing), a warm start's rate before t = 0.
      const perSecond = new Array<number>(v.cfg.windowS).fill(beforeRps);
      for (let t = Math.max(0, v.t - v.cfg.windowS); t < v.t; t++) perSecond[t - (v.t - v.cfg.windowS)] = v.arrivals[t];
      const obs: Observations = {
        stages: w.profile.stages.map((s, i) => {
          const vmMs = percentilesOf(hist[i]);
          return {
            exitFraction: exitFraction[i],
            vmMs,
            faasMs: workerFromVm(vmMs, s.faas_ms.median / s.vm_ms.median, s.faas_ms.p99 / s.vm_ms.p99),
            stateBytes: s.state_bytes ?? 0,
          };
        }),
        rate: { perSecond },
        vms: { running: v.running, booting: v.booting, callMs: v.callMs },
      };
      const out = plan(state, obs, v.cfg, v.t);
      state = out.state;
      const { desiredVms: vms, vmGroupStart: groupStart, waitBudgetMs, admitWaitMs } = out.plan;
      return { vms, groupStart, waitBudgetMs, admitWaitMs };
    },
  };
}

export function makeController(name: PolicyName, controlPeriodS: number): Controller {
  switch (name) {
    case "faas-only":
      return faasOnly();
    case "vm-max":
      return vmMax();
    case "vm-autoscale":
      return vmAutoscale();
    case "spock":
      return spock();
    case "libra":
      return libra();
    case "serflow": {
      const c = serflow();
      c.periodS = Math.max(1, Math.round(controlPeriodS));
      return c;
    }
    case "libra-vm-autoscale":
      return libraVmAutoscale();
    case "oracle":
      throw new Error("oracle is a bound, not a controller: use lowerBound()");
  }
}
