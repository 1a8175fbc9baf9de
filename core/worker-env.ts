// The Worker's settings as one typed, checked object, in the shape of core/config.ts: wrangler hands
// every var over as a string, so each is parsed here once, with its unit in the name, a named default
// and an error naming the variable. The Worker and the controller read their settings only from here.
// Runtime-free.
import { type ControlConfig, parseControlConfig } from "./config.js";
import { InvalidConfigError } from "./errors.js";

/** The vars as wrangler hands them over; unset ones are undefined. */
export interface WorkerVars {
  /** JSON overrides of DEFAULT_CONTROL (wrangler.toml's [vars]; `npm start` fills it from its file). */
  SERFLOW_CONFIG?: string;
  SERFLOW_VM_TIMEOUT_MS?: string;
  SERFLOW_MAX_BODY_BYTES?: string;
  SERFLOW_PROVIDER?: string;
  /** Replaced by `faas_deep` in SERFLOW_CONFIG; a deployment still setting it is told so. */
  SERFLOW_FAAS_DEEP?: string;
}

export interface WorkerEnv {
  /**
   * SERFLOW_CONFIG. Its `faasDeep` is both where this Worker runs deep stages on Workers and what the
   * policy prices, so the two cannot disagree.
   */
  control: ControlConfig;
  /** How long a VM may take before its rows are retried on Workers. */
  vmTimeoutMs: number;
  /** Larger request bodies get 413. */
  maxBodyBytes: number;
  /** "local": the local pool polls /plan; "aws": the controller drives an Auto Scaling group. */
  provider: "local" | "aws";
}

export const DEFAULT_VM_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

function positiveInt(vars: WorkerVars, key: "SERFLOW_VM_TIMEOUT_MS" | "SERFLOW_MAX_BODY_BYTES", fallback: number) {
  const v = vars[key];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidConfigError(`${key} must be a whole number >= 1 (got ${JSON.stringify(v)})`);
  return n;
}

/** Throws InvalidConfigError naming the variable and what is wrong. */
export function parseWorkerEnv(vars: WorkerVars): WorkerEnv {
  if (vars.SERFLOW_FAAS_DEEP !== undefined)
    throw new InvalidConfigError(
      `SERFLOW_FAAS_DEEP is no longer read: set "faas_deep" in SERFLOW_CONFIG instead (got ${JSON.stringify(vars.SERFLOW_FAAS_DEEP)})`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(vars.SERFLOW_CONFIG || "{}");
  } catch (err) {
    throw new InvalidConfigError(`SERFLOW_CONFIG is not valid JSON: ${(err as Error).message}`);
  }
  const provider = vars.SERFLOW_PROVIDER ?? "local";
  if (provider !== "local" && provider !== "aws")
    throw new InvalidConfigError(`SERFLOW_PROVIDER must be "local" or "aws" (got ${JSON.stringify(provider)})`);
  return {
    control: parseControlConfig(raw),
    vmTimeoutMs: positiveInt(vars, "SERFLOW_VM_TIMEOUT_MS", DEFAULT_VM_TIMEOUT_MS),
    maxBodyBytes: positiveInt(vars, "SERFLOW_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
    provider,
  };
}

const parsed = new WeakMap<object, WorkerEnv>();

/** parseWorkerEnv, once per env object (an isolate keeps its env). */
export function workerEnv(vars: WorkerVars): WorkerEnv {
  let w = parsed.get(vars);
  if (!w) {
    w = parseWorkerEnv(vars);
    parsed.set(vars, w);
  }
  return w;
}
