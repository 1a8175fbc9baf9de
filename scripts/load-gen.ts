// Open-loop load against the infer endpoint with real held-out digits: requests are sent on schedule
// whatever the latency (a closed loop would hide overload), up to a cap on requests in flight.
import { loadHeldout } from "../model/heldout.js";

export type Pattern = "steady" | "step" | "burst" | "trace";

export interface LoadOptions {
  url: string;
  model: string;
  rps: number;
  durationS: number;
  pattern: Pattern;
  /** Per-second counts (for pattern "trace"), rescaled so their mean is `rps`. */
  trace?: number[];
  maxInflight: number;
  parameters?: Record<string, unknown>;
  /** The operator's token: requests with `parameters` that override exits or tier steer scaling only with it. */
  adminToken?: string;
  timeoutMs: number;
}

export const DEFAULT_LOAD: Omit<LoadOptions, "url" | "rps" | "durationS" | "pattern"> = {
  model: "mnist",
  maxInflight: 1_000,
  timeoutMs: 30_000,
};

export interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  /** Not sent because maxInflight requests were already waiting. */
  skipped: number;
  correct: number;
  statuses: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  routes: Record<string, number>;
  durationS: number;
  achievedRps: number;
}

export interface LoadProgress {
  elapsedS: number;
  sent: number;
  ok: number;
  failed: number;
  inflight: number;
  targetRps: number;
}

/** Target rate at second t. step: a quarter of the rate for the first third, then the full rate. */
export function rateAt(o: Pick<LoadOptions, "pattern" | "rps" | "durationS" | "trace">, t: number): number {
  switch (o.pattern) {
    case "steady":
      return o.rps;
    case "step":
      return t < o.durationS / 3 ? o.rps / 4 : o.rps;
    case "burst":
      return t % 20 < 5 ? o.rps : o.rps / 4;
    case "trace": {
      const tr = o.trace ?? [];
      if (tr.length === 0) return 0;
      const mean = tr.reduce((a, b) => a + b, 0) / tr.length || 1;
      return (tr[Math.floor(t) % tr.length] / mean) * o.rps;
    }
  }
}

function percentile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

export async function runLoad(
  o: LoadOptions,
  onProgress?: (p: LoadProgress) => void,
  signal?: AbortSignal,
): Promise<LoadSummary> {
  const { labels, rows } = loadHeldout();
  const bodies = rows.map((r) =>
    JSON.stringify({
      inputs: [
        { name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(r, (v) => Math.round(v * 1000) / 1000) },
      ],
      ...(o.parameters ? { parameters: o.parameters } : {}),
    }),
  );
  const s: LoadSummary = {
    sent: 0,
    ok: 0,
    failed: 0,
    skipped: 0,
    correct: 0,
    statuses: {},
    latencyMs: { p50: 0, p95: 0, p99: 0, max: 0 },
    routes: {},
    durationS: 0,
    achievedRps: 0,
  };
  const latencies: number[] = [];
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  let next = start;
  let lastReport = 0;

  const one = async (i: number) => {
    const t0 = performance.now();
    try {
      const res = await fetch(`${o.url}/v2/models/${o.model}/infer`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(o.adminToken ? { authorization: `Bearer ${o.adminToken}` } : {}),
        },
        body: bodies[i],
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      const body = (await res.json()) as any;
      s.statuses[res.status] = (s.statuses[res.status] ?? 0) + 1;
      if (res.ok) {
        s.ok++;
        latencies.push(performance.now() - t0);
        const route = body.parameters?.serflow_route ?? "?";
        s.routes[route] = (s.routes[route] ?? 0) + 1;
        if (body.outputs?.[1]?.data?.[0] === labels[i]) s.correct++;
      } else s.failed++;
    } catch (err) {
      s.failed++;
      const key = (err as Error).name === "TimeoutError" ? "timeout" : "network";
      s.statuses[key] = (s.statuses[key] ?? 0) + 1;
    }
  };

  let i = 0;
  while (!signal?.aborted) {
    const now = performance.now();
    const t = (now - start) / 1000;
    if (t >= o.durationS) break;
    const rate = rateAt(o, t);
    if (now >= next) {
      if (rate > 0) {
        if (pending.size >= o.maxInflight) s.skipped++;
        else {
          const p = one(i++ % rows.length).finally(() => pending.delete(p));
          pending.add(p);
          s.sent++;
        }
      }
      next += rate > 0 ? 1000 / rate : 100;
      if (next < now - 1000) next = now; // fell behind by a second: do not burst to catch up
      continue;
    }
    if (onProgress && now - lastReport > 250) {
      lastReport = now;
      onProgress({ elapsedS: t, sent: s.sent, ok: s.ok, failed: s.failed, inflight: pending.size, targetRps: rate });
    }
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(next - now, 50))));
  }
  await Promise.all(pending);
  s.durationS = (performance.now() - start) / 1000;
  s.achievedRps = s.sent / s.durationS;
  latencies.sort((a, b) => a - b);
  s.latencyMs = {
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    max: latencies[latencies.length - 1] ?? 0,
  };
  return s;
}
