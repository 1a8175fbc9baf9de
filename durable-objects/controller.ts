// Controller Durable Object, one per model: an alarm loop that turns stats + prices into a plan with the
// pure policy of core/policy.ts, and the registry of live VMs. A VM enters the registry only when its
// provider says it launched it (members: id and URL); its heartbeats then report state and load.
// Nonces of signed VM calls are checked here, where every isolate's calls meet.
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
import { REGISTRY_MAX_VMS, type VmMember, type VmReport } from "../core/vm-report.js";
import { SIGNATURE_WINDOW_MS } from "../core/signing.js";
import type { VmProvider } from "../core/providers/provider.js";
import { AwsAsgProvider, parseAwsAsgEnv } from "../core/providers/aws-asg.js";
import { ForbiddenError, UnauthorizedError } from "../core/errors.js";
import { parseWorkerEnv, workerEnv } from "../core/worker-env.js";
import type { PlanView, StatsView } from "../core/views.js";
import { observationsFrom } from "./observations.js";
import { getModel } from "../models/registry.js";

export const CONTROLLER_SCHEMA_VERSION = 4;
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
  private noncesPrunedMs = 0;

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
    // Version 4: admission from the provider, and nonces of signed VM calls.
    if (version < 4) {
      this.sql.exec(
        `CREATE TABLE IF NOT EXISTS members (id TEXT PRIMARY KEY, url TEXT NOT NULL, admitted_ms INTEGER NOT NULL)`,
      );
      this.sql.exec(`CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL)`);
    }
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
    if (this.provider) {
      await this.provider.setDesired(out.plan.desiredVms);
      this.setMembers(await this.provider.members(), nowMs);
    }
    return out.plan;
  }

  /**
   * The provider's word on which VMs it launched (ids and URLs, already checked by parseMembers or the
   * provider): the whole set, replacing the last. A VM no longer listed leaves the routing table at once.
   */
  setMembers(members: VmMember[], nowMs = Date.now()): { admitted: number } {
    if (members.length > REGISTRY_MAX_VMS)
      throw new ForbiddenError(`at most ${REGISTRY_MAX_VMS} VMs, the provider listed ${members.length}`);
    const keep = new Set(members.map((m) => m.id));
    for (const { id } of this.sql.exec<{ id: string }>(`SELECT id FROM members`).toArray())
      if (!keep.has(id)) this.sql.exec(`DELETE FROM members WHERE id = ?`, id);
    for (const m of members)
      this.sql.exec(
        `INSERT INTO members VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET url = excluded.url`,
        m.id,
        m.url,
        nowMs,
      );
    // A VM dropped by its provider, or moved to another URL, stops getting traffic now.
    this.sql.exec(
      `UPDATE vms SET state = 'dead' WHERE state != 'dead' AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = vms.id AND m.url = vms.url)`,
    );
    return { admitted: members.length };
  }

  /** Refuses a nonce seen within twice the signature window; remembered in SQLite, so across restarts. */
  private freshNonce(nonce: string, nowMs: number): void {
    if (nowMs - this.noncesPrunedMs > 1_000) {
      this.noncesPrunedMs = nowMs;
      this.sql.exec(`DELETE FROM nonces WHERE seen_ms < ?`, nowMs - 2 * SIGNATURE_WINDOW_MS);
    }
    const seen = this.sql.exec(`INSERT INTO nonces VALUES (?, ?) ON CONFLICT(nonce) DO NOTHING`, nonce, nowMs);
    if (seen.rowsWritten === 0) throw new UnauthorizedError("replayed request");
  }

  /** The member `id`, or 403: a VM its provider did not launch is never admitted. */
  private member(id: string): VmMember {
    const m = this.sql.exec<{ id: string; url: string }>(`SELECT id, url FROM members WHERE id = ?`, id).toArray()[0];
    if (!m) throw new ForbiddenError(`VM "${id}" was not launched by this model's provider`);
    return m;
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

  /**
   * A heartbeat from a VM its provider launched, at the URL it was launched at (the signature, checked by
   * the Worker, names the id). Slots are capped at vm.concurrency: a VM cannot claim more traffic.
   */
  heartbeat(r: VmReport, nowMs = Date.now(), nonce?: string): { desired: number } | Refusal {
    return refusing(() => this.beat(r, nowMs, nonce));
  }

  private beat(r: VmReport, nowMs: number, nonce?: string): { desired: number } {
    const m = this.member(r.id);
    if (r.url !== m.url)
      throw new ForbiddenError(`VM "${r.id}" reports url ${r.url}, its provider launched it at ${m.url}`);
    if (nonce !== undefined) this.freshNonce(nonce, nowMs);
    this.sql.exec(
      `INSERT INTO vms (id, url, state, inflight, slots, last_heartbeat_ms, registered_ms, queued, service_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET url = excluded.url, state = excluded.state, inflight = excluded.inflight,
       slots = excluded.slots, last_heartbeat_ms = excluded.last_heartbeat_ms, queued = excluded.queued,
       service_ms = excluded.service_ms`,
      r.id,
      m.url,
      r.state,
      Math.min(r.inflight, this.config.vm.slots),
      Math.min(r.slots, this.config.vm.slots),
      nowMs,
      nowMs,
      r.queued ?? 0,
      r.service_ms ?? null,
    );
    return { desired: this.get<Plan>("plan")?.desiredVms ?? this.config.vm.min };
  }

  /** A VM going away (drain or stop): no new requests from the next routing refresh. Only its own id. */
  deregister(id: string, nowMs = Date.now(), nonce?: string): { ok: true } | Refusal {
    return refusing(() => {
      this.member(id);
      if (nonce !== undefined) this.freshNonce(nonce, nowMs);
      this.sql.exec(`UPDATE vms SET state = 'dead' WHERE id = ?`, id);
      return { ok: true as const };
    });
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
    // A plan stored before admitWaitMs existed has none: the router then admits up to the budget.
    const admit = p?.admitWaitMs === undefined ? {} : { admitWaitMs: p.admitWaitMs };
    return { vmGroupStart: p?.vmGroupStart ?? null, vms, waitBudgetMs: p?.waitBudgetMs ?? 0, ...admit };
  }

  private allOnWorkers(): Plan["stages"] {
    const n = (this.model && getModel(this.model)?.manifest.stages.length) || 0;
    return Array.from({ length: n }, (_, stage) => ({ stage, placement: "worker", vmShare: 0 }));
  }

  planView(nowMs = Date.now()): PlanView {
    this.expireVms(nowMs);
    const p = this.get<Plan>("plan");
    const rows = this.vmRows();
    const count = (s: VmState) => rows.filter((v) => v.state === s).length;
    // Before the first tick the plan is the default, every stage on Workers (INTERFACE: a placement per stage).
    const stages = p?.stages ?? this.allOnWorkers();
    return {
      stages: stages.map((s) => ({ stage: s.stage, placement: s.placement, vm_share: s.vmShare })),
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
      reason: p?.reason ?? "every stage on Workers, the default: no control period has run yet",
      computed_at: this.get<string>("computed_at") ?? new Date(nowMs).toISOString(),
      vm_group_start: p?.vmGroupStart ?? null,
      expected_cost_usd_per_hour: p?.expectedCostUsdPerHour ?? null,
      break_even_utilisation: p?.breakEvenUtilisation ?? null,
      vm_seconds_total: this.get<number>("vm_seconds_total") ?? 0,
      ticks_total: this.get<number>("ticks_total") ?? 0,
      config: this.config,
    };
  }
}

/** Why a VM call was refused. Returned, not thrown: error classes do not survive the RPC boundary. */
export interface Refusal {
  refused: "forbidden" | "replayed";
  error: string;
}

function refusing<T>(fn: () => T): T | Refusal {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ForbiddenError) return { refused: "forbidden", error: err.message };
    if (err instanceof UnauthorizedError) return { refused: "replayed", error: err.message };
    throw err;
  }
}

/** SERFLOW_PROVIDER: "local" (default: the local pool polls /plan) or "aws" (an Auto Scaling group). */
export function providerFromEnv(env: Record<string, string | undefined>): VmProvider | null {
  return parseWorkerEnv(env).provider === "aws" ? new AwsAsgProvider(parseAwsAsgEnv(env)) : null;
}
