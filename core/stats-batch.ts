// Per-isolate aggregation of request statistics, flushed to the stats Durable Object in batches
// (one DO call per interval or per N requests, never one per request).
export type TierName = "worker" | "vm";

export interface StageCounts {
  arrivals: number;
  exits: number;
  /** Service-time samples (ms) per tier, capped per batch. */
  serviceMs: Record<TierName, number[]>;
}

export interface StatsBatch {
  model: string;
  /** Requests per wall-clock second (epoch seconds -> count): the ingestion rate. */
  perSecond: Record<string, number>;
  requests: number;
  failures: number;
  stages: StageCounts[];
  /** Rows by route, e.g. {"w0,w1,v2": 12}. */
  routes: Record<string, number>;
}

export const MAX_SAMPLES_PER_BATCH = 256;

export function emptyBatch(model: string, stages: number): StatsBatch {
  return {
    model,
    perSecond: {},
    requests: 0,
    failures: 0,
    stages: Array.from({ length: stages }, () => ({ arrivals: 0, exits: 0, serviceMs: { worker: [], vm: [] } })),
    routes: {},
  };
}

export function addSample(b: StatsBatch, stage: number, tier: TierName, rows: number, exits: number, ms: number): void {
  const s = b.stages[stage];
  if (!s) return;
  s.arrivals += rows;
  s.exits += exits;
  const samples = s.serviceMs[tier];
  // Keep a uniform sample of the batch's service times (reservoir), bounded in size.
  if (samples.length < MAX_SAMPLES_PER_BATCH) samples.push(ms);
  else samples[Math.floor(Math.random() * MAX_SAMPLES_PER_BATCH)] = ms;
}

export function addRequest(b: StatsBatch, nowMs: number, route: string, rows: number): void {
  const sec = String(Math.floor(nowMs / 1000));
  b.perSecond[sec] = (b.perSecond[sec] ?? 0) + 1;
  b.requests += 1;
  b.routes[route] = (b.routes[route] ?? 0) + rows;
}

/** Merges `from` into `into` (used when a flush fails and is carried into the next one). */
export function mergeBatch(into: StatsBatch, from: StatsBatch): void {
  for (const [k, v] of Object.entries(from.perSecond)) into.perSecond[k] = (into.perSecond[k] ?? 0) + v;
  into.requests += from.requests;
  into.failures += from.failures;
  from.stages.forEach((s, i) => {
    const t = into.stages[i];
    t.arrivals += s.arrivals;
    t.exits += s.exits;
    for (const tier of ["worker", "vm"] as const) t.serviceMs[tier] = t.serviceMs[tier].concat(s.serviceMs[tier]).slice(-MAX_SAMPLES_PER_BATCH);
  });
  for (const [k, v] of Object.entries(from.routes)) into.routes[k] = (into.routes[k] ?? 0) + v;
}

export function isEmpty(b: StatsBatch): boolean {
  return b.requests === 0 && b.failures === 0 && b.stages.every((s) => s.arrivals === 0);
}
