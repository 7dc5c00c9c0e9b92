import { it } from "vitest";
import { fetchPage } from "../src/fetchers/http";
import { target } from "./support/api";
it("fetch speed", async () => {
  const url = target("/page/1");
  for (const [name, fn] of [
    ["plain", async () => { await (await fetch(url)).text(); }],
    ["manual+headers", async () => { await (await fetch(url, { redirect: "manual", headers: { "user-agent": "x" } })).text(); }],
    ["fetchPage", async () => { await fetchPage(url, { timeoutMs: 30000, allowLoopback: true }); }],
  ] as const) {
    const t = Date.now();
    for (let i = 0; i < 100; i++) await fn();
    const seq = Date.now() - t;
    const t2 = Date.now();
    await Promise.all(Array.from({ length: 6 }, async () => { for (let i = 0; i < 50; i++) await fn(); }));
    console.log(name, "seq ms/fetch", seq / 100, "6-par ms/fetch", (Date.now() - t2) / 300);
  }
});
