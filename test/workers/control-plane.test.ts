// Stats and controller Durable Objects inside workerd, on SQLite storage.
import { env, exports } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import heldout from "../../models/mnist/heldout.json";
import { decodeHeldout } from "../../model/heldout-codec.js";
import { emptyBatch, addRequest, addSample } from "../../core/stats-batch.js";
import { CONTROLLER_SCHEMA_VERSION } from "../../durable-objects/controller.js";

const e = env as any;
const ADMIN = { authorization: `Bearer ${e.SERFLOW_ADMIN_TOKEN}` };
const { rows } = decodeHeldout(heldout as any);
const call = (path: string, init?: RequestInit) =>
  (exports as any).default.fetch(new Request(`http://serflow${path}`, init));

// First in the file: the controller of mnist has not ticked yet (its first alarm is a second away).
describe("plan before the controller's first tick", () => {
  it("has a placement per stage, the default: every stage on Workers, saying no period has run", async () => {
    const plan = await (await call("/v2/models/mnist/plan", { headers: ADMIN })).json();
    expect(plan.ticks_total).toBe(0);
    expect(plan.stages).toEqual([0, 1, 2].map((stage) => ({ stage, placement: "worker", vm_share: 0 })));
    expect(plan.reason).toMatch(/Workers.*no control period has run yet/);
    expect(Date.parse(plan.computed_at)).toBeGreaterThan(0);
    expect(plan.vm_group_start).toBeNull();
  });
});

describe("stats Durable Object", () => {
  it("sums batches from several isolates and keeps them across an eviction", async () => {
    const stub = e.STATS.getByName("unit-model");
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      const b = emptyBatch("unit-model", 2);
      for (let r = 0; r < 10; r++) addRequest(b, now - 2_000, "w0,w1", 1, 3);
      addSample(b, 0, "worker", 10, 7, 0.5);
      addSample(b, 1, "vm", 3, 3, 2.0);
      await stub.record(b, now);
    }
    const s = await stub.stats(600, now);
    expect(s.requests).toBe(30);
    expect(s.stages.map((x: any) => [x.arrivals, x.exits])).toEqual([
      [30, 21],
      [9, 9],
    ]);
    expect(s.stages[0].exit_fraction).toBeCloseTo(0.7);
    expect(s.stages[1].service_ms.vm.p50).toBeCloseTo(2, 0);
    expect(s.per_second.reduce((a: number, b: number) => a + b, 0)).toBe(30);
    // Evict: a fresh instance reads the same SQLite rows.
    await runInDurableObject(stub, async (_obj, state) => {
      const rowsAfter = state.storage.sql.exec("SELECT SUM(arrivals) AS a FROM totals").one();
      expect(rowsAfter.a).toBe(39);
    });
  });

  it("receives the Worker's batched stats: stage 0 arrivals = requests, exits add up", async () => {
    const n = 40;
    for (let i = 0; i < n; i++) {
      const res = await call("/v2/models/mnist/infer", {
        method: "POST",
        body: JSON.stringify({
          inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[i]) }],
        }),
      });
      expect(res.status).toBe(200);
    }
    // Flushes are batched (once a second or every 200 requests): wait for one more interval.
    await new Promise((r) => setTimeout(r, 1_100));
    await call("/v2/models/mnist/infer", {
      method: "POST",
      body: JSON.stringify({
        inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[n]) }],
      }),
    });
    let stats: any;
    for (let i = 0; i < 50; i++) {
      stats = await (await call("/v2/models/mnist/stats", { headers: ADMIN })).json();
      if (stats.requests >= n) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stats.requests).toBeGreaterThanOrEqual(n);
    expect(stats.stages[0].arrivals).toBe(stats.requests);
    expect(stats.stages.reduce((a: number, s: any) => a + s.exits, 0)).toBe(stats.requests);
    for (let i = 1; i < stats.stages.length; i++)
      expect(stats.stages[i].arrivals).toBe(stats.stages[i - 1].arrivals - stats.stages[i - 1].exits);
    expect(stats.ingestion_rps.mean).toBeGreaterThanOrEqual(0);
    // Far fewer DO writes than requests.
    expect(stats.totals.batches).toBeLessThan(stats.requests / 5);
  });
});

describe("controller Durable Object", () => {
  it("an alarm produces a plan with a placement per stage and a reason", async () => {
    const stub = e.CONTROLLER.getByName("mnist");
    const before = await stub.planView();
    expect(before.vms.desired).toBeGreaterThanOrEqual(0);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const plan = await (await call("/v2/models/mnist/plan", { headers: ADMIN })).json();
    expect(plan.stages).toHaveLength(3);
    for (const s of plan.stages) expect(["worker", "vm"]).toContain(s.placement);
    expect(plan.reason.length).toBeGreaterThan(20);
    expect(Date.parse(plan.computed_at)).toBeGreaterThan(0);
    // The alarm re-armed itself.
    await runInDurableObject(stub, async (_o, state) => expect(await state.storage.getAlarm()).not.toBeNull());
  });

  it("tracks VMs by heartbeat and forgets the silent ones", async () => {
    const stub = e.CONTROLLER.getByName("vm-registry");
    const t = Date.now();
    // Admission comes from the provider: it lists both VMs first.
    await stub.setMembers([
      { id: "a", url: "http://a" },
      { id: "b", url: "http://b" },
    ]);
    await stub.heartbeat(
      {
        id: "a",
        url: "http://a",
        state: "running",
        inflight: 4,
        queued: 3,
        slots: 4,
        service_ms: 12,
      },
      t,
    );
    await stub.heartbeat({ id: "b", url: "http://b", state: "booting", inflight: 0, slots: 4 }, t);
    let view = await stub.planView(t + 1_000);
    expect([view.vms.running, view.vms.booting]).toEqual([1, 1]);
    const table = await stub.routing({ nowMs: t + 1_000 });
    expect(table.vms.map((v: any) => v.id)).toEqual(["a"]);
    // The router sees the VM's queue and service time (for the expected wait) and the plan's budget.
    expect([table.vms[0].queued, table.vms[0].serviceMs]).toEqual([3, 12]);
    expect(typeof table.waitBudgetMs).toBe("number");
    view = await stub.planView(t + 10_000);
    expect(view.vms.running).toBe(0);
    expect(view.vms.instances.map((i: any) => i.state)).toEqual(["dead", "dead"]);
    expect((await stub.routing({ nowMs: t + 10_000 })).vms).toEqual([]);
  });
});

describe("controller schema", () => {
  it("a version-1 registry (with the unread p50/p99 columns) migrates to the current version and keeps its VMs", async () => {
    const stub = e.CONTROLLER.getByName("schema-v1");
    const t = Date.now();
    const columns: { names: string[]; version: string; tables: string[] } = await runInDurableObject(
      stub,
      async (instance, state) => {
        const o = instance as unknown as { migrate(): void };
        const sql = state.storage.sql;
        sql.exec("DROP TABLE vms");
        sql.exec(`CREATE TABLE vms (id TEXT PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL, inflight INTEGER NOT NULL, slots INTEGER NOT NULL,
        last_heartbeat_ms INTEGER NOT NULL, registered_ms INTEGER NOT NULL, p50_ms REAL, p99_ms REAL)`);
        sql.exec("INSERT INTO vms VALUES ('old', 'http://old', 'running', 0, 4, ?, ?, 1.5, 9)", t, t);
        sql.exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
        o.migrate();
        o.migrate(); // idempotent
        return {
          names: sql
            .exec<{ name: string }>("SELECT name FROM pragma_table_info('vms')")
            .toArray()
            .map((r) => r.name),
          version: sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value,
          tables: sql
            .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .toArray()
            .map((r) => r.name),
        };
      },
    );
    expect(columns.names).not.toContain("p50_ms");
    expect(columns.names).not.toContain("p99_ms");
    expect(columns.names).toEqual(expect.arrayContaining(["queued", "service_ms"]));
    expect(columns.version).toBe(String(CONTROLLER_SCHEMA_VERSION));
    expect(columns.tables).toEqual(expect.arrayContaining(["members", "nonces", "vms"]));
    // Version 4 admits only what the provider launched: the provider lists both.
    await stub.setMembers([
      { id: "old", url: "http://old" },
      { id: "new", url: "https://new.test" },
    ]);
    await stub.heartbeat({ id: "new", url: "https://new.test", state: "running", inflight: 0, slots: 4 }, t);
    expect((await stub.routing({ nowMs: t + 1_000 })).vms.map((v: any) => v.id)).toEqual(["old", "new"]);
  });
});

describe("cloud provider", () => {
  it("SERFLOW_PROVIDER=aws builds the Auto Scaling provider, names what is missing, refuses unknown kinds", async () => {
    const { providerFromEnv } = await import("../../durable-objects/controller.js");
    expect(providerFromEnv({})).toBeNull();
    expect(
      providerFromEnv({
        SERFLOW_PROVIDER: "aws",
        AWS_REGION: "eu-west-1",
        SERFLOW_AWS_ASG_NAME: "g",
        AWS_ACCESS_KEY_ID: "a",
        AWS_SECRET_ACCESS_KEY: "s",
        SERFLOW_AWS_VM_URL: "https://{instance_id}.vms.example.com",
      })!.name,
    ).toBe("aws");
    expect(() => providerFromEnv({ SERFLOW_PROVIDER: "aws" })).toThrow(/AWS_REGION must be set/);
    expect(() => providerFromEnv({ SERFLOW_PROVIDER: "gcp" })).toThrow(/"local" or "aws"/);
  });
});
