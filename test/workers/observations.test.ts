// The controller's observations inside workerd: Worker CPU is priced from the VM's measured times and
// the manifest's Worker/VM ratio, never as native VM time (workerd's timers stand still during compute,
// so the Worker's own stage timings arrive as zeros). Before a VM has served a stage, its profiled VM
// time (the manifest's vm_ms) stands in.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addSample, emptyBatch } from "../../core/stats-batch.js";
import { parseManifest } from "../../core/manifest.js";
import mnistManifest from "../../models/mnist/manifest.json";
import { DEFAULT_WORKER_CPU_RATIO, observationsFrom, PRIOR_STAGE_MS } from "../../durable-objects/observations.js";

const e = env as any;

describe("controller observations", () => {
  it("prices Worker CPU as VM time x the measured ratio when the Worker timed zeros", async () => {
    const manifest = parseManifest(mnistManifest);
    const stub = e.STATS.getByName("ratio-model");
    const now = Date.now();
    const b = emptyBatch("ratio-model", 3);
    // What workerd reports: every Worker stage timed at 0 ms; stage 1 also ran on a VM at 2 ms.
    for (let r = 0; r < 50; r++) {
      addSample(b, 0, "worker", 1, 0, 0);
      addSample(b, 1, "worker", 1, 0, 0);
      addSample(b, 1, "vm", 1, 0, 2);
    }
    await stub.record(b, now);
    const stats = await stub.stats(600, now);
    expect(stats.stages[0].service_ms.worker.samples).toBeGreaterThan(0);
    const obs = observationsFrom(stats, [], manifest);
    const ratio1 = manifest.stages[1].worker_cpu_ratio!;
    expect(ratio1).toBeGreaterThan(1);
    // Stage 1: the VM's 2 ms, and on Workers 2 ms x the stage's ratio (not 2 ms, not 0).
    expect(obs.stages[1].vmMs.p50).toBeCloseTo(2, 0);
    expect(obs.stages[1].faasMs.p50 / obs.stages[1].vmMs.p50).toBeCloseTo(ratio1, 5);
    // Stage 0 was never timed anywhere: on a VM the profiled time the manifest carries (its median and
    // p99 exactly, the mean and p95 of the lognormal through them), on Workers that x the ratio.
    const profiled = manifest.stages[0].vm_ms!;
    expect(obs.stages[0].vmMs).toMatchObject({ p50: profiled.median, p99: profiled.p99 });
    expect(obs.stages[0].vmMs.p95).toBeGreaterThan(profiled.median);
    expect(obs.stages[0].vmMs.p95).toBeLessThan(profiled.p99);
    expect(obs.stages[0].faasMs.p50).toBeCloseTo(profiled.median * manifest.stages[0].worker_cpu_ratio!, 9);
  }, 120_000); // the first Durable Object call of a fresh workerd is slow on a loaded machine

  it("plans queue places at the running VMs' reported call time per place (the median)", async () => {
    const stats = await e.STATS.getByName("call-ms").stats(600, Date.now());
    const rows = [
      { state: "running", service_ms: 30 },
      { state: "running", service_ms: 12 },
      { state: "running", service_ms: null }, // not served yet
      { state: "running", service_ms: 18 },
      { state: "booting", service_ms: 5 },
      { state: "draining", service_ms: 90 },
    ];
    const obs = observationsFrom(stats, rows, parseManifest(mnistManifest));
    expect(obs.vms).toEqual({ running: 4, booting: 1, callMs: 18 });
    expect(observationsFrom(stats, [], parseManifest(mnistManifest)).vms.callMs).toBeUndefined();
  });

  it("uses the documented default ratio and the 1-ms prior for a manifest that carries neither", async () => {
    const bare = parseManifest({
      ...mnistManifest,
      stages: mnistManifest.stages.map(({ worker_cpu_ratio: _r, vm_ms: _v, ...s }: any) => s),
    });
    const stub = e.STATS.getByName("ratio-default");
    const now = Date.now();
    const b = emptyBatch("ratio-default", 3);
    for (let r = 0; r < 20; r++) addSample(b, 2, "vm", 1, 1, 5);
    await stub.record(b, now);
    const obs = observationsFrom(await stub.stats(600, now), [], bare);
    expect(obs.stages[2].faasMs.p50 / obs.stages[2].vmMs.p50).toBeCloseTo(DEFAULT_WORKER_CPU_RATIO, 5);
    for (const i of [0, 1]) {
      expect(obs.stages[i].vmMs).toEqual({
        mean: PRIOR_STAGE_MS,
        p50: PRIOR_STAGE_MS,
        p95: PRIOR_STAGE_MS,
        p99: PRIOR_STAGE_MS,
      });
      expect(obs.stages[i].faasMs.p99).toBeCloseTo(PRIOR_STAGE_MS * DEFAULT_WORKER_CPU_RATIO, 9);
    }
  });
});
