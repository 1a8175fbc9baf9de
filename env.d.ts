// Settings the Worker and its Durable Objects read when they are set, beside what `npm run types`
// generates into worker-configuration.d.ts (wrangler.toml's bindings and [vars], the secrets of
// .dev.vars.example). Optional, so wrangler.toml need not repeat their defaults; parsed and checked
// by core/worker-env.ts, which says what each one means.
declare namespace Cloudflare {
  interface Env extends Omit<import("./core/worker-env.js").WorkerVars, "SERFLOW_CONFIG"> {}
}
