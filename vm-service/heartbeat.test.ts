// What a VM tells the controller, over real HTTP to a loopback server standing in for the Worker's
// /internal/v1/vms routes (INTERFACE.md): one signed heartbeat per model with its state and load from
// boot on, "draining" then a deregistration on shutdown, and a controller that fails is logged, not fatal.
// Also the health routes a load balancer polls.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { signatureHeaders, verifySignature } from "../core/signing.js";
import { nodeHashes } from "./hashes.js";
import { loadModels } from "./models.js";
import { DEFAULT_VM_SERVICE, VmService } from "./server.js";

const KEY = "beat-key";
const models = await loadModels(fileURLToPath(new URL("../models", import.meta.url)), ["mnist"]);

interface Call {
  path: string;
  body: Record<string, unknown>;
}
const calls: Call[] = [];
let status = 200;
let controller: Server;
let controllerUrl: string;

async function received(req: IncomingMessage): Promise<Call> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = new Uint8Array(Buffer.concat(chunks));
  const get = (n: string) => (req.headers[n] as string | undefined) ?? null;
  // Every call is signed with the VM's own key for exactly this path and body.
  await verifySignature(
    KEY,
    req.method ?? "",
    req.url ?? "",
    raw,
    signatureHeaders({ get }),
    null,
    Date.now(),
    nodeHashes,
  );
  return { path: `${req.method} ${req.url}`, body: JSON.parse(new TextDecoder().decode(raw)) };
}

beforeAll(async () => {
  controller = createServer((req, res) => {
    received(req).then(
      (call) => {
        calls.push(call);
        res.writeHead(status).end(status === 200 ? "{}" : "controller down");
      },
      (err) => res.writeHead(401).end(String(err)),
    );
  });
  await new Promise<void>((r) => controller.listen(0, "127.0.0.1", r));
  controllerUrl = `http://127.0.0.1:${(controller.address() as AddressInfo).port}`;
});
afterAll(() => controller.close());

const vmWith = (over: Partial<VmService["config"]> = {}) =>
  new VmService({
    ...DEFAULT_VM_SERVICE,
    id: "vm-beat",
    publicUrl: "http://127.0.0.1:9101",
    signingKey: KEY,
    controllerUrl,
    slots: 2,
    models: ["mnist"],
    ...over,
  });
const until = async (what: () => boolean) => {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(what()).toBe(true);
};

describe("heartbeats and deregistration", () => {
  it("beats once it is ready: signed, per model, with its state, load and slots", async () => {
    calls.length = 0;
    const vm = vmWith();
    vm.ready(models);
    await until(() => calls.length === 1);
    expect(calls[0]).toEqual({
      path: "POST /internal/v1/vms/mnist/heartbeat",
      body: {
        id: "vm-beat",
        url: "http://127.0.0.1:9101",
        state: "running",
        inflight: 0,
        queued: 0,
        slots: 2,
        service_ms: null,
      },
    });
  });

  it("startHeartbeats beats at once and then every interval, until drained", async () => {
    calls.length = 0;
    const vm = vmWith({ heartbeatIntervalMs: 20 });
    vm.startHeartbeats();
    await until(() => calls.length >= 3);
    expect(calls.every((c) => c.path === "POST /internal/v1/vms/mnist/heartbeat")).toBe(true);
    expect(calls[0].body.state).toBe("booting");
    await vm.drain();
    // Once beats in flight have landed (100 ms without a call), ten more intervals bring none.
    let seen = -1;
    for (let i = 0; i < 40 && seen !== calls.length; i++) {
      seen = calls.length;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(calls.length).toBe(seen);
  });

  it("drain: a 'draining' beat per model first, then one deregistration per model", async () => {
    calls.length = 0;
    const vm = vmWith({ models: ["mnist", "spam"] });
    vm.ready(models);
    await until(() => calls.length >= 2);
    calls.length = 0;
    await vm.drain();
    const paths = calls.map((c) => c.path);
    expect(paths.slice(0, 2).sort()).toEqual([
      "POST /internal/v1/vms/mnist/heartbeat",
      "POST /internal/v1/vms/spam/heartbeat",
    ]);
    expect(calls.slice(0, 2).map((c) => c.body.state)).toEqual(["draining", "draining"]);
    expect(paths.slice(2).sort()).toEqual([
      "POST /internal/v1/vms/mnist/deregister",
      "POST /internal/v1/vms/spam/deregister",
    ]);
    expect(calls.slice(2).map((c) => c.body)).toEqual([{ id: "vm-beat" }, { id: "vm-beat" }]);
  });

  it("a controller that fails is logged with the path and status, and the VM keeps serving", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      status = 500;
      await vmWith().heartbeat();
      expect(warn).toHaveBeenCalledWith("vm vm-beat: /internal/v1/vms/mnist/heartbeat answered 500: controller down");
      await vmWith({ controllerUrl: "http://127.0.0.1:1" }).heartbeat();
      expect(String(warn.mock.calls.at(-1)?.[0])).toMatch(
        /^vm vm-beat: \/internal\/v1\/vms\/mnist\/heartbeat failed: /,
      );
    } finally {
      status = 200;
      warn.mockRestore();
    }
  });

  it("standalone (no controller URL): no beats, no deregistration", async () => {
    calls.length = 0;
    const vm = vmWith({ controllerUrl: null, heartbeatIntervalMs: 10 });
    vm.ready(models);
    vm.startHeartbeats();
    await vm.drain();
    expect(calls).toEqual([]);
  });
});

describe("health routes", () => {
  it("live always; ready only while running", async () => {
    const vm = vmWith({ controllerUrl: null });
    const get = async (path: string) => {
      const res = await vm.app.request(path);
      return [res.status, await res.json()];
    };
    expect(await get("/health/live")).toEqual([200, { live: true }]);
    expect(await get("/health/ready")).toEqual([503, { ready: false, state: "booting" }]);
    vm.ready(models);
    expect(await get("/health/ready")).toEqual([200, { ready: true, state: "running" }]);
    await vm.drain();
    expect(await get("/health/ready")).toEqual([503, { ready: false, state: "draining" }]);
  });
});
