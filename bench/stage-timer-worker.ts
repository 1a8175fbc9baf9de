// A Worker for bench/profile-heavy.ts: loads a model's stages (sent at run time: ONNX bytes are data, only
// WASM may not be compiled from bytes) and runs one stage `reps` times per request with onnxruntime-web,
// exactly as Serflow's Worker does (worker/ort.ts). Timed from outside: workerd's clock stands still
// during compute, so only the caller can see how long a stage takes.
import { parseManifest, type ModelManifest } from "../core/manifest.js";
import { runnerFor } from "../worker/ort.js";

let manifest: ModelManifest | null = null;
const files: Record<string, ArrayBuffer> = {};

export default {
  async fetch(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/manifest") {
      manifest = parseManifest(await req.json());
      return new Response("ok");
    }
    if (url.pathname === "/file") {
      files[url.searchParams.get("name") ?? ""] = await req.arrayBuffer();
      return new Response("ok");
    }
    if (url.pathname === "/run" && manifest) {
      const stage = Number(url.searchParams.get("stage"));
      const reps = Number(url.searchParams.get("reps"));
      const input = new Float32Array(await req.arrayBuffer());
      const runner = await runnerFor({ manifest, files });
      let out = 0;
      for (let r = 0; r < reps; r++) out += (await runner.run(stage, input, 1)).probs[0];
      return new Response(String(out));
    }
    return new Response("unknown route or no manifest yet", { status: 400 });
  },
};
