// The controller's configuration: one typed schema with named defaults and units in every name, parsed
// from the SERFLOW_CONFIG JSON (snake_case keys, see INTERFACE.md) merged over DEFAULT_CONTROL.
// Every error names the key and says what to change. Runtime-free.
import { InvalidConfigError } from "./errors.js";
import { PRICE_PRESETS, WORKERS_PRICES, type FaasPrices } from "./cost.js";
import type { Placement } from "./manifest.js";

export type { FaasPrices } from "./cost.js";

export interface VmConfig {
  /** One VM's price, billed per second. */
  costUsdPerHour: number;
  /** Requests one VM serves at once (JSON `vm.concurrency`). */
  slots: number;
  /** Seconds from the scale-up decision until the VM serves (JSON `vm.boot_s`). */
  bootTimeS: number;
  /** VMs kept running whatever the load. */
  min: number;
  max: number;
  /** A VM is billed at least this long (AWS per-second billing has a 60 s minimum). */
  minBilledS: number;
  /**
   * Cap on how long a request may wait on a full VM for a slot before it overflows to Workers (JSON
   * `vm.queue_ms`). The wait budget is the SLO's slack (SLO - the path's p99 without waiting), at most
   * this; 0: never wait. Default: no cap. The policy sizes the pool for that bounded wait.
   */
  queueMs: number;
}

/**
 * Where requests enter. "worker": through a Worker (the Serflow deployment): every request pays one
 * invocation, and stage 0 runs there unless the plan forwards the input to a VM. "router": through a router that is not billed (the simulator's
 * setting, as in the LIBRA and Spock evaluations): a request sent straight to a VM pays no FaaS fee.
 */
export type Entry = "worker" | "router";

export interface ControlConfig {
  vm: VmConfig;
  /** End-to-end latency objective of a request (server side). */
  sloMs: number;
  /** How often the controller runs the policy. */
  controlPeriodS: number;
  /** FaaS prices (a preset or custom). */
  prices: FaasPrices;
  /** Length of the rate window the policy reads; longer than vm.bootTimeS. */
  windowS: number;
  /**
   * A lower VM count is applied only after it has been wanted for this long (hysteresis); after a drop
   * (the rate far below what the window remembers, e.g. a flash has passed) for at most vm.bootTimeS.
   */
  scaleDownDelayS: number;
  entry: Entry;
  /**
   * Where a request's deep stages run when they go to FaaS: "inline" in the entry invocation (the
   * Worker's default), or "separate" in an invocation of their own, which pays one more request fee.
   * The Worker reads this same value (core/worker-env.ts), so the policy prices the mode that runs.
   */
  faasDeep: "inline" | "separate";
  /** Worker-to-VM hand-over: one-way network time, throughput and per-GB price of the hidden state. */
  transferMs: number;
  transferMBps: number;
  transferUsdPerGb: number;
  /** Per stage, where the manifest lets it run ("worker" forces FaaS, "vm" forces the VM group). */
  allowedPlacement?: Placement[];
  /**
   * Look ahead over the boot time with the rate's trend and the daily shape (JSON `forecast`; false to
   * measure what it buys).
   */
  forecast: boolean;
}

/** c6i.large (2 vCPU), 4 requests at once, a minute to boot, per-second billing with a 60 s minimum. */
export const DEFAULT_VM: VmConfig = {
  costUsdPerHour: 0.085,
  slots: 4,
  bootTimeS: 60,
  min: 0,
  max: 10,
  minBilledS: 60,
  queueMs: Number.POSITIVE_INFINITY,
};
export const DEFAULT_WINDOW_S = 600;

export const DEFAULT_CONTROL: ControlConfig = {
  vm: DEFAULT_VM,
  sloMs: 200,
  controlPeriodS: 5,
  prices: WORKERS_PRICES,
  windowS: DEFAULT_WINDOW_S,
  scaleDownDelayS: 300,
  entry: "worker",
  faasDeep: "inline",
  transferMs: 10,
  transferMBps: 100,
  transferUsdPerGb: 0,
  forecast: true,
};

const TOP_KEYS = [
  "vm",
  "slo_ms",
  "control_period_s",
  "prices",
  "window_s",
  "scale_down_delay_s",
  "entry",
  "faas_deep",
  "transfer_ms",
  "transfer_mb_per_s",
  "transfer_usd_per_gb",
  "placement",
  "forecast",
];
const VM_KEYS = ["usd_per_hour", "concurrency", "boot_s", "min", "max", "min_billed_s", "queue_ms"];
const PRICE_KEYS = [
  "preset",
  "usd_per_million_requests",
  "usd_per_million_cpu_ms",
  "usd_per_gb_s",
  "memory_mb",
  "billing_increment_ms",
];

function fail(msg: string): never {
  throw new InvalidConfigError(`SERFLOW_CONFIG: ${msg}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, known: string[], prefix: string): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k))
      fail(`unknown key "${prefix}${k}"; known keys here: ${known.map((x) => prefix + x).join(", ")}`);
  }
}

interface NumRule {
  integer?: boolean;
  min?: number;
  /** Strictly above min. */
  above?: number;
}

function num(obj: Record<string, unknown>, key: string, path: string, fallback: number, rule: NumRule): number {
  const v = obj[key];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) fail(`${path} must be a finite number (got ${JSON.stringify(v)})`);
  if (rule.integer && !Number.isInteger(v)) fail(`${path} must be an integer (got ${v})`);
  if (rule.min !== undefined && v < rule.min) fail(`${path} must be >= ${rule.min} (got ${v})`);
  if (rule.above !== undefined && !(v > rule.above)) fail(`${path} must be > ${rule.above} (got ${v})`);
  return v;
}

function parsePrices(raw: unknown, dflt: FaasPrices): FaasPrices {
  if (raw === undefined) return dflt;
  if (typeof raw === "string") {
    const p = (PRICE_PRESETS as Record<string, FaasPrices>)[raw];
    if (!p)
      fail(
        `prices must be one of ${Object.keys(PRICE_PRESETS)
          .map((k) => `"${k}"`)
          .join(", ")} or an object (got "${raw}")`,
      );
    return p;
  }
  if (!isObject(raw)) fail(`prices must be a preset name or an object with ${PRICE_KEYS.join(", ")}`);
  checkKeys(raw, PRICE_KEYS, "prices.");
  let base: FaasPrices = WORKERS_PRICES;
  if (raw.preset !== undefined) {
    const p = typeof raw.preset === "string" ? (PRICE_PRESETS as Record<string, FaasPrices>)[raw.preset] : undefined;
    if (!p)
      fail(
        `prices.preset must be one of ${Object.keys(PRICE_PRESETS)
          .map((k) => `"${k}"`)
          .join(", ")} (got ${JSON.stringify(raw.preset)})`,
      );
    base = p;
  }
  const custom = PRICE_KEYS.some((k) => k !== "preset" && raw[k] !== undefined);
  return {
    name: custom ? "custom" : base.name,
    usdPerMillionRequests: num(
      raw,
      "usd_per_million_requests",
      "prices.usd_per_million_requests",
      base.usdPerMillionRequests,
      { min: 0 },
    ),
    usdPerMillionCpuMs: num(raw, "usd_per_million_cpu_ms", "prices.usd_per_million_cpu_ms", base.usdPerMillionCpuMs, {
      min: 0,
    }),
    usdPerGbS: num(raw, "usd_per_gb_s", "prices.usd_per_gb_s", base.usdPerGbS, { min: 0 }),
    memoryMb: num(raw, "memory_mb", "prices.memory_mb", base.memoryMb, { above: 0 }),
    billingIncrementMs: num(raw, "billing_increment_ms", "prices.billing_increment_ms", base.billingIncrementMs, {
      min: 0,
    }),
  };
}

/**
 * Parses SERFLOW_CONFIG (already JSON-decoded; null/undefined mean "all defaults") merged over
 * `base` (DEFAULT_CONTROL unless given). Throws InvalidConfigError naming the key and what to change.
 */
export function parseControlConfig(raw: unknown, base: ControlConfig = DEFAULT_CONTROL): ControlConfig {
  if (raw === undefined || raw === null) raw = {};
  if (!isObject(raw))
    fail(
      `must be a JSON object like {"vm":{"usd_per_hour":0.085,"concurrency":4,"boot_s":60,"min":0,"max":10},"slo_ms":200,"control_period_s":10}`,
    );
  checkKeys(raw, TOP_KEYS, "");
  const vmRaw = raw.vm ?? {};
  if (!isObject(vmRaw)) fail(`vm must be an object with ${VM_KEYS.join(", ")}`);
  checkKeys(vmRaw, VM_KEYS, "vm.");
  const d = base;
  const vm: VmConfig = {
    costUsdPerHour: num(vmRaw, "usd_per_hour", "vm.usd_per_hour", d.vm.costUsdPerHour, { min: 0 }),
    slots: num(vmRaw, "concurrency", "vm.concurrency", d.vm.slots, { integer: true, min: 1 }),
    bootTimeS: num(vmRaw, "boot_s", "vm.boot_s", d.vm.bootTimeS, { min: 0 }),
    min: num(vmRaw, "min", "vm.min", d.vm.min, { integer: true, min: 0 }),
    max: num(vmRaw, "max", "vm.max", d.vm.max, { integer: true, min: 0 }),
    minBilledS: num(vmRaw, "min_billed_s", "vm.min_billed_s", d.vm.minBilledS, { min: 0 }),
    queueMs: num(vmRaw, "queue_ms", "vm.queue_ms", d.vm.queueMs, { min: 0 }),
  };
  if (vm.min > vm.max) {
    fail(`vm.min (${vm.min}) must be <= vm.max (${vm.max}): lower vm.min or raise vm.max`);
  }
  const entry = raw.entry ?? d.entry;
  if (entry !== "worker" && entry !== "router")
    fail(`entry must be "worker" or "router" (got ${JSON.stringify(raw.entry)})`);
  const faasDeep = raw.faas_deep ?? d.faasDeep;
  if (faasDeep !== "inline" && faasDeep !== "separate")
    fail(`faas_deep must be "inline" or "separate" (got ${JSON.stringify(raw.faas_deep)})`);
  const controlPeriodS = num(raw, "control_period_s", "control_period_s", d.controlPeriodS, { above: 0 });
  const windowGiven = raw.window_s !== undefined;
  const windowS = num(raw, "window_s", "window_s", Math.max(d.windowS, 2 * vm.bootTimeS), { above: 0 });
  if (windowGiven && windowS < vm.bootTimeS) {
    fail(
      `window_s (${windowS}) must be >= vm.boot_s (${vm.bootTimeS}): the rate distribution has to cover a boot time; raise window_s`,
    );
  }
  if (windowS < controlPeriodS) {
    fail(
      `window_s (${windowS}) must be >= control_period_s (${controlPeriodS}): raise window_s or lower control_period_s`,
    );
  }
  const cfg: ControlConfig = {
    vm,
    sloMs: num(raw, "slo_ms", "slo_ms", d.sloMs, { above: 0 }),
    controlPeriodS,
    prices: parsePrices(raw.prices, d.prices),
    windowS,
    scaleDownDelayS: num(raw, "scale_down_delay_s", "scale_down_delay_s", d.scaleDownDelayS, { min: 0 }),
    entry,
    faasDeep,
    transferMs: num(raw, "transfer_ms", "transfer_ms", d.transferMs, { min: 0 }),
    transferMBps: num(raw, "transfer_mb_per_s", "transfer_mb_per_s", d.transferMBps, { above: 0 }),
    transferUsdPerGb: num(raw, "transfer_usd_per_gb", "transfer_usd_per_gb", d.transferUsdPerGb, { min: 0 }),
    forecast: (raw.forecast ?? d.forecast) as boolean,
  };
  if (typeof cfg.forecast !== "boolean") fail(`forecast must be true or false (got ${JSON.stringify(raw.forecast)})`);
  if (raw.placement !== undefined) {
    const p = raw.placement;
    if (!Array.isArray(p) || !p.every((x) => x === "worker" || x === "vm" || x === "auto")) {
      fail(`placement must be an array with one of "worker", "vm", "auto" per stage (got ${JSON.stringify(p)})`);
    }
    cfg.allowedPlacement = p as Placement[];
  }
  if (cfg.entry === "worker" && cfg.allowedPlacement?.[0] === "vm") {
    fail(
      `placement[0] is "vm" but entry is "worker": the Worker runs stage 0 unless the plan forwards the input to a VM; set placement[0] to "auto" to let it (or entry to "router")`,
    );
  }
  return cfg;
}
