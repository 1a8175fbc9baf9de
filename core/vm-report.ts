// What a VM says about itself in a heartbeat, and what its provider says it launched. A heartbeat only
// updates a VM the provider admitted (id and URL); it never adds one.
import { InvalidInputError } from "./errors.js";
import type { VmState } from "./routing.js";
import { VM_ID_PATTERN } from "./signing.js";

/** A VM its provider launched: the only ids and URLs the registry admits. */
export interface VmMember {
  id: string;
  url: string;
}

/** The registry never holds more VMs than this, whatever a provider reports. */
export const REGISTRY_MAX_VMS = 256;
/** The longest heartbeat body accepted (a report is about 200 bytes). */
export const HEARTBEAT_MAX_BYTES = 4 * 1024;
/** The longest members list accepted (REGISTRY_MAX_VMS entries of id and URL). */
export const MEMBERS_MAX_BYTES = 64 * 1024;

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
  if (typeof r.id !== "string" || !VM_ID_PATTERN.test(r.id)) bad("id must be 1-64 word characters");
  return r.id as string;
}

export function parseVmReport(raw: unknown): VmReport {
  parseVmId(raw);
  const r = raw as Record<string, unknown>;
  if (typeof r.url !== "string") bad("url must be a string");
  if (r.state !== "booting" && r.state !== "running" && r.state !== "draining")
    bad(`state must be booting, running or draining`);
  if (!Number.isInteger(r.inflight) || (r.inflight as number) < 0) bad("inflight must be an integer >= 0");
  if (r.queued !== undefined && (!Number.isInteger(r.queued) || (r.queued as number) < 0))
    bad("queued must be an integer >= 0");
  if (!Number.isInteger(r.slots) || (r.slots as number) < 1 || (r.slots as number) > 1_000_000)
    bad("slots must be an integer in [1, 1e6]");
  if ((r.inflight as number) > 1_000_000 || ((r.queued as number | undefined) ?? 0) > 1_000_000)
    bad("inflight and queued must be at most 1e6");
  return {
    id: r.id as string,
    url: checkVmUrl(r.url as string),
    state: r.state as VmReport["state"],
    inflight: r.inflight as number,
    queued: (r.queued as number | undefined) ?? 0,
    slots: r.slots as number,
    service_ms:
      typeof r.service_ms === "number" && Number.isFinite(r.service_ms) && r.service_ms >= 0 ? r.service_ms : null,
  };
}

/**
 * Where a VM may be reached: https anywhere (a tunnel hostname or a private address with TLS), plain
 * http only on loopback (the local provider). Never credentials in the URL, never link-local addresses
 * (169.254.169.254 is the cloud metadata service), never a path.
 */
export function checkVmUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return bad(`url "${raw.slice(0, 100)}" is not a URL`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const loopback = host === "localhost" || /^127\./.test(host) || host === "::1";
  if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback))
    bad(`url ${u.origin} must be https (plain http only on loopback)`);
  if (u.username || u.password) bad("url must not hold credentials");
  if (/^169\.254\./.test(host) || /^fe80:/i.test(host) || host === "metadata.google.internal")
    bad(`url ${u.origin} is a link-local or metadata address`);
  if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.hash) bad("url must be an origin, without a path");
  return u.origin;
}

/** A provider's list of the VMs it launched. */
export function parseMembers(raw: unknown): VmMember[] {
  const list = (raw as { vms?: unknown })?.vms;
  if (!Array.isArray(list)) return bad('members: body must be {"vms": [{"id", "url"}, ...]}');
  if (list.length > REGISTRY_MAX_VMS) bad(`members: at most ${REGISTRY_MAX_VMS} VMs, got ${list.length}`);
  const ids = new Set<string>();
  return list.map((m) => {
    const id = parseVmId(m);
    if (ids.has(id)) bad(`members: id "${id}" is listed twice`);
    ids.add(id);
    const url = (m as { url?: unknown }).url;
    if (typeof url !== "string") bad(`members: url of "${id}" must be a string`);
    return { id, url: checkVmUrl(url as string) };
  });
}
