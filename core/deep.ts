// The deep-stage call: a binary frame in (hidden state of the rows that did not exit), results out.
// Served by vm-service (onnxruntime-node) and by the Worker's DeepStages entrypoint (onnxruntime-web).
import { runStages, stageInputShape, type RowResult, type StageRunner, type StageTiming } from "./engine.js";
import { InvalidInputError } from "./errors.js";
import { decodeFrame } from "./frame.js";
import type { ModelManifest } from "./manifest.js";

export interface DeepRow extends RowResult {
  /** Index of the row within the frame. */
  row: number;
}

export interface DeepResult {
  results: DeepRow[];
  timings: StageTiming[];
}

export const DEEP_PATH = "/internal/v1/deep";

export type ModelLookup = (name: string) => { manifest: ModelManifest; runner: () => Promise<StageRunner> } | undefined;

/** A decoded frame checked against its model: ready to run. */
interface DeepJob {
  manifest: ModelManifest;
  runner: () => Promise<StageRunner>;
  fromStage: number;
  exitThreshold: number | undefined;
  rows: number;
  data: Float32Array;
}

function prepare(models: ModelLookup, bytes: Uint8Array): DeepJob {
  const { header, data } = decodeFrame(bytes);
  const model = models(header.model);
  if (!model) throw new InvalidInputError(`frame: unknown model "${header.model}"`);
  const m = model.manifest;
  // Stage 0 comes to a VM only when the manifest lets it leave the Worker (the input is its frame).
  const first = m.stages[0].placement === "worker" ? 1 : 0;
  if (header.fromStage < first || header.fromStage >= m.stages.length) {
    throw new InvalidInputError(`frame: fromStage ${header.fromStage} must be in [${first}, ${m.stages.length - 1}]`);
  }
  // decodeFrame has checked the data against header.shape; this checks header.shape against the stage.
  const rows = header.shape[0];
  const want = stageInputShape(m, header.fromStage, rows);
  if (header.shape.length !== want.length || header.shape.some((d, i) => d !== want[i])) {
    throw new InvalidInputError(
      `frame: shape ${JSON.stringify(header.shape)} does not match stage ${header.fromStage} input ${JSON.stringify(want)}`,
    );
  }
  return {
    manifest: m,
    runner: model.runner,
    fromStage: header.fromStage,
    exitThreshold: header.exitThreshold,
    rows,
    data,
  };
}

/** Runs the jobs (same model, start stage and threshold) as one batch and splits the outcome per job:
 *  each gets its own rows, and per stage its own row and exit counts with the batch's time. */
async function runBatch(jobs: DeepJob[]): Promise<DeepResult[]> {
  const { manifest: m, fromStage, exitThreshold } = jobs[0];
  const total = jobs.reduce((n, j) => n + j.rows, 0);
  const data = jobs.length === 1 ? jobs[0].data : new Float32Array(total * (jobs[0].data.length / jobs[0].rows));
  if (jobs.length > 1) {
    let off = 0;
    for (const j of jobs) {
      data.set(j.data, off);
      off += j.data.length;
    }
  }
  const out = await runStages(
    await jobs[0].runner(),
    m,
    { stage: fromStage, rows: Array.from({ length: total }, (_, i) => i), data },
    m.stages.length,
    exitThreshold,
  );
  let first = 0;
  return jobs.map((j) => {
    const results: DeepRow[] = [];
    for (let r = 0; r < j.rows; r++) results.push({ row: r, ...out.results.get(first + r)! });
    first += j.rows;
    const timings = out.timings
      .map((t) => ({
        stage: t.stage,
        rows: results.filter((r) => r.exitStage >= t.stage).length,
        exits: results.filter((r) => r.exitStage === t.stage).length,
        ms: t.ms,
      }))
      .filter((t) => t.rows > 0);
    return { results, timings };
  });
}

/** Decodes, checks the frame against the model, runs every remaining stage. */
export async function runDeep(models: ModelLookup, bytes: Uint8Array): Promise<DeepResult> {
  return (await runBatch([prepare(models, bytes)]))[0];
}

/**
 * Runs frames like runDeep, but frames that arrive while their model is busy wait and then run
 * together as one batch (up to maxRows rows). No timer: an idle VM runs a frame at once, a busy
 * one amortises the runtime's fixed cost per call over every frame that queued meanwhile.
 */
export class DeepBatcher {
  private queues = new Map<
    string,
    Array<{ job: DeepJob; done: (r: DeepResult) => void; fail: (e: unknown) => void }>
  >();
  /** Runtime calls made so far (frames served / batches = mean frames per batch). */
  batches = 0;
  constructor(
    private readonly models: ModelLookup,
    private readonly maxRows = 64,
  ) {}

  run(bytes: Uint8Array): Promise<DeepResult> {
    const job = prepare(this.models, bytes); // a bad frame fails alone, before it joins a batch
    const key = `${job.manifest.name}\n${job.fromStage}\n${job.exitThreshold}`;
    return new Promise((done, fail) => {
      const q = this.queues.get(key);
      if (q) return void q.push({ job, done, fail }); // a batch of this key is running: join the next
      this.queues.set(key, [{ job, done, fail }]);
      void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    const q = this.queues.get(key)!;
    while (q.length) {
      let rows = 0;
      let n = 0;
      while (n < q.length && (n === 0 || rows + q[n].job.rows <= this.maxRows)) rows += q[n++].job.rows;
      const batch = q.splice(0, n);
      this.batches++;
      try {
        const out = await runBatch(batch.map((b) => b.job));
        batch.forEach((b, i) => b.done(out[i]));
      } catch (err) {
        batch.forEach((b) => b.fail(err));
      }
    }
    this.queues.delete(key);
  }
}

/**
 * The most bytes a right answer for `rows` rows of `m` takes, with room: a row's five fields in about 90
 * characters and its probabilities in at most 25 each (a float32 as a double), a stage's timing in about 80.
 */
export function deepAnswerMaxBytes(m: ModelManifest, rows: number): number {
  return 1024 + rows * (128 + 32 * m.classes) + 128 * m.stages.length;
}

/** The caller's clock moves in whole milliseconds: a VM's sub-millisecond stage times may sum past it. */
const CLOCK_MS = 1;

/**
 * A VM's answer, checked field by field before anything uses it (a VM is a remote party): one result
 * per row of the frame, each row once, labels and probabilities of the model's classes, exit stages
 * the frame could reach, and timings of those stages, each stage once (twice would count its rows twice
 * in the stats), together no longer than `callMs`, the call as the caller timed it. Null when anything
 * is off: the caller retries the rows on Workers.
 */
export function checkDeepResult(
  raw: unknown,
  m: ModelManifest,
  fromStage: number,
  rows: number,
  callMs = Number.POSITIVE_INFINITY,
): DeepResult | null {
  const r = raw as DeepResult;
  if (typeof r !== "object" || r === null || !Array.isArray(r.results) || !Array.isArray(r.timings)) return null;
  if (r.results.length !== rows) return null;
  const last = m.stages.length - 1;
  const seen = new Set<number>();
  const isInt = (v: unknown, lo: number, hi: number) =>
    Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  const isNum = (v: unknown, lo: number, hi: number) => typeof v === "number" && v >= lo && v <= hi;
  const results: DeepRow[] = [];
  for (const x of r.results) {
    if (typeof x !== "object" || x === null || !isInt(x.row, 0, rows - 1) || seen.has(x.row)) return null;
    seen.add(x.row);
    if (!isInt(x.label, 0, m.classes - 1) || !isInt(x.exitStage, fromStage, last)) return null;
    if (!isNum(x.confidence, 0, 1) || !Array.isArray(x.probs) || x.probs.length !== m.classes) return null;
    if (!x.probs.every((p) => isNum(p, 0, 1))) return null;
    results.push({ row: x.row, label: x.label, exitStage: x.exitStage, confidence: x.confidence, probs: x.probs });
  }
  const timings: StageTiming[] = [];
  const timed = new Set<number>();
  for (const t of r.timings) {
    if (typeof t !== "object" || t === null || !isInt(t.stage, fromStage, last) || timed.has(t.stage)) return null;
    timed.add(t.stage);
    if (!isInt(t.rows, 0, rows) || !isInt(t.exits, 0, t.rows) || !isNum(t.ms, 0, 3_600_000)) return null;
    timings.push({ stage: t.stage, rows: t.rows, exits: t.exits, ms: t.ms });
  }
  // The times go into the service-time statistics the plan sizes VMs from: a VM that claims an hour a
  // stage for an answer that came back in milliseconds is lying.
  if (timings.reduce((a, t) => a + t.ms, 0) > callMs + CLOCK_MS) return null;
  return { results, timings };
}
