/** Every listing answers 400 to a cursor it did not hand out, whatever its elements are. */
import { describe, expect, it } from "vitest";
import { api, createCollection, newTenant, startRun, target } from "./support/api";

/** Built the way encodeCursor builds one: base64url of JSON [tag, ...sort key]. */
const forge = (value: unknown) =>
  btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");

const TS = "2026-11-28T12:00:00.123Z";
const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";

/** Cursors with the listing's own tag and every wrong kind of element, plus a few malformed ones. */
const forgeries = (tag: string, otherTag: string): [string, string][] => [
  ["an object timestamp", forge([tag, {}, ID])],
  ["an array id", forge([tag, TS, []])],
  ["arrays", forge([tag, [TS], [ID]])],
  ["a boolean timestamp", forge([tag, true, ID])],
  ["a boolean id", forge([tag, TS, false])],
  ["a number timestamp", forge([tag, 1_764_331_200_123, ID])],
  ["null elements", forge([tag, null, null])],
  ["an object id", forge([tag, TS, { id: ID }])],
  ["a text timestamp", forge([tag, "yesterday", ID])],
  ["an impossible date", forge([tag, "2026-02-31T12:00:00.000Z", ID])],
  ["a non-uuid id", forge([tag, TS, "../../etc"])],
  ["too few elements", forge([tag, TS])],
  ["too many elements", forge([tag, TS, ID, "x"])],
  ["another listing's tag", forge([otherTag, TS, ID])],
  ["an object cursor", forge({ tag, key: [TS, ID] })],
  ["not base64url JSON", "bm90IGpzb24"],
];

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
    const listings: [string, string, string][] = [
      ["/v1/async/collections?limit=1", "collections", "runs"],
      [`/v1/async/collections/${col.id}/runs?limit=1`, "runs", "collections"],
      [jobs, "jobs:created_at", "jobs:completed_at"],
      [`${jobs}&order_by=completed_at`, "jobs:completed_at", "jobs:created_at"],
    ];
    for (const [path, tag, otherTag] of listings) {
      for (const [what, cursor] of forgeries(tag, otherTag)) {
        await expect400(`${path}&cursor=${cursor}`, key, what);
      }
      // The same construction with a well-formed key is a cursor the listing reads.
      const res = await api(`${path}&cursor=${forge([tag, TS, ID])}`, { key });
      expect(res.status, path).toBe(200);
    }
  });
});
