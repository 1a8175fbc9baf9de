// SigV4's canonical request: query parameters sorted by name then value and RFC 3986-encoded, the
// session token signed. Reference signatures are the worked examples of the AWS documentation
// (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html); the GET Object one is in
// aws-asg.test.ts.
import { describe, expect, it } from "vitest";
import { signV4, uriEncode } from "./sigv4.js";

const creds = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const get = (url: string, c: typeof creds & { sessionToken?: string } = creds) =>
  signV4(
    {
      method: "GET",
      url,
      headers: { "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
      body: "",
      region: "us-east-1",
      service: "s3",
      date: new Date("2013-05-24T00:00:00Z"),
    },
    c,
  );
const signatureOf = async (url: string) => (await get(url)).authorization.split("Signature=")[1];
const bucket = "https://examplebucket.s3.amazonaws.com/";

describe("SigV4 canonical query", () => {
  it("matches the documented GET Bucket example whatever the parameters' order", async () => {
    for (const q of ["?max-keys=2&prefix=J", "?prefix=J&max-keys=2"])
      expect(await signatureOf(bucket + q)).toBe("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  });

  it("matches the documented GET Bucket Lifecycle example (a parameter without a value)", async () => {
    expect(await signatureOf(`${bucket}?lifecycle`)).toBe(
      "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
  });

  it("sorts a repeated name by value, and tells the values apart", async () => {
    expect(await signatureOf(`${bucket}?a=2&a=1`)).toBe(await signatureOf(`${bucket}?a=1&a=2`));
    expect(await signatureOf(`${bucket}?a=1&b=2`)).not.toBe(await signatureOf(`${bucket}?a=2&b=1`));
    expect(await signatureOf(`${bucket}?a=1`)).not.toBe(await signatureOf(`${bucket}?a1`));
    // Names first: a later name with a smaller value still sorts after.
    expect(await signatureOf(`${bucket}?b=1&a=2`)).toBe(await signatureOf(`${bucket}?a=2&b=1`));
  });

  it("a repeated name's values ascend: the signature of the canonical request written out by hand", async () => {
    // The documented algorithm step by step, with the GET Bucket example's headers and key.
    const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const canonical = [
      "GET",
      "/",
      "a=1&a=2&b=1",
      "host:examplebucket.s3.amazonaws.com",
      `x-amz-content-sha256:${empty}`,
      "x-amz-date:20130524T000000Z",
      "",
      "host;x-amz-content-sha256;x-amz-date",
      empty,
    ].join("\n");
    const bytes = (x: string) => new TextEncoder().encode(x);
    const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
    const hmac = async (key: ArrayBuffer, data: string) => {
      const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return crypto.subtle.sign("HMAC", k, bytes(data));
    };
    const toSign = [
      "AWS4-HMAC-SHA256",
      "20130524T000000Z",
      "20130524/us-east-1/s3/aws4_request",
      hex(await crypto.subtle.digest("SHA-256", bytes(canonical))),
    ].join("\n");
    let key = await hmac(bytes(`AWS4${creds.secretAccessKey}`).buffer as ArrayBuffer, "20130524");
    for (const part of ["us-east-1", "s3", "aws4_request"]) key = await hmac(key, part);
    const expected = hex(await hmac(key, toSign));
    expect(await signatureOf(`${bucket}?b=1&a=2&a=1`)).toBe(expected);
  });

  it("encodes as RFC 3986: unreserved characters kept, every other one as %XX in upper case", () => {
    expect(uriEncode("AZaz09-_.~")).toBe("AZaz09-_.~");
    expect(uriEncode("!'()* /=&")).toBe("%21%27%28%29%2A%20%2F%3D%26");
  });

  it("sends and signs the session token of temporary credentials", async () => {
    const h = await get(bucket, { ...creds, sessionToken: "token-1" });
    expect(h["x-amz-security-token"]).toBe("token-1");
    expect(h.authorization).toContain("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,");
    const other = await get(bucket, { ...creds, sessionToken: "token-2" });
    expect(other.authorization).not.toBe(h.authorization);
    expect((await get(bucket)).authorization).not.toContain("x-amz-security-token");
  });

  it("canonical header values are trimmed, inner runs of spaces one space", async () => {
    const sign = (range: string) =>
      signV4(
        {
          method: "GET",
          url: bucket,
          headers: { range, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
          body: "",
          region: "us-east-1",
          service: "s3",
          date: new Date("2013-05-24T00:00:00Z"),
        },
        creds,
      );
    const want = (await sign("bytes=0-9 x")).authorization;
    expect((await sign("  bytes=0-9 \t  x  ")).authorization).toBe(want);
    expect((await sign("bytes=0-9  x")).authorization).toBe(want);
    expect((await sign("bytes=0-9x")).authorization).not.toBe(want);
  });

  it("signs the payload hash the request declares (x-amz-content-sha256), else the body's", async () => {
    const sign = (body: string, headers: Record<string, string> = {}) =>
      signV4(
        { method: "PUT", url: `${bucket}k`, headers, body, region: "us-east-1", service: "s3", date: new Date(0) },
        creds,
      );
    const declared = { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" };
    expect((await sign("data", declared)).authorization).toBe((await sign("other", declared)).authorization);
    expect((await sign("data")).authorization).not.toBe((await sign("other")).authorization);
  });
});
