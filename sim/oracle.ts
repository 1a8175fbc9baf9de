// The oracle: a lower bound on the cost of serving the workload, computed on the same requests as the
// policies (same stream, same sampled service times).
//
// It knows the future exactly and relaxes every constraint a real policy faces:
// - VMs boot instantly, are billed only for the seconds they are used, with no minimum, and the count
//   can change every second;
// - within a second, VM capacity is fluid: n VMs give n * k slot-seconds (plus a margin of the longest
//   request's VM time, for work that spills over the second's end), and any stage of any request
//   arriving in that second can be put on a VM fractionally, with no queueing and no Erlang loss;
// - a request's per-request fee is saved as soon as its stage 0 is on a VM (the real rule needs the whole
//   request there), hand-overs are free and instant, and Lambda waits are not billed.
// For each second it solves the relaxed problem exactly: items (one per stage run) sorted by FaaS
// dollars saved per VM slot-second, fill the n VMs greedily (fractional knapsack; ratios are rounded
// up to 1/64 octave, which can only raise the savings), and pick the n that minimises VM + FaaS cost.
// Every policy's schedule is feasible for this relaxation, so its cost is >= the oracle's, up to work
// moved across seconds by queueing (only the VM-only policies queue, and that delay violates the SLO).
import { faasRequestUsd } from "../core/cost.js";
import { LatencyHistogram, type RunResult } from "./engine.js";
import { arrivalsInto, Workload } from "./workload.js";

const PER_OCTAVE = 64;
const OFFSET = 60 * PER_OCTAVE;
const NB = 120 * PER_OCTAVE;

export function lowerBound(
  w: Workload,
  opts: { progress?: (f: number) => void } = {},
): { result: RunResult; vmsPerSecond: Float32Array; faasPerSecond: Int32Array } {
  const t0 = Date.now();
  const cfg = w.cfg;
  const { trace, scale, N, P } = w;
  const T = trace.length;
  const N1 = N + 1;
  const k = cfg.vm.slots;
  const pVm = cfg.vm.costUsdPerHour / 3600;
  const prices = cfg.prices;
  const fee = faasRequestUsd(prices);
  const perMs = prices.usdPerMillionCpuMs / 1e6 + (prices.usdPerGbS * prices.memoryMb) / 1024 / 1000;
  const entryWorker = cfg.entry === "worker";
  const slack = 1 + Math.min(1, w.maxVmRequestS);
  const weight = new Float64Array(NB);
  const touched = new Int32Array(NB);
  const mark = new Uint8Array(NB);
  const hist = new LatencyHistogram();
  const vmsPerSecond = new Float32Array(T);
  const faasPerSecond = new Int32Array(T);
  const rng = w.stream();
  let buf = new Float64Array(1024);
  let reqO = new Int32Array(1024);
  let reqE = new Int32Array(1024);
  let reqB = new Int32Array(1024);
  let seg = 0;
  let cum = w.segCum[0];
  let total = 0;
  let vmSeconds = 0;
  let requests = 0;
  let withinSlo = 0;
  let faasRequests = 0;
  let vmCost = 0;
  let faasCost = 0;
  const progressEvery = Math.max(1, Math.floor(T / 100));

  const bucketOf = (ratio: number) => {
    if (!(ratio > 0)) return 0;
    const b = Math.floor(Math.log2(ratio) * PER_OCTAVE) + OFFSET;
    return b < 0 ? 0 : b >= NB ? NB - 1 : b;
  };
  const upper = (b: number) => (b >= NB - 1 ? Infinity : 2 ** ((b - OFFSET + 1) / PER_OCTAVE));

  for (let t = 0; t < T; t++) {
    while (seg + 1 < w.segStart.length && w.segStart[seg + 1] <= t) cum = w.segCum[++seg];
    const n = Workload.countAt(trace, scale, t, rng);
    if (n > buf.length) {
      buf = new Float64Array(n * 2);
      reqO = new Int32Array(n * 2);
      reqE = new Int32Array(n * 2);
      reqB = new Int32Array(n * 2);
    }
    arrivalsInto(buf, n, rng);
    let nt = 0;
    let value = 0;
    for (let r = 0; r < n; r++) {
      const ue = rng.next();
      let e = 0;
      while (e < N - 1 && ue >= cum[e]) e++;
      const o = ((rng.next() * P) | 0) * N1;
      reqO[r] = o;
      reqE[r] = e;
      let wholeV = entryWorker ? 0 : fee;
      let wholeW = 0;
      for (let i = 0; i <= e; i++) {
        const f = w.faasPS[o + i + 1] - w.faasPS[o + i];
        const ws = (w.vmPS[o + i + 1] - w.vmPS[o + i]) / 1000;
        const v = f * perMs + (i === 0 && !entryWorker ? fee : 0);
        wholeV += f * perMs;
        wholeW += ws;
        value += v;
        const b = ws > 0 ? bucketOf(v / ws) : NB - 1;
        if (!mark[b]) {
          mark[b] = 1;
          touched[nt++] = b;
        }
        weight[b] += ws;
      }
      reqB[r] = wholeW > 0 ? bucketOf(wholeV / wholeW) : NB - 1;
    }
    // Greedy over buckets by decreasing ratio, one VM at a time while the next VM saves more than it costs.
    const order = touched.subarray(0, nt).sort();
    let vmsT = 0;
    let saved = 0;
    let cap = 0; // capacity used by VMs decided so far
    let bi = nt - 1;
    let leftInBucket = bi >= 0 ? weight[order[bi]] : 0;
    let cutBucket = NB; // buckets >= cut are on VMs (the last one partly)
    for (;;) {
      // Savings of one more VM.
      let room = k * slack;
      let gain = 0;
      let b2 = bi;
      let left = leftInBucket;
      let lastB = cutBucket;
      while (room > 1e-15 && b2 >= 0) {
        const take = Math.min(room, left);
        gain += take * upper(order[b2]);
        room -= take;
        left -= take;
        lastB = order[b2];
        if (left <= 1e-15) {
          b2--;
          left = b2 >= 0 ? weight[order[b2]] : 0;
        }
      }
      if (gain <= 0 || (gain < pVm && vmsT >= cfg.vm.min)) {
        if (vmsT < cfg.vm.min) {
          vmsT++;
          continue;
        }
        break;
      }
      vmsT++;
      saved += gain;
      cap += k * slack;
      bi = b2;
      leftInBucket = left;
      cutBucket = lastB;
    }
    for (let q = 0; q < nt; q++) {
      weight[order[q]] = 0;
      mark[order[q]] = 0;
    }
    const base = value + (entryWorker ? n * fee : 0);
    const faasT = Math.max(0, value - saved) + (entryWorker ? n * fee : 0);
    total += vmsT * pVm + faasT;
    vmCost += vmsT * pVm;
    faasCost += faasT;
    vmSeconds += vmsT;
    vmsPerSecond[t] = vmsT;
    void base;
    void cap;
    // Latency of the bound's assignment: a request whose whole-request ratio clears the cut runs on a VM.
    let faasT2 = 0;
    for (let r = 0; r < n; r++) {
      const o = reqO[r];
      const e = reqE[r];
      let lat: number;
      if (vmsT > 0 && reqB[r] >= cutBucket) lat = w.vmPS[o + e + 1] - w.vmPS[o];
      else {
        lat = w.faasPS[o + e + 1] - w.faasPS[o];
        faasT2++;
      }
      hist.add(lat);
      if (lat <= cfg.sloMs) withinSlo++;
    }
    faasRequests += faasT2;
    faasPerSecond[t] = faasT2;
    requests += n;
    if (opts.progress && t % progressEvery === 0) opts.progress(t / T);
  }
  return {
    result: {
      policy: "oracle",
      cost_usd: total,
      slo_attainment: requests > 0 ? withinSlo / requests : 1,
      p50_ms: hist.quantile(0.5),
      p99_ms: hist.quantile(0.99),
      requests,
      dropped: 0,
      vm_seconds: vmSeconds,
      faas_requests: faasRequests,
      vm_cost_usd: vmCost,
      faas_cost_usd: faasCost,
      transfer_cost_usd: 0,
      mean_vms: vmSeconds / T,
      vm_utilisation: NaN,
      wall_s: (Date.now() - t0) / 1000,
    },
    vmsPerSecond,
    faasPerSecond,
  };
}
