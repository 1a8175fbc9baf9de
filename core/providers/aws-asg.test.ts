import { describe, expect, it } from "vitest";
import { signV4 } from "./sigv4.js";
import { AwsAsgProvider, parseAwsAsgEnv, setDesiredCapacityRequest } from "./aws-asg.js";

// Responses in the documented formats (API_DescribeAutoScalingGroups.html, API_DescribeInstances.html).
const GROUP_XML = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <AutoScalingGroupName>serflow-deep</AutoScalingGroupName>
        <AutoScalingGroupARN>arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1:autoScalingGroupName/serflow-deep</AutoScalingGroupARN>
        <MinSize>0</MinSize><MaxSize>10</MaxSize><DesiredCapacity>3</DesiredCapacity>
        <Instances>
          <member>
            <InstanceId>i-0aaaaaaaaaaaaaaa1</InstanceId><AvailabilityZone>eu-west-1a</AvailabilityZone>
            <LifecycleState>InService</LifecycleState><HealthStatus>Healthy</HealthStatus>
            <ProtectedFromScaleIn>false</ProtectedFromScaleIn><InstanceType>c6i.large</InstanceType>
          </member>
          <member>
            <InstanceId>i-0aaaaaaaaaaaaaaa2</InstanceId><AvailabilityZone>eu-west-1b</AvailabilityZone>
            <LifecycleState>Pending</LifecycleState><HealthStatus>Healthy</HealthStatus>
          </member>
          <member>
            <InstanceId>i-0aaaaaaaaaaaaaaa3</InstanceId><AvailabilityZone>eu-west-1b</AvailabilityZone>
            <LifecycleState>Terminating</LifecycleState><HealthStatus>Unhealthy</HealthStatus>
          </member>
        </Instances>
      </member>
    </AutoScalingGroups>
  </DescribeAutoScalingGroupsResult>
  <ResponseMetadata><RequestId>d5e1a7c1-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</DescribeAutoScalingGroupsResponse>`;
const instance = (id: string, ip: string, state: string) => `
        <item>
          <instanceId>${id}</instanceId><imageId>ami-0abcdef1234567890</imageId>
          <instanceState><code>16</code><name>${state}</name></instanceState>
          <privateDnsName>ip-${ip.replaceAll(".", "-")}.eu-west-1.compute.internal</privateDnsName>
          <dnsName>ec2-54-0-0-1.eu-west-1.compute.amazonaws.com</dnsName><reason/>
          <instanceType>c6i.large</instanceType>
          <placement><availabilityZone>eu-west-1a</availabilityZone><groupName/><tenancy>default</tenancy></placement>
          <privateIpAddress>${ip}</privateIpAddress><ipAddress>54.0.0.1</ipAddress>
          <groupSet><item><groupId>sg-1</groupId><groupName>serflow</groupName></item></groupSet>
          <networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId>
            <privateIpAddress>10.9.9.9</privateIpAddress>
            <privateIpAddressesSet><item><privateIpAddress>10.9.9.9</privateIpAddress><primary>true</primary></item></privateIpAddressesSet>
          </item></networkInterfaceSet>
        </item>`;
const INSTANCES_XML = `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
  <reservationSet>
    <item>
      <reservationId>r-1234567890abcdef0</reservationId><ownerId>123456789012</ownerId><groupSet/>
      <instancesSet>${instance("i-0aaaaaaaaaaaaaaa1", "10.0.1.17", "running")}${instance("i-0aaaaaaaaaaaaaaa2", "10.0.2.5", "pending")}${instance("i-0bbbbbbbbbbbbbbb9", "10.0.3.3", "running")}
      </instancesSet>
    </item>
  </reservationSet>
</DescribeInstancesResponse>`;

describe("SigV4", () => {
  it("matches the worked example of the AWS documentation (S3 GET Object)", async () => {
    // docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "Example: GET Object".
    const h = await signV4(
      {
        method: "GET",
        url: "https://examplebucket.s3.amazonaws.com/test.txt",
        headers: {
          range: "bytes=0-9",
          "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        },
        body: "",
        region: "us-east-1",
        service: "s3",
        date: new Date("2013-05-24T00:00:00Z"),
      },
      { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
    );
    expect(h.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });
});

describe("AWS Auto Scaling provider", () => {
  const cfg = parseAwsAsgEnv({
    AWS_REGION: "eu-west-1",
    SERFLOW_AWS_ASG_NAME: "serflow-deep",
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "secret",
    SERFLOW_AWS_VM_URL: "https://{private_ip}:9443",
  });

  it("sends SetDesiredCapacity as the documented Query API form, signed for the autoscaling service", async () => {
    const { url, init } = await setDesiredCapacityRequest(cfg, 3, new Date("2026-11-28T10:00:00Z"));
    expect(url).toBe("https://autoscaling.eu-west-1.amazonaws.com/");
    expect(init.method).toBe("POST");
    expect(Object.fromEntries(new URLSearchParams(init.body))).toEqual({
      Action: "SetDesiredCapacity",
      AutoScalingGroupName: "serflow-deep",
      DesiredCapacity: "3",
      HonorCooldown: "false",
      Version: "2011-01-01",
    });
    expect(init.headers["x-amz-date"]).toBe("20261128T100000Z");
    expect(init.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261128\/eu-west-1\/autoscaling\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
  });

  it("calls the API once per change and reports failures", async () => {
    const calls: string[] = [];
    let status = 200;
    const fake = (async (_u: string, init: RequestInit) => {
      calls.push(String(init.body));
      return new Response(
        status === 200 ? "<SetDesiredCapacityResponse/>" : "<Error><Code>ValidationError</Code></Error>",
        { status },
      );
    }) as unknown as typeof fetch;
    const p = new AwsAsgProvider(cfg, fake);
    await p.setDesired(2);
    await p.setDesired(2);
    expect(calls).toHaveLength(1);
    status = 400;
    await expect(p.setDesired(5)).rejects.toThrow(
      /SetDesiredCapacity\(serflow-deep, 5\) failed: 400 .*ValidationError/,
    );
  });

  it("names the missing setting", () => {
    expect(() => parseAwsAsgEnv({ AWS_REGION: "x" })).toThrow(/SERFLOW_AWS_ASG_NAME must be set/);
  });

  it("admits only the group's in-service or pending instances, at their private addresses over https", async () => {
    const sent: Record<string, string>[] = [];
    const hosts: string[] = [];
    const fake = (async (u: string, init: RequestInit) => {
      const form = Object.fromEntries(new URLSearchParams(String(init.body)));
      sent.push(form);
      hosts.push(new URL(u).host);
      expect((init.headers as Record<string, string>).authorization).toMatch(
        form.Action === "DescribeInstances"
          ? /\/eu-west-1\/ec2\/aws4_request/
          : /\/eu-west-1\/autoscaling\/aws4_request/,
      );
      return new Response(form.Action === "DescribeInstances" ? INSTANCES_XML : GROUP_XML);
    }) as unknown as typeof fetch;
    const members = await new AwsAsgProvider(cfg, fake).members();
    expect(sent).toEqual([
      { Action: "DescribeAutoScalingGroups", "AutoScalingGroupNames.member.1": "serflow-deep", Version: "2011-01-01" },
      {
        Action: "DescribeInstances",
        "InstanceId.1": "i-0aaaaaaaaaaaaaaa1",
        "InstanceId.2": "i-0aaaaaaaaaaaaaaa2",
        Version: "2016-11-15",
      },
    ]);
    expect(hosts).toEqual(["autoscaling.eu-west-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com"]);
    // Not the terminating instance, not an instance outside the group, not the interface's other address.
    expect(members).toEqual([
      { id: "i-0aaaaaaaaaaaaaaa1", url: "https://10.0.1.17:9443" },
      { id: "i-0aaaaaaaaaaaaaaa2", url: "https://10.0.2.5:9443" },
    ]);
  });

  it("refuses plain-http AWS endpoints and VM URLs", () => {
    const env = {
      AWS_REGION: "eu-west-1",
      SERFLOW_AWS_ASG_NAME: "g",
      AWS_ACCESS_KEY_ID: "a",
      AWS_SECRET_ACCESS_KEY: "s",
      SERFLOW_AWS_VM_URL: "https://{instance_id}.vms.example.com",
    };
    expect(parseAwsAsgEnv(env).vmUrlTemplate).toBe("https://{instance_id}.vms.example.com");
    expect(() => parseAwsAsgEnv({ ...env, SERFLOW_AWS_ENDPOINT: "http://autoscaling.example" })).toThrow(
      /SERFLOW_AWS_ENDPOINT must be an https URL/,
    );
    expect(() => parseAwsAsgEnv({ ...env, SERFLOW_AWS_VM_URL: "http://{private_ip}:9101" })).toThrow(
      /SERFLOW_AWS_VM_URL: .*must be https/,
    );
    expect(() => parseAwsAsgEnv({ ...env, SERFLOW_AWS_VM_URL: "https://169.254.169.254" })).toThrow(/link-local/);
  });
});
