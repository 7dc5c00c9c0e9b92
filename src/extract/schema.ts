/**
 * Request fields of API.md "Result formats and extraction", as zod pieces for the request schema.
 * A bad selector is refused here (422, with the field's path) so no job is ever created with it.
 */
import { z } from "@hono/zod-openapi";
import { MAX_SELECTOR_COMPOUNDS, MAX_SELECTOR_LENGTH, selectorProblem } from "./fields";

export const RESULT_FORMATS = ["html", "markdown", "text", "links", "metadata"] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];
export const MAX_EXTRACT_FIELDS = 50;
/**
 * Distinct extract field names across one collection's requests: the export's CSV has a column
 * per name, so this bounds its width (and every row's) whatever the collection holds.
 */
export const MAX_EXTRACT_NAMES_PER_COLLECTION = 100;
export const EXTRACT_FIELD_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** What an attribute name may be in HTML (no space, quote, `>`, `/`, `=` or control character). */
const ATTRIBUTE_NAME = /^[^\s"'>/=\u0000-\u001f\u007f]{1,256}$/;

export const CssSelector = z
  .string()
  .min(1)
  .superRefine((selector, ctx) => {
    const problem = selectorProblem(selector);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .openapi({
    example: "article h1",
    description:
      "CSS selector (Selectors Level 4 as css-select implements it, plus :contains() and :icontains()); " +
      "pseudo-elements and state pseudo-classes such as :hover are refused. At most " +
      `${MAX_SELECTOR_LENGTH} characters and ${MAX_SELECTOR_COMPOUNDS} compound selectors (each entry of a list ` +
      "and each run between combinators, :is()/:not()/:has() arguments included)",
  });

export const ResultFormats = z
  .array(z.enum(RESULT_FORMATS))
  .max(RESULT_FORMATS.length)
  .refine((formats) => new Set(formats).size === formats.length, { message: "formats must not repeat" })
  .default(["html"])
  .openapi({ description: "Result fields to produce for each job" });

export const OnlyMainContent = z
  .boolean()
  .default(false)
  .openapi({ description: "markdown and text without header, navigation, footer, asides and cookie banners" });

export const ExtractFieldSchema = z
  .object({
    selector: CssSelector,
    attribute: z.string().regex(ATTRIBUTE_NAME, 'must be "text", "html" or an attribute name').default("text").openapi({
      description:
        '"text", "html" (outer HTML) or an attribute name; href, src and other URL attributes come back absolute',
    }),
    all: z
      .boolean()
      .default(false)
      .openapi({ description: "Every match (a list) instead of the first (a string or null)" }),
  })
  .strict()
  .openapi("ExtractField");

export const ExtractSchema = z
  .record(z.string(), ExtractFieldSchema)
  .superRefine((fields, ctx) => {
    const names = Object.keys(fields);
    if (names.length > MAX_EXTRACT_FIELDS)
      ctx.addIssue({ code: "custom", message: `at most ${MAX_EXTRACT_FIELDS} extract fields` });
    // Checked here rather than by the record's key schema so the issue names the field and says what a name may be.
    for (const name of names) {
      if (!EXTRACT_FIELD_NAME.test(name))
        ctx.addIssue({ code: "custom", path: [name], message: "field names are 1-64 of A-Z a-z 0-9 _ -" });
    }
  })
  .openapi({ description: "Named values to pick from the page with CSS selectors" });

/** The three request fields, to spread into the request object schema. */
export const resultOptionsShape = {
  formats: ResultFormats,
  only_main_content: OnlyMainContent,
  extract: ExtractSchema.optional(),
};
export const ResultOptions = z.object(resultOptionsShape);
export type ResultOptions = z.infer<typeof ResultOptions>;

/**
 * Where a collection's requests first go past MAX_EXTRACT_NAMES_PER_COLLECTION distinct extract
 * field names (the request's index and the name that did), or null when they stay within it.
 */
export function extractNamesOverflow(
  requests: readonly { extract?: Record<string, unknown> }[],
): { index: number; name: string } | null {
  const names = new Set<string>();
  for (const [index, r] of requests.entries()) {
    for (const name of Object.keys(r.extract ?? {})) {
      names.add(name);
      if (names.size > MAX_EXTRACT_NAMES_PER_COLLECTION) return { index, name };
    }
  }
  return null;
}
