// The simulator's engine: replays a workload second by second through one policy.
//
// Each second: (1) at the policy's control period it decides a VM count (never below vm.min for a policy
// that uses VMs) and a VM-group start (and, for LIBRA, a VM quota); VMs are billed from that decision,
// serve bootTimeS later, and scale-down cancels the booting VM that would be ready last first, then
// drains the oldest running one. (2) The second's arrivals are
// routed in time order. A VM pool is a min-heap of slot free times (one entry per slot of every live
// or booting VM): a request that reaches the VM group takes a slot that is free at its arrival at the
// VM, or (queueing policies) waits for the earliest one; otherwise it runs on FaaS, which never
// queues. A request that reaches a VM finishes its remaining stages there. This is event-driven per VM
// slot without an event queue: slots are the only shared resource, and routing is FIFO in time.
import { billedMs, faasBillUsd, vmBilledS, vmUsd } from "../core/cost.js";
import type { ControlConfig } from "../core/config.js";
import { arrivalsInto, Workload } from "./workload.js";
import { VmQueues } from "./vm-queues.js";

/** "budget": per-VM FIFO queues with the router's choice and a wait budget (sim/vm-queues.ts), as deployed. */
export type RouteMode = "faas" | "noqueue" | "queue" | "spock" | "budget";

export interface Decision {
  vms: number;
  /** First stage of the VM group; null: everything on FaaS. */
  groupStart: number | null;
  /** Most requests per second sent to VMs (LIBRA's 80% share); default unlimited. */
  vmQuotaPerS?: number;
  /** Mode "budget": how long a request may wait on a full VM (ms). */
  waitBudgetMs?: number;
  /** Mode "budget": the longest expected wait that joins a full VM's queue (ms); default the budget. */
  admitWaitMs?: number;
}

export interface EngineView {
  t: number;
  /** Arrivals per second so far (index = second). */
  arrivals: Int32Array;
  /** Exits per second and stage: exits[t * N + i]. */
  exits: Int32Array;
  running: number;
  booting: number;
  /** The running VMs' call time per queue place (ms, the median of what their heartbeats report). */
  callMs?: number;
  /** VM slot-seconds of work started, and slot-seconds of running capacity, since the last decision. */
  busySlotS: number;
  capacitySlotS: number;
  workload: Workload;
  cfg: ControlConfig;
}

/** What a controller sees at second t with these counts and no VMs (the engine's start, a warm start). */
export function idleView(
  t: number,
  arrivals: Int32Array,
  exits: Int32Array,
  workload: Workload,
  cfg: ControlConfig,
): EngineView {
  return { t, arrivals, exits, running: 0, booting: 0, busySlotS: 0, capacitySlotS: 0, workload, cfg };
}

export interface Controller {
  name: string;
  mode: RouteMode;
  periodS: number;
  /**
   * VMs running (already booted) at t = 0: a warm start for policies that cannot serve without VMs.
   * They are billed from -bootTimeS: every VM the bound lets a policy have pays its boot.
   */
  initialVms?(w: Workload, cfg: ControlConfig): number;
  decide(view: EngineView): Decision;
}

export interface RunResult {
  policy: string;
  cost_usd: number;
  slo_attainment: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  dropped: number;
  vm_seconds: number;
  faas_requests: number;
  vm_cost_usd: number;
  faas_cost_usd: number;
  transfer_cost_usd: number;
  mean_vms: number;
  vm_utilisation: number;
  wall_s: number;
}

/** What a run (or a bound) counted, turned into its results row by resultRow(). */
export interface RunTally {
  policy: string;
  requests: number;
  /** Requests served on a VM and on FaaS (each exactly once: dropped = requests - both). */
  vmServed: number;
  faasServed: number;
  hist: LatencyHistogram;
  withinSlo: number;
  vmSeconds: number;
  vmCostUsd: number;
  faasCostUsd: number;
  transferUsd: number;
  meanVms: number;
  vmUtilisation: number;
  startedMs: number;
}

export function resultRow(t: RunTally): RunResult {
  return {
    policy: t.policy,
    cost_usd: t.vmCostUsd + t.faasCostUsd + t.transferUsd,
    slo_attainment: t.requests > 0 ? t.withinSlo / t.requests : 1,
    p50_ms: t.hist.quantile(0.5),
    p99_ms: t.hist.quantile(0.99),
    requests: t.requests,
    dropped: t.requests - t.vmServed - t.faasServed,
    vm_seconds: t.vmSeconds,
    faas_requests: t.faasServed,
    vm_cost_usd: t.vmCostUsd,
    faas_cost_usd: t.faasCostUsd,
    transfer_cost_usd: t.transferUsd,
    mean_vms: t.meanVms,
    vm_utilisation: t.vmUtilisation,
    wall_s: (Date.now() - t.startedMs) / 1000,
  };
}

export interface RunSeries {
  arrivals: Int32Array;
  vms: Float32Array;
  faas: Int32Array;
}

export interface RunOptions {
  progress?: (fraction: number) => void;
  series?: boolean;
  /**
   * What-if for no-queue routing: a request may also wait up to this long for a VM slot instead of
   * going to FaaS (0, the default, is the rule "a free slot, else FaaS").
   */
  vmQueueMs?: number;
}

// Latency histogram: 1% wide log buckets from 1 microsecond.
const H_BASE_MS = 0.001;
const H_LOG = Math.log(1.01);
const H_BUCKETS = 2400;

export class LatencyHistogram {
  readonly counts = new Float64Array(H_BUCKETS);
  total = 0;
  add(ms: number): void {
    let b = ms > H_BASE_MS ? Math.floor(Math.log(ms / H_BASE_MS) / H_LOG) + 1 : 0;
    if (b >= H_BUCKETS) b = H_BUCKETS - 1;
    this.counts[b]++;
    this.total++;
  }
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = q * this.total;
    let seen = 0;
    for (let b = 0; b < H_BUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank && this.counts[b] > 0) return b === 0 ? H_BASE_MS : H_BASE_MS * Math.exp((b - 0.5) * H_LOG);
    }
    return H_BASE_MS * Math.exp((H_BUCKETS - 1) * H_LOG);
  }
}

/** Min-heap of slot free times. */
class SlotHeap {
  a = new Float64Array(64);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.siftUp(this.n++, v);
  }
  /** Puts v at slot i or above it; returns where it landed. */
  private siftUp(i: number, v: number): number {
    const a = this.a;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
    return i;
  }
  /** Replaces the minimum with v. */
  replaceTop(v: number): void {
    this.siftDown(0, v);
  }
  private siftDown(i: number, v: number): void {
    const a = this.a;
    const n = this.n;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1] < a[c]) c++;
      if (a[c] >= v) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = v;
  }
  pop(): number {
    const top = this.a[0];
    const last = this.a[--this.n];
    if (this.n > 0) this.siftDown(0, last);
    return top;
  }
  /** Removes and returns the largest entry (O(n); scaling events only). */
  popMax(): number {
    let m = 0;
    for (let i = 1; i < this.n; i++) if (this.a[i] > this.a[m]) m = i;
    const v = this.a[m];
    const last = this.a[--this.n];
    if (m < this.n) {
      // The largest entry has no children below it that are smaller than `last`'s parent chain
      // requires: put `last` there and let it rise (it cannot need to sink below a maximum's place).
      if (this.siftUp(m, last) === m) this.siftDown(m, last);
    }
    return v;
  }
  max(): number {
    let m = -Infinity;
    for (let i = 0; i < this.n; i++) if (this.a[i] > m) m = this.a[i];
    return m;
  }
}

interface Vm {
  start: number;
  ready: number;
}

export function runPolicy(
  w: Workload,
  ctl: Controller,
  opts: RunOptions = {},
): { result: RunResult; series?: RunSeries } {
  const t0 = Date.now();
  const cfg = w.cfg;
  const { trace, scale, N } = w;
  const T = trace.length;
  const N1 = N + 1;
  const k = cfg.vm.slots;
  const boot = cfg.vm.bootTimeS;
  const prices = cfg.prices;
  const vmPS = w.vmPS;
  const faasPS = w.faasPS;
  const hopMs = w.hopMs;
  const P = w.P;
  const slo = cfg.sloMs;
  const entryWorker = cfg.entry === "worker";
  const deepSeparate = cfg.faasDeep === "separate";
  const lambdaLike = prices.usdPerGbS > 0;
  const mode = ctl.mode;
  const QUEUE = mode === "queue";
  const SPOCK = mode === "spock";
  const useVms = mode !== "faas";
  const minVms = useVms ? cfg.vm.min : 0;
  const maxWaitS = (opts.vmQueueMs ?? 0) / 1000;

  const arrivals = new Int32Array(T);
  const exits = new Int32Array(T * N);
  const vmSeries = opts.series ? new Float32Array(T) : null;
  const faasSeries = opts.series ? new Int32Array(T) : null;
  const hist = new LatencyHistogram();
  const heap = new SlotHeap();
  const queues = mode === "budget" ? new VmQueues(k, w.seed) : null;
  const vms: Vm[] = queues ? queues.vms : [];
  let budgetS = 0;
  let admitS = 0;
  let meanSvcS = 0; // the router's running estimate of a VM call's time (the heartbeat's figure)
  let vmSeconds = 0;
  let vmSecondsLive = 0; // for mean VMs
  let busySlotS = 0;
  let capacitySlotS = 0;
  let totalBusySlotS = 0;
  let fees = 0;
  let cpuMs = 0;
  let wallBilledMs = 0;
  let transferUsd = 0;
  let faasRequests = 0;
  let vmServed = 0;
  let requests = 0;
  let withinSlo = 0;

  const bill = (vm: Vm, end: number) => {
    vmSeconds += vmBilledS(end - vm.start, cfg.vm.minBilledS);
  };
  const addVm = (t: number, ready: number) => {
    if (queues) return queues.add(t, ready);
    vms.push({ start: t, ready });
    for (let s = 0; s < k; s++) heap.push(ready);
  };
  const scaleTo = (target: number, t: number) => {
    while (vms.length < target) addVm(t, t + boot);
    while (queues && vms.length > target) {
      const r = queues.remove(t);
      bill({ start: r.start, ready: 0 }, r.end);
    }
    while (vms.length > target) {
      // Cancel the VM that would be ready last if one is booting, else drain the oldest running one.
      let bi = -1;
      for (let i = 0; i < vms.length; i++) if (vms[i].ready > t && (bi < 0 || vms[i].ready > vms[bi].ready)) bi = i;
      let end = t;
      if (bi >= 0) {
        for (let s = 0; s < k; s++) heap.popMax();
        bill(vms[bi], t);
        vms.splice(bi, 1);
      } else {
        for (let s = 0; s < k; s++) end = Math.max(end, heap.pop());
        bill(vms[0], end);
        vms.shift();
      }
    }
  };

  // Into stage j: the hand-over, or at the Worker entry the round trip into a VM group from stage 0.
  const hopInto = (j: number) => (j > 0 ? hopMs[j] : entryWorker ? 2 * cfg.transferMs : 0);
  const record = (lat: number) => {
    hist.add(lat);
    if (lat <= slo) withinSlo++;
  };
  /** A request served by a VM from stage j, its call reaching the pool at tv and starting at `start`. */
  const onVm = (j: number, e: number, o: number, tv: number, start: number) => {
    const pre = faasPS[o + j] - faasPS[o];
    const vmt = vmPS[o + e + 1] - vmPS[o + j];
    busySlotS += vmt / 1000;
    totalBusySlotS += vmt / 1000;
    const lat = pre + hopInto(j) + (start - tv) * 1000 + vmt;
    vmServed++;
    quota--;
    if (j > 0 || entryWorker) {
      fees++;
      cpuMs += pre;
      if (lambdaLike) wallBilledMs += billedMs(prices, lat);
      transferUsd += w.hopUsd[j];
    }
    record(lat);
  };
  /** A request served on FaaS, after waiting `timedOutMs` for a VM slot that came too late (if any). */
  const onFaas = (tArr: number, j: number, e: number, o: number, timedOutMs: number) => {
    const faasMs = faasPS[o + e + 1] - faasPS[o];
    faasRequests++;
    if (faasSeries) faasSeries[tArr]++;
    cpuMs += faasMs;
    // A wait that ran out is latency; a Lambda invocation pays for it only where one was waiting
    // (a prefix ran, or the request entered through one).
    const billMs = faasMs + (j > 0 || entryWorker ? timedOutMs : 0);
    if (deepSeparate && j > 0 && e >= j) {
      fees += 2;
      if (lambdaLike) wallBilledMs += billedMs(prices, billMs) + billedMs(prices, faasPS[o + e + 1] - faasPS[o + j]);
    } else {
      fees++;
      if (lambdaLike) wallBilledMs += billedMs(prices, billMs);
    }
    record(faasMs + timedOutMs);
  };
  // Calls on their way to the VM pool (their FaaS prefix still running), routed in the order they arrive.
  const pending: { tv: number; t: number; j: number; e: number; o: number }[] = [];
  const routePending = (q: VmQueues, until: number) => {
    pending.sort((x, y) => x.tv - y.tv);
    let due = 0;
    while (due < pending.length && pending[due].tv < until) due++;
    for (const c of pending.splice(0, due)) {
      const vmt = vmPS[c.o + c.e + 1] - vmPS[c.o + c.j];
      const routed =
        q.length > 0 && quota > 0 ? q.route(c.tv, vmt / 1000, meanSvcS || vmt / 1000, budgetS, admitS) : null;
      if (routed && "start" in routed) {
        meanSvcS = meanSvcS > 0 ? 0.99 * meanSvcS + 0.01 * (vmt / 1000) : vmt / 1000;
        onVm(c.j, c.e, c.o, c.tv, routed.start);
      } else onFaas(c.t, c.j, c.e, c.o, routed ? hopInto(c.j) + budgetS * 1000 : 0);
    }
  };

  if (ctl.initialVms) {
    const n = Math.max(minVms, ctl.initialVms(w, cfg));
    for (let i = 0; i < n; i++) addVm(-boot, 0);
  }

  const rng = w.stream();
  let buf = new Float64Array(1024);
  let j = -1; // group start; -1 = none
  let quota = Infinity;
  let quotaPerS = Infinity;
  let seg = 0;
  let cum = w.segCum[0];
  const progressEvery = Math.max(1, Math.floor(T / 100));
  const view = idleView(0, arrivals, exits, w, cfg);

  for (let t = 0; t < T; t++) {
    let running = 0;
    for (let i = 0; i < vms.length; i++) if (vms[i].ready <= t) running++;
    const booting = vms.length - running;
    if (t % ctl.periodS === 0) {
      view.t = t;
      view.running = running;
      view.booting = booting;
      view.busySlotS = busySlotS;
      view.capacitySlotS = capacitySlotS;
      view.callMs = queues && meanSvcS > 0 ? queues.callMs(t, meanSvcS) : undefined;
      const d = ctl.decide(view);
      busySlotS = 0;
      capacitySlotS = 0;
      scaleTo(Math.max(minVms, Math.round(d.vms)), t);
      j = d.groupStart === null || d.vms <= 0 ? -1 : d.groupStart;
      quotaPerS = d.vmQuotaPerS ?? Infinity;
      budgetS = (d.waitBudgetMs ?? 0) / 1000;
      admitS = (d.admitWaitMs ?? d.waitBudgetMs ?? 0) / 1000;
    }
    while (seg + 1 < w.segStart.length && w.segStart[seg + 1] <= t) cum = w.segCum[++seg];
    let runNow = 0;
    for (let i = 0; i < vms.length; i++) if (vms[i].ready <= t) runNow++;
    const bootNow = vms.length - runNow;
    capacitySlotS += runNow * k;
    vmSecondsLive += vms.length;
    if (vmSeries) vmSeries[t] = vms.length;
    quota = quotaPerS;

    const n = Workload.countAt(trace, scale, t, rng);
    arrivals[t] = n;
    if (n > buf.length) buf = new Float64Array(n * 2);
    const times = arrivalsInto(buf, n, rng);
    for (let r = 0; r < n; r++) {
      const a = t + times[r];
      const ue = rng.next();
      let e = 0;
      while (e < N - 1 && ue >= cum[e]) e++;
      const o = ((rng.next() * P) | 0) * N1;
      exits[t * N + e]++;
      requests++;
      if (!useVms || j < 0 || e < j) {
        onFaas(t, j, e, o, 0);
        continue;
      }
      const tv = a + (faasPS[o + j] - faasPS[o] + hopInto(j)) / 1000;
      // The pool sees a call when the request reaches it, after its FaaS prefix: calls behind a slow
      // prefix come later than those behind a quick one, so they are routed in that order (below).
      if (queues) {
        pending.push({ tv, t, j, e, o });
        continue;
      }
      let start = -1;
      if (heap.n > 0 && quota > 0) {
        const top = heap.a[0];
        if (top <= tv) start = tv;
        else if (QUEUE || (SPOCK && bootNow === 0) || top - tv <= maxWaitS) start = top;
        if (start >= 0) heap.replaceTop(start + (vmPS[o + e + 1] - vmPS[o + j]) / 1000);
      }
      if (start >= 0) onVm(j, e, o, tv, start);
      else onFaas(t, j, e, o, 0);
    }
    // Every later arrival reaches the VMs after t + 1: the calls before it are complete.
    if (queues) routePending(queues, t + 1);
    if (opts.progress && t % progressEvery === 0) opts.progress(t / T);
  }
  if (queues) routePending(queues, Infinity);
  // End of the trace: every VM is billed until then, or until its queue has drained.
  const drainEnd = Math.max(T, queues ? queues.busyUntil() : heap.n > 0 ? heap.max() : T);
  for (const vm of vms) bill(vm, vm.ready > T ? T : drainEnd);

  const result = resultRow({
    policy: ctl.name,
    requests,
    vmServed,
    faasServed: faasRequests,
    hist,
    withinSlo,
    vmSeconds,
    vmCostUsd: vmUsd(cfg.vm.costUsdPerHour, vmSeconds),
    faasCostUsd: faasBillUsd(prices, fees, cpuMs, wallBilledMs),
    transferUsd,
    meanVms: vmSecondsLive / T,
    vmUtilisation: vmSeconds > 0 ? totalBusySlotS / (vmSeconds * k) : 0,
    startedMs: t0,
  });
  return { result, series: vmSeries ? { arrivals, vms: vmSeries, faas: faasSeries! } : undefined };
}
