import { describe, expect, it } from "vitest";
import { CursorError, decodeCursor, encodeCursor } from "../../src/http/cursor";

/** Built the way a client could forge one: base64url of any JSON. */
const forge = (value: unknown) =>
  btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");

const TS = "2026-11-28T12:00:00.123Z";
const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const KEY = ["timestamp", "uuid"] as const;

describe("decodeCursor", () => {
  it("reads back what encodeCursor wrote, and nothing without a cursor", () => {
    expect(decodeCursor("runs", encodeCursor("runs", [TS, ID]), KEY)).toEqual([TS, ID]);
    const epoch = "1970-01-01T00:00:00.000Z";
    expect(decodeCursor("runs", forge(["runs", epoch, ID]), KEY)).toEqual([epoch, ID]);
    expect(decodeCursor("runs", undefined, KEY)).toBeNull();
    expect(decodeCursor("runs", "", KEY)).toBeNull();
  });

  it.each([
    ["not base64", "%%%"],
    ["base64 of not JSON", btoa("not json")],
    ["an object", forge({ 0: "runs", 1: TS, 2: ID })],
    ["a string", forge("runs")],
    ["another listing's tag", forge(["collections", TS, ID])],
    ["no tag", forge([TS, ID])],
    ["a missing element", forge(["runs", TS])],
    ["an extra element", forge(["runs", TS, ID, ID])],
    ["an object for the timestamp", forge(["runs", {}, ID])],
    ["an array for the id", forge(["runs", TS, []])],
    ["a boolean", forge(["runs", true, ID])],
    ["null elements", forge(["runs", null, null])],
    ["a number for the timestamp", forge(["runs", 1_764_331_200_123, ID])],
    ["a number for the id", forge(["runs", TS, 42])],
    ["a timestamp without milliseconds", forge(["runs", "2026-11-28T12:00:00Z", ID])],
    ["a timestamp with an offset", forge(["runs", "2026-11-28T12:00:00.123+01:00", ID])],
    ["an impossible date", forge(["runs", "2026-02-31T12:00:00.000Z", ID])],
    ["a date alone", forge(["runs", "2026-11-28", ID])],
    ["SQL in the timestamp", forge(["runs", "' OR 1=1 --", ID])],
    ["an upper-case id", forge(["runs", TS, ID.toUpperCase()])],
    ["an id without dashes", forge(["runs", TS, ID.replaceAll("-", "")])],
    ["a short id", forge(["runs", TS, ID.slice(0, 35)])],
  ])("refuses %s", (_what, cursor) => {
    expect(() => decodeCursor("runs", cursor, KEY)).toThrow(CursorError);
  });
});
