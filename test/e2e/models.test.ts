// End to end: every folder under models/ is served with no code change. The 4-stage `spam` model and a
// copy of mnist under another name (written to models/ for this test) run beside mnist on the real stack,
// each with its own stats, plan, VMs and metrics labels.
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeLabelled } from "../../core/labelled.js";
import type { Stack } from "../../scripts/stack.js";
import { admin, digitsBody, heldout, testStack, until } from "./helpers.js";

const MODELS = fileURLToPath(new URL("../../models/", import.meta.url));
const COPY = "e2e-digits"; // git-ignored (models/e2e-*/)
const R2_COPY = "e2e-spam-r2"; // spam with stage 0 in R2 (Miniflare's local bucket, uploaded by the stack)
const spam = decodeLabelled(JSON.parse(readFileSync(`${MODELS}spam/heldout.json`, "utf8")), 1024);
const spamBody = (from: number, n: number, parameters?: Record<string, unknown>) => ({
  inputs: [
    {
      name: "input",
      shape: [n, 1024],
      datatype: "FP32",
      data: Array.from(spam.data.subarray(from * 1024, (from + n) * 1024)),
    },
  ],
  ...(parameters ? { parameters } : {}),
});

let stack: Stack & { persistDir: string };
// As the operator, so that requests forcing a tier count in the stats this file checks.
const infer = async (model: string, body: unknown) => {
  const res = await fetch(`${stack.url}/v2/models/${model}/infer`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${stack.adminToken}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
};
const output = (json: any, name: string) => json.outputs.find((o: any) => o.name === name).data as number[];

beforeAll(async () => {
  rmSync(`${MODELS}${COPY}`, { recursive: true, force: true });
  cpSync(`${MODELS}mnist`, `${MODELS}${COPY}`, { recursive: true });
  const manifest = JSON.parse(readFileSync(`${MODELS}${COPY}/manifest.json`, "utf8"));
  writeFileSync(`${MODELS}${COPY}/manifest.json`, JSON.stringify({ ...manifest, name: COPY }));
  rmSync(`${MODELS}${R2_COPY}`, { recursive: true, force: true });
  cpSync(`${MODELS}spam`, `${MODELS}${R2_COPY}`, { recursive: true });
  const s = JSON.parse(readFileSync(`${MODELS}${R2_COPY}/manifest.json`, "utf8"));
  s.stages[0].location = "r2";
  writeFileSync(`${MODELS}${R2_COPY}/manifest.json`, JSON.stringify({ ...s, name: R2_COPY }));
  // One VM per model kept running (vm.min), booting in 1 s.
  stack = await testStack({ vm: { min: 1, max: 1, boot_s: 1 } }, undefined, true, undefined, [
    "mnist",
    "spam",
    COPY,
    R2_COPY,
  ]);
  await until(
    "a running VM for every model",
    async () => {
      for (const m of ["mnist", "spam", COPY, R2_COPY])
        if ((await admin(stack, `/v2/models/${m}/plan`)).vms.running < 1) return false;
      return true;
    },
    90_000,
  );
});
afterAll(async () => {
  await stack?.stop();
  rmSync(`${MODELS}${COPY}`, { recursive: true, force: true });
  rmSync(`${MODELS}${R2_COPY}`, { recursive: true, force: true });
});

describe("several models from their folders", () => {
  it("lists all four, ready (their sessions loaded, one stage from R2)", async () => {
    const { models } = (await (await fetch(`${stack.url}/v2/models`)).json()) as any;
    expect(Object.fromEntries(models.map((m: any) => [m.name, [m.state, m.stages]]))).toMatchObject({
      mnist: ["READY", 3],
      spam: ["READY", 4],
      [COPY]: ["READY", 3],
      [R2_COPY]: ["READY", 4],
    });
  });

  it("serves spam's four stages on its own VM, matching the Worker row by row", async () => {
    const n = 100;
    const vm = await infer("spam", spamBody(0, n, { serflow_force: "vm", exit_threshold: 1 }));
    expect(vm.status).toBe(200);
    expect(vm.json.parameters.serflow_route).toBe("w0,v1,v2,v3");
    const labels = output(vm.json, "label");
    expect(labels.filter((l, r) => l === spam.labels[r]).length / n).toBeGreaterThan(0.95);
    const worker = await infer("spam", spamBody(0, n, { serflow_force: "worker", exit_threshold: 1 }));
    expect(worker.json.parameters.serflow_route).toBe("w0,w1,w2,w3");
    expect(output(worker.json, "label")).toEqual(labels);
    const plan = await admin(stack, "/v2/models/spam/plan");
    expect(plan.stages).toHaveLength(4);
    // Stage 0 fetched from R2 answers as the bundled one.
    const r2 = await infer(R2_COPY, spamBody(0, n, { serflow_force: "worker", exit_threshold: 1 }));
    expect(output(r2.json, "label")).toEqual(labels);
  });

  it("answers the copy of mnist exactly as mnist, with stats, plan and metrics of its own", async () => {
    const mnistBefore = (await admin(stack, "/v2/models/mnist/stats")).stages[0]?.arrivals ?? 0;
    const copy = await infer(COPY, digitsBody(0, 40, { serflow_force: "worker" }));
    const orig = await infer("mnist", digitsBody(0, 40, { serflow_force: "worker" }));
    expect(copy.status).toBe(200);
    expect(copy.json.model_name).toBe(COPY);
    expect(output(copy.json, "label")).toEqual(output(orig.json, "label"));
    expect(output(copy.json, "label").filter((l, r) => l === heldout.labels[r]).length).toBeGreaterThanOrEqual(38);
    // The copy's stats hold its 40 rows; mnist's grew by its own 40 only.
    const stats = await until(
      "the copy's stats",
      async () => {
        const s = await admin(stack, `/v2/models/${COPY}/stats`);
        return s.stages[0].arrivals === 40 && s;
      },
      20_000,
    );
    expect(stats.stages).toHaveLength(3);
    await until(
      "mnist's stats",
      async () => (await admin(stack, "/v2/models/mnist/stats")).stages[0]?.arrivals === mnistBefore + 40,
      20_000,
    );
    const plan = await admin(stack, `/v2/models/${COPY}/plan`);
    expect(plan.vms.instances.length).toBeGreaterThanOrEqual(1);
    const mnistVms = (await admin(stack, "/v2/models/mnist/plan")).vms.instances.map((v: any) => v.id);
    expect(plan.vms.instances.every((v: any) => !mnistVms.includes(v.id))).toBe(true);
    const metrics = await (
      await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${stack.adminToken}` } })
    ).text();
    expect(metrics).toMatch(new RegExp(`serflow_stage_arrivals_total\\{model="${COPY}",stage="0"\\} 40`));
    expect(metrics).toMatch(/serflow_stage_arrivals_total\{model="spam",stage="3"\} \d+/);
  });
});
