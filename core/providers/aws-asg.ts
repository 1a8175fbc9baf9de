// AWS Auto Scaling group provider over the signed Query APIs:
// - SetDesiredCapacity (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html)
// - DescribeAutoScalingGroups (.../API_DescribeAutoScalingGroups.html): the group's instance ids
// - EC2 DescribeInstances (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html):
//   their private addresses.
// Membership comes from these calls, never from a VM: only the group's own running instances are admitted,
// each at the URL the operator's template makes of its id or private address (https: a tunnel hostname or
// TLS on the private address).
import { InvalidConfigError } from "../errors.js";
import { checkVmUrl, REGISTRY_MAX_VMS, type VmMember } from "../vm-report.js";
import type { VmProvider } from "./provider.js";
import { signV4, type AwsCredentials } from "./sigv4.js";

export interface AwsAsgConfig {
  region: string;
  groupName: string;
  credentials: AwsCredentials;
  /** Override for tests or VPC endpoints (https only). */
  endpoint?: string;
  /** EC2 endpoint override (https only). */
  ec2Endpoint?: string;
  /** How the Worker reaches an instance: `{instance_id}` and `{private_ip}` are filled in; https. */
  vmUrlTemplate: string;
  timeoutMs: number;
}

export const ASG_API_VERSION = "2011-01-01";
export const EC2_API_VERSION = "2016-11-15";

function httpsEndpoint(key: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidConfigError(`${key} must be a URL, got "${v}"`);
  }
  if (u.protocol !== "https:") throw new InvalidConfigError(`${key} must be an https URL (signed calls), got "${v}"`);
  return u.href;
}

export function parseAwsAsgEnv(env: Record<string, string | undefined>): AwsAsgConfig {
  const need = (k: string) => {
    const v = env[k];
    if (!v)
      throw new InvalidConfigError(`${k} must be set for the aws provider (use \`wrangler secret put ${k}\` for keys)`);
    return v;
  };
  const cfg: AwsAsgConfig = {
    region: need("AWS_REGION"),
    groupName: need("SERFLOW_AWS_ASG_NAME"),
    credentials: {
      accessKeyId: need("AWS_ACCESS_KEY_ID"),
      secretAccessKey: need("AWS_SECRET_ACCESS_KEY"),
      sessionToken: env.AWS_SESSION_TOKEN,
    },
    endpoint: httpsEndpoint("SERFLOW_AWS_ENDPOINT", env.SERFLOW_AWS_ENDPOINT),
    ec2Endpoint: httpsEndpoint("SERFLOW_AWS_EC2_ENDPOINT", env.SERFLOW_AWS_EC2_ENDPOINT),
    vmUrlTemplate: need("SERFLOW_AWS_VM_URL"),
    timeoutMs: 5_000,
  };
  try {
    checkVmUrl(vmUrl(cfg.vmUrlTemplate, "i-0123456789abcdef0", "10.0.0.1"));
  } catch (err) {
    throw new InvalidConfigError(`SERFLOW_AWS_VM_URL: ${(err as Error).message}`);
  }
  return cfg;
}

function vmUrl(template: string, instanceId: string, privateIp: string): string {
  return template.replaceAll("{instance_id}", instanceId).replaceAll("{private_ip}", privateIp);
}

/** A signed Query API call (form body, POST), as the AWS documentation specifies it. */
async function queryRequest(
  cfg: AwsAsgConfig,
  service: "autoscaling" | "ec2",
  params: Record<string, string>,
  date = new Date(),
): Promise<{ url: string; init: RequestInit & { headers: Record<string, string>; body: string } }> {
  const url =
    service === "ec2"
      ? (cfg.ec2Endpoint ?? `https://ec2.${cfg.region}.amazonaws.com/`)
      : (cfg.endpoint ?? `https://autoscaling.${cfg.region}.amazonaws.com/`);
  const body = new URLSearchParams(params).toString();
  const headers = await signV4(
    {
      method: "POST",
      url,
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body,
      region: cfg.region,
      service,
      date,
    },
    cfg.credentials,
  );
  return { url, init: { method: "POST", headers, body } };
}

/** The signed request SetDesiredCapacity sends (exposed for tests of the documented format). */
export async function setDesiredCapacityRequest(cfg: AwsAsgConfig, count: number, date = new Date()) {
  if (!Number.isInteger(count) || count < 0)
    throw new InvalidConfigError(`desired capacity must be an integer >= 0, got ${count}`);
  return queryRequest(
    cfg,
    "autoscaling",
    {
      Action: "SetDesiredCapacity",
      AutoScalingGroupName: cfg.groupName,
      DesiredCapacity: String(count),
      HonorCooldown: "false",
      Version: ASG_API_VERSION,
    },
    date,
  );
}

export function describeGroupRequest(cfg: AwsAsgConfig, date = new Date()) {
  return queryRequest(
    cfg,
    "autoscaling",
    {
      Action: "DescribeAutoScalingGroups",
      "AutoScalingGroupNames.member.1": cfg.groupName,
      Version: ASG_API_VERSION,
    },
    date,
  );
}

export function describeInstancesRequest(cfg: AwsAsgConfig, ids: string[], date = new Date()) {
  const params: Record<string, string> = { Action: "DescribeInstances", Version: EC2_API_VERSION };
  ids.forEach((id, i) => {
    params[`InstanceId.${i + 1}`] = id;
  });
  return queryRequest(cfg, "ec2", params, date);
}

/** An XML element: enough of XML for the AWS Query API's responses (no attributes, entities decoded). */
interface XmlNode {
  name: string;
  children: XmlNode[];
  text: string;
}

export function parseXml(xml: string): XmlNode {
  const root: XmlNode = { name: "", children: [], text: "" };
  const stack = [root];
  const decode = (s: string) =>
    s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e) => ({ lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" })[e as "lt"]);
  const re = /<(\/?)([\w:.-]+)[^>]*?(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->|([^<]+)/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const top = stack[stack.length - 1];
    if (m[4] !== undefined) top.text += decode(m[4]);
    else if (!m[2])
      continue; // declaration or comment
    else if (m[1]) {
      if (top.name !== m[2]) throw new Error(`malformed XML: </${m[2]}> closes <${top.name}>`);
      stack.pop();
    } else {
      const node: XmlNode = { name: m[2], children: [], text: "" };
      top.children.push(node);
      if (!m[3]) stack.push(node);
    }
  }
  if (stack.length !== 1) throw new Error("malformed XML: unclosed elements");
  return root;
}

const child = (n: XmlNode | undefined, name: string) => n?.children.find((c) => c.name === name);
const kids = (n: XmlNode | undefined, name: string) => n?.children.filter((c) => c.name === name) ?? [];
const text = (n: XmlNode | undefined, name: string) => child(n, name)?.text.trim() ?? "";

/** Instance ids of the group that are (or are about to be) in service. */
export function groupInstanceIds(xml: string, groupName: string): string[] {
  const result = child(child(parseXml(xml), "DescribeAutoScalingGroupsResponse"), "DescribeAutoScalingGroupsResult");
  const group = kids(child(result, "AutoScalingGroups"), "member").find(
    (g) => text(g, "AutoScalingGroupName") === groupName,
  );
  return kids(child(group, "Instances"), "member")
    .filter((i) => /^(Pending|Pending:Wait|Pending:Proceed|InService)$/.test(text(i, "LifecycleState")))
    .map((i) => text(i, "InstanceId"))
    .filter((id) => /^i-[0-9a-f]{8,32}$/.test(id));
}

/** Running or pending instances among `ids`, with their private IPv4 address. */
export function instanceAddresses(xml: string, ids: string[]): { instanceId: string; privateIp: string }[] {
  const want = new Set(ids);
  const out: { instanceId: string; privateIp: string }[] = [];
  for (const r of kids(child(child(parseXml(xml), "DescribeInstancesResponse"), "reservationSet"), "item"))
    for (const i of kids(child(r, "instancesSet"), "item")) {
      const instanceId = text(i, "instanceId");
      const privateIp = text(i, "privateIpAddress");
      const state = text(child(i, "instanceState"), "name");
      if (want.has(instanceId) && /^(pending|running)$/.test(state) && /^\d{1,3}(\.\d{1,3}){3}$/.test(privateIp))
        out.push({ instanceId, privateIp });
    }
  return out;
}

export class AwsAsgProvider implements VmProvider {
  readonly name = "aws";
  private last: number | null = null;
  constructor(
    private readonly cfg: AwsAsgConfig,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  private async call(what: string, req: Awaited<ReturnType<typeof queryRequest>>): Promise<string> {
    const res = await this.fetchFn(req.url, { ...req.init, signal: AbortSignal.timeout(this.cfg.timeoutMs) });
    const body = await res.text();
    if (!res.ok) throw new Error(`${what} failed: ${res.status} ${body.slice(0, 300)}`);
    return body;
  }

  async setDesired(count: number): Promise<void> {
    if (count === this.last) return; // one call per change, not per control period
    await this.call(
      `SetDesiredCapacity(${this.cfg.groupName}, ${count})`,
      await setDesiredCapacityRequest(this.cfg, count),
    );
    this.last = count;
  }

  async members(): Promise<VmMember[]> {
    const ids = groupInstanceIds(
      await this.call(`DescribeAutoScalingGroups(${this.cfg.groupName})`, await describeGroupRequest(this.cfg)),
      this.cfg.groupName,
    ).slice(0, REGISTRY_MAX_VMS);
    if (ids.length === 0) return [];
    const found = instanceAddresses(
      await this.call("DescribeInstances", await describeInstancesRequest(this.cfg, ids)),
      ids,
    );
    return found.map((i) => ({
      id: i.instanceId,
      url: checkVmUrl(vmUrl(this.cfg.vmUrlTemplate, i.instanceId, i.privateIp)),
    }));
  }
}
