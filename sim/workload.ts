// The workload every policy sees: arrivals spread within each second, each request's exit stage and its
// service times on both tiers, all drawn from one seeded stream in a fixed order, so every policy is
// simulated on exactly the same requests (common random numbers: differences are the policies').
//
// Service times: a pool of P sampled requests, each with a lognormal time per stage on VM and on FaaS
// (from the profile's median and p99); a request draws one pool entry. Prefix sums make the time of
// any run of stages O(1).
import { lognormalFromMedianP99 } from "../core/lognormal.js";
import type { ControlConfig } from "../core/config.js";
import { Prng } from "./prng.js";
import { exitFractionAt, scheduleBreaks, type Profile } from "./profile.js";

export const POOL_SIZE = 1 << 15;

export class Workload {
  readonly N: number;
  readonly P: number;
  /** vmPS[p*(N+1)+i]: ms of stages 0..i-1 on a VM for pool entry p. */
  readonly vmPS: Float64Array;
  readonly faasPS: Float64Array;
  /** Start times of exit-fraction segments, and per segment the cumulative exit probability per stage. */
  readonly segStart: number[];
  readonly segCum: Float64Array[];
  /** Per segment, exit fractions per stage (what the stats would measure). */
  readonly segExit: number[][];
  /** Hand-over time (ms, both ways plus bytes) and price (USD) into stage j, j = 0..N. */
  readonly hopMs: Float64Array;
  readonly hopUsd: Float64Array;
  /** Longest VM time of any whole request in the pool, seconds. */
  readonly maxVmRequestS: number;
  readonly totalArrivals: number;

  constructor(
    readonly trace: number[],
    readonly scale: number,
    readonly profile: Profile,
    readonly cfg: ControlConfig,
    readonly seed: number,
    poolSize = POOL_SIZE,
  ) {
    const N = profile.stages.length;
    this.N = N;
    this.P = poolSize;
    const rng = new Prng((seed ^ 0x5eed) >>> 0);
    this.vmPS = new Float64Array(poolSize * (N + 1));
    this.faasPS = new Float64Array(poolSize * (N + 1));
    const vmP = profile.stages.map((s) => lognormalFromMedianP99(s.vm_ms.median, s.vm_ms.p99));
    const faasP = profile.stages.map((s) => lognormalFromMedianP99(s.faas_ms.median, s.faas_ms.p99));
    let maxVm = 0;
    for (let p = 0; p < poolSize; p++) {
      const o = p * (N + 1);
      for (let i = 0; i < N; i++) {
        this.vmPS[o + i + 1] = this.vmPS[o + i] + Math.exp(vmP[i].mu + vmP[i].sigma * rng.normal());
        this.faasPS[o + i + 1] = this.faasPS[o + i] + Math.exp(faasP[i].mu + faasP[i].sigma * rng.normal());
      }
      maxVm = Math.max(maxVm, this.vmPS[o + N]);
    }
    this.maxVmRequestS = maxVm / 1000;
    this.segStart = [0, ...scheduleBreaks(profile)];
    this.segCum = [];
    this.segExit = [];
    for (const t of this.segStart) {
      const cum = new Float64Array(N);
      const exits: number[] = [];
      let reach = 1;
      let acc = 0;
      for (let i = 0; i < N; i++) {
        const e = exitFractionAt(profile, i, t);
        exits.push(e);
        acc += reach * e;
        cum[i] = i === N - 1 ? 1 : acc;
        reach *= 1 - e;
      }
      this.segCum.push(cum);
      this.segExit.push(exits);
    }
    this.hopMs = new Float64Array(N + 1);
    this.hopUsd = new Float64Array(N + 1);
    for (let j = 1; j <= N; j++) {
      const bytes = profile.stages[j - 1].state_bytes ?? 0;
      this.hopMs[j] = 2 * cfg.transferMs + (bytes / (cfg.transferMBps * 1e6)) * 1000;
      this.hopUsd[j] = (bytes * cfg.transferUsdPerGb) / 1e9;
    }
    let total = 0;
    for (const x of trace) total += x * scale;
    this.totalArrivals = total;
  }

  /** Segment index in force at second t (segments sorted by start). */
  segmentAt(t: number): number {
    let s = 0;
    while (s + 1 < this.segStart.length && this.segStart[s + 1] <= t) s++;
    return s;
  }

  /** A fresh stream of the workload's random draws (identical for every policy). */
  stream(): Prng {
    return new Prng(this.seed >>> 0);
  }

  /** Number of arrivals in second t, drawing the rounding of a fractional scale from `rng`. */
  static countAt(trace: number[], scale: number, t: number, rng: Prng): number {
    const x = trace[t] * scale;
    const n = Math.floor(x);
    const frac = x - n;
    return frac > 0 ? n + (rng.next() < frac ? 1 : 0) : n;
  }
}

/** Fills buf[0..n) with n sorted uniform offsets in [0, 1) (arrival times within a second). */
export function arrivalsInto(buf: Float64Array, n: number, rng: Prng): Float64Array {
  const view = buf.subarray(0, n);
  for (let i = 0; i < n; i++) view[i] = rng.next();
  view.sort();
  return view;
}
