// `npm run types:check`: fails when worker-configuration.d.ts (the `Env` that `npm run types` generates
// from wrangler.toml and .dev.vars.example) is stale. `wrangler types --check` cannot be used: in 4.86
// it ignores --env-file and reads a local .dev.vars instead, so it reports a fresh file as stale.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

const COMMITTED = "worker-configuration.d.ts";
const FRESH = ".worker-configuration.check.d.ts";
// The first line names the command that wrote the file (output path included), not what it declares.
const body = (path: string) => readFileSync(path, "utf8").split("\n").slice(2).join("\n");

const scripts = JSON.parse(readFileSync("package.json", "utf8")).scripts as Record<string, string>;
const [cmd, ...args] = scripts.types.replace("wrangler types", `wrangler types ${FRESH}`).split(" ");
try {
  execFileSync("npx", [cmd, ...args], { stdio: "pipe", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (body(COMMITTED) !== body(FRESH)) {
    console.error(
      `${COMMITTED} is stale (wrangler.toml, .dev.vars.example or index.ts changed): run \`npm run types\``,
    );
    process.exit(1);
  }
  console.log(`${COMMITTED} is up to date`);
} finally {
  rmSync(FRESH, { force: true });
}
