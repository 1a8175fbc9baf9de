// `npm start`: the Worker with its Durable Objects on :8787 (PORT to change), the demo model `mnist`, and
// a local VM pool managed by the controller. Ctrl-C stops everything.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { DEFAULT_PORT, startStack } from "./stack.js";
import { DEV_VARS_PATH } from "./dev-vars.js";
import { loadHeldout } from "../model/heldout.js";
import { checkAll } from "./model-check.js";
import { parseControlConfig } from "../core/config.js";
import { MODELS_ROOT } from "../models/folder.js";

/** Local VM cold start when neither SERFLOW_CONFIG nor SERFLOW_VM_BOOT_S says otherwise. */
export const DEFAULT_LOCAL_BOOT_S = 20;

function readConfig(): Record<string, any> {
  const file = process.env.SERFLOW_CONFIG;
  let raw: Record<string, any> = {};
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new Error(`SERFLOW_CONFIG=${file}: ${(err as Error).message}`);
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw))
      throw new Error(`SERFLOW_CONFIG=${file}: must hold a JSON object`);
  }
  raw.vm ??= {};
  const vm = raw.vm;
  if (typeof vm === "object" && vm !== null) {
    if (process.env.SERFLOW_VM_BOOT_S !== undefined) vm.boot_s = Number(process.env.SERFLOW_VM_BOOT_S);
    vm.boot_s ??= DEFAULT_LOCAL_BOOT_S;
  }
  return raw;
}

async function main() {
  const port = Number(process.env.PORT ?? DEFAULT_PORT);
  let config: Record<string, any>;
  try {
    config = readConfig();
    parseControlConfig(config); // a bad key stops start-up before the (slower) model check
  } catch (err) {
    console.error(`serflow: ${(err as Error).message}`);
    process.exit(1);
  }
  // Every model folder passes `model:check` (both runtimes) or nothing starts.
  let models: Awaited<ReturnType<typeof checkAll>>;
  try {
    models = await checkAll(MODELS_ROOT);
  } catch (err) {
    console.error(`serflow: refusing to start: ${(err as Error).message}`);
    process.exit(1);
  }
  console.log(
    `serflow: models checked: ${models.map((r) => `${r.manifest.name} (${r.manifest.stages.length} stages)`).join(", ")}`,
  );
  console.log(`serflow: secrets in ${DEV_VARS_PATH} (created with random keys when missing)`);
  console.log(`serflow: starting the Worker on port ${port} ...`);
  let stack: Awaited<ReturnType<typeof startStack>>;
  try {
    // Durable Object storage where `wrangler dev` kept it, so counts survive restarts (and earlier runs').
    stack = await startStack({ port, config, persistDir: ".wrangler/state/v3" });
  } catch (err) {
    console.error(`serflow: ${(err as Error).message}`);
    process.exit(1);
  }
  // A real held-out digit as the example request.
  const { labels, rows } = loadHeldout();
  mkdirSync(".serflow", { recursive: true });
  writeFileSync(
    ".serflow/example-request.json",
    JSON.stringify({
      id: "example",
      inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[0]) }],
    }),
  );
  console.log(`
serflow is up: ${stack.url}
  models ${models.map((r) => r.manifest.name).join(", ")} (GET ${stack.url}/v2/models), VM pool per model: local (boot ${stack.config.vm.bootTimeS}s, ${stack.config.vm.slots} slots each, min ${stack.config.vm.min}, max ${stack.config.vm.max})

Example (a held-out digit, label ${labels[0]}):
  curl -s -X POST ${stack.url}/v2/models/mnist/infer -H 'content-type: application/json' -d @.serflow/example-request.json

Admin (token in .dev.vars):
  curl -s -H "Authorization: Bearer $(grep SERFLOW_ADMIN_TOKEN .dev.vars | cut -d'"' -f2)" ${stack.url}/v2/models/mnist/plan

Ctrl-C to stop.`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nserflow: stopping VMs and the Worker ...");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  stack.onWorkerExit(() => {
    if (!stopping) {
      console.error("serflow: the Worker's workerd process exited; stopping");
      void stop();
    }
  });
}

void main();
