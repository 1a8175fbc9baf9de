// GET /metrics: Prometheus text aggregated across isolates (it reads the Durable Objects, which every
// isolate flushes into, rather than this isolate's own counters).
import { Exposition, LATENCY_BOUNDS_S } from "../core/prometheus.js";
import { bucketValueMs } from "../core/histogram.js";
import { type CostComparison, compareCosts, costByTier, type StageWork } from "../core/cost.js";
import { type HistRow, type PlanView, QUEUE_STAGE, type StatsView } from "../core/views.js";

export interface ModelMetrics {
  model: string;
  stats: StatsView;
  hist: HistRow[];
  plan: PlanView;
}

/** Folds the 10% log buckets into the fixed Prometheus bounds. */
function fold(rows: HistRow[]): { buckets: Array<[number, number]>; sumS: number } {
  const counts = new Map<number, number>(LATENCY_BOUNDS_S.map((b) => [b, 0]));
  let sumS = 0;
  for (const r of rows) {
    const s = bucketValueMs(r.bucket) / 1000;
    sumS += s * r.count;
    // Past the last bound a value only counts in +Inf (Exposition writes no bucket for Infinity).
    const le = LATENCY_BOUNDS_S.find((b) => s <= b) ?? Infinity;
    counts.set(le, (counts.get(le) ?? 0) + r.count);
  }
  return { buckets: [...counts], sumS };
}

export async function modelMetrics(env: Env, model: string): Promise<ModelMetrics> {
  const stats = env.STATS.getByName(model);
  const [s, hist, plan] = await Promise.all([
    stats.stats(),
    stats.histograms(),
    env.CONTROLLER.getByName(model).planView(),
  ]);
  return { model, stats: s, hist, plan };
}

/** Cost since the model was loaded, by tier, at the controller's configured prices. */
export function costOf(m: ModelMetrics): { worker: number; vm: number; control: number } {
  return costByTier(
    {
      requests: m.stats.requests,
      workerDeepCalls: m.stats.totals.deep_calls.worker,
      workerComputeMs: m.stats.totals.compute_ms.worker,
      vmSeconds: m.plan.vm_seconds_total,
      doRequests: m.stats.totals.batches + m.plan.ticks_total,
    },
    m.plan.config.prices,
    m.plan.config.vm.costUsdPerHour,
  );
}

/** The bill so far against all on Workers and all on always-on VMs (the dashboard's savings panel). */
export function costComparison(m: ModelMetrics): CostComparison {
  const stages: StageWork[] = m.stats.stages.map(() => ({ workerRuns: 0, workerMs: 0, vmRuns: 0, vmMs: 0 }));
  for (const h of m.hist) {
    const s = stages[h.stage];
    if (!s) continue; // the queue-time rows, not a stage's compute
    const ms = bucketValueMs(h.bucket) * h.count;
    if (h.tier === "vm") {
      s.vmRuns += h.count;
      s.vmMs += ms;
    } else {
      s.workerRuns += h.count;
      s.workerMs += ms;
    }
  }
  const { config } = m.plan;
  return compareCosts(
    {
      requests: m.stats.requests,
      workerDeepCalls: m.stats.totals.deep_calls.worker,
      vmDeepCalls: m.stats.totals.deep_calls.vm,
      workerComputeMs: m.stats.totals.compute_ms.worker,
      vmSeconds: m.plan.vm_seconds_total,
      doRequests: m.stats.totals.batches + m.plan.ticks_total,
      stages,
      elapsedS: m.plan.ticks_total * config.controlPeriodS,
      peakRps: Math.max(0, ...m.stats.per_second),
    },
    config.prices,
    config.vm,
    config.faasDeep,
  );
}

export function renderMetrics(models: ModelMetrics[]): string {
  const x = new Exposition();
  const each = (fn: (m: ModelMetrics) => void) => models.forEach(fn);

  x.family("serflow_requests_total", "counter", "Inference requests answered, by model.");
  each((m) => x.sample("serflow_requests_total", { model: m.model }, m.stats.requests));
  x.family(
    "serflow_request_failures_total",
    "counter",
    "Inference requests the system failed: a 5xx, not a 503 the request's own serflow_force caused.",
  );
  each((m) => x.sample("serflow_request_failures_total", { model: m.model }, m.stats.failures));
  x.family("serflow_rows_total", "counter", "Rows answered, by the route of the row that went deepest in its request.");
  each((m) =>
    Object.entries(m.stats.routes).forEach(([route, n]) =>
      x.sample("serflow_rows_total", { model: m.model, route }, n),
    ),
  );

  x.family("serflow_stage_arrivals_total", "counter", "Rows that reached each stage.");
  each((m) =>
    m.stats.stages.forEach((s) =>
      x.sample("serflow_stage_arrivals_total", { model: m.model, stage: s.stage }, s.arrivals),
    ),
  );
  x.family("serflow_stage_exits_total", "counter", "Rows that exited at each stage.");
  each((m) =>
    m.stats.stages.forEach((s) => x.sample("serflow_stage_exits_total", { model: m.model, stage: s.stage }, s.exits)),
  );

  x.family("serflow_ingestion_rate_rps", "gauge", "Ingestion rate, EWMA mean of requests per second.");
  each((m) => x.sample("serflow_ingestion_rate_rps", { model: m.model }, m.stats.ingestion_rps.mean));

  x.family("serflow_compute_seconds", "histogram", "Compute time of one stage run, by stage and tier.");
  each((m) => {
    const keys = new Set(m.hist.filter((h) => h.stage !== QUEUE_STAGE).map((h) => `${h.stage}|${h.tier}`));
    for (const k of keys) {
      const [stage, tier] = k.split("|");
      const { buckets, sumS } = fold(m.hist.filter((h) => String(h.stage) === stage && h.tier === tier));
      x.histogram("serflow_compute_seconds", { model: m.model, stage, tier }, buckets, sumS);
    }
  });
  x.family(
    "serflow_queue_seconds",
    "histogram",
    "Deep-stage call time outside compute (network, queueing, hand-over), by tier.",
  );
  each((m) => {
    for (const tier of ["worker", "vm"]) {
      const rows = m.hist.filter((h) => h.stage === QUEUE_STAGE && h.tier === tier);
      if (rows.length) {
        const { buckets, sumS } = fold(rows);
        x.histogram("serflow_queue_seconds", { model: m.model, tier }, buckets, sumS);
      }
    }
  });

  x.family("serflow_inflight_requests", "gauge", "Deep-stage requests in flight on VMs at their last heartbeat.");
  each((m) =>
    x.sample(
      "serflow_inflight_requests",
      { model: m.model, tier: "vm" },
      m.plan.vms.instances.filter((i) => i.state !== "dead").reduce((a, i) => a + i.inflight, 0),
    ),
  );
  x.family("serflow_vms", "gauge", "VMs desired by the plan and running or booting by heartbeat.");
  each((m) => {
    x.sample("serflow_vms", { model: m.model, state: "desired" }, m.plan.vms.desired);
    x.sample("serflow_vms", { model: m.model, state: "running" }, m.plan.vms.running);
    x.sample("serflow_vms", { model: m.model, state: "booting" }, m.plan.vms.booting);
  });
  x.family("serflow_stage_on_vm", "gauge", "1 when the plan places the stage on VMs, else 0 (Workers).");
  each((m) =>
    m.plan.stages.forEach((s) =>
      x.sample("serflow_stage_on_vm", { model: m.model, stage: s.stage }, s.placement === "vm" ? 1 : 0),
    ),
  );

  x.family(
    "serflow_cost_usd_total",
    "counter",
    "Estimated cloud cost since the model was loaded, by tier (prices from the controller config).",
  );
  each((m) => {
    for (const [tier, usd] of Object.entries(costOf(m)))
      x.sample("serflow_cost_usd_total", { model: m.model, tier }, usd);
  });
  return x.text();
}
