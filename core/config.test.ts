import { describe, expect, it } from "vitest";
import { DEFAULT_CONTROL, parseControlConfig } from "./config.js";
import { InvalidConfigError } from "./errors.js";
import { LAMBDA_PRICES, WORKERS_PRICES } from "./cost.js";

const errorOf = (raw: unknown): string => {
  try {
    parseControlConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as Error).message;
  }
  throw new Error("no error");
};

describe("parseControlConfig", () => {
  it("an empty or missing config is the defaults", () => {
    expect(parseControlConfig({})).toEqual(DEFAULT_CONTROL);
    expect(parseControlConfig(undefined)).toEqual(DEFAULT_CONTROL);
    expect(parseControlConfig(null)).toEqual(DEFAULT_CONTROL);
  });
  it("reads the INTERFACE.md keys exactly", () => {
    const c = parseControlConfig({
      vm: { usd_per_hour: 0.5, concurrency: 8, boot_s: 3, min: 1, max: 4 },
      slo_ms: 150,
      control_period_s: 2,
    });
    expect(c.vm).toEqual({ ...DEFAULT_CONTROL.vm, costUsdPerHour: 0.5, slots: 8, bootTimeS: 3, min: 1, max: 4 });
    expect(c.sloMs).toBe(150);
    expect(c.controlPeriodS).toBe(2);
  });
  it("reads the extra keys", () => {
    const c = parseControlConfig({
      prices: "lambda",
      window_s: 900,
      scale_down_delay_s: 60,
      entry: "router",
      faas_deep: "separate",
      transfer_ms: 3,
      transfer_mb_per_s: 50,
      transfer_usd_per_gb: 0.01,
      placement: ["worker", "auto", "vm"],
      vm: { min_billed_s: 0 },
    });
    expect(c.prices).toEqual(LAMBDA_PRICES);
    expect(c.faasDeep).toBe("separate");
    expect([c.windowS, c.scaleDownDelayS, c.entry, c.transferMs, c.transferMBps, c.transferUsdPerGb]).toEqual([
      900,
      60,
      "router",
      3,
      50,
      0.01,
    ]);
    expect(c.allowedPlacement).toEqual(["worker", "auto", "vm"]);
    expect(c.vm.minBilledS).toBe(0);
    const custom = parseControlConfig({ prices: { preset: "workers", usd_per_million_requests: 0.5 } });
    expect(custom.prices).toEqual({ ...WORKERS_PRICES, name: "custom", usdPerMillionRequests: 0.5 });
  });
  it("the window grows with the boot time unless given", () => {
    expect(parseControlConfig({ vm: { boot_s: 400 } }).windowS).toBe(800);
  });
  it("errors name the key and say what to change", () => {
    expect(errorOf({ vm: { min: 5, max: 2 } })).toMatch(/vm\.min \(5\) must be <= vm\.max \(2\)/);
    expect(errorOf({ vm: { concurrency: 0 } })).toMatch(/vm\.concurrency must be >= 1/);
    expect(errorOf({ vm: { concurrency: 1.5 } })).toMatch(/vm\.concurrency must be an integer/);
    expect(errorOf({ vm: { usd_per_hour: "cheap" } })).toMatch(/vm\.usd_per_hour must be a finite number/);
    expect(errorOf({ slo_ms: 0 })).toMatch(/slo_ms must be > 0/);
    expect(errorOf({ control_period_s: -1 })).toMatch(/control_period_s/);
    expect(errorOf({ window_s: 30, vm: { boot_s: 60 } })).toMatch(/window_s \(30\) must be >= vm\.boot_s \(60\)/);
    expect(errorOf({ prices: "azure" })).toMatch(/prices must be one of "workers", "lambda"/);
    expect(errorOf({ prices: { usd_per_million_requests: -1 } })).toMatch(
      /prices\.usd_per_million_requests must be >= 0/,
    );
    expect(errorOf({ entry: "edge" })).toMatch(/entry must be "worker" or "router"/);
    expect(errorOf({ faas_deep: "x" })).toMatch(/faas_deep must be "inline" or "separate"/);
    expect(errorOf({ placement: ["gpu"] })).toMatch(/placement must be an array/);
    expect(errorOf({ placement: ["vm"] })).toMatch(/placement\[0\] is "vm" but entry is "worker"/);
    expect(errorOf([])).toMatch(/must be a JSON object/);
  });
  it("unknown keys are errors naming the key", () => {
    expect(errorOf({ slo: 100 })).toMatch(/unknown key "slo"/);
    expect(errorOf({ vm: { cores: 2 } })).toMatch(/unknown key "vm\.cores"/);
    expect(errorOf({ prices: { gb: 1 } })).toMatch(/unknown key "prices\.gb"/);
  });
});
