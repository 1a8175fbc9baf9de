// The edges of the AWS provider: the bit of XML the Query API answers with (entities, nesting, what a
// response may leave out), capacities it may be asked for, and endpoints it may be given.
import { describe, expect, it } from "vitest";
import { InvalidConfigError } from "../errors.js";
import { signV4 } from "./sigv4.js";
import {
  AwsAsgProvider,
  describeGroupRequest,
  groupInstanceIds,
  instanceAddresses,
  parseAwsAsgEnv,
  parseXml,
  setDesiredCapacityRequest,
} from "./aws-asg.js";

const env = {
  AWS_REGION: "eu-west-1",
  SERFLOW_AWS_ASG_NAME: "g",
  AWS_ACCESS_KEY_ID: "a",
  AWS_SECRET_ACCESS_KEY: "s",
  SERFLOW_AWS_VM_URL: "https://{private_ip}:9443",
};
const group = (name: string, instances: string) =>
  `<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups><member>
     <AutoScalingGroupName>${name}</AutoScalingGroupName><Instances>${instances}</Instances>
   </member></AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>`;
const instance = (id: string, state = "InService") =>
  `<member><InstanceId>${id}</InstanceId><LifecycleState>${state}</LifecycleState></member>`;

describe("AWS Query API XML", () => {
  it("decodes the five predefined entities, and skips declarations and comments", () => {
    const root = parseXml(`<?xml version="1.0"?><!-- note --><a>&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;</a>`);
    expect(root.children.map((c) => [c.name, c.text])).toEqual([["a", `<b> & "c" 'd'`]]);
  });

  it("a comment or processing instruction inside an element is not its text; a stray closing tag is named", () => {
    const root = parseXml("<a>v<!-- a note -->w<?pi some data?>x</a>");
    expect(root.children[0].text).toBe("vwx");
    expect(() => parseXml("</a>")).toThrow("malformed XML: </a> closes <>");
  });

  it("a self-closing element holds nothing; the next element is its sibling", () => {
    const root = parseXml("<a><b/><c>x</c></a>");
    expect(root.children[0].children.map((c) => [c.name, c.children.length, c.text])).toEqual([
      ["b", 0, ""],
      ["c", 0, "x"],
    ]);
  });

  it("refuses a closing tag that does not close the open element, and an element left open", () => {
    expect(() => parseXml("<a><b></a></b>")).toThrow("malformed XML: </a> closes <b>");
    expect(() => parseXml("<a><b></b>")).toThrow("malformed XML: unclosed elements");
  });

  it("reads only the named group's ids; a response without it, or without instances, has none", () => {
    const two = instance("i-0aaaaaaaaaaaaaaa1") + instance("i-0aaaaaaaaaaaaaaa2", "Pending:Wait");
    expect(groupInstanceIds(group("g", two), "g")).toEqual(["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"]);
    expect(groupInstanceIds(group("other", two), "g")).toEqual([]);
    expect(groupInstanceIds(group("g", ""), "g")).toEqual([]);
    expect(groupInstanceIds("<DescribeAutoScalingGroupsResponse/>", "g")).toEqual([]);
    // Pretty-printed values are trimmed; other elements among the members are not members.
    const pretty = `<member>\n  <InstanceId>\n    i-0aaaaaaaaaaaaaaa3\n  </InstanceId>\n  <LifecycleState> InService </LifecycleState>\n</member>
      <NotAMember><InstanceId>i-0aaaaaaaaaaaaaaa4</InstanceId><LifecycleState>InService</LifecycleState></NotAMember>`;
    expect(groupInstanceIds(group("g", pretty), "g")).toEqual(["i-0aaaaaaaaaaaaaaa3"]);
    // Only in-service or pending states, spelled exactly; instance ids exactly i- and 8-32 hex digits (they
    // go into URLs and API calls).
    for (const state of ["Warmed:Pending", "Warmed:Running", "InService:X", "Terminating"])
      expect(groupInstanceIds(group("g", instance("i-0aaaaaaaaaaaaaaa1", state)), "g")).toEqual([]);
    for (const id of [
      "i-0aaaaaaaaaaaaaaa1/x",
      "x/i-0aaaaaaaaaaaaaaa1",
      "i-0aaaaaa",
      `i-${"a".repeat(33)}`,
      "i-0AAAAAAAA",
    ])
      expect(groupInstanceIds(group("g", instance(id)), "g")).toEqual([]);
    expect(groupInstanceIds(group("g", instance(`i-${"a".repeat(32)}`)), "g")).toHaveLength(1);
    // An instance without an id or a state is not admitted.
    expect(groupInstanceIds(group("g", "<member><LifecycleState>InService</LifecycleState></member>"), "g")).toEqual(
      [],
    );
    expect(groupInstanceIds(group("g", "<member><InstanceId>i-0aaaaaaaaaaaaaaa1</InstanceId></member>"), "g")).toEqual(
      [],
    );
  });
});

describe("EC2 instance addresses", () => {
  const item = (id: string, state: string, ip: string) =>
    `<item><instanceId>${id}</instanceId><instanceState><name>${state}</name></instanceState><privateIpAddress>${ip}</privateIpAddress></item>`;
  const instances = (...items: string[]) =>
    `<DescribeInstancesResponse><reservationSet><item><instancesSet>${items.join("")}</instancesSet></item></reservationSet></DescribeInstancesResponse>`;
  const id = "i-0aaaaaaaaaaaaaaa1";
  it("only pending or running instances asked for, at a dotted IPv4 address spelled exactly", () => {
    expect(instanceAddresses(instances(item(id, "running", "10.0.0.1")), [id])).toEqual([
      { instanceId: id, privateIp: "10.0.0.1" },
    ]);
    expect(instanceAddresses(instances(item(id, "running", "10.0.0.1")), ["i-0bbbbbbbbbbbbbbb1"])).toEqual([]);
    for (const state of ["stopping", "xrunning", "running-x", "shutting-down"])
      expect(instanceAddresses(instances(item(id, state, "10.0.0.1")), [id])).toEqual([]);
    for (const ip of ["10.0.0.1:1", "x10.0.0.1", "10.0.0", "10.0.0.1/x", "fe80::1"])
      expect(instanceAddresses(instances(item(id, "running", ip)), [id])).toEqual([]);
  });
});

describe("AWS provider edges", () => {
  const cfg = parseAwsAsgEnv(env);

  it("reads every setting into its field (parsed inside the test: a mutant is active only while tests run)", () => {
    expect(parseAwsAsgEnv({ ...env, AWS_SESSION_TOKEN: "t", SERFLOW_AWS_ENDPOINT: "https://asg.local/" })).toEqual({
      region: "eu-west-1",
      groupName: "g",
      credentials: { accessKeyId: "a", secretAccessKey: "s", sessionToken: "t" },
      endpoint: "https://asg.local/",
      ec2Endpoint: undefined,
      vmUrlTemplate: "https://{private_ip}:9443",
      timeoutMs: 5_000,
    });
  });

  it("signs each call exactly as it is sent: method, URL, content type and body", async () => {
    const date = new Date("2026-11-28T10:00:00Z");
    const { url, init } = await describeGroupRequest(parseAwsAsgEnv(env), date);
    const again = await signV4(
      {
        method: String(init.method),
        url,
        headers: { "content-type": String(init.headers["content-type"]) },
        body: init.body,
        region: "eu-west-1",
        service: "autoscaling",
        date,
      },
      { accessKeyId: "a", secretAccessKey: "s" },
    );
    expect(init.headers.authorization).toBe(again.authorization);
  });

  it("is the provider named aws, calling the Query API as a signed form POST", async () => {
    expect(new AwsAsgProvider(cfg).name).toBe("aws");
    const { init } = await describeGroupRequest(cfg);
    expect(init.method).toBe("POST");
    expect(init.headers["content-type"]).toBe("application/x-www-form-urlencoded; charset=utf-8");
  });

  it("names the call that failed, with at most 300 characters of AWS's answer", async () => {
    const failing = (action: string) =>
      (async (_u: string, init: RequestInit) => {
        const a = new URLSearchParams(String(init.body)).get("Action");
        if (a === action) return new Response("x".repeat(1000), { status: 500 });
        return new Response(group("g", instance("i-0aaaaaaaaaaaaaaa1")));
      }) as unknown as typeof fetch;
    await expect(new AwsAsgProvider(cfg, failing("DescribeAutoScalingGroups")).members()).rejects.toThrow(
      new Error(`DescribeAutoScalingGroups(g) failed: 500 ${"x".repeat(300)}`),
    );
    await expect(new AwsAsgProvider(cfg, failing("DescribeInstances")).members()).rejects.toThrow(
      new Error(`DescribeInstances failed: 500 ${"x".repeat(300)}`),
    );
  });

  it("asks EC2 about at most as many instances as the registry holds", async () => {
    const many = Array.from({ length: 300 }, (_, i) => instance(`i-${i.toString(16).padStart(17, "0")}`)).join("");
    let asked = 0;
    const fake = (async (_u: string, init: RequestInit) => {
      const form = new URLSearchParams(String(init.body));
      if (form.get("Action") === "DescribeInstances") {
        asked = [...form.keys()].filter((k) => k.startsWith("InstanceId.")).length;
        return new Response("<DescribeInstancesResponse/>");
      }
      return new Response(group("g", many));
    }) as unknown as typeof fetch;
    await new AwsAsgProvider(cfg, fake).members();
    expect(asked).toBe(256);
  });

  it("a group with no instances has no members, without asking EC2", async () => {
    const actions: string[] = [];
    const fake = (async (_u: string, init: RequestInit) => {
      actions.push(new URLSearchParams(String(init.body)).get("Action") ?? "");
      return new Response(group("g", ""));
    }) as unknown as typeof fetch;
    expect(await new AwsAsgProvider(cfg, fake).members()).toEqual([]);
    expect(actions).toEqual(["DescribeAutoScalingGroups"]);
  });

  it("a desired capacity is a whole number >= 0 (0 included)", async () => {
    const { init } = await setDesiredCapacityRequest(cfg, 0);
    expect(new URLSearchParams(init.body).get("DesiredCapacity")).toBe("0");
    for (const n of [-1, 1.5, Number.NaN])
      await expect(setDesiredCapacityRequest(cfg, n)).rejects.toThrow(
        new InvalidConfigError(`desired capacity must be an integer >= 0, got ${n}`),
      );
  });

  it("an endpoint override must be a URL, and https", () => {
    expect(parseAwsAsgEnv({ ...env, SERFLOW_AWS_EC2_ENDPOINT: "https://ec2.local:4566" }).ec2Endpoint).toBe(
      "https://ec2.local:4566/",
    );
    expect(() => parseAwsAsgEnv({ ...env, SERFLOW_AWS_EC2_ENDPOINT: "ec2 local" })).toThrow(
      new InvalidConfigError('SERFLOW_AWS_EC2_ENDPOINT must be a URL, got "ec2 local"'),
    );
  });
});
