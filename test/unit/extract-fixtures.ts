/** The extract golden files: each page of test/fixtures/extract and what it must become. */
const files = import.meta.glob<string>("../fixtures/extract/*", { query: "?raw", import: "default", eager: true });

export function fixture(name: string): string {
  const text = files[`../fixtures/extract/${name}`];
  if (text === undefined) throw new Error(`no fixture ${name}`);
  return text;
}

/** The URL every fixture page is taken to have been fetched from. */
export const PAGE_URL = "https://example.com/guide/page.html";
