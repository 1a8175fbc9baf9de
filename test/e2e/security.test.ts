// The attacks of issue 14 on the local stack, as an attacker on this machine would make them: real
// workerd, real vm-service processes launched by the local provider, raw sockets.
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "../../scripts/stack.js";
import { signRequest, vmKey } from "../../core/signing.js";
import { freePort } from "../../scripts/stack.js";
import { admin, digitsBody, infer, testStack, until } from "./helpers.js";

let stack: Stack & { persistDir: string };
let rogue: Server;
let rogueUrl = "";
const rogueCalls: string[] = [];

beforeAll(async () => {
  stack = await testStack({ vm: { min: 1, max: 1, boot_s: 1 }, control_period_s: 1 });
  await until("a running VM", async () => (await admin(stack, "/v2/models/mnist/plan")).vms.running >= 1, 60_000);
  const port = await freePort();
  rogue = createServer((req, res) => {
    rogueCalls.push(`${req.method} ${req.url}`);
    res.end("{}");
  });
  await new Promise<void>((r) => rogue.listen(port, "127.0.0.1", r));
  rogueUrl = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  rogue?.close();
  await stack?.stop();
});

async function heartbeat(report: Record<string, unknown>, signer: string, key?: string): Promise<Response> {
  const path = "/internal/v1/vms/mnist/heartbeat";
  const body = new TextEncoder().encode(JSON.stringify(report));
  const headers = await signRequest(key ?? (await vmKey(stack.signingKey, signer)), signer, "POST", path, body);
  return fetch(stack.url + path, { method: "POST", body, headers });
}

/** Raw TCP: writes `head` (and `first` bytes of body), then keeps the connection open without sending more. */
function trickle(port: number, head: string, first = 0) {
  const sock = connect(port, "127.0.0.1");
  const t0 = Date.now();
  let answer = "";
  let answeredMs = -1;
  sock.on("data", (d) => {
    if (answeredMs < 0) answeredMs = Date.now() - t0;
    answer += d.toString();
  });
  sock.on("error", () => {});
  const closed = new Promise<number>((r) => sock.on("close", () => r(Date.now() - t0)));
  sock.write(head);
  if (first) sock.write(Buffer.alloc(first, 0x20));
  return { sock, closed, answer: () => answer, answeredMs: () => answeredMs };
}

describe("issue 14 attacks on npm start's stack", () => {
  it("a VM the provider did not launch is never admitted and never receives a frame", async () => {
    // Even with a correctly derived key of its own (more than an attacker has), rogue-1 is refused.
    const res = await heartbeat(
      { id: "rogue-1", url: rogueUrl, state: "running", inflight: 0, slots: 1_000_000 },
      "rogue-1",
    );
    expect(res.status).toBe(403);
    const plan = await admin(stack, "/v2/models/mnist/plan");
    const ids: string[] = plan.vms.instances.map((v: any) => v.id);
    expect(ids.length).toBeGreaterThanOrEqual(1);
    expect(ids.every((id) => /^local-mnist-\d+$/.test(id))).toBe(true);
    for (let i = 0; i < 10; i++) {
      const forced = await infer(stack.url, digitsBody(i, 2, { serflow_force: "vm", exit_threshold: 1 }));
      expect(forced.status).toBe(200);
      expect(forced.json.parameters.serflow_route).toBe("w0,v1,v2");
    }
    expect(rogueCalls).toEqual([]);
  });

  it("an admitted VM's id cannot be taken over: not by another key, not by moving its URL", async () => {
    const before = (await admin(stack, "/v2/models/mnist/plan")).vms.instances.find((v: any) => v.state === "running");
    const report = { id: before.id, url: rogueUrl, state: "running", inflight: 0, slots: 4 };
    expect((await heartbeat(report, before.id, await vmKey(stack.signingKey, "rogue-1"))).status).toBe(401);
    expect((await heartbeat(report, "rogue-1")).status).toBe(403);
    // The VM's own key cannot move it either: the URL is the one its provider launched it at.
    expect((await heartbeat(report, before.id)).status).toBe(403);
    const after = (await admin(stack, "/v2/models/mnist/plan")).vms.instances.find((v: any) => v.id === before.id);
    expect([after.id, after.url]).toEqual([before.id, before.url]);
    expect(rogueCalls).toEqual([]);
  });

  it("an unsigned 64 MiB heartbeat is refused before it is read", async () => {
    const port = Number(new URL(stack.url).port);
    const t = trickle(
      port,
      `POST /internal/v1/vms/mnist/heartbeat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n`,
      16 * 1024,
    );
    await until("an answer", async () => t.answer().includes("\r\n\r\n"), 5_000);
    expect(t.answer()).toMatch(/^HTTP\/1\.1 401/);
    expect(t.answer()).toMatch(/missing request signature/);
    // Answered at once, with 16 KiB of the 64 MiB sent.
    expect(t.answeredMs()).toBeLessThan(1_000);
    t.sock.destroy();
  });

  it("vm-service closes a connection with unfinished headers within seconds", async () => {
    const vm = (await admin(stack, "/v2/models/mnist/plan")).vms.instances.find((v: any) => v.state === "running");
    const vmPort = Number(new URL(vm.url).port);
    const t = trickle(vmPort, `POST /internal/v1/deep HTTP/1.1\r\nhost: x\r\nx-serflow-vm: ${vm.id}\r\n`);
    const closedMs = await t.closed;
    expect(closedMs).toBeLessThan(8_000);
    // And an unsigned upload to the VM is refused before its body is read.
    const u = trickle(
      vmPort,
      `POST /internal/v1/deep HTTP/1.1\r\nhost: x\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n`,
      1024,
    );
    expect(await u.closed).toBeLessThan(2_000);
    expect(u.answer()).toMatch(/^HTTP\/1\.1 401/);
  }, 20_000);

  it("1e39 is a 400 naming its position; the dashboard sends no-store and no-referrer", async () => {
    const body = JSON.stringify(digitsBody(0, 1)).replace(/"data":\[[^,]+,/, '"data":[1e39,');
    const res = await fetch(`${stack.url}/v2/models/mnist/infer`, { method: "POST", body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatch(/data\[0\] = 1e\+39 is outside the FP32 range/);
    const login = await fetch(`${stack.url}/dashboard?token=${stack.adminToken}`, { redirect: "manual" });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/dashboard");
    const page = await fetch(`${stack.url}/dashboard`, {
      headers: { cookie: login.headers.get("set-cookie")!.split(";")[0] },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(await page.text()).not.toContain(stack.adminToken);
  });
});
