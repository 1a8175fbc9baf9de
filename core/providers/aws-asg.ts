// AWS Auto Scaling group provider: SetDesiredCapacity through the signed Query API
// (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html).
import { InvalidConfigError } from "../errors.js";
import type { VmProvider } from "./provider.js";
import { signV4, type AwsCredentials } from "./sigv4.js";

export interface AwsAsgConfig {
  region: string;
  groupName: string;
  credentials: AwsCredentials;
  /** Override for tests or VPC endpoints. */
  endpoint?: string;
  timeoutMs: number;
}

export const ASG_API_VERSION = "2011-01-01";

export function parseAwsAsgEnv(env: Record<string, string | undefined>): AwsAsgConfig {
  const need = (k: string) => {
    const v = env[k];
    if (!v)
      throw new InvalidConfigError(`${k} must be set for the aws provider (use \`wrangler secret put ${k}\` for keys)`);
    return v;
  };
  return {
    region: need("AWS_REGION"),
    groupName: need("SERFLOW_AWS_ASG_NAME"),
    credentials: {
      accessKeyId: need("AWS_ACCESS_KEY_ID"),
      secretAccessKey: need("AWS_SECRET_ACCESS_KEY"),
      sessionToken: env.AWS_SESSION_TOKEN,
    },
    endpoint: env.SERFLOW_AWS_ENDPOINT,
    timeoutMs: 5_000,
  };
}

/** The signed request SetDesiredCapacity sends (exposed for tests of the documented format). */
export async function setDesiredCapacityRequest(
  cfg: AwsAsgConfig,
  count: number,
  date = new Date(),
): Promise<{ url: string; init: RequestInit & { headers: Record<string, string>; body: string } }> {
  if (!Number.isInteger(count) || count < 0)
    throw new InvalidConfigError(`desired capacity must be an integer >= 0, got ${count}`);
  const url = cfg.endpoint ?? `https://autoscaling.${cfg.region}.amazonaws.com/`;
  const body = new URLSearchParams({
    Action: "SetDesiredCapacity",
    AutoScalingGroupName: cfg.groupName,
    DesiredCapacity: String(count),
    HonorCooldown: "false",
    Version: ASG_API_VERSION,
  }).toString();
  const headers = await signV4(
    {
      method: "POST",
      url,
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body,
      region: cfg.region,
      service: "autoscaling",
      date,
    },
    cfg.credentials,
  );
  return { url, init: { method: "POST", headers, body } };
}

export class AwsAsgProvider implements VmProvider {
  readonly name = "aws";
  private last: number | null = null;
  constructor(
    private readonly cfg: AwsAsgConfig,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  async setDesired(count: number): Promise<void> {
    if (count === this.last) return; // one call per change, not per control period
    const { url, init } = await setDesiredCapacityRequest(this.cfg, count);
    const res = await this.fetchFn(url, { ...init, signal: AbortSignal.timeout(this.cfg.timeoutMs) });
    if (!res.ok)
      throw new Error(
        `SetDesiredCapacity(${this.cfg.groupName}, ${count}) failed: ${res.status} ${(await res.text()).slice(0, 300)}`,
      );
    this.last = count;
  }
}
