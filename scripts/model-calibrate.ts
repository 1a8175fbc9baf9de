// `npm run model:calibrate -- NAME --data FILE (--min-accuracy X | --within D) [--profile FILE]
// [--rate RPS] [--dry-run]`: chooses per-stage exit thresholds on a labelled validation set
// (core/labelled.ts formats) so the chain's accuracy stays >= X (or within D points of the last head),
// writes them to models/NAME/manifest.json, and prints accuracy, exit shares and the expected cost.
// Stage costs come from a model:profile file (Worker CPU-ms per stage) or, without one, are measured
// here with onnxruntime-node (Worker CPU then taken as equal to it: say so).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { chooseThresholds, evaluateChain, type StageProbs } from "../core/calibrate.js";
import { faasComputeUsd, faasRequestUsd, WORKERS_PRICES } from "../core/cost.js";
import { decodeLabelled } from "../core/labelled.js";
import { rowSize } from "../core/manifest.js";
import { MODELS_ROOT, nodeSessions, readModelFolder, shown } from "../models/folder.js";

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

async function main() {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      data: { type: "string" },
      "min-accuracy": { type: "string" },
      within: { type: "string" },
      profile: { type: "string" },
      rate: { type: "string", default: "100" },
      "dry-run": { type: "boolean", default: false },
      models: { type: "string", default: MODELS_ROOT },
    },
  });
  const name = positionals[0];
  const usage =
    "usage: npm run model:calibrate -- NAME --data LABELLED.json (--min-accuracy 0.98 | --within 0.5) [--profile FILE] [--rate RPS] [--dry-run]";
  if (!name || !a.data || (a["min-accuracy"] === undefined) === (a.within === undefined)) {
    console.error(usage);
    process.exit(2);
  }
  const dir = join(a.models as string, name);
  const { manifest: m, files } = readModelFolder(dir);
  const sessions = await nodeSessions(dir, m, files);
  const size = rowSize(m.input.shape);
  const data = decodeLabelled(JSON.parse(readFileSync(a.data, "utf8")), size, a.data);
  const n = data.labels.length;
  const bad = data.labels.findIndex((l) => l >= m.classes);
  if (bad >= 0)
    throw new Error(`${a.data}: labels[${bad}] is ${data.labels[bad]}; model "${name}" has ${m.classes} classes`);

  // Every stage's head on every row (the whole set as one batch per stage), timed for the cost weights.
  const stages: StageProbs[] = [];
  const measuredMs: number[] = [];
  let feed: ort.Tensor = new ort.Tensor("float32", data.data, [n, ...m.input.shape.slice(1)]);
  for (const [i, s] of m.stages.entries()) {
    const t0 = performance.now();
    const out = await sessions[i].run({ [s.input]: feed });
    measuredMs.push((performance.now() - t0) / n);
    stages.push({ probs: out[s.probs_output].data as Float32Array, rule: s.exit.rule });
    if (s.hidden_output) feed = out[s.hidden_output];
  }
  const profile = a.profile ? JSON.parse(readFileSync(a.profile, "utf8")) : null;
  const stageMs: number[] = profile
    ? profile.stages.map((s: { faas_ms: { median: number } }) => s.faas_ms.median)
    : measuredMs;
  if (stageMs.length !== m.stages.length)
    throw new Error(`${a.profile}: ${stageMs.length} stages, model "${name}" has ${m.stages.length}`);

  const last = m.stages.length - 1;
  const final = evaluateChain(
    stages,
    data.labels,
    m.classes,
    m.stages.map((_, i) => (i === last ? 0 : 1)),
  ).accuracy;
  const target = a.within !== undefined ? final - Number(a.within) / 100 : Number(a["min-accuracy"]);
  if (!(target >= 0 && target <= 1)) throw new Error("--min-accuracy must be in [0, 1], --within in points (e.g. 0.5)");
  const before = evaluateChain(
    stages,
    data.labels,
    m.classes,
    m.stages.map((s) => s.exit.threshold),
  );
  const r = chooseThresholds(stages, data.labels, m.classes, target, stageMs);
  if (!r.feasible)
    throw new Error(
      `model "${name}": even with no early exit the last head reaches ${pct(final)} on ${shown(a.data)}, below the target ${pct(target)}; nothing written`,
    );

  const rate = Number(a.rate);
  const perRequest = (reach: number[]) =>
    faasRequestUsd(WORKERS_PRICES) +
    faasComputeUsd(
      WORKERS_PRICES,
      reach.reduce((s, x, i) => s + x * stageMs[i], 0),
    );
  const line = (label: string, t: number[], o: typeof before) =>
    `${label.padEnd(9)} thresholds ${t.map((x) => x.toString()).join(" / ")}  accuracy ${pct(o.accuracy)}  exits ${o.exitShares.map(pct).join(" / ")}  Workers $${(perRequest(o.reach) * 1e6).toFixed(4)} per million, $${(perRequest(o.reach) * rate * 3600).toFixed(4)} per hour at ${rate} req/s`;
  console.log(
    `model "${name}": ${n} labelled rows from ${shown(a.data)}; last head alone ${pct(final)}; target ${pct(target)}`,
  );
  console.log(
    `stage cost weights (ms per row): ${stageMs.map((x) => x.toPrecision(3)).join(" / ")} (${profile ? `faas_ms medians from ${a.profile}` : "onnxruntime-node here, Worker CPU taken as equal"})`,
  );
  console.log(
    line(
      "before",
      m.stages.map((s) => s.exit.threshold),
      before,
    ),
  );
  console.log(line("chosen", r.thresholds, r.outcome));
  if (a["dry-run"]) return console.log("--dry-run: manifest not changed");
  // Only the thresholds change; every other byte of the manifest stays as written.
  const path = join(dir, "manifest.json");
  const raw = JSON.parse(readFileSync(path, "utf8"));
  raw.stages.forEach((s: { exit: { threshold: number } }, i: number) => (s.exit.threshold = r.thresholds[i]));
  writeFileSync(path, `${JSON.stringify(raw, null, 2)}\n`);
  console.log(`wrote the thresholds to ${shown(path)}; run npm run model:check -- ${name}`);
}

main().catch((err) => {
  console.error(`model:calibrate failed: ${(err as Error).message}`);
  process.exit(1);
});
