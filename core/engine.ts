// Runs a contiguous range of stages of an early-exit model over a batch, stopping each row at its exit.
// The runtime (onnxruntime-web in the Worker, onnxruntime-node on a VM) is behind StageRunner.
import { maxProb, shouldExit, type ExitCriterion } from "./exit.js";
import { rowSize, type ModelManifest } from "./manifest.js";

export interface StageRunner {
  /** Runs one stage on `rows` rows; `hidden` is absent for the last stage. */
  run(stage: number, input: Float32Array, rows: number): Promise<{ probs: Float32Array; hidden?: Float32Array }>;
}

export interface RowResult {
  probs: number[];
  label: number;
  confidence: number;
  exitStage: number;
}

/** Rows that did not exit in the range, with the input of `stage`. */
export interface Pending {
  stage: number;
  /** Indices into the caller's batch. */
  rows: number[];
  data: Float32Array;
}

export interface StageTiming {
  stage: number;
  rows: number;
  exits: number;
  ms: number;
}

export interface RangeOutcome {
  results: Map<number, RowResult>;
  pending: Pending | null;
  timings: StageTiming[];
}

export function criterionFor(m: ModelManifest, stage: number, exitThreshold?: number): ExitCriterion {
  if (stage === m.stages.length - 1) return { rule: "max_softmax", threshold: 0 };
  if (exitThreshold !== undefined) return { rule: "max_softmax", threshold: exitThreshold };
  return m.stages[stage].exit;
}

/** Input shape of a stage, batch first. */
export function stageInputShape(m: ModelManifest, stage: number, rows: number): number[] {
  const s = stage === 0 ? m.input.shape : m.stages[stage - 1].hidden_shape!;
  return [rows, ...s.slice(1)];
}

/**
 * Runs stages [from, until) for the given rows. Rows that exit are returned in `results`; the rest
 * come back as `pending` with their hidden state, compacted, ready for the next tier.
 */
export async function runStages(
  runner: StageRunner,
  m: ModelManifest,
  pending: Pending,
  until: number,
  exitThreshold?: number,
  now: () => number = () => performance.now(),
): Promise<RangeOutcome> {
  const results = new Map<number, RowResult>();
  const timings: StageTiming[] = [];
  let cur: Pending | null = pending;
  const classes = m.classes;
  while (cur && cur.stage < until) {
    const { stage, rows, data }: Pending = cur;
    const t0 = now();
    const out = await runner.run(stage, data, rows.length);
    const ms = now() - t0;
    const crit = criterionFor(m, stage, exitThreshold);
    const keep: number[] = [];
    for (let r = 0; r < rows.length; r++) {
      const off = r * classes;
      if (!out.hidden || shouldExit(out.probs, off, classes, crit)) {
        const { label, conf } = maxProb(out.probs, off, classes);
        results.set(rows[r], {
          probs: Array.from(out.probs.subarray(off, off + classes)),
          label,
          confidence: conf,
          exitStage: stage,
        });
      } else keep.push(r);
    }
    timings.push({ stage, rows: rows.length, exits: rows.length - keep.length, ms });
    if (keep.length === 0 || !out.hidden) {
      cur = null;
      break;
    }
    const width = rowSize(m.stages[stage].hidden_shape!);
    cur = { stage: stage + 1, rows: keep.map((r) => rows[r]), data: compactRows(out.hidden, width, keep) };
  }
  return { results, pending: cur, timings };
}

function compactRows(data: Float32Array, width: number, keep: number[]): Float32Array {
  if (keep.length * width === data.length) return data;
  const out = new Float32Array(keep.length * width);
  keep.forEach((r, i) => out.set(data.subarray(r * width, (r + 1) * width), i * width));
  return out;
}
