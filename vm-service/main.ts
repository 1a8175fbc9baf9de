// vm-service entry point: `npm run vm -- --port 9101 --controller http://127.0.0.1:8787`.
// The signing key comes from SERFLOW_SIGNING_KEY (env or .dev.vars), never from the command line.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
import { DEFAULT_VM_SERVICE, VmService } from "./server.js";
import { loadModels, modelDirs, readManifest } from "./models.js";

const { values: a } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "9101" },
    host: { type: "string", default: "127.0.0.1" },
    // How the Worker reaches this VM (behind NAT or a load balancer it differs from the listen address).
    "public-url": { type: "string", default: process.env.SERFLOW_PUBLIC_URL },
    id: { type: "string" },
    controller: { type: "string", default: process.env.SERFLOW_CONTROLLER_URL },
    models: { type: "string", default: fileURLToPath(new URL("../models", import.meta.url)) },
    // Serve only these models (comma list; default every folder): the local pool runs one pool per model.
    model: { type: "string" },
    slots: { type: "string", default: String(DEFAULT_VM_SERVICE.slots) },
    "queue-ms": { type: "string", default: String(DEFAULT_VM_SERVICE.queueMs) },
    "boot-delay-s": { type: "string", default: process.env.SERFLOW_VM_BOOT_S ?? "0" },
  },
});

const fail = (msg: string): never => {
  console.error(`vm-service: ${msg}`);
  process.exit(2);
};
const port = Number(a.port);
const slots = Number(a.slots);
const bootDelayS = Number(a["boot-delay-s"]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`--port must be a TCP port, got "${a.port}"`);
if (!Number.isInteger(slots) || slots < 1) fail(`--slots must be an integer >= 1, got "${a.slots}"`);
const queueMs = Number(a["queue-ms"]);
if (!(queueMs >= 0)) fail(`--queue-ms must be milliseconds >= 0, got "${a["queue-ms"]}"`);
if (!(bootDelayS >= 0)) fail(`--boot-delay-s must be a number >= 0, got "${a["boot-delay-s"]}"`);
// .dev.vars is wrangler's file of local secrets, which `npm start` creates.
const devVars = existsSync(".dev.vars") ? parseEnv(readFileSync(".dev.vars", "utf8")) : {};
const signingKey = process.env.SERFLOW_SIGNING_KEY ?? devVars.SERFLOW_SIGNING_KEY;
if (!signingKey) fail("SERFLOW_SIGNING_KEY is not set (env or .dev.vars): VMs never serve unsigned calls");

// Manifests are read (and checked) before the boot delay, so the VM registers for its models at once.
let models: string[] = [];
try {
  models = modelDirs(a.models!).map((d) => readManifest(d).name);
  if (a.model) {
    const only = a.model.split(",");
    const unknown = only.filter((n) => !models.includes(n));
    if (unknown.length)
      fail(`--model ${unknown.join(",")}: no such model under ${a.models} (has ${models.join(", ")})`);
    models = only;
  }
} catch (err) {
  fail((err as Error).message);
}

const vm = new VmService({
  ...DEFAULT_VM_SERVICE,
  id: a.id ?? `vm-${randomUUID().slice(0, 8)}`,
  publicUrl: a["public-url"] ?? `http://${a.host}:${port}`,
  signingKey: signingKey!,
  slots,
  models,
  queueMs,
  controllerUrl: a.controller ?? null,
});

const server = createServer(vm.listener()).listen(port, a.host);
vm.startHeartbeats();
console.log(`vm-service ${vm.config.id} listening on ${vm.config.publicUrl}, booting for ${bootDelayS}s`);

// The boot delay stands in for a cloud VM's cold start: the VM is visible as booting, serves nothing.
setTimeout(async () => {
  try {
    vm.ready(await loadModels(a.models!, models));
    console.log(`vm-service ${vm.config.id} running`);
  } catch (err) {
    fail((err as Error).message);
  }
}, bootDelayS * 1000);

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    await vm.drain();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}
