// Resident memory of processes, read from /proc (Linux): for the soak and the memory benchmark.
import { readFileSync, readdirSync } from "node:fs";

/** RSS in MB, or null when the process is gone. */
export function rssMb(pid: number): number | null {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** pid -> command name for a process and all its descendants. */
export function processTree(root: number): Map<number, string> {
  const children = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {}
  }
  const out = new Map<number, string>();
  const walk = (p: number) => {
    try {
      out.set(p, readFileSync(`/proc/${p}/comm`, "utf8").trim());
    } catch {}
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/** pids of this process's descendants with this command name ([] without /proc). */
export function descendantPids(comm: string): number[] {
  try {
    return [...processTree(process.pid)].filter(([p, c]) => c === comm && p !== process.pid).map(([p]) => p);
  } catch {
    return [];
  }
}

/** CPU time (user + system, ms) a process has used so far. */
export function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms (USER_HZ = 100 on Linux)
}
