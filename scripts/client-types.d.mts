// Types of scripts/client-types.mjs for the TypeScript that imports it (the node tests).
export const TYPES_FILE: string;
export function typesOf(doc: unknown): Promise<string>;
