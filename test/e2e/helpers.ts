// Shared by the end-to-end tests: a stack on a free port with its own storage, and held-out digits.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startStack, type Stack } from "../../scripts/stack.js";
import { loadHeldout } from "../../model/heldout.js";
import { DEFAULT_LOAD, runLoad } from "../../scripts/load-gen.js";

export const heldout = loadHeldout();

export async function testStack(
  config: unknown,
  persistDir = mkdtempSync(join(tmpdir(), "serflow-e2e-")),
  vmPool = true,
  vars?: Record<string, string>,
  // VMs for mnist only unless asked: the other models' VMs would only load this 2-core machine.
  vmPoolModels: string[] = ["mnist"],
): Promise<Stack & { persistDir: string; logs: string[] }> {
  const port = await freePort();
  const lines: string[] = [];
  const stack = await startStack({
    port,
    config,
    persistDir,
    vmPool,
    vmPoolModels,
    firstVmPort: port + 1,
    log: (l) => lines.push(l),
    vars,
  });
  return Object.assign(stack, { persistDir, logs: lines });
}

export function digitsBody(from: number, n: number, parameters?: Record<string, unknown>) {
  return {
    inputs: [
      {
        name: "input",
        shape: [n, 784],
        datatype: "FP32",
        data: heldout.rows.slice(from, from + n).flatMap((r) => Array.from(r)),
      },
    ],
    ...(parameters ? { parameters } : {}),
  };
}

/** `adminToken`: send as the operator, whose exit_threshold / serflow_force requests count in the stats. */
export async function infer(url: string, body: unknown, adminToken?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v2/models/mnist/infer`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(adminToken ? { authorization: `Bearer ${adminToken}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

export async function admin(stack: Stack, path: string): Promise<any> {
  const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Rows the stats have counted on `route` so far ("w0,v1,v2": deep stages served by a VM). */
export async function routeRows(stack: Stack, route: string): Promise<number> {
  return (await admin(stack, "/v2/models/mnist/stats")).routes?.[route] ?? 0;
}

/** The live VM processes of the local pool, with the id each registers under. */
export function vmProcesses(stack: Stack): { id: string; pid: number }[] {
  return stack.pool!.live.filter((v) => v.proc?.pid).map((v) => ({ id: v.id, pid: v.proc!.pid! }));
}

/** The state the controller holds for VM `id` ("dead" once its heartbeats stop; undefined once forgotten). */
export async function vmState(stack: Stack, id: string): Promise<string | undefined> {
  const plan = await admin(stack, "/v2/models/mnist/plan");
  return plan.vms.instances.find((v: { id: string }) => v.id === id)?.state;
}

/** The operator's steady load of requests that all go deep (exit_threshold 1), `rps` for `durationS`. */
export function deepLoad(stack: Stack, rps: number, durationS: number, signal?: AbortSignal) {
  const o = { url: stack.url, rps, durationS, pattern: "steady" as const, adminToken: stack.adminToken };
  return runLoad({ ...DEFAULT_LOAD, ...o, parameters: { exit_threshold: 1 } }, undefined, signal);
}
