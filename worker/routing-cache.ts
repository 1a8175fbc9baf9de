// The routing table (plan's VM group + live VMs) cached per isolate: refreshed from the controller at most
// every ROUTING_REFRESH_MS, in the background once a table exists; the last table (or no VMs) when unreachable.
import { SAFE_ROUTING, type RoutingTable } from "../core/routing.js";

export const ROUTING_REFRESH_MS = 2_000;
const FIRST_FETCH_TIMEOUT_MS = 1_000;

interface Cached {
  table: RoutingTable;
  fetchedAtMs: number;
  refreshing: Promise<void> | null;
}
const cache = new Map<string, Cached>();

/** This isolate's own in-flight calls per VM id (heartbeats report the VM's count with a lag). */
export const localInflight = new Map<string, number>();

export async function currentRouting(env: Env, ctx: ExecutionContext, model: string): Promise<RoutingTable> {
  let c = cache.get(model);
  const now = Date.now();
  if (!c) {
    c = { table: SAFE_ROUTING, fetchedAtMs: 0, refreshing: null };
    cache.set(model, c);
    await Promise.race([refresh(env, model, c), new Promise((r) => setTimeout(r, FIRST_FETCH_TIMEOUT_MS))]);
  } else if (now - c.fetchedAtMs > ROUTING_REFRESH_MS && !c.refreshing) {
    ctx.waitUntil(refresh(env, model, c));
  }
  return c.table;
}

function refresh(env: Env, model: string, c: Cached): Promise<void> {
  c.refreshing ??= (async () => {
    try {
      c.table = await env.CONTROLLER.getByName(model).routing({ model });
    } catch (err) {
      console.warn(`routing refresh for ${model} failed, keeping the last table: ${err}`);
    } finally {
      c.fetchedAtMs = Date.now();
      c.refreshing = null;
    }
  })();
  return c.refreshing;
}
