import { describe, expect, it } from "vitest";
import { signV4 } from "./sigv4.js";
import { AwsAsgProvider, parseAwsAsgEnv, setDesiredCapacityRequest } from "./aws-asg.js";

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
});
