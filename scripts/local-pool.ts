// The `local` VM provider: real vm-service processes on this machine. It reconciles toward the desired
// count that the controller publishes in /plan (the controller cannot start processes itself), starts
// each VM with a boot delay standing in for a cloud VM's cold start, replaces VMs that die, and stops
// surplus VMs with SIGTERM so they drain first.
// It is also the admission authority for its VMs: it tells the controller which ids it started and at
// which URLs (PUT .../members, admin token), and gives each VM only its own key, vmKey(master, id).
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { vmKey } from "../core/signing.js";

export interface LocalPoolConfig {
  workerUrl: string;
  model: string;
  adminToken: string;
  /** The master key: VM keys are derived from it here, the VMs never see it. */
  signingKey: string;
  bootDelayS: number;
  slots: number;
  queueMs: number;
  firstPort: number;
  pollIntervalMs: number;
  log: (line: string) => void;
}

interface LocalVm {
  id: string;
  port: number;
  url: string;
  /** Null between admission and spawn. */
  proc: ChildProcess | null;
  stopping: boolean;
}

const VM_MAIN = fileURLToPath(new URL("../vm-service/main.ts", import.meta.url));

export class LocalPool {
  private vms: LocalVm[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private seq = 0;
  desired = 0;

  constructor(private readonly cfg: LocalPoolConfig) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.cfg.pollIntervalMs);
    void this.poll();
  }

  /** Live (not stopping) processes. */
  get live(): LocalVm[] {
    return this.vms.filter((v) => !v.stopping);
  }

  private polling = false;
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const res = await fetch(`${this.cfg.workerUrl}/v2/models/${this.cfg.model}/plan`, {
        headers: { authorization: `Bearer ${this.cfg.adminToken}` },
        signal: AbortSignal.timeout(2_000),
      });
      if (!res.ok) return;
      const plan = (await res.json()) as { vms: { desired: number } };
      await this.setDesired(plan.vms.desired);
    } catch {
      // The Worker is restarting or busy: keep the current pool.
    } finally {
      this.polling = false;
    }
  }

  async setDesired(n: number): Promise<void> {
    this.desired = n;
    const starting: LocalVm[] = [];
    while (this.live.length < n) starting.push(await this.addVm());
    // Newest first: the oldest VMs are warm and most likely paid for.
    for (const vm of this.live.slice(n).reverse()) this.stopVm(vm);
    // Admit before the processes exist, so their first heartbeat is accepted; the set is sent on every poll
    // too, so a restarted Worker relearns it.
    await this.syncMembers().catch((err) => this.cfg.log(`[pool] members update failed: ${err.message}`));
    for (const vm of starting) this.spawnVm(vm, await vmKey(this.cfg.signingKey, vm.id));
  }

  /** Tells the controller exactly which VMs this provider runs (ids and URLs); any other is refused. */
  private async syncMembers(): Promise<void> {
    const res = await fetch(`${this.cfg.workerUrl}/internal/v1/vms/${this.cfg.model}/members`, {
      method: "PUT",
      headers: { authorization: `Bearer ${this.cfg.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ vms: this.members() }),
      signal: AbortSignal.timeout(2_000),
    });
    if (!res.ok) this.cfg.log(`[pool] members update answered ${res.status}: ${await res.text()}`);
  }

  /** For tests and the members sync: what this provider launched. */
  members(): { id: string; url: string }[] {
    return this.vms.map((v) => ({ id: v.id, url: v.url }));
  }

  private async addVm(): Promise<LocalVm> {
    // The first port from firstPort that neither a VM of this pool nor another program holds: a VM on a
    // taken port would exit at once and its replacement would take the same port again, for ever.
    const used = new Set(this.vms.map((v) => v.port));
    let port = this.cfg.firstPort;
    while (used.has(port) || !(await portFree(port))) port++;
    const vm: LocalVm = {
      id: `local-${this.cfg.model}-${++this.seq}`,
      port,
      url: `http://127.0.0.1:${port}`,
      proc: null,
      stopping: false,
    };
    this.vms.push(vm);
    return vm;
  }

  private spawnVm(vm: LocalVm, key: string): void {
    const { id, port } = vm;
    // The VM gets its own key and nothing of the pool's secrets.
    const { SERFLOW_SIGNING_KEY: _master, SERFLOW_ADMIN_TOKEN: _admin, ...env } = process.env;
    const proc = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        VM_MAIN,
        "--port",
        String(port),
        "--id",
        id,
        "--controller",
        this.cfg.workerUrl,
        "--model",
        this.cfg.model,
        "--slots",
        String(this.cfg.slots),
        "--queue-ms",
        String(this.cfg.queueMs),
        "--boot-delay-s",
        String(this.cfg.bootDelayS),
      ],
      {
        env: { ...env, SERFLOW_VM_KEY: key },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    vm.proc = proc;
    const prefix = (chunk: Buffer) =>
      chunk
        .toString()
        .trimEnd()
        .split("\n")
        .forEach((l) => this.cfg.log(`[${id}] ${l}`));
    proc.stdout!.on("data", prefix);
    proc.stderr!.on("data", prefix);
    proc.on("exit", (code, signal) => {
      this.vms = this.vms.filter((v) => v !== vm);
      if (!vm.stopping) this.cfg.log(`[${id}] exited unexpectedly (${signal ?? code}); the pool will replace it`);
    });
    this.cfg.log(`[pool] started ${id} on port ${port} (boot ${this.cfg.bootDelayS}s)`);
  }

  private stopVm(vm: LocalVm): void {
    vm.stopping = true;
    const proc = vm.proc;
    if (!proc) {
      this.vms = this.vms.filter((v) => v !== vm); // admitted, never started
      return;
    }
    proc.kill("SIGTERM");
    setTimeout(() => proc.kill("SIGKILL"), 15_000).unref();
    this.cfg.log(`[pool] stopping ${vm.id} (draining)`);
  }

  /** Stops every VM and waits for the processes to exit. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const exits = this.vms.map(
      (v) => new Promise((r) => (!v.proc || v.proc.exitCode !== null ? r(null) : v.proc.once("exit", r))),
    );
    for (const vm of this.vms) this.stopVm(vm);
    await Promise.all(exits);
  }

  /** The pid of VM `id` (0 when not running). */
  pidOf(id: string): number {
    return this.vms.find((v) => v.id === id)?.proc?.pid ?? 0;
  }

  /** For fault tests: the pids of live VM processes. */
  pids(): number[] {
    return this.live.map((v) => v.proc?.pid ?? 0).filter(Boolean);
  }
}

/** Whether a listener could bind 127.0.0.1:port right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}
