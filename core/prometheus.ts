// Prometheus text exposition (format 0.0.4) writer: families with HELP/TYPE, escaped label values.
export type Labels = Record<string, string | number>;

export class Exposition {
  private lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram" | "summary", help: string): this {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
      .join(",");
    this.lines.push(`${name}${l ? `{${l}}` : ""} ${formatValue(value)}`);
    return this;
  }

  /** Cumulative buckets from (upper bound in seconds, count) pairs, plus _sum and _count. */
  histogram(name: string, labels: Labels, buckets: Array<[number, number]>, sum: number): this {
    let cum = 0;
    const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
    for (const [le, c] of sorted) {
      cum += c;
      // Counts above the last finite bound only show in the +Inf bucket below.
      if (le !== Infinity) this.sample(`${name}_bucket`, { ...labels, le: formatValue(le) }, cum);
    }
    this.sample(`${name}_bucket`, { ...labels, le: "+Inf" }, cum);
    this.sample(`${name}_sum`, labels, sum);
    this.sample(`${name}_count`, labels, cum);
    return this;
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Fixed Prometheus bucket bounds (seconds) that the log histogram is folded into. */
export const LATENCY_BOUNDS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
