// Lower bounds on the cost of serving the workload, computed on the same requests as the policies (same
// stream, same sampled service times). Two bounds, each valid for a class of routers:
//
// `oracle` (every policy, queueing ones included): a VM that serves X slot-seconds of work is billed at
// least its boot plus X / k seconds, and vm.min VMs are billed every second. Knowing every request, put
// on VMs the stage runs that save the most FaaS dollars per VM slot-second (fractional knapsack over the
// whole run), as long as they save more than a slot-second costs. Work may move anywhere in time, so a
// queue that delays it for minutes is covered.
//
// `oracle-noqueue` (routers that start a request's VM work within W of its arrival at the VM, W the
// what-if wait --vm-queue-ms; "a free slot, else FaaS" has W = 0): requests are not delayed, so each
// second's VM work must fit the VMs ready around that second. A stage run's VM work, placed as if it
// started at its arrival, really starts at most D later (D: the longest FaaS prefix + hand-over + vm
// time of earlier stages + W in the pool), so the nominal work in second u is at most k (1 + D) times the
// most VMs ready in the L = ceil(D) + 1 seconds up to u (n'_u). The VMs the bound may hold each second,
// with boot - (L - 1) seconds charged for every increase of n' (each ready VM was billed its boot; the
// window adds at most L - 1 seconds per increase), are chosen by dynamic programming over the count.
// Per-second billing, and no more work per slot per second than the requests of that second carry.
//
// Both bounds relax the rest: a stage run can go to a VM without its neighbours, Lambda waits and
// rounding are not billed, hand-overs are free, and a request's fee is saved as soon as its stage 0 is
// on a VM (entry "router"; at the Worker entry every request pays its invocation). FaaS-only ignores
// vm.min, so each bound is at most FaaS-only's cost.
import { billedMs, faasBillUsd, faasComputeUsd, faasRequestUsd } from "../core/cost.js";
import { LatencyHistogram, type RunResult, resultRow } from "./engine.js";
import { arrivalsInto, Workload } from "./workload.js";

const PER_OCTAVE = 64;
const OFFSET = 60 * PER_OCTAVE;
const NB = 120 * PER_OCTAVE;

const bucketOf = (ratio: number) => {
  if (!(ratio > 0)) return 0;
  const b = Math.floor(Math.log2(ratio) * PER_OCTAVE) + OFFSET;
  return b < 0 ? 0 : b >= NB ? NB - 1 : b;
};
/** Ratios are rounded up to the bucket's top: savings can only be overstated. */
const upper = (b: number) => (b >= NB - 1 ? Infinity : 2 ** ((b - OFFSET + 1) / PER_OCTAVE));

export interface Bounds {
  /** Bounds every policy. */
  any: RunResult;
  /** Bounds routers whose VM work starts within waitMs of its arrival at the VM. */
  noQueue: RunResult;
}

/**
 * Bucketed work (slot-seconds) and the FaaS dollars it saves, by savings per slot-second, with the list
 * of buckets in use. A whole bucket saves exactly its value; part of one at most its top ratio's worth.
 */
class Buckets {
  readonly weight = new Float64Array(NB);
  readonly value = new Float64Array(NB);
  readonly touched: number[] = [];
  add(b: number, work: number, value: number): void {
    if (this.weight[b] === 0) this.touched.push(b);
    this.weight[b] += work;
    this.value[b] += value;
  }
  /** The most `take` slot-seconds of bucket b can save, given `valueLeft` of it is still untaken. */
  static part(take: number, left: number, r: number, valueLeft: number): number {
    return take >= left ? valueLeft : Math.min(valueLeft, take * r);
  }
  /** Gains of successive blocks of `cap` slot-seconds, best ratio first, only where a ratio exceeds `floor`. */
  gains(cap: number, floor: number, out: number[]): void {
    out.length = 0;
    const order = this.touched.sort((a, b) => b - a);
    let room = cap;
    let gain = 0;
    for (const b of order) {
      const r = upper(b);
      if (r <= floor) break;
      let left = this.weight[b];
      let valueLeft = this.value[b];
      while (left > 0) {
        const take = Math.min(room, left);
        const g = Buckets.part(take, left, r, valueLeft);
        gain += g;
        valueLeft -= g;
        left -= take;
        room -= take;
        if (room <= 1e-12) {
          out.push(gain);
          gain = 0;
          room = cap;
        }
      }
    }
    if (gain > 0) out.push(gain);
  }
  clear(): void {
    for (const b of this.touched) {
      this.weight[b] = 0;
      this.value[b] = 0;
    }
    this.touched.length = 0;
  }
}

export function lowerBounds(w: Workload, opts: { waitMs?: number; progress?: (f: number) => void } = {}): Bounds {
  const t0 = Date.now();
  const cfg = w.cfg;
  const { trace, scale, N, P } = w;
  const T = trace.length;
  const N1 = N + 1;
  const k = cfg.vm.slots;
  const pVm = cfg.vm.costUsdPerHour / 3600;
  const boot = cfg.vm.bootTimeS;
  const minVms = cfg.vm.min;
  const prices = cfg.prices;
  const fee = faasRequestUsd(prices);
  const perMs = faasComputeUsd(prices, 1);
  const router = cfg.entry === "router";

  // D: the latest a stage's VM work can start after its request's arrival (any group start j <= i).
  let dMs = 0;
  let maxStageS = 0;
  for (let p = 0; p < P; p++) {
    const o = p * N1;
    for (let j = 0; j < N; j++) {
      const hop = j > 0 ? w.hopMs[j] : router ? 0 : 2 * cfg.transferMs;
      const pre = w.faasPS[o + j] - w.faasPS[o] + hop;
      // The largest delay for stage i is reached at i = N - 1 (times are non-negative).
      dMs = Math.max(dMs, pre + w.vmPS[o + N - 1] - w.vmPS[o + j]);
      maxStageS = Math.max(maxStageS, (w.vmPS[o + j + 1] - w.vmPS[o + j]) / 1000);
    }
  }
  const dS = (dMs + (opts.waitMs ?? 0)) / 1000;
  const L = Math.ceil(dS) + 1;
  const capPerVm = k * (1 + dS);
  const bootCharge = pVm * Math.max(0, boot - (L - 1));
  const R = Math.ceil(maxStageS) + 2;
  const ring = Array.from({ length: R }, () => new Buckets());
  const all = new Buckets();

  // DP over m = max(n', vm.min) (VMs held): V[m] = least cost so far ending with m; it starts at vm.min.
  let V = new Float64Array(Math.max(8, minVms + 2));
  for (let m = 0; m < V.length; m++) V[m] = m < minVms ? Infinity : bootCharge * (m - minVms);
  let Vn = new Float64Array(V.length);
  const gains: number[] = [];

  const hist = new LatencyHistogram();
  const rng = w.stream();
  let buf = new Float64Array(1024);
  let seg = 0;
  let cum = w.segCum[0];
  let requests = 0;
  let withinSlo = 0;
  let base = 0; // every request's FaaS cost in the relaxation, before VM savings
  let faasFees = 0;
  let faasCpuMs = 0;
  let faasWallMs = 0;
  const progressEvery = Math.max(1, Math.floor(T / 100));

  for (let t = 0; t < T; t++) {
    while (seg + 1 < w.segStart.length && w.segStart[seg + 1] <= t) cum = w.segCum[++seg];
    const n = Workload.countAt(trace, scale, t, rng);
    if (n > buf.length) buf = new Float64Array(n * 2);
    const times = arrivalsInto(buf, n, rng);
    for (let r = 0; r < n; r++) {
      const a = t + times[r];
      const ue = rng.next();
      let e = 0;
      while (e < N - 1 && ue >= cum[e]) e++;
      const o = ((rng.next() * P) | 0) * N1;
      requests++;
      const faasMs = w.faasPS[o + e + 1] - w.faasPS[o];
      const vmMs = w.vmPS[o + e + 1] - w.vmPS[o];
      faasFees++;
      faasCpuMs += faasMs;
      faasWallMs += billedMs(prices, faasMs);
      base += fee + faasMs * perMs;
      const lat = Math.min(faasMs, vmMs);
      hist.add(lat);
      if (lat <= cfg.sloMs) withinSlo++;
      for (let i = 0; i <= e; i++) {
        const ws = (w.vmPS[o + i + 1] - w.vmPS[o + i]) / 1000;
        const v = (w.faasPS[o + i + 1] - w.faasPS[o + i]) * perMs + (i === 0 && router ? fee : 0);
        const b = ws > 0 ? bucketOf(v / ws) : NB - 1;
        all.add(b, ws, v);
        // Nominal placement [a, a + ws], split over the seconds it covers.
        let from = a;
        let left = ws;
        let u = t;
        while (left > 1e-15) {
          const part = Math.min(left, u + 1 - from);
          ring[u % R].add(b, part, (v * part) / ws);
          left -= part;
          from = u + 1;
          u++;
        }
      }
    }
    // Second t is complete: every later arrival starts after it.
    const slot = ring[t % R];
    slot.gains(capPerVm, 0, gains);
    slot.clear();
    const need = Math.max(minVms, gains.length) + 1;
    if (need > V.length) {
      // Counts never worth holding before: no history paid for them, so they start from the cheapest.
      const grown = new Float64Array(Math.max(need, V.length * 2));
      let best = Infinity;
      for (let m = 0; m < V.length; m++) best = Math.min(best, V[m]);
      grown.fill(best);
      grown.set(V);
      V = grown;
      Vn = new Float64Array(V.length);
    }
    const M = V.length;
    // Vn[m] = p max(m, min) - S(m) + min(min_{m' >= m} V[m'], min_{m' < m} V[m'] + bootCharge (m - m')).
    let suffix = Infinity;
    for (let m = M - 1; m >= 0; m--) {
      suffix = Math.min(suffix, V[m]);
      Vn[m] = suffix;
    }
    let prefix = Infinity; // min_{m' < m} (V[m'] - bootCharge m')
    let saved = 0;
    for (let m = 0; m < M; m++) {
      if (m > 0) {
        prefix = Math.min(prefix, V[m - 1] - bootCharge * (m - 1));
        if (m - 1 < gains.length) saved += gains[m - 1];
      }
      const arrive = Math.min(Vn[m], prefix + bootCharge * m);
      Vn[m] = m < minVms ? Infinity : arrive + pVm * m - saved;
    }
    const tmp = V;
    V = Vn;
    Vn = tmp;
    if (opts.progress && t % progressEvery === 0) opts.progress(t / T);
  }
  // Work still spilling past the end needs no VM in the bound (it is not billed in these seconds).
  let dp = Infinity;
  for (let m = 0; m < V.length; m++) dp = Math.min(dp, V[m]);
  // vm.min's VMs: the window counts up to L - 1 extra seconds each, and while they boot at the start
  // another VM's boot can hide under them (vm.min * boot at most).
  const noQueueVm = boot >= L - 1 ? base + dp - pVm * (L - 1 + 2 * boot) * minVms : Infinity;

  // Whole-run fluid bound: vm.min VMs give k min (T - boot) slot-seconds for free, the rest costs p / k.
  let anyVm: number;
  {
    const free = minVms > 0 ? k * minVms * Math.max(0, T - boot) : 0;
    let x = 0;
    let saved = 0;
    for (const b of all.touched.sort((p, q) => q - p)) {
      const r = upper(b);
      let take = 0;
      if (x < free) take = Math.min(all.weight[b], free - x);
      if (r > pVm / k) take = all.weight[b];
      saved += Buckets.part(take, all.weight[b], r, all.value[b]);
      x += take;
    }
    const vmCost = minVms > 0 ? pVm * Math.max(minVms * T, boot * minVms + x / k) : pVm * (boot + x / k);
    anyVm = base - saved + vmCost;
    if (minVms === 0) anyVm = Math.min(base, anyVm);
  }
  const faasOnly = faasBillUsd(prices, faasFees, faasCpuMs, faasWallMs);
  const row = (policy: string, cost: number): RunResult =>
    resultRow({
      policy,
      requests,
      vmServed: 0,
      faasServed: requests,
      hist,
      withinSlo,
      vmSeconds: 0,
      vmCostUsd: 0,
      faasCostUsd: cost,
      transferUsd: 0,
      meanVms: 0,
      vmUtilisation: Number.NaN,
      startedMs: t0,
    });
  const any = Math.min(faasOnly, anyVm);
  const noQueue = Number.isFinite(noQueueVm) ? Math.max(any, Math.min(faasOnly, noQueueVm)) : any;
  return { any: row("oracle", any), noQueue: row("oracle-noqueue", noQueue) };
}
