// Settings the Worker and its Durable Objects read when they are set, beside what `npm run types`
// generates into worker-configuration.d.ts (wrangler.toml's bindings and [vars], the secrets of
// .dev.vars.example). Optional, so wrangler.toml need not repeat their defaults.
declare namespace Cloudflare {
  interface Env {
    /** How long a VM may take before its rows are retried on Workers (default 5000). */
    SERFLOW_VM_TIMEOUT_MS?: string;
    /** Request body limit in bytes (default 8 MiB). */
    SERFLOW_MAX_BODY_BYTES?: string;
    /** VM provider: "local" (default) or "aws" (with AWS_REGION, SERFLOW_AWS_ASG_NAME and the key secrets). */
    SERFLOW_PROVIDER?: string;
  }
}
