// Per-isolate stats, flushed to the model's stats Durable Object at most once per FLUSH_INTERVAL_MS or
// every FLUSH_REQUESTS requests. A failed flush is merged back and carried into the next one.
import type { ModelManifest } from "../core/manifest.js";
import {
  addObservation,
  emptyBatch,
  isEmpty,
  mergeBatch,
  type RequestObservation,
  type StatsBatch,
} from "../core/stats-batch.js";

export const FLUSH_INTERVAL_MS = 1_000;
export const FLUSH_REQUESTS = 200;

interface Buffer {
  batch: StatsBatch;
  lastFlushMs: number;
  /** A flush is scheduled for the end of the interval (so the last requests before a lull are sent). */
  scheduled: boolean;
}

const buffers = new Map<string, Buffer>();

function bufferFor(m: ModelManifest) {
  let b = buffers.get(m.name);
  if (!b) {
    b = { batch: emptyBatch(m.name, m.stages.length), lastFlushMs: Date.now(), scheduled: false };
    buffers.set(m.name, b);
  }
  return b;
}

/** Adds one answered request to this isolate's batch and flushes when it is time. */
export function recordRequest(ctx: ExecutionContext, env: Env, m: ModelManifest, o: RequestObservation): void {
  const buf = bufferFor(m);
  addObservation(buf.batch, Date.now(), o);
  maybeFlush(ctx, env, buf);
}

export function recordFailure(ctx: ExecutionContext, env: Env, m: ModelManifest): void {
  const buf = bufferFor(m);
  buf.batch.failures += 1;
  maybeFlush(ctx, env, buf);
}

function maybeFlush(ctx: ExecutionContext, env: Env, buf: Buffer): void {
  const now = Date.now();
  if (now - buf.lastFlushMs >= FLUSH_INTERVAL_MS || buf.batch.requests >= FLUSH_REQUESTS) {
    ctx.waitUntil(flush(env, buf, now));
  } else if (!buf.scheduled) {
    // Too soon to flush: keep this invocation alive until the interval ends, then flush what has come.
    buf.scheduled = true;
    const wait = new Promise((r) => setTimeout(r, FLUSH_INTERVAL_MS - (now - buf.lastFlushMs)));
    ctx.waitUntil(wait.then(() => flush(env, buf, Date.now())));
  }
}

async function flush(env: Env, buf: Buffer, now: number): Promise<void> {
  buf.scheduled = false;
  const batch = buf.batch;
  if (isEmpty(batch)) return;
  buf.batch = emptyBatch(batch.model, batch.stages.length);
  buf.lastFlushMs = now;
  try {
    await env.STATS.getByName(batch.model).record(batch);
  } catch (err) {
    console.warn(`stats flush for ${batch.model} failed, carried into the next one: ${err}`);
    mergeBatch(buf.batch, batch);
  }
}

/** Flushes whatever is buffered now (tests, and before reading stats in the same isolate). */
export async function flushAll(env: Env): Promise<void> {
  await Promise.all([...buffers.values()].map((buf) => flush(env, buf, Date.now())));
}
