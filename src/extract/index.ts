import { type ContentOptions, markdown, type Page, text, toDocument } from "./content";
import { type Extracted, type ExtractFields, extract } from "./fields";
import { type Link, links } from "./links";
import { type Metadata, metadata } from "./metadata";
import type { ResultFormat } from "./schema";

export { capKeptResults, jsonBytes, type KeptResults, MAX_KEPT_RESULT_BYTES } from "./cap";
export { type ContentOptions, markdown, type Page, text } from "./content";
export { parseHtml } from "./dom";
export { type ExtractField, type ExtractFields, type Extracted, extract, selectorProblem } from "./fields";
export { type Link, links } from "./links";
export { type Metadata, metadata } from "./metadata";
export * from "./schema";

export interface Results {
  markdown?: string;
  text?: string;
  links?: Link[];
  metadata?: Metadata;
  extracted?: Extracted;
}

/** Every requested result of one page from a single parse ("html" is the page itself, not made here). */
export function makeResults(
  page: Page,
  baseUrl: string,
  request: { formats: readonly ResultFormat[]; only_main_content?: boolean; extract?: ExtractFields },
): Results {
  const doc = toDocument(page);
  const options: ContentOptions = { onlyMainContent: request.only_main_content ?? false };
  const out: Results = {};
  if (request.formats.includes("markdown")) out.markdown = markdown(doc, baseUrl, options);
  if (request.formats.includes("text")) out.text = text(doc, baseUrl, options);
  if (request.formats.includes("links")) out.links = links(doc, baseUrl);
  if (request.formats.includes("metadata")) out.metadata = metadata(doc, baseUrl);
  if (request.extract && Object.keys(request.extract).length > 0)
    out.extracted = extract(doc, baseUrl, request.extract);
  return out;
}
