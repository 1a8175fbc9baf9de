// Model profiles for the simulator (INTERFACE.md): per stage an exit fraction (constant or a piecewise
// constant schedule [[t_s, f], ...]), lognormal service times on VM and FaaS from median and p99, memory
// and the hidden state's size. The last stage's exit fraction is 1 whatever is written.
import { readFileSync } from "node:fs";
import { percentilesFromMedianP99 } from "../core/lognormal.js";
import type { Percentiles } from "../core/policy.js";

export interface MedianP99 {
  median: number;
  p99: number;
}

export interface StageProfile {
  /** Constant, or a schedule of [t_s, f] pairs sorted by time (f holds from t_s on). */
  exit_fraction: number | Array<[number, number]>;
  vm_ms: MedianP99;
  faas_ms: MedianP99;
  memory_mb?: number;
  state_bytes?: number;
}

export interface Profile {
  name: string;
  stages: StageProfile[];
  /** Free text: where the figures come from (optional; `sources` may also be a list). */
  sources?: unknown;
  [extra: string]: unknown;
}

export class ProfileError extends Error {}

function checkMs(v: unknown, at: string): MedianP99 {
  const o = v as Record<string, unknown>;
  if (
    typeof o !== "object" ||
    o === null ||
    typeof o.median !== "number" ||
    typeof o.p99 !== "number" ||
    !(o.median > 0) ||
    !(o.p99 >= (o.median as number))
  ) {
    throw new ProfileError(`${at} must be {"median": m, "p99": p} with 0 < m <= p (ms)`);
  }
  return { median: o.median as number, p99: o.p99 as number };
}

export function parseProfile(raw: unknown, source = "profile"): Profile {
  const p = raw as Record<string, unknown>;
  if (typeof p !== "object" || p === null) throw new ProfileError(`${source}: must be a JSON object`);
  if (typeof p.name !== "string") throw new ProfileError(`${source}: "name" must be a string`);
  if (!Array.isArray(p.stages) || p.stages.length === 0)
    throw new ProfileError(`${source}: "stages" must be a non-empty array`);
  const stages = (p.stages as unknown[]).map((s, i): StageProfile => {
    const at = `${source}: stages[${i}]`;
    const o = s as Record<string, unknown>;
    if (typeof o !== "object" || o === null) throw new ProfileError(`${at} must be an object`);
    let ef = o.exit_fraction;
    if (typeof ef === "number") {
      if (!(ef >= 0 && ef <= 1)) throw new ProfileError(`${at}.exit_fraction must be in [0, 1]`);
    } else if (Array.isArray(ef)) {
      if (ef.length === 0) throw new ProfileError(`${at}.exit_fraction schedule is empty`);
      let last = -Infinity;
      for (const pair of ef) {
        if (
          !Array.isArray(pair) ||
          pair.length !== 2 ||
          typeof pair[0] !== "number" ||
          typeof pair[1] !== "number" ||
          !(pair[1] >= 0 && pair[1] <= 1) ||
          pair[0] < last
        ) {
          throw new ProfileError(`${at}.exit_fraction schedule must be [[t_s, f], ...] sorted by t_s with f in [0, 1]`);
        }
        last = pair[0];
      }
    } else if (i === (p.stages as unknown[]).length - 1 && ef === undefined) {
      ef = 1;
    } else throw new ProfileError(`${at}.exit_fraction must be a number or a schedule [[t_s, f], ...]`);
    return {
      exit_fraction: ef as StageProfile["exit_fraction"],
      vm_ms: checkMs(o.vm_ms, `${at}.vm_ms`),
      faas_ms: checkMs(o.faas_ms, `${at}.faas_ms`),
      memory_mb: typeof o.memory_mb === "number" ? o.memory_mb : 128,
      state_bytes: typeof o.state_bytes === "number" ? o.state_bytes : 0,
    };
  });
  return { ...p, name: p.name, stages } as Profile;
}

export function loadProfile(file: string): Profile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ProfileError(`${file}: ${(err as Error).message}`);
  }
  return parseProfile(raw, file);
}

/** Exit fraction of stage i at time t (the last stage always 1). */
export function exitFractionAt(p: Profile, i: number, tS: number): number {
  if (i === p.stages.length - 1) return 1;
  const ef = p.stages[i].exit_fraction;
  if (typeof ef === "number") return ef;
  let f = ef[0][1];
  for (const [t, v] of ef) {
    if (t <= tS) f = v;
    else break;
  }
  return f;
}

/** Times at which any stage's exit fraction changes (sorted, unique, > 0). */
export function scheduleBreaks(p: Profile): number[] {
  const s = new Set<number>();
  for (const st of p.stages)
    if (Array.isArray(st.exit_fraction)) for (const [t] of st.exit_fraction) if (t > 0) s.add(t);
  return [...s].sort((a, b) => a - b);
}

export function stagePercentiles(p: Profile): { vm: Percentiles[]; faas: Percentiles[] } {
  return {
    vm: p.stages.map((s) => percentilesFromMedianP99(s.vm_ms.median, s.vm_ms.p99)),
    faas: p.stages.map((s) => percentilesFromMedianP99(s.faas_ms.median, s.faas_ms.p99)),
  };
}
