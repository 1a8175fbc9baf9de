// vm-service entry point: `npm run vm -- --port 9101 --controller http://127.0.0.1:8787`.
// The VM's identity comes from the provider that launched it: its id (--id or SERFLOW_VM_ID) and its
// own key SERFLOW_VM_KEY = vmKey(master, id), in the environment, never on the command line. A VM never
// holds the Worker's master key (SERFLOW_SIGNING_KEY).
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { createVmServer, DEFAULT_VM_SERVICE, VmService } from "./server.js";
import { loadModels, modelDirs, readManifest } from "./models.js";
import { VM_ID_PATTERN } from "../core/signing.js";

const { values: a } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "9101" },
    host: { type: "string", default: "127.0.0.1" },
    // How the Worker reaches this VM (behind NAT or a load balancer it differs from the listen address).
    "public-url": { type: "string", default: process.env.SERFLOW_PUBLIC_URL },
    id: { type: "string", default: process.env.SERFLOW_VM_ID },
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
const signingKey = process.env.SERFLOW_VM_KEY;
if (!signingKey) fail("SERFLOW_VM_KEY is not set (the provider that launches a VM gives it its key)");
if (!a.id || !VM_ID_PATTERN.test(a.id))
  fail(`--id (or SERFLOW_VM_ID) must be 1-64 word characters: the key is bound to it`);

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
  id: a.id!,
  publicUrl: a["public-url"] ?? `http://${a.host}:${port}`,
  signingKey: signingKey!,
  slots,
  models,
  queueMs,
  controllerUrl: a.controller ?? null,
});

const server = createVmServer(vm).listen(port, a.host);
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
