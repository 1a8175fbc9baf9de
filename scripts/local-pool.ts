// The `local` VM provider: real vm-service processes on this machine. It reconciles toward the desired
// count that the controller publishes in /plan (the controller cannot start processes itself), starts
// each VM with a boot delay standing in for a cloud VM's cold start, replaces VMs that die, and stops
// surplus VMs with SIGTERM so they drain first.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface LocalPoolConfig {
  workerUrl: string;
  model: string;
  adminToken: string;
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
  proc: ChildProcess;
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

  private async poll(): Promise<void> {
    try {
      const res = await fetch(`${this.cfg.workerUrl}/v2/models/${this.cfg.model}/plan`, {
        headers: { authorization: `Bearer ${this.cfg.adminToken}` },
        signal: AbortSignal.timeout(2_000),
      });
      if (!res.ok) return;
      const plan = (await res.json()) as { vms: { desired: number } };
      this.setDesired(plan.vms.desired);
    } catch {
      // The Worker is restarting or busy: keep the current pool.
    }
  }

  setDesired(n: number): void {
    this.desired = n;
    while (this.live.length < n) this.spawnVm();
    // Newest first: the oldest VMs are warm and most likely paid for.
    for (const vm of this.live.slice(n).reverse()) this.stopVm(vm);
  }

  private spawnVm(): void {
    const used = new Set(this.vms.map((v) => v.port));
    let port = this.cfg.firstPort;
    while (used.has(port)) port++;
    const id = `local-${this.cfg.model}-${++this.seq}`;
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
        env: { ...process.env, SERFLOW_SIGNING_KEY: this.cfg.signingKey },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const vm: LocalVm = { id, port, proc, stopping: false };
    this.vms.push(vm);
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
    vm.proc.kill("SIGTERM");
    setTimeout(() => vm.proc.kill("SIGKILL"), 15_000).unref();
    this.cfg.log(`[pool] stopping ${vm.id} (draining)`);
  }

  /** Stops every VM and waits for the processes to exit. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const exits = this.vms.map(
      (v) => new Promise((r) => (v.proc.exitCode !== null ? r(null) : v.proc.once("exit", r))),
    );
    for (const vm of this.vms) this.stopVm(vm);
    await Promise.all(exits);
  }

  /** For fault tests: the pids of live VM processes. */
  pids(): number[] {
    return this.live.map((v) => v.proc.pid!).filter(Boolean);
  }
}
