/**
 * GET /v1/docs: the Scalar API reference, served whole by the Worker. Its script is the package's
 * self-contained browser build, bundled as text (wrangler.toml `rules`), so the page loads nothing
 * from a CDN and works where only this server is reachable.
 */
import scalarStandalone from "../../node_modules/@scalar/api-reference/dist/browser/standalone.js";

export const SCALAR_PATH = "/v1/docs/scalar.js";

/**
 * The reference reads the document from this server, and its "try it" calls the document's `servers`
 * entry, which is the origin the page was loaded from. Settings that would reach out to Scalar's
 * services are off: the fonts (the page falls back to system fonts), the request proxy (same origin
 * needs none), telemetry, the hosted agent and MCP buttons.
 */
const CONFIG = {
  url: "/v1/openapi.json",
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  hideClientButton: false,
  showDeveloperTools: "never",
  documentDownloadType: "json",
  defaultOpenAllTags: true,
  persistAuth: true,
  authentication: { preferredSecurityScheme: "Bearer" },
};

export const docsPage = () => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Scrape API reference</title>
</head>
<body>
<div id="app"></div>
<script src="${SCALAR_PATH}"></script>
<script>Scalar.createApiReference("#app", ${JSON.stringify(CONFIG)});</script>
</body>
</html>`;

/** The reference's script; immutable for a deploy, so browsers may keep it for an hour. */
export const scalarScript = () =>
  new Response(scalarStandalone, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=3600",
      "x-content-type-options": "nosniff",
    },
  });
