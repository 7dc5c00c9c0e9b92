/**
 * Request-body schemas state their defaults in words. openapi-typescript, like other generators, types a
 * property that has a `default` as always present: right for a response, wrong for a request. In a
 * component shared by request bodies (Request, Action) every defaulted field (`browser`, `screenshot`,
 * `actions`, `timeout`, …) would have to be sent, and a program sending the seed's own body would not
 * compile. The validation applies the defaults all the same; only the document changes.
 */

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);

/** Schema keywords whose values are schemas, or lists or maps of schemas. */
const ONE = ["items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else"];
const LIST = ["allOf", "anyOf", "oneOf", "prefixItems"];
const MAP = ["properties", "patternProperties", "$defs"];

/**
 * Moves `default` into `description` in every schema reachable from an operation's request body,
 * following `$ref`s into components/schemas once each. Mutates and returns the document.
 */
export function describeRequestDefaults<D extends { paths?: unknown; components?: unknown }>(doc: D): D {
  const components = isNode(doc.components) && isNode(doc.components.schemas) ? doc.components.schemas : {};
  const seen = new Set<string>();
  const schema = (s: unknown): void => {
    if (!isNode(s)) return;
    if (typeof s.$ref === "string") {
      const name = s.$ref.startsWith("#/components/schemas/") ? s.$ref.slice("#/components/schemas/".length) : null;
      if (name !== null && !seen.has(name)) {
        seen.add(name);
        schema(components[name]);
      }
      return;
    }
    if ("default" in s) {
      const said = `Default: \`${JSON.stringify(s.default)}\`.`;
      s.description = typeof s.description === "string" && s.description ? `${s.description}. ${said}` : said;
      delete s.default;
    }
    for (const k of ONE) schema(s[k]);
    for (const k of LIST) if (Array.isArray(s[k])) for (const x of s[k] as unknown[]) schema(x);
    for (const k of MAP) if (isNode(s[k])) for (const x of Object.values(s[k] as Node)) schema(x);
  };
  for (const item of Object.values(isNode(doc.paths) ? doc.paths : {})) {
    if (!isNode(item)) continue;
    for (const op of Object.values(item)) {
      const content = isNode(op) && isNode(op.requestBody) ? op.requestBody.content : undefined;
      if (!isNode(content)) continue;
      for (const media of Object.values(content)) if (isNode(media)) schema(media.schema);
    }
  }
  return doc;
}
