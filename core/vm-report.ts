// What a VM says about itself in a heartbeat (registration is the first heartbeat).
import { InvalidInputError } from "./errors.js";
import type { VmState } from "./routing.js";

export interface VmReport {
  id: string;
  url: string;
  state: Exclude<VmState, "dead">;
  inflight: number;
  /** Calls waiting for a slot (0 when missing). */
  queued?: number;
  slots: number;
  /** Median time of the VM's recent calls (ms); null before its first. */
  service_ms?: number | null;
}

const bad = (what: string): never => {
  throw new InvalidInputError(`vm report: ${what}`);
};

/** The `{id}` of a deregistration. */
export function parseVmId(raw: unknown): string {
  const r = raw as Record<string, unknown>;
  if (typeof r !== "object" || r === null) bad("must be an object");
  if (typeof r.id !== "string" || !/^[\w.-]{1,64}$/.test(r.id)) bad("id must be 1-64 word characters");
  return r.id as string;
}

export function parseVmReport(raw: unknown): VmReport {
  parseVmId(raw);
  const r = raw as Record<string, unknown>;
  if (typeof r.url !== "string" || !/^https?:\/\//.test(r.url)) bad("url must be an http(s) URL");
  if (r.state !== "booting" && r.state !== "running" && r.state !== "draining")
    bad(`state must be booting, running or draining`);
  if (!Number.isInteger(r.inflight) || (r.inflight as number) < 0) bad("inflight must be an integer >= 0");
  if (r.queued !== undefined && (!Number.isInteger(r.queued) || (r.queued as number) < 0))
    bad("queued must be an integer >= 0");
  if (!Number.isInteger(r.slots) || (r.slots as number) < 1) bad("slots must be an integer >= 1");
  return {
    id: r.id as string,
    url: r.url as string,
    state: r.state as VmReport["state"],
    inflight: r.inflight as number,
    queued: (r.queued as number | undefined) ?? 0,
    slots: r.slots as number,
    service_ms:
      typeof r.service_ms === "number" && Number.isFinite(r.service_ms) && r.service_ms >= 0 ? r.service_ms : null,
  };
}
