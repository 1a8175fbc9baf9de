// SERFLOW_CONFIG rules at their edges: every key is read into its own field, each bound accepts its edge
// value and refuses the next one out, naming the key.
import { describe, expect, it } from "vitest";
import { parseControlConfig } from "./config.js";
import { LAMBDA_PRICES, WORKERS_PRICES } from "./cost.js";
import { InvalidConfigError } from "./errors.js";

const refuses = (raw: unknown, msg: RegExp) => {
  expect(() => parseControlConfig(raw)).toThrow(InvalidConfigError);
  expect(() => parseControlConfig(raw)).toThrow(msg);
};

describe("config keys", () => {
  it("reads every vm key into its own field", () => {
    const vm = parseControlConfig({
      vm: { usd_per_hour: 0.2, concurrency: 3, boot_s: 7, min: 2, max: 5, min_billed_s: 30, queue_ms: 12 },
    }).vm;
    expect(vm).toEqual({ costUsdPerHour: 0.2, slots: 3, bootTimeS: 7, min: 2, max: 5, minBilledS: 30, queueMs: 12 });
  });

  it("reads every price key; a preset alone keeps its name, any price makes it custom", () => {
    const p = parseControlConfig({
      prices: {
        usd_per_million_requests: 1,
        usd_per_million_cpu_ms: 2,
        usd_per_gb_s: 3,
        memory_mb: 256,
        billing_increment_ms: 10,
      },
    }).prices;
    expect(p).toEqual({
      name: "custom",
      usdPerMillionRequests: 1,
      usdPerMillionCpuMs: 2,
      usdPerGbS: 3,
      memoryMb: 256,
      billingIncrementMs: 10,
    });
    expect(parseControlConfig({ prices: { preset: "lambda" } }).prices).toEqual(LAMBDA_PRICES);
    expect(parseControlConfig({ prices: {} }).prices).toEqual(WORKERS_PRICES);
    expect(parseControlConfig({ prices: { preset: "lambda", memory_mb: 2048 } }).prices).toEqual({
      ...LAMBDA_PRICES,
      name: "custom",
      memoryMb: 2048,
    });
  });

  it("refuses a price preset that does not exist, in either form, listing the presets", () => {
    refuses({ prices: "gcf" }, /prices must be one of "workers", "lambda" or an object \(got "gcf"\)/);
    refuses({ prices: { preset: "gcf" } }, /prices\.preset must be one of "workers", "lambda" \(got "gcf"\)/);
    refuses({ prices: { preset: 3 } }, /prices\.preset must be one of/);
    refuses({ prices: 3 }, /prices must be a preset name or an object with preset, usd_per_million_requests/);
    refuses({ prices: { cpu: 1 } }, /unknown key "prices\.cpu"; known keys here: prices\.preset, prices\./);
  });

  it("refuses a vm that is not an object, and unknown vm keys with the vm. prefix", () => {
    refuses({ vm: [] }, /vm must be an object with usd_per_hour, concurrency/);
    refuses({ vm: 4 }, /vm must be an object/);
    refuses({ vm: { slots: 4 } }, /unknown key "vm\.slots"; known keys here: vm\.usd_per_hour, vm\.concurrency/);
    refuses([], /must be a JSON object like/);
  });
});

describe("config bounds", () => {
  it.each([
    // [key path, config at the edge (accepted), config one step out (refused), message]
    ["vm.usd_per_hour", { vm: { usd_per_hour: 0 } }, { vm: { usd_per_hour: -0.01 } }, /vm\.usd_per_hour must be >= 0/],
    ["vm.concurrency", { vm: { concurrency: 1 } }, { vm: { concurrency: 0 } }, /vm\.concurrency must be >= 1/],
    ["vm.boot_s", { vm: { boot_s: 0 } }, { vm: { boot_s: -1 } }, /vm\.boot_s must be >= 0/],
    ["vm.min", { vm: { min: 0 } }, { vm: { min: -1 } }, /vm\.min must be >= 0/],
    ["vm.max", { vm: { min: 0, max: 0 } }, { vm: { min: 0, max: -1 } }, /vm\.max must be >= 0/],
    ["vm.min_billed_s", { vm: { min_billed_s: 0 } }, { vm: { min_billed_s: -1 } }, /vm\.min_billed_s must be >= 0/],
    ["vm.queue_ms", { vm: { queue_ms: 0 } }, { vm: { queue_ms: -1 } }, /vm\.queue_ms must be >= 0/],
    [
      "vm.min <= vm.max",
      { vm: { min: 3, max: 3 } },
      { vm: { min: 4, max: 3 } },
      /vm\.min \(4\) must be <= vm\.max \(3\)/,
    ],
    ["slo_ms", { slo_ms: 0.001 }, { slo_ms: 0 }, /slo_ms must be > 0/],
    ["control_period_s", { control_period_s: 0.5 }, { control_period_s: 0 }, /control_period_s must be > 0/],
    ["scale_down_delay_s", { scale_down_delay_s: 0 }, { scale_down_delay_s: -1 }, /scale_down_delay_s must be >= 0/],
    ["transfer_ms", { transfer_ms: 0 }, { transfer_ms: -1 }, /transfer_ms must be >= 0/],
    ["transfer_mb_per_s", { transfer_mb_per_s: 0.1 }, { transfer_mb_per_s: 0 }, /transfer_mb_per_s must be > 0/],
    [
      "transfer_usd_per_gb",
      { transfer_usd_per_gb: 0 },
      { transfer_usd_per_gb: -1 },
      /transfer_usd_per_gb must be >= 0/,
    ],
    ["prices.memory_mb", { prices: { memory_mb: 1 } }, { prices: { memory_mb: 0 } }, /prices\.memory_mb must be > 0/],
    [
      "prices.usd_per_gb_s",
      { prices: { usd_per_gb_s: 0 } },
      { prices: { usd_per_gb_s: -1 } },
      /prices\.usd_per_gb_s must be >= 0/,
    ],
    [
      "prices.usd_per_million_cpu_ms",
      { prices: { usd_per_million_cpu_ms: 0 } },
      { prices: { usd_per_million_cpu_ms: -1 } },
      /prices\.usd_per_million_cpu_ms must be >= 0/,
    ],
    [
      "prices.usd_per_million_requests",
      { prices: { usd_per_million_requests: 0 } },
      { prices: { usd_per_million_requests: -1 } },
      /prices\.usd_per_million_requests must be >= 0/,
    ],
    [
      "prices.billing_increment_ms",
      { prices: { billing_increment_ms: 0 } },
      { prices: { billing_increment_ms: -1 } },
      /prices\.billing_increment_ms must be >= 0/,
    ],
    // window_s may equal the boot time and the control period, not fall below either
    [
      "window_s >= vm.boot_s",
      { window_s: 30, vm: { boot_s: 30 } },
      { window_s: 29, vm: { boot_s: 30 } },
      /window_s \(29\) must be >= vm\.boot_s \(30\)/,
    ],
    [
      "window_s >= control_period_s",
      { window_s: 5, control_period_s: 5, vm: { boot_s: 1 } },
      { window_s: 4, control_period_s: 5, vm: { boot_s: 1 } },
      /window_s \(4\) must be >= control_period_s \(5\)/,
    ],
  ])("%s: the edge is accepted, one step out is refused", (_key, edge, out, msg) => {
    expect(() => parseControlConfig(edge)).not.toThrow();
    refuses(out, msg);
  });

  it("integers must be integers, numbers finite numbers", () => {
    refuses({ vm: { concurrency: 2.5 } }, /vm\.concurrency must be an integer \(got 2\.5\)/);
    refuses({ vm: { min: 0.5 } }, /vm\.min must be an integer/);
    refuses({ vm: { max: 1.5 } }, /vm\.max must be an integer/);
    refuses({ slo_ms: "200" }, /slo_ms must be a finite number \(got "200"\)/);
    refuses({ slo_ms: null }, /slo_ms must be a finite number \(got null\)/);
    expect(parseControlConfig({ vm: { boot_s: 2.5 } }).vm.bootTimeS).toBe(2.5);
  });

  it("refuses numbers JSON turns into Infinity, a null price block, a zero window", () => {
    refuses(JSON.parse('{"slo_ms": 1e400}'), /slo_ms must be a finite number/);
    refuses({ prices: null }, /prices must be a preset name or an object/);
    refuses({ window_s: 0 }, /window_s must be > 0/);
  });

  it("stage 0 may be pinned to a VM only when requests enter at a router", () => {
    expect(parseControlConfig({ entry: "router", placement: ["vm", "auto"] }).allowedPlacement).toEqual(["vm", "auto"]);
    refuses({ placement: ["vm", "auto"] }, /placement\[0\] is "vm" but entry is "worker"/);
  });

  it("placement: one of worker, vm, auto per stage; every entry is checked", () => {
    expect(parseControlConfig({ placement: ["worker", "vm", "auto"] }).allowedPlacement).toEqual([
      "worker",
      "vm",
      "auto",
    ]);
    refuses(
      { placement: ["worker", "gpu"] },
      /placement must be an array with one of "worker", "vm", "auto" per stage/,
    );
    refuses({ placement: "vm" }, /placement must be an array/);
  });
  it("forecast: true or false only; anything else is refused, quoting it", () => {
    expect(parseControlConfig({ forecast: false }).forecast).toBe(false);
    expect(parseControlConfig({ forecast: true }).forecast).toBe(true);
    refuses({ forecast: "yes" }, /^SERFLOW_CONFIG: forecast must be true or false \(got "yes"\)$/);
    refuses({ forecast: 1 }, /^SERFLOW_CONFIG: forecast must be true or false \(got 1\)$/);
  });
});
