// Worker entry: the HTTP app, the DeepStages entrypoint (deep stages in their own invocation) and the
// Durable Object classes.
import { WorkerEntrypoint } from "cloudflare:workers";
import { runDeep, type DeepResult } from "../core/deep.js";
import { createApp, execCtx } from "./app.js";
import { getModel } from "./models.js";
import { runnerFor } from "./ort.js";
import type { Env } from "./env.js";
import type { DeepStagesRpc } from "./infer.js";

export { StatsDO } from "../durable-objects/stats.js";
export { ControllerDO } from "../durable-objects/controller.js";

/** Runs the stages that did not fit the first invocation, from the hidden state in the frame. */
export class DeepStages extends WorkerEntrypoint<Env> implements DeepStagesRpc {
  async run(frame: Uint8Array): Promise<DeepResult> {
    return runDeep((name) => {
      const m = getModel(name);
      return m && { manifest: m.manifest, runner: () => runnerFor(m.manifest, m.files) };
    }, frame);
  }
}

const app = createApp((c) => (execCtx(c) as unknown as { exports: { DeepStages: DeepStagesRpc } }).exports.DeepStages);

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
