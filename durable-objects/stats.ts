// Stats Durable Object, one per model: cumulative and windowed per-stage arrivals and exits, the
// per-second ingestion series, and service-time histograms per stage and tier, in SQLite storage.
import { DurableObject } from "cloudflare:workers";
import { DEFAULT_WINDOW_S } from "../core/config.js";
import { bucketOf, ewmaStats, meanMs, quantileMs } from "../core/histogram.js";
import type { StatsBatch, TierName } from "../core/stats-batch.js";
import { type HistRow, QUEUE_STAGE, type StageStats, type StatsView, type TierPercentiles } from "../core/views.js";

export const STATS_SCHEMA_VERSION = 2;
/** Latency percentiles are over this recent span. */
export const LATENCY_WINDOW_S = 60;
/** Per-second rates and windowed counts older than this are pruned. */
export const RETENTION_S = 3_600;
export const EWMA_TAU_S = 60;
const BUCKET_S = 10;
export class StatsDO extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => this.migrate());
  }

  private migrate(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`).toArray()[0];
    const version = row ? Number(row.value) : 0;
    if (version < 1) {
      this.sql.exec(
        `CREATE TABLE IF NOT EXISTS totals (stage INTEGER PRIMARY KEY, arrivals INTEGER NOT NULL, exits INTEGER NOT NULL)`,
      );
      this.sql.exec(
        `CREATE TABLE IF NOT EXISTS windowed (bucket_s INTEGER NOT NULL, stage INTEGER NOT NULL, arrivals INTEGER NOT NULL, exits INTEGER NOT NULL, PRIMARY KEY (bucket_s, stage))`,
      );
      this.sql.exec(`CREATE TABLE IF NOT EXISTS rate (second INTEGER PRIMARY KEY, requests INTEGER NOT NULL)`);
      this.sql.exec(
        `CREATE TABLE IF NOT EXISTS hist (stage INTEGER NOT NULL, tier TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (stage, tier, bucket))`,
      );
      this.sql.exec(`CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`);
    }
    if (version < 2) {
      this.sql.exec(
        `CREATE TABLE IF NOT EXISTS latency (bucket_s INTEGER NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (bucket_s, bucket))`,
      );
    }
    this.sql.exec(
      `INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      String(STATS_SCHEMA_VERSION),
    );
  }

  /** One batch from one isolate. All writes of a batch commit together (implicit transaction). */
  record(batch: StatsBatch, nowMs = Date.now()): void {
    const bucket = Math.floor(nowMs / 1000 / BUCKET_S) * BUCKET_S;
    batch.stages.forEach((s, stage) => {
      if (s.arrivals > 0) {
        this.sql.exec(
          `INSERT INTO totals VALUES (?, ?, ?) ON CONFLICT(stage) DO UPDATE SET arrivals = arrivals + excluded.arrivals, exits = exits + excluded.exits`,
          stage,
          s.arrivals,
          s.exits,
        );
        this.sql.exec(
          `INSERT INTO windowed VALUES (?, ?, ?, ?) ON CONFLICT(bucket_s, stage) DO UPDATE SET arrivals = arrivals + excluded.arrivals, exits = exits + excluded.exits`,
          bucket,
          stage,
          s.arrivals,
          s.exits,
        );
      }
      for (const tier of ["worker", "vm"] as const) {
        this.addHist(stage, tier, s.serviceMs[tier]);
      }
    });
    for (const [sec, n] of Object.entries(batch.perSecond)) {
      this.sql.exec(
        `INSERT INTO rate VALUES (?, ?) ON CONFLICT(second) DO UPDATE SET requests = requests + excluded.requests`,
        Number(sec),
        n,
      );
    }
    this.bump("requests", batch.requests);
    this.bump("failures", batch.failures);
    this.bump("batches", 1);
    for (const tier of ["worker", "vm"] as const) {
      this.bump(`deep_calls:${tier}`, batch.deepCalls[tier]);
      this.bump(`compute_ms:${tier}`, batch.computeMs[tier]);
      this.addHist(QUEUE_STAGE, tier, batch.queueMs[tier]);
    }
    for (const [route, n] of Object.entries(batch.routes)) this.bump(`route:${route}`, n);
    for (const [b, n] of bucketCounts(batch.latencyMs)) {
      this.sql.exec(
        `INSERT INTO latency VALUES (?, ?, ?) ON CONFLICT(bucket_s, bucket) DO UPDATE SET count = count + excluded.count`,
        bucket,
        b,
        n,
      );
    }
    const cutoffS = Math.floor(nowMs / 1000) - RETENTION_S;
    this.sql.exec(`DELETE FROM latency WHERE bucket_s < ?`, cutoffS);
    this.sql.exec(`DELETE FROM rate WHERE second < ?`, cutoffS);
    this.sql.exec(`DELETE FROM windowed WHERE bucket_s < ?`, cutoffS);
  }

  /** One upsert per histogram bucket touched, not one per sample. */
  private addHist(stage: number, tier: TierName, samplesMs: number[]): void {
    for (const [b, n] of bucketCounts(samplesMs)) {
      this.sql.exec(
        `INSERT INTO hist VALUES (?, ?, ?, ?) ON CONFLICT(stage, tier, bucket) DO UPDATE SET count = count + excluded.count`,
        stage,
        tier,
        b,
        n,
      );
    }
  }

  private bump(key: string, n: number): void {
    if (n !== 0)
      this.sql.exec(
        `INSERT INTO counters VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value`,
        key,
        n,
      );
  }

  stats(windowS = DEFAULT_WINDOW_S, nowMs = Date.now()): StatsView {
    const nowS = Math.floor(nowMs / 1000);
    const totals = new Map(
      this.sql
        .exec<{ stage: number; arrivals: number; exits: number }>(`SELECT * FROM totals`)
        .toArray()
        .map((r) => [r.stage, r]),
    );
    const win = new Map(
      this.sql
        .exec<{ stage: number; arrivals: number; exits: number }>(
          `SELECT stage, SUM(arrivals) AS arrivals, SUM(exits) AS exits FROM windowed WHERE bucket_s >= ? GROUP BY stage`,
          nowS - windowS,
        )
        .toArray()
        .map((r) => [r.stage, r]),
    );
    const hist = this.histograms().filter((h) => h.stage !== QUEUE_STAGE);
    const seen = [...totals.keys(), ...hist.map((h) => h.stage)];
    const nStages = seen.length ? Math.max(...seen) + 1 : 0;
    const stages: StageStats[] = [];
    for (let stage = 0; stage < nStages; stage++) {
      const t = totals.get(stage) ?? { arrivals: 0, exits: 0 };
      const w = win.get(stage) ?? { arrivals: 0, exits: 0 };
      const tier = (name: TierName): TierPercentiles => {
        const counts = hist
          .filter((h) => h.stage === stage && h.tier === name)
          .map((h) => [h.bucket, h.count] as [number, number]);
        return {
          mean: meanMs(counts),
          p50: quantileMs(counts, 0.5),
          p95: quantileMs(counts, 0.95),
          p99: quantileMs(counts, 0.99),
          samples: counts.reduce((a, [, c]) => a + c, 0),
        };
      };
      stages.push({
        stage,
        arrivals: t.arrivals,
        exits: t.exits,
        exit_fraction: t.arrivals ? t.exits / t.arrivals : null,
        window: { arrivals: w.arrivals, exits: w.exits, exit_fraction: w.arrivals ? w.exits / w.arrivals : null },
        service_ms: { worker: tier("worker"), vm: tier("vm") },
      });
    }
    const perSecond = this.perSecond(nowS, windowS);
    const counters = new Map(
      this.sql
        .exec<{ key: string; value: number }>(`SELECT * FROM counters`)
        .toArray()
        .map((r) => [r.key, r.value]),
    );
    const routes: Record<string, number> = {};
    for (const [k, v] of counters) if (k.startsWith("route:")) routes[k.slice(6)] = v;
    return {
      model: this.ctx.id.name ?? "",
      requests: counters.get("requests") ?? 0,
      failures: counters.get("failures") ?? 0,
      stages,
      ingestion_rps: {
        ...ewmaStats(perSecond, EWMA_TAU_S),
        window_mean: perSecond.reduce((a, b) => a + b, 0) / Math.max(1, perSecond.length),
        window_s: windowS,
      },
      routes,
      totals: {
        deep_calls: { worker: counters.get("deep_calls:worker") ?? 0, vm: counters.get("deep_calls:vm") ?? 0 },
        compute_ms: { worker: counters.get("compute_ms:worker") ?? 0, vm: counters.get("compute_ms:vm") ?? 0 },
        batches: counters.get("batches") ?? 0,
      },
      latency_ms: this.latency(nowS),
      per_second: perSecond,
      now_s: nowS,
    };
  }

  private latency(nowS: number): StatsView["latency_ms"] {
    const rows = this.sql
      .exec<{ bucket: number; count: number }>(
        `SELECT bucket, SUM(count) AS count FROM latency WHERE bucket_s >= ? GROUP BY bucket`,
        nowS - LATENCY_WINDOW_S,
      )
      .toArray()
      .map((r) => [r.bucket, r.count] as [number, number]);
    return { p50: quantileMs(rows, 0.5), p99: quantileMs(rows, 0.99), window_s: LATENCY_WINDOW_S };
  }

  /** Raw histogram rows, for /metrics. */
  histograms(): HistRow[] {
    return this.sql.exec<HistRow>(`SELECT * FROM hist ORDER BY stage, tier, bucket`).toArray();
  }

  /** Requests in each complete second of the window, oldest first, zeros where none came. */
  private perSecond(nowS: number, windowS: number): number[] {
    const from = nowS - windowS;
    const out = new Array<number>(windowS).fill(0);
    for (const r of this.sql.exec<{ second: number; requests: number }>(
      `SELECT * FROM rate WHERE second >= ? AND second < ?`,
      from,
      nowS,
    )) {
      out[r.second - from] = r.requests;
    }
    return out;
  }
}

function bucketCounts(samplesMs: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const ms of samplesMs) {
    const b = bucketOf(ms);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  return counts;
}
