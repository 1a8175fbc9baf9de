// .dev.vars (wrangler's convention for local secrets, git-ignored): read, and create with random keys.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { parseEnv } from "node:util";

export const DEV_VARS_PATH = resolve(process.cwd(), ".dev.vars");

export function readDevVars(path = DEV_VARS_PATH): Record<string, string> {
  return existsSync(path) ? (parseEnv(readFileSync(path, "utf8")) as Record<string, string>) : {};
}

/** Creates .dev.vars with a random admin token and master signing key when either is missing. The master
 *  stays with the Worker and the local provider; each VM gets only the key derived for its id. */
export function ensureDevVars(path = DEV_VARS_PATH): { vars: Record<string, string>; created: boolean } {
  const vars = readDevVars(path);
  let created = false;
  for (const key of ["SERFLOW_ADMIN_TOKEN", "SERFLOW_SIGNING_KEY"]) {
    if (!vars[key]) {
      vars[key] = randomBytes(24).toString("hex");
      created = true;
    }
  }
  if (created)
    writeFileSync(
      path,
      Object.entries(vars)
        .map(([k, v]) => `${k}="${v}"`)
        .join("\n") + "\n",
      { mode: 0o600 },
    );
  return { vars, created };
}
