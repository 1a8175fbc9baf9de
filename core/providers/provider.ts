// VM providers set a desired VM count; membership comes from the VMs' own heartbeats, not the cloud API.
export interface VmProvider {
  readonly name: string;
  setDesired(count: number): Promise<void>;
}
