// `npx tsx scripts/mutation-summary.ts [reports/mutation/mutation.json] [--survivors]`: the README's table
// of Stryker's score per file (killed + timed out over every mutant that is not ignored), and with
// --survivors every surviving or uncovered mutant as file:line:column, mutator and replacement.
import { readFileSync } from "node:fs";

interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}
const args = process.argv.slice(2);
const path = args.find((a) => !a.startsWith("--")) ?? "reports/mutation/mutation.json";
const report = JSON.parse(readFileSync(path, "utf8")) as { files: Record<string, { mutants: Mutant[] }> };

const COLUMNS = ["Killed", "Timeout", "Survived", "NoCoverage", "Ignored"] as const;
const rows: string[][] = [];
const total = Object.fromEntries(COLUMNS.map((c) => [c, 0])) as Record<(typeof COLUMNS)[number], number>;
const score = (c: typeof total) => {
  const detected = c.Killed + c.Timeout;
  const all = detected + c.Survived + c.NoCoverage;
  return all ? `${((100 * detected) / all).toFixed(1)}%` : "n/a";
};
const open: string[] = [];
for (const [file, { mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const c = Object.fromEntries(COLUMNS.map((k) => [k, 0])) as typeof total;
  for (const m of mutants) {
    if (m.status in c) c[m.status as keyof typeof c]++;
    if (m.status === "Survived" || m.status === "NoCoverage") {
      const { line, column } = m.location.start;
      const r = (m.replacement ?? "").replace(/\s+/g, " ").slice(0, 80);
      open.push(`${file}:${line}:${column} ${m.status} ${m.mutatorName} => ${r}`);
    }
  }
  for (const k of COLUMNS) total[k] += c[k];
  rows.push([`\`${file}\``, score(c), ...COLUMNS.map((k) => String(c[k]))]);
}
rows.push(["**all**", `**${score(total)}**`, ...COLUMNS.map((k) => String(total[k]))]);

const head = ["file", "score", "killed", "timeout", "survived", "no coverage", "static (ignored)"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log([line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"));
if (args.includes("--survivors")) console.log(`\n${open.join("\n")}`);
