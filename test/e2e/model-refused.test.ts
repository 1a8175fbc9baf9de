// A model folder that fails the check stops everything with one message naming the model, the file and
// the tensor: `model:check`, `npm start` (before starting anything) and the bundle `wrangler deploy`
// uploads (its [build] command). The broken copy lives in models/ only during this test.
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorker } from "../../scripts/bundle.js";
import { freePort } from "../../scripts/stack.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BROKEN = "e2e-broken"; // git-ignored (models/e2e-*/)
const DIR = `${ROOT}models/${BROKEN}`;
const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["--import", "tsx", `${ROOT}scripts/${script}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  cpSync(`${ROOT}models/mnist`, DIR, { recursive: true });
  const m = JSON.parse(readFileSync(`${DIR}/manifest.json`, "utf8"));
  m.name = BROKEN;
  m.stages[1].input = "h0_renamed"; // stage 1's input renamed
  writeFileSync(`${DIR}/manifest.json`, JSON.stringify(m, null, 2));
});
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const NAMED = /model "e2e-broken": models\/e2e-broken\/manifest\.json: stages\[1\]\.input "h0_renamed"/;

describe("a model folder with one stage's input renamed", () => {
  it("fails model:check, naming the input", () => {
    const r = run("model-check.ts", [BROKEN]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(NAMED);
    expect(run("model-check.ts", ["mnist"]).status).toBe(0);
  });

  it("stops npm start before anything starts, with the same message", async () => {
    const r = run("start.ts", [], { PORT: String(await freePort()) });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/refusing to start/);
    expect(r.stderr).toMatch(NAMED);
    expect(r.stdout).not.toMatch(/serflow is up|building the Worker/);
  });

  it("stops the bundle wrangler deploy would upload, with the same message", async () => {
    await expect(buildWorker()).rejects.toThrow(NAMED);
  });
});
