// `npm start` refuses a bad configuration before starting anything, naming the key.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const START = fileURLToPath(new URL("./start.ts", import.meta.url));

function start(config: string) {
  const dir = mkdtempSync(join(tmpdir(), "serflow-cfg-"));
  writeFileSync(join(dir, "config.json"), config);
  return spawnSync(process.execPath, ["--import", "tsx", START], {
    env: { ...process.env, SERFLOW_CONFIG: join(dir, "config.json"), PORT: "1" },
    encoding: "utf8",
    timeout: 30_000,
  });
}

describe("npm start with a bad SERFLOW_CONFIG", () => {
  it.each([
    ['{"vm":{"min":3,"max":2}}', /vm\.min/],
    ['{"vm":{"usd_per_hour":-1}}', /vm\.usd_per_hour/],
    ['{"slo_ms":"fast"}', /slo_ms/],
    ['{"vm":{"concurency":4}}', /concurency/],
    ["{not json", /SERFLOW_CONFIG=.*config\.json/],
  ])("%s stops start-up with a message naming the key", (config, key) => {
    const r = start(config);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(key);
    expect(r.stdout).not.toMatch(/serflow is up/);
  });
});
