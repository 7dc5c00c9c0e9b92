/**
 * The contexts of one browser batch, against a stand-in browser that records every CDP command:
 * made one ahead of the jobs, each handed to exactly one job, all disposed before the batch ends.
 */
import type { Browser, CDPSession } from "@cloudflare/puppeteer";
import { describe, expect, it } from "vitest";
import { type BrowserSession, JobContexts } from "../../src/fetchers/browser";

/** A browser whose contexts open after `openMs` and whose pages are plain tokens. */
function fakeSession(openMs = 0) {
  let next = 0;
  const created: string[] = [];
  const disposed: string[] = [];
  const pages = new Map<string, string>();
  const targets: { url: string; ctx: string }[] = [];
  const cdp = {
    send: async (method: string, params: Record<string, string>) => {
      if (method === "Target.createBrowserContext") {
        await new Promise((r) => setTimeout(r, openMs));
        const id = `ctx${next++}`;
        created.push(id);
        return { browserContextId: id };
      }
      if (method === "Target.createTarget") {
        targets.push({ url: params.url, ctx: params.browserContextId });
        return { targetId: params.url };
      }
      if (method === "Target.disposeBrowserContext") {
        disposed.push(params.browserContextId);
        return {};
      }
      throw new Error(`unexpected ${method}`);
    },
  };
  const browser = {
    waitForTarget: async (match: (t: { url: () => string }) => boolean) => {
      for (;;) {
        const t = targets.find((x) => match({ url: () => x.url }));
        if (t) return { page: async () => (pages.set(t.ctx, `page of ${t.ctx}`), `page of ${t.ctx}`) };
        await new Promise((r) => setTimeout(r, 1));
      }
    },
  };
  const session = {
    browser: browser as unknown as Browser,
    cdp: cdp as unknown as CDPSession,
    refusal: () => null,
    broken: false,
  } as Omit<BrowserSession, "contexts"> as BrowserSession;
  return { session, created, disposed, pages };
}

const forever = <T>(p: Promise<T>) => p;
const expireAt =
  (ms: number) =>
  <T>(p: Promise<T>) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("out of time")), ms))]);

describe("JobContexts", () => {
  it("gives every job a context of its own, made one ahead, and disposes them all on drain", async () => {
    const f = fakeSession();
    const contexts = new JobContexts(f.session, 3, Number.MAX_SAFE_INTEGER);
    f.session.contexts = contexts;
    const taken = [];
    for (let i = 0; i < 3; i++) {
      const c = await contexts.take(forever);
      expect(c.page as unknown as string).toBe(`page of ${c.id}`);
      taken.push(c.id);
      contexts.retire(c);
    }
    await contexts.drain();
    // Three jobs, three contexts: none made past the last job, none handed out twice.
    expect(new Set(taken).size).toBe(3);
    expect(f.created).toEqual(taken);
    expect(f.disposed.sort()).toEqual([...taken].sort());
    expect(f.session.broken).toBe(false);
  });

  it("disposes a context that came after its job gave up, and one made ahead that no job took", async () => {
    const f = fakeSession(30);
    const contexts = new JobContexts(f.session, 5, Number.MAX_SAFE_INTEGER);
    f.session.contexts = contexts;
    const first = await contexts.take(forever);
    contexts.retire(first);
    // The next job gives up before the context made ahead for it arrives.
    await expect(contexts.take(expireAt(5))).rejects.toThrow("out of time");
    const third = await contexts.take(forever);
    contexts.retire(third);
    // The one made ahead for a fourth job is never taken.
    await contexts.drain();
    expect(f.created).toHaveLength(4);
    expect(f.disposed.sort()).toEqual([...f.created].sort());
  });

  it("makes none ahead once the batch starts no more jobs", async () => {
    const f = fakeSession();
    const contexts = new JobContexts(f.session, 8, Date.now() - 1);
    f.session.contexts = contexts;
    contexts.retire(await contexts.take(forever));
    await contexts.drain();
    expect(f.created).toHaveLength(1);
    expect(f.disposed).toEqual(f.created);
  });

  it("takes concurrently without sharing: four jobs at once get four contexts", async () => {
    const f = fakeSession(5);
    const contexts = new JobContexts(f.session, 8, Number.MAX_SAFE_INTEGER);
    f.session.contexts = contexts;
    const ids = (await Promise.all(Array.from({ length: 4 }, () => contexts.take(forever)))).map((c) => c.id);
    expect(new Set(ids).size).toBe(4);
    await contexts.drain();
    // The four taken and the one made ahead: all disposed, though no job gave its own back.
    expect(f.created).toHaveLength(5);
    expect(f.disposed.sort()).toEqual([...f.created].sort());
  });
});
