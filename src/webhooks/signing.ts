/**
 * Standard Webhooks signatures (standardwebhooks.com): the secret is `whsec_` + base64 of the key
 * bytes; a delivery is signed as base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))
 * and sent as `v1,<signature>`, several space-separated while a rotated secret still signs. WebCrypto
 * only, so it runs in the Worker as is.
 */
const PREFIX = "whsec_";
/** 32 random bytes: the spec asks for 24 to 64. */
const KEY_BYTES = 32;

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

export function newSecret(): string {
  return PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
}

/** One `v1,<base64>` signature of a delivery under one secret. */
export async function signature(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  if (!secret.startsWith(PREFIX)) throw new Error("a webhook secret starts with whsec_");
  const key = await crypto.subtle.importKey(
    "raw",
    fromBase64(secret.slice(PREFIX.length)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

/** The three Standard Webhooks headers of one attempt, signed with every secret that still signs. */
export async function signedHeaders(
  secrets: string[],
  id: string,
  timestamp: number,
  body: string,
): Promise<Record<string, string>> {
  const signatures = await Promise.all(secrets.map((s) => signature(s, id, timestamp, body)));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatures.join(" "),
  };
}
