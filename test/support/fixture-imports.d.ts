// Vite's file imports the extract tests use (import.meta.glob with ?raw, ?url&inline), typed here
// rather than through vite/client, whose DOM-flavoured declarations clash with the Workers types.
interface ImportMeta {
  glob<T = unknown>(pattern: string, options: { query: string; import: "default"; eager: true }): Record<string, T>;
}
declare module "*?url&inline" {
  const dataUrl: string;
  export default dataUrl;
}
