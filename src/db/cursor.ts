import { ApiError } from "../errors";

/** Opaque keyset cursors: base64url JSON of the last row's sort key, tagged with what it orders. */
export function encodeCursor(kind: string, key: (string | number | null)[]): string {
  const json = JSON.stringify([kind, ...key]);
  return btoa(json).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor(kind: string, cursor: string | undefined, arity: number): (string | number | null)[] | null {
  if (!cursor) return null;
  try {
    const json = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const parsed = JSON.parse(json);
    if (Array.isArray(parsed) && parsed[0] === kind && parsed.length === arity + 1) return parsed.slice(1);
  } catch {
    // fall through to the 400 below
  }
  throw new ApiError("bad_request", "The cursor is not valid for this listing; pass `cursor_next` from the previous page unchanged.");
}
