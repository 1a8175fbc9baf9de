// Lower bounds on the cost of serving the workload, computed on the same requests as the policies (same
// stream, same sampled service times). Three bounds, each valid for a class of policies:
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
// `oracle-slo` (every policy that meets the SLO target, queueing ones included): at least SLO_TARGET of
// the requests finish within the SLO, so their VM work starts within SLO of their arrival: the
// no-queue bound with D = SLO holds for them. The rest, at most 1 - SLO_TARGET of the requests (the
// excused), may be served any way; the bound is the higher of two ways to allow for them.
// (a) Subtract what the costliest such share could add to the no-queue bound (its FaaS cost beyond what
//     every request must pay), so it holds whichever requests those are; and count the VM work that
//     requests FaaS cannot answer in time need: one whose stages all on FaaS take longer than the SLO
//     meets it only with at least the least VM work that saves the excess (fractional knapsack over its
//     stages by latency saved per VM ms; one no placement brings within the SLO is excused). Every such
//     request not excused needs that work on the VMs of its seconds. Which are excused is the policy's
//     choice: for a price lambda per excused request, the DP pays lambda per request it leaves without
//     VM room (fractionally, by its share of work in that second) and lambda times the excuses left is
//     subtracted.
// (b) For a price lambda per request, the DP may leave any request out, saving its cost beyond what it
//     must pay less lambda, and lambda times the share is subtracted. Leaving a request out frees its
//     stage runs' VM room too: they keep their values less that saving spread over them by value, an
//     upper bound on the better of the two whatever the capacity (with y of a request left out and
//     x <= 1 - y of each run on VMs, the saving and the discounted runs earn at least as much). So where
//     VMs run anyway, dropping one for a second costs a lambda per request it would have served.
// Both are Lagrangian relaxations: every lambda >= 0 gives a bound ((a) with lambda = 0 is the bound
// without forced work); each takes the best lambda of a geometric grid.
//
// All bounds relax the rest: a stage run can go to a VM without its neighbours, rounding is not billed,
// hand-overs are free, and a request's fee (entry "router"; at the Worker entry every request pays its
// invocation) is spread over its stages by VM time: it is saved only when every stage is on a VM, and
// the least share of a stage on VMs is at most their VM-time-weighted mean. At the Worker entry the
// invocation waits for the VM, and a wall-billed one (Lambda) pays for it: a stage run on a VM saves its
// FaaS time less its VM time and its share, by VM time, of the least hand-over (2 x transferMs).
// FaaS-only ignores vm.min, so each bound is at most FaaS-only's cost, `oracle-slo` only where FaaS-only
// meets the SLO.
import { billedMs, faasBillUsd, faasComputeUsd, faasRequestUsd, faasWaitUsd } from "../core/cost.js";
import { SLO_TARGET } from "../core/policy.js";
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
  /** Bounds every policy that answers at least SLO_TARGET of the requests within the SLO. */
  slo: RunResult;
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
    // Best ratio first: buckets in descending order (a typed array's native sort, no comparator calls:
    // this runs a dozen times per simulated second).
    const order = Int32Array.from(this.touched).sort();
    let room = cap;
    let gain = 0;
    for (let j = order.length - 1; j >= 0; j--) {
      const b = order[j];
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
  /** The dollars all its work saves. */
  total(): number {
    let v = 0;
    for (const b of this.touched) v += this.value[b];
    return v;
  }
  clear(): void {
    for (const b of this.touched) {
      this.weight[b] = 0;
      this.value[b] = 0;
    }
    this.touched.length = 0;
  }
}

/**
 * The VM work one second must hold for requests that can only meet the SLO with it: parts of each such
 * request's least VM work, with that request's whole least work (excusing a part costs part / whole).
 */
class Forced {
  readonly parts: number[] = [];
  readonly wholes: number[] = [];
  total = 0;
  add(part: number, whole: number): void {
    this.parts.push(part);
    this.wholes.push(whole);
    this.total += part;
  }
  /**
   * out[m]: the fewest requests (fractionally) to excuse so that the rest fits m VMs of `cap`
   * slot-seconds; removing the largest requests first excuses least per slot-second.
   */
  excuses(cap: number, out: number[]): void {
    out.length = 0;
    const counts = Math.ceil(this.total / cap - 1e-12);
    if (counts <= 0) return;
    const order = this.parts.map((_, i) => i).sort((a, b) => this.wholes[b] - this.wholes[a]);
    let next = 0;
    let removed = 0;
    let excused = 0;
    out.length = counts;
    for (let m = counts - 1; m >= 0; m--) {
      const excess = this.total - cap * m;
      while (next < order.length && removed + this.parts[order[next]] <= excess) {
        removed += this.parts[order[next]];
        excused += this.parts[order[next]] / this.wholes[order[next]];
        next++;
      }
      const rest = excess - removed;
      out[m] = excused + (next < order.length && rest > 0 ? rest / this.wholes[order[next]] : 0);
    }
  }
  clear(): void {
    this.parts.length = 0;
    this.wholes.length = 0;
    this.total = 0;
  }
}

/** Prices per excused request of the SLO bound's Lagrangian, in VM-seconds (0: no forced work). */
const EXCUSE_PRICES_VM_S = [0, ...Array.from({ length: 13 }, (_, g) => 4 ** (g - 6))];
/** Prices per request left out of the SLO bound's DP in its second Lagrangian, in VM-seconds. */
const LEAVE_PRICES_VM_S = Array.from({ length: 10 }, (_, g) => 2 ** (g - 10));

/**
 * The count DP of the no-queue bounds: in second u the nominal work must fit k (1 + D) slot-seconds per
 * VM held (n'_u, the most VMs ready in the L = ceil(D) + 1 seconds up to u), boot - (L - 1) seconds
 * charged for every increase of n'. V[m] = least cost so far ending with m = max(n', vm.min) VMs.
 */
class CountDp {
  readonly L: number;
  readonly capPerVm: number;
  private readonly bootCharge: number;
  private V: Float64Array;
  private Vn: Float64Array;
  constructor(
    dS: number,
    k: number,
    private readonly pVm: number,
    boot: number,
    private readonly minVms: number,
  ) {
    this.L = Math.ceil(dS) + 1;
    this.capPerVm = k * (1 + dS);
    this.bootCharge = pVm * Math.max(0, boot - (this.L - 1));
    this.V = new Float64Array(Math.max(8, minVms + 2));
    for (let m = 0; m < this.V.length; m++) this.V[m] = m < minVms ? Infinity : this.bootCharge * (m - minVms);
    this.Vn = new Float64Array(this.V.length);
  }
  clone(): CountDp {
    const c = Object.create(CountDp.prototype) as CountDp;
    Object.assign(c, this, { V: this.V.slice(), Vn: this.Vn.slice() });
    return c;
  }
  /**
   * One second whose VM counts would save `gains[m]` with the (m + 1)-th VM and, holding m VMs, excuse
   * `excuses[m]` requests at `price` each.
   */
  step(gains: number[], excuses: number[] = [], price = 0): void {
    const { bootCharge, minVms, pVm } = this;
    const need = Math.max(minVms, gains.length, excuses.length) + 1;
    if (need > this.V.length) {
      // Counts never worth holding before: no history paid for them, so they start from the cheapest.
      const grown = new Float64Array(Math.max(need, this.V.length * 2));
      grown.fill(this.best());
      grown.set(this.V);
      this.V = grown;
      this.Vn = new Float64Array(grown.length);
    }
    const { V, Vn } = this;
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
      const excused = m < excuses.length ? price * excuses[m] : 0;
      Vn[m] = m < minVms ? Infinity : arrive + pVm * m - saved + excused;
    }
    this.V = Vn;
    this.Vn = V;
  }
  best(): number {
    let b = Infinity;
    for (const v of this.V) b = Math.min(b, v);
    return b;
  }
  /**
   * The bound's VM and savings part (work still spilling past the end needs no VM). vm.min's VMs: the
   * window counts up to L - 1 extra seconds each, and while they boot at the start another VM's boot can
   * hide under them (vm.min * boot at most). Infinite when the boot is shorter than the window.
   */
  result(boot: number): number {
    return boot >= this.L - 1 ? this.best() - this.pVm * (this.L - 1 + 2 * boot) * this.minVms : Infinity;
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
  const noQueueDp = new CountDp((dMs + (opts.waitMs ?? 0)) / 1000, k, pVm, boot, minVms);
  // A request within the SLO started its VM work within the SLO of its arrival: one DP per excuse price,
  // and one per price of leaving a request out, each with its own values of the requests' stage runs.
  const sloDp = () => new CountDp(cfg.sloMs / 1000, k, pVm, boot, minVms);
  // The excuse prices' DPs are the same until a request first needs VM work: one until then.
  let excuseDps = [sloDp()];
  const leaveDps = LEAVE_PRICES_VM_S.map(sloDp);
  const sloCap = excuseDps[0].capPerVm;
  const R = Math.ceil(maxStageS) + 2;
  const ring = Array.from({ length: R }, () => new Buckets());
  const leaveRings = LEAVE_PRICES_VM_S.map(() => Array.from({ length: R }, () => new Buckets()));
  const leaveFactor = new Float64Array(LEAVE_PRICES_VM_S.length);
  // One stage run's value and bucket per leave price: the same for every second it covers.
  const leaveValue = new Float64Array(LEAVE_PRICES_VM_S.length);
  const leaveBucket = new Int32Array(LEAVE_PRICES_VM_S.length);
  const leftOutUsd = new Float64Array(LEAVE_PRICES_VM_S.length);
  const forcedRing = Array.from({ length: R }, () => new Forced());
  const all = new Buckets();

  const gains: number[] = [];
  const excuses: number[] = [];
  // A request's least VM work to meet the SLO: the fraction of each stage on a VM, and the stage order.
  const onVm = new Float64Array(N);
  // A request's stage runs' values: the FaaS dollars each saves on a VM.
  const runValue = new Float64Array(N);
  const waitPerMs = faasWaitUsd(prices, 1);
  const minHopMs = 2 * cfg.transferMs;
  const byGain = Array.from({ length: N }, (_, i) => i);
  let impossible = 0;

  const hist = new LatencyHistogram();
  const rng = w.stream();
  let buf = new Float64Array(1024);
  let seg = 0;
  let cum = w.segCum[0];
  let requests = 0;
  let withinSlo = 0;
  let faasWithinSlo = 0;
  let base = 0; // every request's FaaS cost in the relaxation, before VM savings
  let faasFees = 0;
  let faasCpuMs = 0;
  let faasWallMs = 0;
  // What a request may add to a no-queue bound beyond what it must pay (every request's invocation at
  // the Worker entry): bucketed, rounded up, so the costliest share of requests is not understated.
  const spare = new Buckets();
  const mandatory = router ? 0 : fee;
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
      const billed = billedMs(prices, faasMs);
      faasWallMs += billed;
      base += fee + billed * perMs;
      // Rounding up the invocation is saved at most once whatever moves to a VM: each stage may claim it.
      const roundUsd = (billed - faasMs) * perMs;
      const lat = Math.min(faasMs, vmMs);
      hist.add(lat);
      if (lat <= cfg.sloMs) withinSlo++;
      if (faasMs <= cfg.sloMs) faasWithinSlo++;
      // Latency is at least the stages' own times, each on FaaS or on a VM (hand-overs and waits free).
      onVm.fill(0);
      let forcedS = 0;
      if (faasMs > cfg.sloMs) {
        const gain = (i: number) => w.faasPS[o + i + 1] - w.faasPS[o + i] - (w.vmPS[o + i + 1] - w.vmPS[o + i]);
        const vmOf = (i: number) => w.vmPS[o + i + 1] - w.vmPS[o + i];
        const order = byGain.slice(0, e + 1).sort((x, y) => gain(y) * vmOf(x) - gain(x) * vmOf(y));
        let excess = faasMs - cfg.sloMs;
        for (const i of order) {
          if (excess <= 0 || gain(i) <= 0) break;
          onVm[i] = Math.min(1, excess / gain(i));
          excess -= onVm[i] * gain(i);
          forcedS += (onVm[i] * vmOf(i)) / 1000;
        }
        if (excess > 1e-9) {
          impossible++;
          onVm.fill(0);
          forcedS = 0;
        }
      }
      const own = fee + billed * perMs - mandatory;
      spare.add(bucketOf(own), 1, 0);
      // Leaving the request out saves own - price; its stage runs keep the rest of their values (the
      // stages' sum is at least own), which bounds the better of the two whatever the VM capacity.
      let valueSum = 0;
      for (let i = 0; i <= e; i++) {
        const vm = w.vmPS[o + i + 1] - w.vmPS[o + i];
        const share = vmMs > 0 ? vm / vmMs : 1 / (e + 1);
        // At the Worker entry the invocation waits for the VM: a wall-billed one pays the VM's time and
        // the hop (at least 2 x transferMs per request, spread by VM time like the fee) where the stage
        // ran before. Clamped: a stage the VM runs slower is worth nothing there, not a loss.
        const faasI = w.faasPS[o + i + 1] - w.faasPS[o + i];
        const waited = router ? 0 : (vm + minHopMs * share) * waitPerMs;
        runValue[i] = Math.max(0, faasI * perMs - waited) + (router ? fee * share : 0) + roundUsd;
        valueSum += runValue[i];
      }
      for (let g = 0; g < leaveFactor.length; g++) {
        const leave = Math.max(0, own - pVm * LEAVE_PRICES_VM_S[g]);
        leftOutUsd[g] += leave;
        leaveFactor[g] = valueSum > 0 ? Math.max(0, 1 - leave / valueSum) : 1;
      }
      for (let i = 0; i <= e; i++) {
        const ws = (w.vmPS[o + i + 1] - w.vmPS[o + i]) / 1000;
        const v = runValue[i];
        const b = ws > 0 ? bucketOf(v / ws) : NB - 1;
        all.add(b, ws, v);
        for (let g = 0; g < leaveFactor.length; g++) {
          const f = leaveFactor[g];
          leaveValue[g] = v * f;
          // A factor of 1 keeps the run's own bucket: no second logarithm (the cost of this loop).
          leaveBucket[g] = f === 1 ? b : ws > 0 ? bucketOf(leaveValue[g] / ws) : NB - 1;
        }
        // Nominal placement [a, a + ws], split over the seconds it covers.
        let from = a;
        let left = ws;
        let u = t;
        while (left > 1e-15) {
          const part = Math.min(left, u + 1 - from);
          ring[u % R].add(b, part, (v * part) / ws);
          for (let g = 0; g < leaveFactor.length; g++)
            if (leaveValue[g] > 0) leaveRings[g][u % R].add(leaveBucket[g], part, (leaveValue[g] * part) / ws);
          if (onVm[i] > 0 && forcedS > 0) forcedRing[u % R].add(onVm[i] * part, forcedS);
          left -= part;
          from = u + 1;
          u++;
        }
      }
    }
    // Second t is complete: every later arrival starts after it.
    const slot = ring[t % R];
    slot.gains(noQueueDp.capPerVm, 0, gains);
    noQueueDp.step(gains);
    slot.gains(sloCap, 0, gains);
    forcedRing[t % R].excuses(sloCap, excuses);
    if (excuses.length > 0 && excuseDps.length === 1)
      excuseDps = EXCUSE_PRICES_VM_S.map((_, g) => (g === 0 ? excuseDps[0] : excuseDps[0].clone()));
    for (let g = 0; g < excuseDps.length; g++) excuseDps[g].step(gains, excuses, pVm * EXCUSE_PRICES_VM_S[g]);
    for (let g = 0; g < leaveDps.length; g++) {
      leaveRings[g][t % R].gains(sloCap, 0, gains);
      leaveDps[g].step(gains);
      leaveRings[g][t % R].clear();
    }
    slot.clear();
    forcedRing[t % R].clear();
    if (opts.progress && t % progressEvery === 0) opts.progress(t / T);
  }
  // The rings now hold only work placed past the last second: it needs no VM (the DPs end there) and
  // saves its whole value.
  const spilt = (r: Buckets[]) => r.reduce((sum, b) => sum + b.total(), 0);
  const spillUsd = spilt(ring);
  const leaveSpillUsd = leaveRings.map(spilt);
  const noQueueVm = base + noQueueDp.result(boot) - spillUsd;
  // The requests allowed outside the SLO: the costliest share of them, each at its bucket's top.
  const excusable = Math.floor((1 - SLO_TARGET) * requests + 1e-9);
  let outsideUsd = 0;
  let outside = excusable;
  for (const b of spare.touched.sort((p, q) => q - p)) {
    if (outside <= 0) break;
    const take = Math.min(outside, spare.weight[b]);
    outsideUsd += take * upper(b);
    outside -= take;
  }
  // Excuses left for requests that need VM work, once those no placement brings within the SLO are
  // excused; if none are left, no policy meets the SLO and the bound without forced work stands.
  const spareExcuses = excusable - impossible;
  let sloVm = base + excuseDps[0].result(boot) - spillUsd - outsideUsd;
  for (let g = 1; spareExcuses >= 0 && g < excuseDps.length; g++) {
    const excused = pVm * EXCUSE_PRICES_VM_S[g] * spareExcuses;
    sloVm = Math.max(sloVm, base + excuseDps[g].result(boot) - spillUsd - excused - outsideUsd);
  }
  for (let g = 0; g < leaveDps.length; g++) {
    const leavePrice = pVm * LEAVE_PRICES_VM_S[g];
    sloVm = Math.max(
      sloVm,
      base - leftOutUsd[g] + leaveDps[g].result(boot) - leaveSpillUsd[g] - leavePrice * excusable,
    );
  }

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
  const faasMeetsSlo = faasWithinSlo >= SLO_TARGET * requests;
  const slo = Number.isFinite(sloVm) ? Math.max(any, faasMeetsSlo ? Math.min(faasOnly, sloVm) : sloVm) : any;
  return { any: row("oracle", any), noQueue: row("oracle-noqueue", noQueue), slo: row("oracle-slo", slo) };
}
