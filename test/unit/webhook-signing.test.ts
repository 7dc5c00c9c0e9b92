/** Standard Webhooks signatures: the spec's example, and agreement with the reference library's verifier. */
import { describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { newSecret, signature, signedHeaders } from "../../src/webhooks/signing";

describe("signature", () => {
  it("signs the Standard Webhooks example as the specification does", async () => {
    const sig = await signature(
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      "msg_p5jXN8AQM9LWM0D4loKWxJek",
      1614265330,
      '{"test": 2432232314}',
    );
    expect(sig).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("verifies with the standardwebhooks package, under each secret while two sign", async () => {
    const [current, previous] = [newSecret(), newSecret()];
    expect(current).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = JSON.stringify({ type: "run.completed", data: { ünïcode: "✓" } });
    const headers = await signedHeaders([current, previous], "d-1", Math.floor(Date.now() / 1000), body);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const s of [current, previous]) expect(new Webhook(s).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(current).verify(`${body} `, headers)).toThrow();
  });

  it("refuses a secret without the whsec_ prefix", async () => {
    await expect(signature("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "x", 1, "{}")).rejects.toThrow(/whsec_/);
  });
});
