// The VM pool as the deployed system runs it: every VM has its own k slots and its own FIFO queue; the
// router sends a request to a VM with a free slot (power of two choices, the less loaded first), else,
// when the plan allows waiting, to a full VM whose expected wait ((load - k + 1) / k x the VM's call
// time, what its heartbeat tells the router: the mean service time corrected by what its own queued calls
// waited per place, core/routing.ts drainCallTime) fits the plan's admission limit (as core/routing.ts
// chooseVms: the budget, or half of it). The VM holds it at most the budget:
// if its slot comes later, the request leaves after the budget and finishes on FaaS. No queue is pooled
// and nobody knows when a slot will free.
import { QUEUE_PLACES_PER_SLOT } from "../core/policy.js";
import { drainCallTime, poolCallMs, recordWait, type WaitCalibration } from "../core/routing.js";
import { Prng } from "./prng.js";

interface QueuedVm {
  start: number;
  ready: number;
  /** When each slot is next free (FIFO: an admitted request takes the earliest). */
  slots: Float64Array;
  /** End times of admitted requests not yet done (min-heap): the VM's load is their count. */
  ends: number[];
  /** The waits of calls queued here against their places (seconds). */
  waits: WaitCalibration;
}

function heapPush(h: number[], v: number): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p] <= v) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = v;
}

function heapPop(h: number[]): void {
  const last = h.pop()!;
  if (h.length === 0) return;
  let i = 0;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= h.length) break;
    if (c + 1 < h.length && h[c + 1] < h[c]) c++;
    if (h[c] >= last) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = last;
}

export type Routed = { start: number } | { timedOut: true } | null;

export class VmQueues {
  readonly vms: QueuedVm[] = [];
  private readonly rng: Prng;
  private readonly cand: number[] = [];
  private readonly cost: number[] = [];

  constructor(
    readonly k: number,
    seed: number,
  ) {
    this.rng = new Prng((seed ^ 0x70a7) >>> 0);
  }

  get length(): number {
    return this.vms.length;
  }

  add(t: number, ready: number): void {
    this.vms.push({
      start: t,
      ready,
      slots: new Float64Array(this.k).fill(ready),
      ends: [],
      waits: { waited: 0, places: 0 },
    });
  }

  /** Removes one VM (a booting one first, else the least loaded running one); returns it and when its work ends. */
  remove(t: number): { start: number; end: number } {
    let bi = -1;
    for (let i = 0; i < this.vms.length; i++)
      if (this.vms[i].ready > t && (bi < 0 || this.vms[i].ready > this.vms[bi].ready)) bi = i;
    if (bi < 0) {
      for (let i = 0; i < this.vms.length; i++) if (bi < 0 || this.load(i, t) < this.load(bi, t)) bi = i;
    }
    const v = this.vms[bi];
    this.vms.splice(bi, 1);
    let end = t;
    if (v.ready <= t) for (const s of v.slots) end = Math.max(end, s);
    return { start: v.start, end };
  }

  /** The running VMs' call time per queue place (ms), as their heartbeats report it to the controller. */
  callMs(t: number, meanS: number): number | undefined {
    return poolCallMs(this.vms.filter((v) => v.ready <= t).map((v) => drainCallTime(v.waits, meanS, this.k) * 1000));
  }

  /** Latest time any VM is busy until (the end of the run bills VMs until their queues drain). */
  busyUntil(): number {
    let m = 0;
    for (const v of this.vms) for (const s of v.slots) m = Math.max(m, s);
    return m;
  }

  private load(i: number, t: number): number {
    const h = this.vms[i].ends;
    while (h.length > 0 && h[0] <= t) heapPop(h);
    return h.length;
  }

  /**
   * Routes a request arriving at the VMs at `t` (s) that needs `serviceS` there. `meanS` is the mean
   * call time (corrected per VM by its queued calls' waits); `budgetS` how long it may wait; `admitS` the
   * longest expected wait that joins a full VM's queue (as the router: at most the budget). Null: no VM
   * takes it (FaaS).
   */
  route(t: number, serviceS: number, meanS: number, budgetS: number, admitS = budgetS): Routed {
    const k = this.k;
    const cand = this.cand;
    const cost = this.cost;
    cand.length = 0;
    cost.length = 0;
    let anyFree = false;
    for (let i = 0; i < this.vms.length; i++) {
      if (this.vms[i].ready > t) continue;
      const l = this.load(i, t);
      if (l < k) {
        if (!anyFree) {
          anyFree = true;
          cand.length = 0;
          cost.length = 0;
        }
        cand.push(i);
        cost.push(l);
      } else if (!anyFree && budgetS > 0 && l < k * (1 + QUEUE_PLACES_PER_SLOT)) {
        // (vm-service refuses a call at once when slots x QUEUE_PLACES_PER_SLOT are already waiting)
        const wait = ((l - k + 1) / k) * drainCallTime(this.vms[i].waits, meanS, k);
        if (wait <= Math.min(admitS, budgetS)) {
          cand.push(i);
          cost.push(wait);
        }
      }
    }
    if (cand.length === 0) return null;
    let pick = 0;
    if (cand.length > 1) {
      const a = Math.floor(this.rng.next() * cand.length);
      let b = Math.floor(this.rng.next() * (cand.length - 1));
      if (b >= a) b++;
      pick = cost[b] < cost[a] ? b : a;
    }
    const v = this.vms[cand[pick]];
    let s = 0;
    for (let i = 1; i < k; i++) if (v.slots[i] < v.slots[s]) s = i;
    const start = Math.max(t, v.slots[s]);
    // A queued call tells the VM what its place took (one whose budget ran out: the budget).
    if (!anyFree) recordWait(v.waits, Math.min(start - t, budgetS), this.load(cand[pick], t) - k + 1);
    if (start - t > budgetS + 1e-12) return { timedOut: true };
    v.slots[s] = start + serviceS;
    heapPush(v.ends, start + serviceS);
    return { start };
  }
}
