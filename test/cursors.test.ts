/** Every listing answers 400 to a cursor it did not hand out, whatever its elements are. */
import { describe, expect, it } from "vitest";
import { api, createCollection, newTenant, startRun, target } from "./support/api";

/** Built the way encodeCursor builds one: base64url of JSON [tag, ...sort key]. */
const forge = (value: unknown) =>
  btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");

const TS = "2026-11-28T12:00:00.123Z";
const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";

/**
 * Cursors with the listing's own tag and every wrong kind of element in place of each element of a
 * good key, plus a few malformed ones. Timestamps and ids are strings of a shape; a job's position
 * and completion instant are non-negative integers.
 */
function forgeries(tag: string, otherTag: string, good: unknown[]): [string, string][] {
  const wrong = (v: unknown): [string, unknown][] =>
    typeof v === "number"
      ? [
          ["a string", String(v)],
          ["a negative number", -1],
          ["a fraction", 1.5],
          ["a huge number", 2 ** 60],
        ]
      : [
          ["a number", 1_764_331_200_123],
          ["a free text", "yesterday"],
          ["an impossible date or id", v === TS ? "2026-02-31T12:00:00.000Z" : "../../etc"],
        ];
  const out: [string, string][] = [];
  good.forEach((v, i) => {
    const shapes: [string, unknown][] = [
      ["an object", {}],
      ["an array", [v]],
      ["a boolean", true],
      ["null", null],
      ...wrong(v),
    ];
    for (const [what, bad] of shapes)
      out.push([`${what} as element ${i + 1}`, forge([tag, ...good.map((g, j) => (j === i ? bad : g))])]);
  });
  out.push(
    ["too few elements", forge([tag, ...good.slice(1)])],
    ["too many elements", forge([tag, ...good, "x"])],
    ["another listing's tag", forge([otherTag, ...good])],
    ["an object cursor", forge({ tag, key: good })],
    ["not base64url JSON", "bm90IGpzb24"],
  );
  return out;
}

async function expect400(path: string, key: string, what: string) {
  const res = await api(path, { key });
  expect(res.status, `${what}: ${path}`).toBe(400);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  expect(((await res.json()) as { detail: string }).detail).toMatch(/cursor/);
}

describe("forged cursors", () => {
  it("are refused with 400 by the collections, runs and jobs listings, and well-formed ones are read", async () => {
    const { key } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const run = await startRun(key, col.id);
    const jobs = `/v1/async/collections/${col.id}/runs/${run.run_id}/jobs?limit=1`;
    const listings: [string, string, string, unknown[]][] = [
      ["/v1/async/collections?limit=1", "collections", "runs", [TS, ID]],
      [`/v1/async/collections/${col.id}/runs?limit=1`, "runs", "collections", [TS, ID]],
      [jobs, "jobs:created_at", "jobs:completed_at", [0]],
      [`${jobs}&order_by=completed_at`, "jobs:completed_at", "jobs:created_at", [1_764_331_200_123, 0]],
    ];
    for (const [path, tag, otherTag, good] of listings) {
      for (const [what, cursor] of forgeries(tag, otherTag, good)) {
        await expect400(`${path}&cursor=${cursor}`, key, what);
      }
      // The same construction with a well-formed key is a cursor the listing reads.
      const res = await api(`${path}&cursor=${forge([tag, ...good])}`, { key });
      expect(res.status, path).toBe(200);
    }
  });
});
