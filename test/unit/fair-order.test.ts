/**
 * fairOrder: the order a consumer starts a batch's jobs in. Tenants take turns, then runs within a
 * tenant, so another tenant's jobs in a batch of hanging pages get the first free slots (a browser
 * batch of 24 starts 3 at a time; a fetch batch of 50, 6 at a time).
 */
import { describe, expect, it } from "vitest";
import type { JobMessage } from "../../src/domain";
import { fairOrder } from "../../src/queue/consume";

/** `n` jobs of one run, named `<run>-<i>`. */
const jobs = (tenant: string, run: string, n: number): JobMessage[] =>
  Array.from({ length: n }, (_, i) => ({ job_id: `${run}-${i}`, run_id: run, tenant }) as unknown as JobMessage);
const order = (batch: JobMessage[]) => fairOrder(batch).map((j) => j.job_id);

describe("fairOrder", () => {
  it("gives a tenant's 3 jobs behind 21 of another the first turns of a browser batch", () => {
    const out = order([...jobs("A", "a", 21), ...jobs("B", "b", 3)]);
    expect(out.slice(0, 6)).toEqual(["a-0", "b-0", "a-1", "b-1", "a-2", "b-2"]);
    expect(out).toHaveLength(24);
    // 3 pages at a time: B's jobs are all among the first two rounds.
    expect(out.indexOf("b-2")).toBeLessThan(6);
  });

  it("lets runs take turns within their tenant's turns, so many runs do not win a tenant more", () => {
    const out = order([...jobs("A", "a1", 3), ...jobs("A", "a2", 3), ...jobs("A", "a3", 3), ...jobs("B", "b", 3)]);
    expect(out.slice(0, 6)).toEqual(["a1-0", "b-0", "a2-0", "b-1", "a3-0", "b-2"]);
    expect(out.slice(6)).toEqual(["a1-1", "a2-1", "a3-1", "a1-2", "a2-2", "a3-2"]);
  });

  it("keeps each run's jobs in their order, and every job once", () => {
    const batch = [...jobs("B", "b", 4), ...jobs("A", "a", 7), ...jobs("C", "c", 1), ...jobs("A", "x", 2)];
    const out = order(batch);
    expect([...out].sort()).toEqual(batch.map((j) => j.job_id).sort());
    for (const run of ["a", "b", "c", "x"]) {
      const mine = out.filter((id) => id.startsWith(`${run}-`));
      expect(mine).toEqual([...mine].sort((p, q) => Number(p.split("-")[1]) - Number(q.split("-")[1])));
    }
    // The tenant first in the batch goes first; the others follow in the order they first appear.
    expect(out.slice(0, 3)).toEqual(["b-0", "a-0", "c-0"]);
  });
});
