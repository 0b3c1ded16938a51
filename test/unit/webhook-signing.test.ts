import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { newWebhookSecret, signWebhook } from "../../src/core/webhook-signing.js";

// Verified with the independent `standardwebhooks` package, never with our own verifier.
describe("Standard Webhooks signing", () => {
  it("produces signatures the standardwebhooks package accepts", async () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = JSON.stringify({ type: "batch.completed", data: { batch_id: "bat_1", note: "ünïcode" } });
    const now = Math.floor(Date.now() / 1000);
    const headers = await signWebhook(secret, "msg_1", now, body);
    const verified = new Webhook(secret).verify(body, { ...headers });
    expect(verified).toEqual(JSON.parse(body));
  });

  it("is rejected for another body, id, timestamp or secret", async () => {
    const secret = newWebhookSecret();
    const now = Math.floor(Date.now() / 1000);
    const body = '{"a":1}';
    const headers = await signWebhook(secret, "msg_1", now, body);
    const wh = new Webhook(secret);
    expect(() => wh.verify('{"a":2}', { ...headers })).toThrow();
    expect(() => wh.verify(body, { ...headers, "webhook-id": "msg_2" })).toThrow();
    expect(() => wh.verify(body, { ...headers, "webhook-timestamp": String(now - 1) })).toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(body, { ...headers })).toThrow();
  });

  it("refuses a secret that is not whsec_", async () => {
    await expect(signWebhook("abc", "msg_1", 1, "{}")).rejects.toThrow(/whsec_/);
  });
});
