/** Opaque keyset cursors: base64url JSON of the last row's sort key, tagged with what it orders. */
export function encodeCursor(kind: string, key: (string | number)[]): string {
  const json = JSON.stringify([kind, ...key]);
  return btoa(json).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** A cursor that this listing did not hand out, or that was altered. */
export class CursorError extends Error {
  override name = "CursorError";
}

/** What each element of a sort key is; a cursor is only bound to SQL once every element matches. */
export type CursorField = "timestamp" | "uuid" | "position";

/** The API's timestamps: ISO 8601 UTC with milliseconds, as Date#toISOString writes them. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Collection and run ids are UUIDs; job ids have the same shape (a run prefix and a hex sequence). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Round-tripping through Date also refuses a well-shaped impossible instant (February 31st). */
function isTimestamp(v: unknown): boolean {
  if (typeof v !== "string" || !TIMESTAMP.test(v)) return false;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && new Date(ms).toISOString() === v;
}

const VALID: Record<CursorField, (v: unknown) => boolean> = {
  timestamp: isTimestamp,
  uuid: (v) => typeof v === "string" && UUID.test(v),
  /** A row's position or instant in milliseconds, as the run's job store keys its listings. */
  position: (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0,
};

/**
 * The sort key a cursor carries, element by element as `fields` describes it, or null without a
 * cursor. Anything else (not base64url JSON, another listing's tag, a missing or extra element,
 * an element of the wrong type or shape) throws CursorError.
 */
export function decodeCursor(
  kind: string,
  cursor: string | undefined,
  fields: readonly CursorField[],
): (string | number)[] | null {
  if (!cursor) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    throw new CursorError("not base64url JSON");
  }
  if (!Array.isArray(parsed) || parsed[0] !== kind || parsed.length !== fields.length + 1) {
    throw new CursorError("not a cursor of this listing");
  }
  const key = parsed.slice(1);
  fields.forEach((f, i) => {
    if (!VALID[f](key[i])) throw new CursorError(`element ${i + 1} is not a ${f}`);
  });
  return key as (string | number)[];
}
