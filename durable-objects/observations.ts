// Turns what the stats DO measured (and what VMs report) into the policy's observations.
import { rowSize, type ModelManifest } from "../core/manifest.js";
import type { Observations, Percentiles } from "../core/policy.js";
import type { StatsView, TierPercentiles } from "../core/views.js";

/** Service time assumed for a stage that has not been measured yet on a tier. */
export const PRIOR_STAGE_MS = 1;
/** Workers' timers are coarse (they advance on I/O only): never trust a measured 0. */
export const MIN_STAGE_MS = 0.02;

/** A tier with no samples, or only zeros (workerd's timers stand still during compute), is unmeasured. */
function measured(t: TierPercentiles | undefined): t is TierPercentiles {
  return !!t && t.samples > 0 && (t.p99 ?? 0) > MIN_STAGE_MS;
}

/** The tier's own percentiles, else the other tier's, else the prior. */
function pct(own: TierPercentiles | undefined, other: TierPercentiles | undefined): Percentiles {
  const t = measured(own) ? own : measured(other) ? other : null;
  if (!t) return { mean: PRIOR_STAGE_MS, p50: PRIOR_STAGE_MS, p95: PRIOR_STAGE_MS, p99: PRIOR_STAGE_MS };
  const f = (v: number | null) => Math.max(MIN_STAGE_MS, v ?? t.p50 ?? PRIOR_STAGE_MS);
  return { mean: f(t.mean), p50: f(t.p50), p95: f(t.p95), p99: f(t.p99) };
}

export function observationsFrom(
  stats: StatsView,
  vms: { state: string }[],
  manifest: ModelManifest | undefined,
): Observations {
  const n = manifest?.stages.length ?? stats.stages.length;
  const stages = Array.from({ length: n }, (_, i) => {
    const s = stats.stages[i];
    const exitFraction = s?.window.exit_fraction ?? s?.exit_fraction ?? (i === n - 1 ? 1 : 0);
    // A tier that has not run (or timed) the stage borrows the other tier's figures.
    const w = s?.service_ms.worker;
    const v = s?.service_ms.vm;
    const prevShape = i === 0 ? manifest?.input.shape : manifest?.stages[i - 1].hidden_shape;
    return {
      exitFraction,
      vmMs: pct(v, w),
      faasMs: pct(w, v),
      stateBytes: prevShape ? rowSize(prevShape) * 4 : 0,
      allowed: manifest?.stages[i].placement ?? "auto",
    };
  });
  return {
    stages,
    rate: { perSecond: stats.per_second },
    vms: {
      running: vms.filter((v) => v.state === "running").length,
      booting: vms.filter((v) => v.state === "booting").length,
    },
  };
}
