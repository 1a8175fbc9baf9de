// Per-request choice of where the deep stages run. VMs are filled first (they are paid for whether busy
// or not); a VM with no free slot is skipped rather than queued on, so the overflow, bursts and boot
// gaps go to Workers and no request waits past the SLO for a VM.
export type VmState = "booting" | "running" | "draining" | "dead";

export interface VmView {
  id: string;
  url: string;
  state: VmState;
  /** In-flight requests at the VM's last heartbeat. */
  inflight: number;
  slots: number;
}

export interface RoutingTable {
  /** First stage of the VM group; stages before it run on the Worker. Null: the plan uses no VM. */
  vmGroupStart: number | null;
  vms: VmView[];
}

export const SAFE_ROUTING: RoutingTable = { vmGroupStart: null, vms: [] };

/**
 * VMs to try in order, at most two: power of two choices among running VMs with a free slot, using
 * the larger of the reported in-flight count and this isolate's own (heartbeats lag).
 */
export function chooseVms(
  vms: VmView[],
  localInflight: ReadonlyMap<string, number>,
  rand: () => number = Math.random,
): VmView[] {
  const load = (v: VmView) => Math.max(v.inflight, localInflight.get(v.id) ?? 0);
  const free = vms.filter((v) => v.state === "running" && load(v) < v.slots);
  if (free.length <= 1) return free;
  const a = Math.floor(rand() * free.length);
  let b = Math.floor(rand() * (free.length - 1));
  if (b >= a) b++;
  const pair = [free[a], free[b]];
  return load(pair[1]) < load(pair[0]) ? [pair[1], pair[0]] : pair;
}

/** Where the Worker hands over: the plan's VM group, else the first stage the manifest lets leave the Worker. */
export function handoverStage(table: RoutingTable, placements: readonly string[]): number {
  if (table.vmGroupStart !== null && table.vmGroupStart > 0) return table.vmGroupStart;
  const i = placements.findIndex((p) => p !== "worker");
  // Stage 0 always runs where the request entered.
  return i === -1 ? placements.length : Math.max(1, i);
}
