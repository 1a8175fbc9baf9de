// Controller Durable Object, one per model: an alarm loop that turns stats + prices into a plan with the
// pure policy of core/policy.ts, and the registry of live VMs (registration and heartbeats).
// The DO only loads, calls, saves and re-arms; every decision is in the policy.
import { DurableObject } from "cloudflare:workers";
import type { ControlConfig } from "../core/config.js";
import {
  initialPolicyState,
  plan as runPolicy,
  type Observations,
  type Plan,
  type PolicyState,
} from "../core/policy.js";
import type { RoutingTable, VmState, VmView } from "../core/routing.js";
import type { VmReport } from "../core/vm-report.js";
import type { VmProvider } from "../core/providers/provider.js";
import { AwsAsgProvider, parseAwsAsgEnv } from "../core/providers/aws-asg.js";
import { parseWorkerEnv, workerEnv } from "../core/worker-env.js";
import type { PlanView, StatsView } from "../core/views.js";
import { observationsFrom } from "./observations.js";
import { getModel } from "../models/registry.js";

export const CONTROLLER_SCHEMA_VERSION = 3;
/** A VM that has not sent a heartbeat for this long is dead (heartbeats come every second). */
export const HEARTBEAT_TIMEOUT_MS = 5_000;
/** Dead VMs stay listed this long, then are forgotten. */
export const DEAD_RETENTION_MS = 60_000;

type VmRow = {
  id: string;
  url: string;
  state: VmState;
  inflight: number;
  slots: number;
  last_heartbeat_ms: number;
  registered_ms: number;
  queued: number;
  service_ms: number | null;
};

export class ControllerDO extends DurableObject<Env> {
  private sql: SqlStorage;
  private config: ControlConfig;
  private model: string | null = null;
  /** A cloud provider the controller drives itself; the local pool instead reads `desired` from /plan. */
  private provider: VmProvider | null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.config = workerEnv(env).control;
    this.provider = providerFromEnv(env as unknown as Record<string, string | undefined>);
    ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      // An object woken by its alarm has no name (ctx.id.name is unset): remember it from a named call.
      if (ctx.id.name) this.put("model_name", ctx.id.name);
      this.model = ctx.id.name ?? this.get<string>("model_name");
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + 1_000);
    });
  }

  private migrate(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const version = this.get<number>("schema_version") ?? 0;
    if (version < 1)
      this.sql.exec(`CREATE TABLE IF NOT EXISTS vms (id TEXT PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL, inflight INTEGER NOT NULL, slots INTEGER NOT NULL,
        last_heartbeat_ms INTEGER NOT NULL, registered_ms INTEGER NOT NULL)`);
    // Version 1 also stored each VM's p50/p99, which nothing read.
    else if (version < 2) for (const c of ["p50_ms", "p99_ms"]) this.sql.exec(`ALTER TABLE vms DROP COLUMN ${c}`);
    // Version 3: what routing within the wait budget reads: calls waiting on the VM, its median call time.
    if (version < 3)
      for (const c of ["queued INTEGER NOT NULL DEFAULT 0", "service_ms REAL"])
        this.sql.exec(`ALTER TABLE vms ADD COLUMN ${c}`);
    if (version < CONTROLLER_SCHEMA_VERSION) this.put("schema_version", CONTROLLER_SCHEMA_VERSION);
  }

  private get<T>(key: string): T | null {
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : null;
  }

  private put(key: string, value: unknown): void {
    this.sql.exec(
      `INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      key,
      JSON.stringify(value),
    );
  }

  /** One control period. Idempotent: a tick reads the state, computes, writes; re-armed whatever happens. */
  async alarm(): Promise<void> {
    try {
      await this.tick(Date.now());
    } catch (err) {
      console.error(`controller tick failed: ${err}`);
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + this.config.controlPeriodS * 1000);
    }
  }

  async tick(nowMs: number): Promise<Plan> {
    this.expireVms(nowMs);
    const name = this.model;
    if (!name) throw new Error("controller has no model name yet: the first routing read from a Worker sets it");
    const stats: StatsView = await this.env.STATS.getByName(name).stats(this.config.windowS, nowMs);
    const vms = this.vmRows();
    const manifest = getModel(name)?.manifest;
    const obs: Observations = observationsFrom(stats, vms, manifest);
    const state = this.get<PolicyState>("policy_state") ?? initialPolicyState();
    const out = runPolicy(state, obs, this.config, nowMs / 1000);
    // VMs are billed from the scale-up decision, boot included: count what runs or boots each period.
    const lastTick = this.get<number>("last_tick_ms");
    const live = vms.filter((v) => v.state === "running" || v.state === "booting").length;
    if (lastTick !== null)
      this.put(
        "vm_seconds_total",
        (this.get<number>("vm_seconds_total") ?? 0) +
          (live * Math.min(nowMs - lastTick, 10 * this.config.controlPeriodS * 1000)) / 1000,
      );
    this.put("last_tick_ms", nowMs);
    this.put("ticks_total", (this.get<number>("ticks_total") ?? 0) + 1);
    this.put("policy_state", out.state);
    this.put("plan", out.plan);
    this.put("computed_at", new Date(nowMs).toISOString());
    await this.provider?.setDesired(out.plan.desiredVms);
    return out.plan;
  }

  private expireVms(nowMs: number): void {
    this.sql.exec(
      `UPDATE vms SET state = 'dead' WHERE state != 'dead' AND last_heartbeat_ms < ?`,
      nowMs - HEARTBEAT_TIMEOUT_MS,
    );
    this.sql.exec(`DELETE FROM vms WHERE state = 'dead' AND last_heartbeat_ms < ?`, nowMs - DEAD_RETENTION_MS);
  }

  private vmRows(): VmRow[] {
    return this.sql.exec<VmRow>(`SELECT * FROM vms ORDER BY registered_ms`).toArray();
  }

  /** Registration and heartbeat are the same call: the VM reports what it is now. */
  heartbeat(r: VmReport, nowMs = Date.now()): { desired: number } {
    this.sql.exec(
      `INSERT INTO vms (id, url, state, inflight, slots, last_heartbeat_ms, registered_ms, queued, service_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET url = excluded.url, state = excluded.state, inflight = excluded.inflight,
       slots = excluded.slots, last_heartbeat_ms = excluded.last_heartbeat_ms, queued = excluded.queued,
       service_ms = excluded.service_ms`,
      r.id,
      r.url,
      r.state,
      r.inflight,
      r.slots,
      nowMs,
      nowMs,
      r.queued ?? 0,
      r.service_ms ?? null,
    );
    return { desired: this.get<Plan>("plan")?.desiredVms ?? this.config.vm.min };
  }

  /** A VM going away (drain or stop): no new requests from the next routing refresh. */
  deregister(id: string): void {
    this.sql.exec(`UPDATE vms SET state = 'dead' WHERE id = ?`, id);
  }

  /** The Worker's routing read; `model` names an object that its alarm woke without a name. */
  routing({ model, nowMs = Date.now() }: { model?: string; nowMs?: number } = {}): RoutingTable {
    if (model && !this.model) {
      this.model = model;
      this.put("model_name", model);
    }
    this.expireVms(nowMs);
    const p = this.get<Plan>("plan");
    const vms: VmView[] = this.vmRows()
      .filter((v) => v.state === "running")
      .map((v) => ({
        id: v.id,
        url: v.url,
        state: v.state,
        inflight: v.inflight,
        slots: v.slots,
        queued: v.queued,
        serviceMs: v.service_ms,
      }));
    return { vmGroupStart: p?.vmGroupStart ?? null, vms, waitBudgetMs: p?.waitBudgetMs ?? 0 };
  }

  planView(nowMs = Date.now()): PlanView {
    this.expireVms(nowMs);
    const p = this.get<Plan>("plan");
    const rows = this.vmRows();
    const count = (s: VmState) => rows.filter((v) => v.state === s).length;
    return {
      stages: (p?.stages ?? []).map((s) => ({ stage: s.stage, placement: s.placement, vm_share: s.vmShare })),
      vms: {
        desired: p?.desiredVms ?? this.config.vm.min,
        running: count("running"),
        booting: count("booting"),
        instances: rows.map((v) => ({
          id: v.id,
          url: v.url,
          state: v.state,
          inflight: v.inflight,
          slots: v.slots,
          last_heartbeat: new Date(v.last_heartbeat_ms).toISOString(),
        })),
      },
      reason: p?.reason ?? "no plan yet: the first control period has not run",
      computed_at: this.get<string>("computed_at"),
      vm_group_start: p?.vmGroupStart ?? null,
      expected_cost_usd_per_hour: p?.expectedCostUsdPerHour ?? null,
      break_even_utilisation: p?.breakEvenUtilisation ?? null,
      vm_seconds_total: this.get<number>("vm_seconds_total") ?? 0,
      ticks_total: this.get<number>("ticks_total") ?? 0,
      config: this.config,
    };
  }
}

/** SERFLOW_PROVIDER: "local" (default: the local pool polls /plan) or "aws" (an Auto Scaling group). */
export function providerFromEnv(env: Record<string, string | undefined>): VmProvider | null {
  return parseWorkerEnv(env).provider === "aws" ? new AwsAsgProvider(parseAwsAsgEnv(env)) : null;
}
