// The attacks of issue 14 on the Worker and its controller, inside workerd: each was reproduced on the
// code before (a rogue VM got traffic, ids were taken over, bodies were read before the signature was
// checked, 1e39 was a 200, the dashboard's token stayed in the URL) and must fail now.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import heldout from "../../models/mnist/heldout.json";
import { decodeHeldout } from "../../model/heldout-codec.js";
import { signRequest, vmKey, webCryptoHashes } from "../../core/signing.js";
import { ADMIN_COOKIE, dashboardSession, SESSION_S } from "../../worker/app.js";
import { flushAll } from "../../worker/stats-buffer.js";

const e = env as any;
const ex = exports as any;
const ADMIN = { authorization: `Bearer ${e.SERFLOW_ADMIN_TOKEN}` };
const { rows } = decodeHeldout(heldout as any);
const call = (path: string, init?: RequestInit): Promise<Response> =>
  ex.default.fetch(new Request(`http://serflow${path}`, init));

const report = (id: string, url: string, over: Record<string, unknown> = {}) => ({
  id,
  url,
  state: "running",
  inflight: 0,
  slots: 4,
  ...over,
});

/** A VM's call as vm-service sends it: signed with the key of `signer` (by default the id it claims). */
async function vmCall(
  action: "heartbeat" | "deregister",
  payload: unknown,
  signer: string,
  key?: string,
): Promise<Response> {
  const path = `/internal/v1/vms/mnist/${action}`;
  const body = new TextEncoder().encode(JSON.stringify(payload));
  const headers = await signRequest(key ?? (await vmKey(e.SERFLOW_SIGNING_KEY, signer)), signer, "POST", path, body);
  return call(path, { method: "POST", body, headers });
}

const setMembers = (vms: { id: string; url: string }[], headers: Record<string, string> = ADMIN) =>
  call("/internal/v1/vms/mnist/members", { method: "PUT", headers, body: JSON.stringify({ vms }) });

const plan = async () => (await (await call("/v2/models/mnist/plan", { headers: ADMIN })).json()) as any;

/** A request body that streams `total` bytes on demand and counts how many were pulled. */
function countingBody(total: number) {
  let pulled = 0;
  const chunk = new Uint8Array(64 * 1024);
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled >= total) return c.close();
      pulled += chunk.byteLength;
      c.enqueue(chunk);
    },
  });
  return { body, pulled: () => pulled };
}

describe("admission from the provider", () => {
  it("a validly signed heartbeat from a VM the provider did not launch is refused and never gets a frame", async () => {
    expect((await setMembers([{ id: "vm-a", url: "https://vm-a.test" }])).status).toBe(200);
    const rogue = await vmCall("heartbeat", report("rogue-1", "https://rogue.test"), "rogue-1");
    expect(rogue.status).toBe(403);
    expect(((await rogue.json()) as any).error).toMatch(/"rogue-1" was not launched by this model's provider/);
    expect((await plan()).vms.instances.map((v: any) => v.id)).not.toContain("rogue-1");
    // Traffic forced to VMs: none is admitted and running, so no frame leaves for rogue.test.
    const res = await call("/v2/models/mnist/infer", {
      method: "POST",
      body: JSON.stringify({
        inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[0]) }],
        parameters: { serflow_force: "vm", exit_threshold: 1 },
      }),
    });
    expect(res.status).toBe(503);
    await res.arrayBuffer();
    const log = (await (await fetch("http://vm-log.test/calls")).json()) as Record<string, unknown>;
    expect(log["rogue.test"]).toBeUndefined();
  });

  it("an admitted VM's id cannot be taken over, its URL not changed, nor deregistered by another VM", async () => {
    await setMembers([
      { id: "vm-a", url: "https://vm-a.test" },
      { id: "vm-b", url: "https://vm-b.test" },
    ]);
    expect((await vmCall("heartbeat", report("vm-a", "https://vm-a.test"), "vm-a")).status).toBe(200);
    // vm-a itself reporting another URL.
    const moved = await vmCall("heartbeat", report("vm-a", "https://evil.test"), "vm-a");
    expect(moved.status).toBe(403);
    expect(((await moved.json()) as any).error).toMatch(/its provider launched it at https:\/\/vm-a\.test/);
    // vm-b, with its own valid key, claiming to be vm-a (in the body, or in the signature header).
    const claim = await vmCall("heartbeat", report("vm-a", "https://vm-b.test"), "vm-b");
    expect(claim.status).toBe(403);
    expect(((await claim.json()) as any).error).toMatch(/for VM "vm-a" but signed by VM "vm-b"/);
    const vmBKey = await vmKey(e.SERFLOW_SIGNING_KEY, "vm-b");
    expect((await vmCall("heartbeat", report("vm-a", "https://vm-b.test"), "vm-a", vmBKey)).status).toBe(401);
    expect((await vmCall("deregister", { id: "vm-a" }, "vm-a", vmBKey)).status).toBe(401);
    expect((await vmCall("deregister", { id: "vm-a" }, "vm-b")).status).toBe(403);
    const a = (await plan()).vms.instances.find((v: any) => v.id === "vm-a");
    expect([a.url, a.state]).toEqual(["https://vm-a.test", "running"]);
  });

  it("caps slots at vm.concurrency, refuses oversized registries and metadata or plain-http URLs", async () => {
    await setMembers([{ id: "vm-c", url: "https://vm-c.test" }]);
    expect((await vmCall("heartbeat", report("vm-c", "https://vm-c.test", { slots: 1_000_000 }), "vm-c")).status).toBe(
      200,
    );
    const c = (await plan()).vms.instances.find((v: any) => v.id === "vm-c");
    expect(c.slots).toBe((await plan()).config.vm.slots);
    for (const url of ["http://169.254.169.254", "https://169.254.169.254", "http://10.0.0.5:9101", "file:///etc"]) {
      const res = await setMembers([{ id: "vm-x", url }]);
      expect(res.status).toBe(400);
    }
    const many = Array.from({ length: 257 }, (_, i) => ({ id: `vm-${i}`, url: `https://vm-${i}.test` }));
    expect((await setMembers(many)).status).toBe(400);
    expect((await setMembers([{ id: "vm-a", url: "https://vm-a.test" }], {})).status).toBe(401);
  });

  it("a heartbeat is accepted once: its replay is refused by the controller, which every isolate shares", async () => {
    await setMembers([{ id: "vm-d", url: "https://vm-d.test" }]);
    const path = "/internal/v1/vms/mnist/heartbeat";
    const body = new TextEncoder().encode(JSON.stringify(report("vm-d", "https://vm-d.test")));
    const headers = await signRequest(await vmKey(e.SERFLOW_SIGNING_KEY, "vm-d"), "vm-d", "POST", path, body);
    expect((await call(path, { method: "POST", body, headers })).status).toBe(200);
    const replay = await call(path, { method: "POST", body, headers });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as any).error).toMatch(/replayed/);
  });
});

describe("limits before work", () => {
  it("an unsigned 64 MiB heartbeat is refused before its body is read", async () => {
    const up = countingBody(64 * 1024 * 1024);
    const res = await call("/internal/v1/vms/mnist/heartbeat", {
      method: "POST",
      body: up.body,
      duplex: "half",
    } as any);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error).toMatch(/missing request signature/);
    expect(up.pulled()).toBeLessThanOrEqual(128 * 1024); // what the stream pre-fills, not the body
  });

  it("a heartbeat with signature headers is read through a 4 KiB cap", async () => {
    const up = countingBody(64 * 1024 * 1024);
    const headers = await signRequest(
      await vmKey(e.SERFLOW_SIGNING_KEY, "vm-a"),
      "vm-a",
      "POST",
      "/internal/v1/vms/mnist/heartbeat",
      new Uint8Array(0),
    );
    const res = await call("/internal/v1/vms/mnist/heartbeat", {
      method: "POST",
      body: up.body,
      headers,
      duplex: "half",
    } as any);
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error).toMatch(/limit of 4096 bytes/);
    expect(up.pulled()).toBeLessThanOrEqual(256 * 1024);
    const declared = await call("/internal/v1/vms/mnist/heartbeat", {
      method: "POST",
      headers: { ...headers, "content-length": String(64 * 1024 * 1024) },
      body: "{}",
    });
    expect([401, 413]).toContain(declared.status);
  });

  it("1e39, finite as a double and not as a float32, is a 400 naming its position", async () => {
    const data = Array.from(rows[0]);
    const body = JSON.stringify({
      inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data }],
    }).replace(`"data":[${data[0]},${data[1]},${data[2]}`, `"data":[${data[0]},${data[1]},1e39`);
    const res = await call("/v2/models/mnist/infer", { method: "POST", body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatch(/inputs\[0\]\.data\[2\] = 1e\+39 is outside the FP32 range/);
  });
});

describe("admin surface", () => {
  it("the dashboard trades the token for an HttpOnly SameSite=Strict cookie and a URL without it", async () => {
    const login = await call(`/dashboard?model=mnist&token=${e.SERFLOW_ADMIN_TOKEN}`, { redirect: "manual" });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/dashboard?model=mnist");
    const cookie = login.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^serflow_admin=\d+\.[0-9a-f]{64};/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(e.SERFLOW_ADMIN_TOKEN);
    expect(login.headers.get("referrer-policy")).toBe("no-referrer");
    const session = cookie.split(";")[0];
    for (const path of ["/dashboard?model=mnist", "/v2/models/mnist/dashboard"]) {
      const res = await call(path, { headers: { cookie: session } });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      await res.arrayBuffer();
    }
    expect((await call("/dashboard", { headers: { cookie: "serflow_admin=" + "0".repeat(64) } })).status).toBe(401);
    expect((await call(`/dashboard?token=wrong`, { redirect: "manual" })).status).toBe(401);
  });

  it("the session cookie expires with its Max-Age and opens reads only, not a POST", async () => {
    const login = await call(`/dashboard?token=${e.SERFLOW_ADMIN_TOKEN}`, { redirect: "manual" });
    const session = login.headers.get("set-cookie")!.split(";")[0];
    const expiresMs = Number(session.split("=")[1].split(".")[0]);
    expect(Math.abs(expiresMs - (Date.now() + SESSION_S * 1000))).toBeLessThan(60_000);
    const dashboard = (cookie: string) => call("/v2/models/mnist/dashboard", { headers: { cookie } });
    expect((await dashboard(session)).status).toBe(200);
    // The cookie every login set before: a fixed digest of the token, which worked until the token changed.
    const digest = await webCryptoHashes.sha256Hex(
      new TextEncoder().encode(`serflow-dashboard-session:${e.SERFLOW_ADMIN_TOKEN}`),
    );
    const at = async (ms: number) => `${ADMIN_COOKIE}=${await dashboardSession(e.SERFLOW_ADMIN_TOKEN, ms)}`;
    for (const cookie of [
      `${ADMIN_COOKIE}=${digest}`,
      await at(Date.now() - 1_000), // expired
      await at(Date.now() + 2 * SESSION_S * 1000), // signed to outlive a session
      session.replace(/=\d+/, `=${expiresMs + 1}`), // its expiry moved
    ]) {
      const res = await dashboard(cookie);
      expect(res.status, cookie).toBe(401);
      await res.arrayBuffer();
    }
    // A same-site page's form POST carries the cookie: it must not run 10,000 stage runs on the operator's word.
    const bench = await call("/internal/v1/bench/stage", {
      method: "POST",
      headers: { cookie: session, "content-type": "text/plain" },
      body: JSON.stringify({ model: "mnist", stage: 0, reps: 0, data: Array.from(rows[0]) }),
    });
    expect(bench.status).toBe(401);
    await bench.arrayBuffer();
  });

  it("every admin route sends no-store and no-referrer, and refuses a token of another length", async () => {
    for (const path of ["/v2/models/mnist/stats", "/v2/models/mnist/plan", "/metrics"]) {
      const res = await call(path, { headers: ADMIN });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      await res.arrayBuffer();
      expect((await call(path, { headers: { authorization: `Bearer ${e.SERFLOW_ADMIN_TOKEN}x` } })).status).toBe(401);
    }
  });

  it("a stranger's exit_threshold or serflow_force is served but does not steer scaling; the operator's does", async () => {
    const stats = async () => {
      await flushAll(e);
      return (await call("/v2/models/mnist/stats", { headers: ADMIN })).json() as Promise<any>;
    };
    const deep = (headers: Record<string, string>) =>
      call("/v2/models/mnist/infer", {
        method: "POST",
        headers,
        body: JSON.stringify({
          inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[0]) }],
          parameters: { exit_threshold: 1, serflow_force: "worker" },
        }),
      });
    const deepArrivals = (st: any): number => st.stages[2]?.arrivals ?? 0;
    const before = await stats();
    for (let i = 0; i < 5; i++) {
      const res = await deep({});
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).parameters.serflow_route).toBe("w0,w1,w2");
    }
    const afterStranger = await stats();
    expect(afterStranger.requests).toBe(before.requests);
    expect(deepArrivals(afterStranger)).toBe(deepArrivals(before));
    for (let i = 0; i < 5; i++) expect((await deep(ADMIN)).status).toBe(200);
    const afterOperator = await stats();
    expect(afterOperator.requests).toBe(before.requests + 5);
    expect(deepArrivals(afterOperator)).toBe(deepArrivals(before) + 5);
  });
});
