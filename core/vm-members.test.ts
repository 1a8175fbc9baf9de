// Where a VM may be reached (checkVmUrl) and a provider's list of the VMs it launched (parseMembers):
// the registry admits only these ids and URLs, so each rule is checked at its edge.
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "./errors.js";
import { checkVmUrl, parseMembers, REGISTRY_MAX_VMS } from "./vm-report.js";

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as Error).message;
  }
  throw new Error("no error");
};

describe("checkVmUrl", () => {
  it("https anywhere, plain http only on loopback; the answer is the origin", () => {
    expect(checkVmUrl("https://VM-1.example:8443/")).toBe("https://vm-1.example:8443");
    expect(checkVmUrl("https://10.0.0.5")).toBe("https://10.0.0.5");
    for (const url of ["http://127.0.0.1:9000", "http://127.9.9.9", "http://localhost:1", "http://[::1]:9000"])
      expect(checkVmUrl(url)).toBe(url);
    for (const url of [
      "http://10.0.0.5:9101",
      "http://128.0.0.1",
      "http://10.127.0.1",
      "http://localhost.example",
      "ws://127.0.0.1",
    ])
      expect(refusal(() => checkVmUrl(url))).toMatch(/must be https \(plain http only on loopback\)$/);
  });

  it("never credentials, even only a user or only a password", () => {
    for (const url of ["https://u:p@vm.example", "https://u@vm.example", "https://:p@vm.example"])
      expect(refusal(() => checkVmUrl(url))).toBe("vm report: url must not hold credentials");
  });

  it("never link-local or metadata addresses, even over https", () => {
    for (const url of [
      "https://169.254.169.254",
      "https://[fe80::1]",
      "https://[FE80::1]:9",
      "https://metadata.google.internal",
    ])
      expect(refusal(() => checkVmUrl(url))).toMatch(/is a link-local or metadata address$/);
    // Only addresses that start so: 169.254 or fe80 elsewhere in an address is not link-local.
    for (const url of ["https://169.255.0.1", "https://10.169.254.1", "https://[2001:db8::fe80:1]"])
      expect(checkVmUrl(url)).toBe(url);
  });

  it("an origin only: a path, a query or a fragment is refused", () => {
    for (const url of [
      "https://vm.example/x",
      "https://vm.example/?a=1",
      "https://vm.example#h",
      "https://vm.example//",
    ])
      expect(refusal(() => checkVmUrl(url))).toBe("vm report: url must be an origin, without a path");
  });

  it("what is not a URL is refused, quoting at most 100 characters of it", () => {
    expect(refusal(() => checkVmUrl("vm-1.example"))).toBe('vm report: url "vm-1.example" is not a URL');
    expect(refusal(() => checkVmUrl("x".repeat(200)))).toBe(`vm report: url "${"x".repeat(100)}" is not a URL`);
  });
});

describe("parseMembers", () => {
  const vm = (i: number) => ({ id: `vm-${i}`, url: `https://vm-${i}.example/` });

  it("reads each VM's id and origin, in order; an empty list is a provider with no VMs", () => {
    expect(parseMembers({ vms: [vm(2), vm(1)] })).toEqual([
      { id: "vm-2", url: "https://vm-2.example" },
      { id: "vm-1", url: "https://vm-1.example" },
    ]);
    expect(parseMembers({ vms: [] })).toEqual([]);
  });

  it("the body must be {vms: [...]}", () => {
    for (const raw of [null, undefined, [vm(1)], { vms: vm(1) }, { vm: [vm(1)] }])
      expect(refusal(() => parseMembers(raw))).toBe('vm report: members: body must be {"vms": [{"id", "url"}, ...]}');
  });

  it(`at most ${REGISTRY_MAX_VMS} VMs: that many pass, one more is refused`, () => {
    const list = Array.from({ length: REGISTRY_MAX_VMS + 1 }, (_, i) => vm(i));
    expect(parseMembers({ vms: list.slice(0, REGISTRY_MAX_VMS) })).toHaveLength(REGISTRY_MAX_VMS);
    expect(refusal(() => parseMembers({ vms: list }))).toBe(
      `vm report: members: at most ${REGISTRY_MAX_VMS} VMs, got ${REGISTRY_MAX_VMS + 1}`,
    );
  });

  it("each id once, each with a URL string the registry admits", () => {
    expect(refusal(() => parseMembers({ vms: [vm(1), vm(2), vm(1)] }))).toBe(
      'vm report: members: id "vm-1" is listed twice',
    );
    expect(refusal(() => parseMembers({ vms: [vm(1), { id: "vm-2" }] }))).toBe(
      'vm report: members: url of "vm-2" must be a string',
    );
    expect(refusal(() => parseMembers({ vms: [{ id: "a b", url: "https://x.example" }] }))).toMatch(/id must be/);
    expect(refusal(() => parseMembers({ vms: [{ id: "vm-1", url: "http://10.0.0.5" }] }))).toMatch(/must be https/);
  });
});
