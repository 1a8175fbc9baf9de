// A VM's answer to a deep call, as the Worker checks it before using it (a VM is a remote party): what
// runDeep answers passes unchanged; anything else (a row missing, extra, repeated or out of 0..n-1, a
// label, stage, confidence or probability out of its range, a stage timed twice) is refused as a whole,
// so the caller retries the rows on Workers instead of answering or counting from a bad reply.
import { describe, expect, it } from "vitest";
import { checkDeepResult, deepAnswerMaxBytes, runDeep } from "./deep.js";
import type { StageRunner } from "./engine.js";
import { encodeFrame } from "./frame.js";
import { THREE_STAGE_MANIFEST } from "./fixtures.js";
import { parseManifest } from "./manifest.js";

// Three stages, 2 classes: a frame from stage 1 may exit at stage 1 or 2.
const m = parseManifest(THREE_STAGE_MANIFEST);
const classes = m.classes;

// Stage 1 lets row 0 exit (confidence 0.95), stage 2 answers row 1: both reachable stages timed.
const runner: StageRunner = {
  async run(stage, _input, rows) {
    const probs = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) probs.set(stage === 1 && r === 0 ? [0.05, 0.95] : [0.4, 0.6], r * 2);
    return { probs, hidden: stage < 2 ? new Float32Array(rows * 3) : undefined };
  },
};
const lookup = (name: string) => (name === "tiny" ? { manifest: m, runner: async () => runner } : undefined);
const answer = JSON.parse(
  JSON.stringify(
    await runDeep(lookup, encodeFrame({ model: "tiny", fromStage: 1, shape: [2, 3] }, new Float32Array(6))),
  ),
);
// A fresh copy of the good answer with one change.
type Answer = { results: Record<string, unknown>[]; timings: Record<string, unknown>[] };
const edit = (change: (a: Answer) => void): Answer => {
  const a = structuredClone(answer) as Answer;
  change(a);
  return a;
};
const check = (raw: unknown, fromStage = 1, rows = 2) => checkDeepResult(raw, m, fromStage, rows);

describe("checkDeepResult", () => {
  it("accepts what runDeep answers, unchanged, and keeps only the known fields", () => {
    expect(answer.results.map((r: { row: number; exitStage: number }) => [r.row, r.exitStage])).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(answer.timings.map((t: { stage: number }) => t.stage)).toEqual([1, 2]);
    expect(check(answer)).toEqual(answer);
    const extra = edit((a) => {
      a.results[0].debug = "x";
      a.timings[0].host = "vm-1";
    });
    expect(check(extra)).toEqual(answer);
  });

  it("refuses what is not an object with results and timings arrays", () => {
    for (const raw of [null, "ok", 3, {}, { results: answer.results }, { timings: answer.timings }])
      expect(check(raw)).toBeNull();
    expect(check({ results: answer.results, timings: {} })).toBeNull();
    expect(check({ results: {}, timings: answer.timings })).toBeNull();
  });

  it("one result per row of the frame: one more or one less is refused", () => {
    expect(check(answer, 1, 3)).toBeNull(); // a row missing
    expect(check(answer, 1, 1)).toBeNull(); // a row too many
    expect(check(edit((a) => a.results.pop()))).toBeNull();
  });

  it("row indices are 0..n-1, each once, in any order", () => {
    expect(check(edit((a) => a.results.reverse()))?.results.map((r) => r.row)).toEqual([1, 0]);
    for (const rows of [
      [0, 0],
      [1, 1],
      [0, 2],
      [-1, 1],
      [0, 0.5],
      [0, "1"],
    ])
      expect(check(edit((a) => a.results.forEach((r, i) => (r.row = rows[i]))))).toBeNull();
    expect(check(edit((a) => (a.results[1] = null as never)))).toBeNull();
  });

  it("a label is one of the model's classes", () => {
    expect(check(edit((a) => (a.results[0].label = 0)))?.results[0].label).toBe(0);
    expect(check(edit((a) => (a.results[0].label = classes - 1)))?.results[0].label).toBe(1);
    for (const label of [classes, -1, 0.5, "1"]) expect(check(edit((a) => (a.results[0].label = label)))).toBeNull();
  });

  it("an exit stage is one the frame could reach: fromStage to the last", () => {
    expect(check(edit((a) => (a.results[1].exitStage = 1)))).not.toBeNull();
    expect(check(edit((a) => (a.results[0].exitStage = 2)))).not.toBeNull();
    for (const s of [0, 3, 1.5]) expect(check(edit((a) => (a.results[0].exitStage = s)))).toBeNull();
    // From stage 2, stage 1 is behind the frame.
    expect(
      check(
        edit((a) => a.timings.shift()),
        2,
      ),
    ).toBeNull();
  });

  it("a confidence is a probability: 0 and 1 pass, just outside or not a number is refused", () => {
    for (const c of [0, 1]) expect(check(edit((a) => (a.results[0].confidence = c)))?.results[0].confidence).toBe(c);
    for (const c of [1.000001, -0.000001, "0.9", null, Number.NaN])
      expect(check(edit((a) => (a.results[0].confidence = c)))).toBeNull();
  });

  it("probabilities: one per class, each in [0, 1]", () => {
    expect(check(edit((a) => (a.results[0].probs = [0, 1])))?.results[0].probs).toEqual([0, 1]);
    for (const probs of [[1], [0.2, 0.3, 0.5], "0.5,0.5", [0.5, 1.5], [-0.1, 1], [0.5, null], [0.5, "0.5"]])
      expect(check(edit((a) => (a.results[0].probs = probs)))).toBeNull();
  });

  it("timings: stages the frame could reach, each once, rows within the frame, exits within the rows", () => {
    expect(check(edit((a) => (a.timings = [])))?.timings).toEqual([]);
    for (const stage of [0, 3]) expect(check(edit((a) => (a.timings[0].stage = stage)))).toBeNull();
    // The same stage twice would count its rows twice in the stats.
    expect(check(edit((a) => (a.timings[1].stage = 1)))).toBeNull();
    expect(check(edit((a) => a.timings.push({ ...a.timings[0] })))).toBeNull();
    expect(check(edit((a) => (a.timings[0] = null as never)))).toBeNull();
    // rows in 0..frame rows, exits in 0..rows.
    expect(check(edit((a) => Object.assign(a.timings[0], { rows: 2, exits: 2 })))).not.toBeNull();
    expect(check(edit((a) => Object.assign(a.timings[0], { rows: 0, exits: 0 })))).not.toBeNull();
    for (const t of [
      { rows: 3, exits: 1 },
      { rows: -1, exits: 0 },
      { rows: 1.5, exits: 1 },
      { rows: 1, exits: 2 },
      { rows: 1, exits: -1 },
    ])
      expect(check(edit((a) => Object.assign(a.timings[0], t)))).toBeNull();
  });

  it("the stages' times together are no longer than the call the caller timed, within its clock's millisecond", () => {
    const timed = (ms: number[]) => edit((a) => a.timings.forEach((t, i) => (t.ms = ms[i])));
    const within = (raw: unknown, callMs: number) => checkDeepResult(raw, m, 1, 2, callMs);
    expect(within(timed([2, 3]), 5)).not.toBeNull();
    expect(within(timed([2, 3.9]), 5)).not.toBeNull(); // 5 ms on a clock of whole milliseconds
    expect(within(timed([0.3, 0.2]), 0)).not.toBeNull();
    expect(within(timed([2, 4.001]), 5)).toBeNull();
    expect(within(timed([3_600_000, 0]), 12)).toBeNull();
  });

  it("a right answer fits in deepAnswerMaxBytes, with numbers as long as a float32 prints", () => {
    expect(JSON.stringify(answer).length).toBeLessThanOrEqual(deepAnswerMaxBytes(m, 2));
    const long = 1.1754942106924411e-38; // the smallest normal float32, as a double: 22 characters
    for (const classes of [2, 10])
      for (const rows of [1, 256]) {
        const wide = { ...m, classes };
        const results = Array.from({ length: rows }, (_, row) => ({
          row,
          label: classes - 1,
          exitStage: 2,
          confidence: long,
          probs: Array(classes).fill(long),
        }));
        const timings = [1, 2].map((stage) => ({ stage, rows, exits: rows, ms: 3_599_999.123456789 }));
        expect(JSON.stringify({ results, timings }).length).toBeLessThanOrEqual(deepAnswerMaxBytes(wide, rows));
      }
  });

  it("a stage's time is 0 to one hour", () => {
    for (const ms of [0, 3_600_000]) expect(check(edit((a) => (a.timings[0].ms = ms)))?.timings[0].ms).toBe(ms);
    for (const ms of [-0.001, 3_600_000.001, "5", null, Number.NaN])
      expect(check(edit((a) => (a.timings[0].ms = ms)))).toBeNull();
  });
});
