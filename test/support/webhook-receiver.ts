/**
 * A webhook receiver on loopback, as a customer would write one with the `standardwebhooks` package:
 * it verifies every delivery with the secrets a test registered for its key and records what came.
 *
 * - `POST /hook/<key>?script=500,500,200` answers each delivery to <key> with the next status of the
 *   script (the last one repeats); `hang` never answers.
 * - `PUT /secrets/<key>` `{ "secrets": [...] }`: the secrets each delivery to <key> is verified with.
 * - `GET /received/<key>`: what came, in order, each with `verified` (one boolean per secret).
 * - `POST /verify` `{ secret, body, headers }` → `{ ok, error }`: the verifier's verdict on any
 *   delivery, as given (a tampered body, an old timestamp).
 * Also used by the benchmark.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface Received {
  at: number;
  headers: Record<string, string>;
  body: string;
  answered: number | "hang";
  verified: boolean[];
}

interface Hook {
  secrets: string[];
  received: Received[];
}

const verdict = (secret: string, body: string, headers: Record<string, string>) => {
  try {
    new Webhook(secret).verify(body, headers);
    return { ok: true, error: null };
  } catch (e) {
    return { ok: false, error: String(e) };
  }
};

const KEPT_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent"];

export async function startReceiver(
  host = "127.0.0.1",
): Promise<{ origin: string; close: () => Promise<void>; count: () => number }> {
  const hooks = new Map<string, Hook>();
  const hook = (key: string) => {
    let h = hooks.get(key);
    if (!h) {
      h = { secrets: [], received: [] };
      hooks.set(key, h);
    }
    return h;
  };
  let total = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://receiver");
      const body = Buffer.concat(chunks).toString("utf8");
      const [, kind, key] = url.pathname.split("/");
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (req.method === "POST" && kind === "hook" && key) {
        total++;
        const h = hook(key);
        const script = (url.searchParams.get("script") ?? "200").split(",");
        const step = script[Math.min(h.received.length, script.length - 1)];
        const headers: Record<string, string> = {};
        for (const name of KEPT_HEADERS) {
          const v = req.headers[name];
          if (typeof v === "string") headers[name] = v;
        }
        const answered = step === "hang" ? "hang" : Number(step);
        h.received.push({
          at: Date.now(),
          headers,
          body,
          answered,
          verified: h.secrets.map((s) => verdict(s, body, headers).ok),
        });
        if (answered === "hang") return;
        res.writeHead(answered, { "content-type": "text/plain" });
        res.end(answered >= 200 && answered < 300 ? "ok" : `scripted ${answered}`);
        return;
      }
      if (req.method === "PUT" && kind === "secrets" && key) {
        hook(key).secrets = (JSON.parse(body) as { secrets: string[] }).secrets;
        return json(204, null);
      }
      if (req.method === "GET" && kind === "received" && key) return json(200, hooks.get(key)?.received ?? []);
      if (req.method === "POST" && kind === "verify") {
        const v = JSON.parse(body) as { secret: string; body: string; headers: Record<string, string> };
        return json(200, verdict(v.secret, v.body, v.headers));
      }
      json(404, { error: "unknown" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${host}:${port}`,
    count: () => total,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
