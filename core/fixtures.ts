// Fixtures for tests of the core: manifests of two and three stages (a deep range of two after stage 0), a signed
// call, and the policy's rate series, stage times and config for groups priced by hand.
import { type ControlConfig, parseControlConfig } from "./config.js";
import type { Observations, Percentiles } from "./policy.js";
export const TINY_MANIFEST = {
  name: "tiny",
  version: "1",
  input: { name: "input", datatype: "FP32", shape: [-1, 4] },
  classes: 2,
  stages: [
    {
      file: "s0.onnx",
      input: "input",
      hidden_output: "h0",
      hidden_shape: [-1, 3],
      probs_output: "p0",
      exit: { rule: "max_softmax", threshold: 0.9 },
      placement: "worker",
    },
    {
      file: "s1.onnx",
      input: "h0",
      hidden_output: null,
      hidden_shape: null,
      probs_output: "p1",
      exit: { rule: "max_softmax", threshold: 0 },
      placement: "auto",
    },
  ],
};

const [s0, s1] = TINY_MANIFEST.stages;
export const THREE_STAGE_MANIFEST = {
  ...TINY_MANIFEST,
  stages: [
    s0,
    { ...s0, file: "s1.onnx", input: "h0", hidden_output: "h1", probs_output: "p1", placement: "auto" },
    { ...s1, file: "s2.onnx", input: "h1", probs_output: "p2" },
  ],
};

/** A signed call's body, and a plain record read through the Headers interface the verifier takes. */
export const SIGNED_BODY = new TextEncoder().encode("payload");
export const asHeaders = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? null });

/** `s` seconds at `rps` requests per second. */
export const flat = (rps: number, s: number) => Array<number>(s).fill(rps);
/** Stage times without spread (p99 = median): a path's latency is the sum of its stages'. */
export const exactMs = (m: number) => ({ mean: m, p50: m, p95: m, p99: m });
/** VMs of 2 slots at $0.05/h booting in 60 s, a 10-s SLO, 5-s periods, 300-s scale-down, no forecast. */
export const groupConfig = (over: Record<string, unknown> = {}, vm: Record<string, unknown> = {}): ControlConfig =>
  parseControlConfig({
    vm: { usd_per_hour: 0.05, concurrency: 2, boot_s: 60, max: 50, queue_ms: 100, ...vm },
    slo_ms: 10_000,
    control_period_s: 5,
    scale_down_delay_s: 300,
    forecast: false,
    ...over,
  });

/** Stage times with a tail: p95 1.5x and p99 2x the median. */
export const spreadMs = (m: number) => ({ mean: m, p50: m, p95: 1.5 * m, p99: 2 * m });
/**
 * Router entry, one stage: FaaS (40 ms, p99 80) misses a 60-ms SLO for a few % of requests, a VM (10 ms,
 * p99 20) meets it. VMs of 2 slots at $0.05/h booting in 60 s, 10-s periods, 300-s scale-down.
 */
export const burstConfig = (sloMs: number): ControlConfig =>
  parseControlConfig({
    vm: { usd_per_hour: 0.05, concurrency: 2, boot_s: 60, min: 0, max: 50 },
    slo_ms: sloMs,
    control_period_s: 10,
    scale_down_delay_s: 300,
    entry: "router",
  });
export const burstObs = (
  perSecond: number[],
  vmMs: Percentiles = spreadMs(10),
  faasMs: Percentiles = spreadMs(40),
) => ({
  stages: [{ exitFraction: 1, vmMs, faasMs, stateBytes: 0 }],
  rate: { perSecond },
  vms: { running: 0, booting: 0 },
});

/** Hidden state per stage and input bytes of the three-stage group case (an MNIST row: 784 x 4). */
export const STATE_BYTES = 4096;
export const INPUT_BYTES = 3136;
/** Three stages without spread; half the requests exit at stage 0, half of the rest at 1: reach [1, 0.5, 0.25]. */
export const threeStages = (
  perSecond: number[],
  vmMs = [5, 10, 30],
  faasMs = vmMs,
  exits = [0.5, 0.5, 1],
): Observations => ({
  stages: exits.map((exitFraction, i) => ({
    exitFraction,
    vmMs: exactMs(vmMs[i]),
    faasMs: exactMs(faasMs[i]),
    stateBytes: STATE_BYTES,
  })),
  rate: { perSecond },
  vms: { running: 0, booting: 0 },
  inputBytes: INPUT_BYTES,
});
