// Node loader of the held-out digits (load generator, e2e tests, profiling, benchmarks).
import { readFileSync } from "node:fs";
import { decodeHeldout, type HeldoutJson } from "./heldout-codec.js";

export function loadHeldout(): { labels: number[]; rows: Float32Array[] } {
  return decodeHeldout(
    JSON.parse(readFileSync(new URL("../models/mnist/heldout.json", import.meta.url), "utf8")) as HeldoutJson,
  );
}
