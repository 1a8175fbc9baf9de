// What the Durable Objects answer the Worker's reads (stats, plan): the wire types both sides share.
import type { ControlConfig } from "./config.js";
import type { Plan } from "./policy.js";
import type { VmState } from "./routing.js";
import type { TierName } from "./stats-batch.js";

/** Histogram rows with this stage hold deep-call queueing (wall minus compute), not a stage's service time. */
export const QUEUE_STAGE = -1;

export type HistRow = { stage: number; tier: TierName; bucket: number; count: number };

export interface TierPercentiles {
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  samples: number;
}

export interface StageStats {
  stage: number;
  arrivals: number;
  exits: number;
  exit_fraction: number | null;
  window: { arrivals: number; exits: number; exit_fraction: number | null };
  service_ms: Record<TierName, TierPercentiles>;
}

export interface StatsView {
  model: string;
  requests: number;
  failures: number;
  stages: StageStats[];
  ingestion_rps: { mean: number; std: number; window_mean: number; window_s: number };
  routes: Record<string, number>;
  /** Cumulative counters: deep calls and compute ms per tier, stats batches received. */
  totals: { deep_calls: Record<TierName, number>; compute_ms: Record<TierName, number>; batches: number };
  /** Request latency inside the Worker over the last `window_s` seconds. */
  latency_ms: { p50: number | null; p99: number | null; window_s: number };
  /** Per-second request counts over the window, oldest first (the rate distribution). */
  per_second: number[];
  now_s: number;
}

export interface PlanView {
  stages: { stage: number; placement: "worker" | "vm"; vm_share: number }[];
  vms: {
    desired: number;
    running: number;
    booting: number;
    instances: { id: string; url: string; state: VmState; inflight: number; slots: number; last_heartbeat: string }[];
  };
  reason: string;
  computed_at: string;
  vm_group_start: number | null;
  expected_cost_usd_per_hour: Plan["expectedCostUsdPerHour"] | null;
  break_even_utilisation: number | null;
  vm_seconds_total: number;
  ticks_total: number;
  config: ControlConfig;
}
