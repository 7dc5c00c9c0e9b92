import { describe, expect, it } from "vitest";
import { describeRequestDefaults } from "../../src/http/openapi-input";

const body = (schema: unknown) => ({ requestBody: { content: { "application/json": { schema } } } });

describe("describeRequestDefaults", () => {
  const cases: { name: string; doc: any; check: (d: any) => void }[] = [
    {
      name: "an inline body's default moves to its description",
      doc: {
        paths: { "/a": { post: body({ type: "object", properties: { b: { type: "boolean", default: false } } }) } },
      },
      check: (d) =>
        expect(d.paths["/a"].post.requestBody.content["application/json"].schema.properties.b).toEqual({
          type: "boolean",
          description: "Default: `false`.",
        }),
    },
    {
      name: "through $refs, arrays, unions and an existing description",
      doc: {
        paths: { "/a": { post: body({ $ref: "#/components/schemas/Body" }) } },
        components: {
          schemas: {
            Body: {
              type: "object",
              properties: { items: { type: "array", items: { $ref: "#/components/schemas/R" } } },
            },
            R: {
              type: "object",
              properties: {
                t: { type: "integer", default: 30000, description: "ms" },
                u: { anyOf: [{ type: "string", default: "x" }, { type: "null" }] },
              },
            },
          },
        },
      },
      check: (d) => {
        expect(d.components.schemas.R.properties.t).toEqual({ type: "integer", description: "ms. Default: `30000`." });
        expect(d.components.schemas.R.properties.u.anyOf[0]).toEqual({
          type: "string",
          description: 'Default: `"x"`.',
        });
      },
    },
    {
      name: "a property named default is a property, and response schemas keep their defaults",
      doc: {
        paths: {
          "/a": {
            post: body({ type: "object", properties: { default: { type: "string" } } }),
            get: {
              responses: { 200: { content: { "application/json": { schema: { $ref: "#/components/schemas/Out" } } } } },
            },
          },
        },
        components: { schemas: { Out: { type: "object", properties: { n: { type: "integer", default: 1 } } } } },
      },
      check: (d) => {
        expect(d.paths["/a"].post.requestBody.content["application/json"].schema.properties.default).toEqual({
          type: "string",
        });
        expect(d.components.schemas.Out.properties.n.default).toBe(1);
      },
    },
    {
      name: "a component reached twice (and a cycle) is rewritten once",
      doc: {
        paths: {
          "/a": { post: body({ $ref: "#/components/schemas/N" }) },
          "/b": { put: body({ $ref: "#/components/schemas/N" }) },
        },
        components: {
          schemas: {
            N: {
              type: "object",
              properties: { k: { type: "boolean", default: true }, next: { $ref: "#/components/schemas/N" } },
            },
          },
        },
      },
      check: (d) =>
        expect(d.components.schemas.N.properties.k).toEqual({ type: "boolean", description: "Default: `true`." }),
    },
  ];
  for (const c of cases) it(c.name, () => c.check(describeRequestDefaults(c.doc)));
});
