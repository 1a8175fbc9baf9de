import { describe, expect, it } from "vitest";
import { DEFAULT_CONTROL } from "./config.js";
import { InvalidConfigError } from "./errors.js";
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_VM_TIMEOUT_MS,
  parseWorkerEnv,
  type WorkerVars,
  workerEnv,
} from "./worker-env.js";

const errorOf = (vars: WorkerVars): string => {
  try {
    parseWorkerEnv(vars);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as Error).message;
  }
  throw new Error("no error");
};

describe("parseWorkerEnv", () => {
  it("unset vars are the named defaults", () => {
    expect(parseWorkerEnv({})).toEqual({
      control: DEFAULT_CONTROL,
      vmTimeoutMs: DEFAULT_VM_TIMEOUT_MS,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      provider: "local",
    });
    expect(parseWorkerEnv({ SERFLOW_CONFIG: "", SERFLOW_MAX_BODY_BYTES: "" }).maxBodyBytes).toBe(8 * 1024 * 1024);
  });

  it("reads every var, faas_deep from SERFLOW_CONFIG", () => {
    const w = parseWorkerEnv({
      SERFLOW_CONFIG: '{"faas_deep":"separate","slo_ms":150}',
      SERFLOW_VM_TIMEOUT_MS: "300",
      SERFLOW_MAX_BODY_BYTES: "1024",
      SERFLOW_PROVIDER: "aws",
    });
    expect(w.control.faasDeep).toBe("separate");
    expect(w.control.sloMs).toBe(150);
    expect([w.vmTimeoutMs, w.maxBodyBytes, w.provider]).toEqual([300, 1024, "aws"]);
  });

  it.each([
    ["SERFLOW_MAX_BODY_BYTES", "8MiB"],
    ["SERFLOW_MAX_BODY_BYTES", "1e6"],
    ["SERFLOW_MAX_BODY_BYTES", "0"],
    ["SERFLOW_MAX_BODY_BYTES", "-5"],
    ["SERFLOW_VM_TIMEOUT_MS", "5s"],
    ["SERFLOW_VM_TIMEOUT_MS", "2.5"],
  ])("%s=%s is an error naming the variable, not NaN or a disabled limit", (key, value) => {
    expect(errorOf({ [key]: value })).toBe(`${key} must be a whole number >= 1 (got "${value}")`);
  });

  it("names a bad provider, bad SERFLOW_CONFIG JSON or key, and the retired SERFLOW_FAAS_DEEP", () => {
    expect(errorOf({ SERFLOW_PROVIDER: "gcp" })).toMatch(/SERFLOW_PROVIDER must be "local" or "aws"/);
    expect(errorOf({ SERFLOW_CONFIG: "{not json" })).toMatch(/SERFLOW_CONFIG is not valid JSON/);
    expect(errorOf({ SERFLOW_CONFIG: '{"faas_deep":"sometimes"}' })).toMatch(
      /faas_deep must be "inline" or "separate"/,
    );
    expect(errorOf({ SERFLOW_FAAS_DEEP: "separate" })).toMatch(/set "faas_deep" in SERFLOW_CONFIG/);
  });

  it("workerEnv parses an env object once", () => {
    const env = { SERFLOW_VM_TIMEOUT_MS: "7" };
    expect(workerEnv(env)).toBe(workerEnv(env));
    expect(workerEnv(env).vmTimeoutMs).toBe(7);
  });
  it("the whole-number vars take 1 as their smallest value and refuse 0", () => {
    expect(parseWorkerEnv({ SERFLOW_VM_TIMEOUT_MS: "1", SERFLOW_MAX_BODY_BYTES: "1" })).toMatchObject({
      vmTimeoutMs: 1,
      maxBodyBytes: 1,
    });
    expect(errorOf({ SERFLOW_VM_TIMEOUT_MS: "0" })).toBe('SERFLOW_VM_TIMEOUT_MS must be a whole number >= 1 (got "0")');
  });
});
