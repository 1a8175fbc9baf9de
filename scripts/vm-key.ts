// Prints the key of one VM, vmKey(SERFLOW_SIGNING_KEY, id), for the launch step that hands it to that VM
// (or to sign a /metrics scrape of it): `SERFLOW_SIGNING_KEY=... npx tsx scripts/vm-key.ts i-0abc...`.
// The master key is read from the environment or .dev.vars, never from the command line.
import { vmKey } from "../core/signing.js";
import { readDevVars } from "./dev-vars.js";

const id = process.argv[2];
const master = process.env.SERFLOW_SIGNING_KEY ?? readDevVars().SERFLOW_SIGNING_KEY;
if (!id || !master) {
  console.error("usage: SERFLOW_SIGNING_KEY=... tsx scripts/vm-key.ts <vm id>");
  process.exit(2);
}
console.log(await vmKey(master, id));
