// npm run simulate -- --trace FILE --profile FILE|mnist --policies LIST --out DIR [--scale X]
//   [--slo-ms N] [--boot-s N] [--prices workers|lambda] [--vm-usd-per-hour X] [--vm-concurrency N]
//   [--seed N] [--entry worker|router] [--control-period-s N] [--config FILE] [--vm-queue-ms N]
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PRICE_PRESETS, type PricePreset } from "../core/cost.js";
import { EXTRA_POLICIES, POLICIES, type PolicyName } from "./policies.js";
import { loadProfile } from "./profile.js";
import { PRESET_VM, SIM_DEFAULTS, simulate, writeOutputs, type SimSettings } from "./run.js";
import { loadTrace } from "./trace.js";

const PROFILES_DIR = fileURLToPath(new URL("./profiles/", import.meta.url));

const USAGE = `usage: npm run simulate -- --trace FILE --profile FILE|NAME --policies LIST|all --out DIR
  [--scale X] [--slo-ms N] [--boot-s N] [--prices workers|lambda] [--vm-usd-per-hour X]
  [--vm-concurrency N] [--seed N] [--entry worker|router] [--control-period-s N] [--config FILE]
  [--vm-queue-ms N]   (what-if: serflow/libra may wait N ms for a VM slot instead of going to FaaS)
policies: ${POLICIES.join(",")} (all), or also ${EXTRA_POLICIES.join(",")}
NAME is a profile in sim/profiles/ (e.g. mnist).`;

export class UsageError extends Error {}

export function parseArgs(argv: string[]): SimSettings & { out: string } {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") throw new UsageError(USAGE);
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"\n${USAGE}`);
    const [k, inline] = a.slice(2).split("=", 2);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new UsageError(`--${k} needs a value`);
    args.set(k, v);
  }
  const known = [
    "trace",
    "profile",
    "policies",
    "out",
    "scale",
    "slo-ms",
    "boot-s",
    "prices",
    "vm-usd-per-hour",
    "vm-concurrency",
    "seed",
    "entry",
    "control-period-s",
    "config",
    "vm-queue-ms",
  ];
  for (const k of args.keys()) if (!known.includes(k)) throw new UsageError(`unknown option --${k}\n${USAGE}`);
  const need = (k: string) => {
    const v = args.get(k);
    if (v === undefined) throw new UsageError(`--${k} is required\n${USAGE}`);
    return v;
  };
  const num = (k: string, dflt: number, ok: (v: number) => boolean, what: string) => {
    const v = args.get(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || !ok(n)) throw new UsageError(`--${k} must be ${what} (got "${v}")`);
    return n;
  };
  const traceFile = need("trace");
  if (!existsSync(traceFile)) throw new UsageError(`--trace ${traceFile}: no such file`);
  const profileArg = need("profile");
  const profileFile = existsSync(profileArg) ? profileArg : `${PROFILES_DIR}${profileArg}.json`;
  if (!existsSync(profileFile))
    throw new UsageError(`--profile ${profileArg}: neither a file nor a profile in sim/profiles/`);
  const list = need("policies");
  const policies = (list === "all" ? [...POLICIES] : list.split(",").map((p) => p.trim())) as PolicyName[];
  for (const p of policies)
    if (!([...POLICIES, ...EXTRA_POLICIES] as string[]).includes(p))
      throw new UsageError(
        `--policies: unknown policy "${p}" (known: ${[...POLICIES, ...EXTRA_POLICIES].join(", ")}, or all)`,
      );
  const prices = (args.get("prices") ?? SIM_DEFAULTS.prices) as PricePreset;
  if (!(prices in PRICE_PRESETS)) throw new UsageError(`--prices must be workers or lambda (got "${prices}")`);
  const entry = args.get("entry") ?? SIM_DEFAULTS.entry;
  if (entry !== "router" && entry !== "worker")
    throw new UsageError(`--entry must be router or worker (got "${entry}")`);
  let extraConfig: Record<string, unknown> | undefined;
  if (args.has("config")) {
    try {
      extraConfig = JSON.parse(readFileSync(args.get("config")!, "utf8"));
    } catch (err) {
      throw new UsageError(`--config ${args.get("config")}: ${(err as Error).message}`);
    }
  }
  const profile = loadProfile(profileFile);
  return {
    out: need("out"),
    traceFile,
    trace: loadTrace(traceFile),
    profileName: profile.name,
    profile,
    policies,
    scale: num("scale", SIM_DEFAULTS.scale, (v) => v > 0, "a number > 0"),
    seed: num("seed", SIM_DEFAULTS.seed, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0"),
    prices,
    sloMs: num("slo-ms", SIM_DEFAULTS.sloMs, (v) => v > 0, "a number of ms > 0"),
    bootS: num("boot-s", SIM_DEFAULTS.bootS, (v) => v >= 0, "a number of seconds >= 0"),
    vmUsdPerHour: num("vm-usd-per-hour", PRESET_VM[prices].usdPerHour, (v) => v >= 0, "a price >= 0"),
    vmConcurrency: num(
      "vm-concurrency",
      PRESET_VM[prices].concurrency,
      (v) => Number.isInteger(v) && v >= 1,
      "an integer >= 1",
    ),
    entry,
    controlPeriodS: num(
      "control-period-s",
      SIM_DEFAULTS.controlPeriodS,
      (v) => Number.isInteger(v) && v >= 1,
      "an integer >= 1",
    ),
    extraConfig,
    vmQueueMs: num("vm-queue-ms", 0, (v) => v >= 0, "a number of ms >= 0"),
  };
}

function main(): void {
  let s: ReturnType<typeof parseArgs>;
  try {
    s = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof UsageError ? err.message : `error: ${(err as Error).message}`);
    process.exit(2);
  }
  const tty = process.stderr.isTTY;
  let last = "";
  const progress = (policy: string, f: number) => {
    if (!tty) return;
    const line = `simulating ${policy.padEnd(13)} ${(f * 100).toFixed(0).padStart(3)}%`;
    if (line !== last) process.stderr.write(`\r${line}`);
    last = line;
  };
  let out: ReturnType<typeof simulate>;
  try {
    out = simulate(s, progress);
  } catch (err) {
    if (tty) process.stderr.write("\n");
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  }
  if (tty) process.stderr.write("\r" + " ".repeat(40) + "\r");
  writeOutputs(s.out, s, out);
  for (const r of out.results) {
    console.log(
      `${r.policy.padEnd(13)} $${r.cost_usd.toFixed(3).padStart(9)}  SLO ${(r.slo_attainment * 100).toFixed(2)}%  p99 ${r.p99_ms.toFixed(1)} ms  VM-s ${r.vm_seconds}  FaaS ${r.faas_requests}`,
    );
  }
  console.log(
    `${out.simulatedRequests.toLocaleString("en-US")} requests simulated in ${out.wallS.toFixed(1)} s; wrote ${s.out}/results.json, report.md, cost.svg, timeline.svg`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
