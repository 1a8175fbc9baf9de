// VM providers set a desired VM count and say which VMs they launched: the registry admits only those
// (heartbeats report load and state, they never add a VM).
import type { VmMember } from "../vm-report.js";

export interface VmProvider {
  readonly name: string;
  setDesired(count: number): Promise<void>;
  /** The VMs this provider runs now, with the URL each is reached at. */
  members(): Promise<VmMember[]>;
}
