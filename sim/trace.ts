// Traces: one non-negative integer per line, the requests arriving in that second.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The shared trace `name` (wits, berkeley): from SERFLOW_TRACES, else ../shared/traces beside the repo. */
export function traceFile(name: string): string {
  return join(
    process.env.SERFLOW_TRACES ?? fileURLToPath(new URL("../../shared/traces/", import.meta.url)),
    `${name}.txt`,
  );
}

export function parseTrace(text: string, source = "trace"): number[] {
  const out: number[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l === "") continue;
    const v = Number(l);
    if (!Number.isInteger(v) || v < 0)
      throw new Error(`${source}:${i + 1}: expected a non-negative integer, got "${l.slice(0, 40)}"`);
    out.push(v);
  }
  if (out.length === 0) throw new Error(`${source}: no data`);
  return out;
}

export function loadTrace(file: string): number[] {
  return parseTrace(readFileSync(file, "utf8"), file);
}
