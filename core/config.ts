// The controller's configuration: one typed object with named defaults and units in every name. The
// JSON form (SERFLOW_CONFIG, INTERFACE.md) uses snake_case keys; errors name the key and what to change.
import { InvalidConfigError } from "./errors.js";
import { PRICE_PRESETS, type FaasPrices } from "./cost.js";

export interface VmConfig {
  /** One VM's price. Default: c6i.large. */
  costUsdPerHour: number;
  /** Requests one VM serves at once. */
  slots: number;
  /** Seconds from "scale up" to serving (VM cold start). */
  bootTimeS: number;
  min: number;
  max: number;
}

export interface ControlConfig {
  vm: VmConfig;
  /** Latency SLO of one request, end to end. */
  sloMs: number;
  controlPeriodS: number;
  prices: FaasPrices;
  /** Window of the rate distribution and exit fractions; longer than the boot time. */
  windowS: number;
  /** A VM is kept this long after the plan first wants fewer (hysteresis). */
  scaleDownDelayS: number;
  /** Target slot utilisation ceiling used to turn tail service times into capacity. */
  maxUtilisation: number;
  /** Worker-to-VM hand-over: one-way network time and per-byte cost of the hidden state. */
  transferMs: number;
  transferUsdPerGb: number;
}

export const DEFAULT_VM: VmConfig = { costUsdPerHour: 0.085, slots: 4, bootTimeS: 60, min: 0, max: 10 };

export const DEFAULT_CONTROL: ControlConfig = {
  vm: DEFAULT_VM,
  sloMs: 200,
  controlPeriodS: 5,
  prices: PRICE_PRESETS.workers,
  windowS: 600,
  scaleDownDelayS: 120,
  maxUtilisation: 0.9,
  transferMs: 2,
  transferUsdPerGb: 0,
};

type Raw = Record<string, unknown>;

const KEYS: Record<string, string[]> = {
  "": ["vm", "slo_ms", "control_period_s", "prices", "window_s", "scale_down_delay_s", "max_utilisation", "transfer_ms", "transfer_usd_per_gb"],
  vm: ["usd_per_hour", "concurrency", "boot_s", "min", "max"],
};

function fail(msg: string): never {
  throw new InvalidConfigError(`SERFLOW_CONFIG: ${msg}`);
}

function num(raw: Raw, key: string, path: string, dflt: number, check: (v: number) => boolean, what: string): number {
  const v = raw[key];
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || !check(v)) fail(`${path}${key} must be ${what}, got ${JSON.stringify(v)}`);
  return v as number;
}

function checkKeys(raw: Raw, section: string): void {
  for (const k of Object.keys(raw)) {
    if (!KEYS[section].includes(k)) fail(`unknown key "${section ? section + "." : ""}${k}"; known: ${KEYS[section].join(", ")}`);
  }
}

/** Parses SERFLOW_CONFIG JSON over the defaults. */
export function parseControlConfig(input: unknown, base: ControlConfig = DEFAULT_CONTROL): ControlConfig {
  const raw = (input ?? {}) as Raw;
  if (typeof raw !== "object" || Array.isArray(raw)) fail("must be a JSON object");
  checkKeys(raw, "");
  const vmRaw = (raw.vm ?? {}) as Raw;
  if (typeof vmRaw !== "object" || Array.isArray(vmRaw)) fail(`"vm" must be an object`);
  checkKeys(vmRaw, "vm");
  const int = (v: number) => Number.isInteger(v);
  const vm: VmConfig = {
    costUsdPerHour: num(vmRaw, "usd_per_hour", "vm.", base.vm.costUsdPerHour, (v) => v >= 0, "a price in USD per hour >= 0"),
    slots: num(vmRaw, "concurrency", "vm.", base.vm.slots, (v) => int(v) && v >= 1, "an integer >= 1"),
    bootTimeS: num(vmRaw, "boot_s", "vm.", base.vm.bootTimeS, (v) => v >= 0, "seconds >= 0"),
    min: num(vmRaw, "min", "vm.", base.vm.min, (v) => int(v) && v >= 0, "an integer >= 0"),
    max: num(vmRaw, "max", "vm.", base.vm.max, (v) => int(v) && v >= 0, "an integer >= 0"),
  };
  if (vm.min > vm.max) fail(`vm.min (${vm.min}) must be <= vm.max (${vm.max}): raise vm.max or lower vm.min`);
  const prices = raw.prices === undefined ? base.prices : PRICE_PRESETS[raw.prices as keyof typeof PRICE_PRESETS];
  if (!prices) fail(`prices must be "workers" or "lambda", got ${JSON.stringify(raw.prices)}`);
  const cfg: ControlConfig = {
    vm,
    sloMs: num(raw, "slo_ms", "", base.sloMs, (v) => v > 0, "milliseconds > 0"),
    controlPeriodS: num(raw, "control_period_s", "", base.controlPeriodS, (v) => v >= 1, "seconds >= 1"),
    prices,
    windowS: num(raw, "window_s", "", base.windowS, (v) => int(v) && v >= 10, "an integer number of seconds >= 10"),
    scaleDownDelayS: num(raw, "scale_down_delay_s", "", base.scaleDownDelayS, (v) => v >= 0, "seconds >= 0"),
    maxUtilisation: num(raw, "max_utilisation", "", base.maxUtilisation, (v) => v > 0 && v <= 1, "a fraction in (0, 1]"),
    transferMs: num(raw, "transfer_ms", "", base.transferMs, (v) => v >= 0, "milliseconds >= 0"),
    transferUsdPerGb: num(raw, "transfer_usd_per_gb", "", base.transferUsdPerGb, (v) => v >= 0, "USD per GB >= 0"),
  };
  if (cfg.windowS <= cfg.vm.bootTimeS) fail(`window_s (${cfg.windowS}) must be longer than vm.boot_s (${cfg.vm.bootTimeS}) so the rate distribution covers a boot`);
  return cfg;
}
