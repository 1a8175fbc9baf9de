// The edges of the AWS provider: the bit of XML the Query API answers with (entities, nesting, what a
// response may leave out), capacities it may be asked for, and endpoints it may be given.
import { describe, expect, it } from "vitest";
import { InvalidConfigError } from "../errors.js";
import { AwsAsgProvider, groupInstanceIds, parseAwsAsgEnv, parseXml, setDesiredCapacityRequest } from "./aws-asg.js";

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
    // An instance without an id or a state is not admitted.
    expect(groupInstanceIds(group("g", "<member><LifecycleState>InService</LifecycleState></member>"), "g")).toEqual(
      [],
    );
    expect(groupInstanceIds(group("g", "<member><InstanceId>i-0aaaaaaaaaaaaaaa1</InstanceId></member>"), "g")).toEqual(
      [],
    );
  });
});

describe("AWS provider edges", () => {
  const cfg = parseAwsAsgEnv(env);

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
