import type { StatsDO } from "../durable-objects/stats.js";
import type { ControllerDO } from "../durable-objects/controller.js";

export interface Env {
  STATS: DurableObjectNamespace<StatsDO>;
  CONTROLLER: DurableObjectNamespace<ControllerDO>;
  /** Bearer token for the admin endpoints (stats, plan, metrics, dashboard). */
  SERFLOW_ADMIN_TOKEN?: string;
  /** Master key of Worker <-> VM calls: each VM's own key is derived from it (core/signing.ts vmKey). */
  SERFLOW_SIGNING_KEY?: string;
  /** JSON overrides of the controller defaults (SERFLOW_CONFIG of INTERFACE.md). */
  SERFLOW_CONFIG?: string;
  /** "inline" (default): deep stages on Workers run in the request's invocation; "separate": in their own. */
  SERFLOW_FAAS_DEEP?: string;
  /** How long a VM may take before its rows are retried on Workers (default 5000). */
  SERFLOW_VM_TIMEOUT_MS?: string;
  /** VM provider: "local" (default) or "aws" (with AWS_REGION, SERFLOW_AWS_ASG_NAME and the key secrets). */
  SERFLOW_PROVIDER?: string;
  /** Request body limit in bytes (default 8 MiB). */
  SERFLOW_MAX_BODY_BYTES?: string;
}
