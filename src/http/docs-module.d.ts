// The Scalar browser build, imported as text through wrangler.toml's `rules` (src/http/docs.ts).
declare module "*/@scalar/api-reference/dist/browser/standalone.js" {
  const script: string;
  export default script;
}
