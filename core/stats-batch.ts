// Per-isolate aggregation of request statistics, flushed to the stats Durable Object in batches
// (one DO call per interval or per N requests, never one per request).
export type TierName = "worker" | "vm";

export interface StageCounts {
  arrivals: number;
  exits: number;
  /** Service-time samples (ms) per tier, capped per batch, one per stage run. */
  serviceMs: Record<TierName, number[]>;
  /** Stage runs per tier (a run serves a batch of rows). */
  runs: Record<TierName, number>;
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
  /** Deep-stage calls per tier: wall time at the caller minus compute (network + queueing), ms samples. */
  queueMs: Record<TierName, number[]>;
  /** Deep-stage calls per tier (each Worker one is its own invocation, billed as a request). */
  deepCalls: Record<TierName, number>;
  /** Exact compute ms per tier (samples are capped; cost needs the sum). */
  computeMs: Record<TierName, number>;
  /** Request latency inside the Worker (arrival to response), ms samples. */
  latencyMs: number[];
}

export const MAX_SAMPLES_PER_BATCH = 256;

export function emptyBatch(model: string, stages: number): StatsBatch {
  return {
    model,
    perSecond: {},
    requests: 0,
    failures: 0,
    stages: Array.from({ length: stages }, () => ({
      arrivals: 0,
      exits: 0,
      serviceMs: { worker: [], vm: [] },
      runs: { worker: 0, vm: 0 },
    })),
    routes: {},
    queueMs: { worker: [], vm: [] },
    deepCalls: { worker: 0, vm: 0 },
    computeMs: { worker: 0, vm: 0 },
    latencyMs: [],
  };
}

const TIERS = ["worker", "vm"] as const;

/** Uniform sample of at most MAX_SAMPLES_PER_BATCH values (reservoir). */
function sample(into: number[], v: number, seen: number): void {
  if (into.length < MAX_SAMPLES_PER_BATCH) into.push(v);
  else {
    const j = Math.floor(Math.random() * seen);
    if (j < MAX_SAMPLES_PER_BATCH) into[j] = v;
  }
}

export function addSample(b: StatsBatch, stage: number, tier: TierName, rows: number, exits: number, ms: number): void {
  const s = b.stages[stage];
  if (!s) return;
  s.arrivals += rows;
  s.exits += exits;
  b.computeMs[tier] += ms;
  s.runs[tier] += 1;
  sample(s.serviceMs[tier], ms, s.runs[tier]);
}

export function addDeepCall(b: StatsBatch, tier: TierName, wallMs: number, computeMs: number): void {
  b.deepCalls[tier] += 1;
  sample(b.queueMs[tier], Math.max(0, wallMs - computeMs), b.deepCalls[tier]);
}

export function addRequest(b: StatsBatch, nowMs: number, route: string, rows: number, latencyMs: number): void {
  const sec = String(Math.floor(nowMs / 1000));
  b.perSecond[sec] = (b.perSecond[sec] ?? 0) + 1;
  b.requests += 1;
  b.routes[route] = (b.routes[route] ?? 0) + rows;
  sample(b.latencyMs, latencyMs, b.requests);
}

/** One stage run of a request, on the tier that ran it. */
export interface StageRun {
  stage: number;
  tier: TierName;
  rows: number;
  exits: number;
  ms: number;
}

/** What one answered request adds to the stats: built along its path, handed over once. */
export interface RequestObservation {
  route: string;
  rows: number;
  /** Arrival to response, inside the Worker. */
  latencyMs: number;
  runs: StageRun[];
  /** The deep stages' call to a VM or to a Worker invocation of their own; null when they ran inline or not at all. */
  deepCall: { tier: TierName; wallMs: number; computeMs: number } | null;
}

export function addObservation(b: StatsBatch, nowMs: number, o: RequestObservation): void {
  for (const r of o.runs) addSample(b, r.stage, r.tier, r.rows, r.exits, r.ms);
  if (o.deepCall) addDeepCall(b, o.deepCall.tier, o.deepCall.wallMs, o.deepCall.computeMs);
  addRequest(b, nowMs, o.route, o.rows, o.latencyMs);
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
    for (const tier of TIERS) {
      t.serviceMs[tier] = t.serviceMs[tier].concat(s.serviceMs[tier]).slice(-MAX_SAMPLES_PER_BATCH);
      t.runs[tier] += s.runs[tier];
    }
  });
  for (const [k, v] of Object.entries(from.routes)) into.routes[k] = (into.routes[k] ?? 0) + v;
  into.latencyMs = into.latencyMs.concat(from.latencyMs).slice(-MAX_SAMPLES_PER_BATCH);
  for (const tier of TIERS) {
    into.queueMs[tier] = into.queueMs[tier].concat(from.queueMs[tier]).slice(-MAX_SAMPLES_PER_BATCH);
    into.deepCalls[tier] += from.deepCalls[tier];
    into.computeMs[tier] += from.computeMs[tier];
  }
}

export function isEmpty(b: StatsBatch): boolean {
  return b.requests === 0 && b.failures === 0 && b.stages.every((s) => s.arrivals === 0);
}
