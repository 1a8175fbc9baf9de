// Per-request choice of where the deep stages run. VMs are filled first (they are paid for whether busy
// or not). A request may also wait on a full VM when the wait it expects there (from the VM's queue and
// service time) fits the plan's admission limit (the wait budget, the SLO's slack, or half of it where a
// timed-out request would miss the SLO on Workers anyway); the VM holds it FIFO for at most the budget.
// The rest (overflow, bursts, boot gaps) goes to Workers, so no request waits past the SLO.
export type VmState = "booting" | "running" | "draining" | "dead";

export interface VmView {
  id: string;
  url: string;
  state: VmState;
  /** In-flight requests at the VM's last heartbeat (being served). */
  inflight: number;
  slots: number;
  /** Requests waiting for a slot at the VM's last heartbeat. */
  queued?: number;
  /** The VM's call time per queue place (drainCallTime, ms); null or missing before it has served. */
  serviceMs?: number | null;
}

export interface RoutingTable {
  /** First stage of the VM group; stages before it run on the Worker. Null: the plan uses no VM. */
  vmGroupStart: number | null;
  vms: VmView[];
  /** How long a request may wait for a slot on a full VM (the plan's budget); 0 or missing: never. */
  waitBudgetMs?: number;
  /** The longest expected wait for which a request joins a full VM's queue; missing: the whole budget. */
  admitWaitMs?: number;
}

export const SAFE_ROUTING: RoutingTable = { vmGroupStart: null, vms: [] };

/** Service time assumed for a VM that has not reported one yet. */
export const DEFAULT_SERVICE_MS = 10;

/**
 * What a full VM's queue drains at. A place in a FIFO queue over k slots waits about 1 / k of a mean
 * call time, but where call times are heavy-tailed (calls exit at different depths) waits ran up to 3.5x
 * that under load: a long call holds its slot while the short ones behind it wait. So each VM keeps the waits
 * of the calls it queued against their places (load - k + 1 when they came; a call whose budget ran out
 * counts its budget) and reports the call time that makes the router's formula right for them: k x the
 * waits over the places, with WAIT_PRIOR_PLACES places at the mean call time before any call has waited.
 * Sums fade by WAIT_MEMORY per queued call. Any one time unit.
 */
export interface WaitCalibration {
  waited: number;
  places: number;
}
export const WAIT_PRIOR_PLACES = 5;
export const WAIT_MEMORY = 0.99;

export function recordWait(c: WaitCalibration, waited: number, places: number): void {
  c.waited = c.waited * WAIT_MEMORY + waited;
  c.places = c.places * WAIT_MEMORY + places;
}

/** The call time per place (over k slots) that the VM's recent waits drained at. */
export function drainCallTime(c: WaitCalibration, meanCall: number, slots: number): number {
  return (slots * c.waited + WAIT_PRIOR_PLACES * meanCall) / (c.places + WAIT_PRIOR_PLACES);
}

/**
 * The pool's call time per queue place, as the controller plans with it: the median of the running VMs'
 * reports (a VM that has not served reports none). Undefined with no report.
 */
export function poolCallMs(reports: readonly (number | null | undefined)[]): number | undefined {
  const xs = reports.filter((x): x is number => typeof x === "number" && x > 0).sort((a, b) => a - b);
  return xs.length > 0 ? xs[(xs.length - 1) >> 1] : undefined;
}

/**
 * The wait a request sent now expects on a VM: none with a free slot, else its place in the FIFO
 * queue over the VM's slots, times the VM's call time (drainCallTime). `load` counts both served and
 * waiting calls.
 */
export function expectedWaitMs(v: VmView, load: number): number {
  if (load < v.slots) return 0;
  return ((load - v.slots + 1) / v.slots) * (v.serviceMs ?? DEFAULT_SERVICE_MS);
}

/**
 * VMs to try in order, at most two: power of two choices among running VMs with a free slot, using
 * the larger of the reported load (served + waiting) and this isolate's own calls (heartbeats lag).
 * When none is free and `waitBudgetMs` lets it wait, the same choice among VMs whose expected wait is
 * at most `admitWaitMs` (the plan's admission limit; a table without one admits up to the budget),
 * shortest first.
 */
export function chooseVms(
  vms: VmView[],
  localInflight: ReadonlyMap<string, number>,
  rand: () => number = Math.random,
  waitBudgetMs = 0,
  admitWaitMs = waitBudgetMs,
): VmView[] {
  const load = (v: VmView) => Math.max(v.inflight + (v.queued ?? 0), localInflight.get(v.id) ?? 0);
  const running = vms.filter((v) => v.state === "running");
  let pool = running.filter((v) => load(v) < v.slots);
  let cost = (v: VmView) => load(v);
  if (pool.length === 0 && waitBudgetMs > 0) {
    cost = (v: VmView) => expectedWaitMs(v, load(v));
    pool = running.filter((v) => cost(v) <= Math.min(admitWaitMs, waitBudgetMs));
  }
  if (pool.length <= 1) return pool;
  const a = Math.floor(rand() * pool.length);
  let b = Math.floor(rand() * (pool.length - 1));
  if (b >= a) b++;
  const pair = [pool[a], pool[b]];
  return cost(pair[1]) < cost(pair[0]) ? [pair[1], pair[0]] : pair;
}

/**
 * Where the Worker hands over: the plan's VM group (from stage 0 only where the manifest lets stage 0
 * leave the Worker: then the input goes to the VM), else the first stage after 0 the manifest lets leave.
 */
export function handoverStage(table: RoutingTable, placements: readonly string[]): number {
  const g = table.vmGroupStart;
  if (g !== null && (g > 0 || placements[0] !== "worker")) return g;
  const i = placements.findIndex((p) => p !== "worker");
  return i === -1 ? placements.length : Math.max(1, i);
}
