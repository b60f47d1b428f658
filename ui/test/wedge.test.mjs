// The wedge detector with exact timings (node --test, on the esbuild bundle of wedge.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { WedgeDetector } from "../dist-test/wedge.mjs";

const settings = { max_gap_ms: 35, min_length: 6, suffix: "enter" };

function type(d, text, start, gap) {
  const released = [];
  let t = start;
  for (const ch of text) {
    released.push(...d.push(ch, t));
    t += gap;
  }
  return { released, end: t - gap };
}

test("a fast burst ended by Enter is a scan", () => {
  const d = new WedgeDetector(settings);
  const { released, end } = type(d, "LZ482131160NZ", 1000, 8);
  assert.deepEqual(released, []);
  assert.deepEqual(d.suffix(end + 8), [{ kind: "scan", code: "LZ482131160NZ", lastKeyAt: end + 8 }]);
});

test("a person typing is keys, never a scan", () => {
  const d = new WedgeDetector(settings);
  const { released, end } = type(d, "LZ4821", 1000, 120);
  assert.deepEqual(released, ["L", "Z", "4", "8", "2"]);
  assert.deepEqual(d.suffix(end + 120), [{ kind: "keys", keys: ["1"] }, { kind: "suffix" }]);
});

test("a short burst is hotkeys, and a lone Enter is the suffix key", () => {
  const d = new WedgeDetector(settings);
  type(d, "p", 1000, 10);
  assert.deepEqual(d.idle(1000 + 40), { kind: "keys", keys: ["p"] });
  assert.deepEqual(d.suffix(2000), [{ kind: "suffix" }]);
});

test("a slow suffix after a burst is not a scan", () => {
  const d = new WedgeDetector(settings);
  const { end } = type(d, "ABCDEFG", 1000, 5);
  const out = d.suffix(end + 500);
  assert.equal(out[0].kind, "keys");
});

test("with no suffix configured, a burst ends when the keys stop", () => {
  const d = new WedgeDetector({ ...settings, suffix: "none" });
  const { end } = type(d, "9400110200881", 1000, 4);
  assert.equal(d.idle(end + 10), null, "too early to tell");
  assert.deepEqual(d.idle(end + 40), { kind: "scan", code: "9400110200881", lastKeyAt: end });
});

test("the thresholds are the station's settings", () => {
  const d = new WedgeDetector({ max_gap_ms: 80, min_length: 3, suffix: "tab" });
  assert.ok(d.isSuffix("Tab") && !d.isSuffix("Enter"));
  const { end } = type(d, "ABC", 0, 60);
  assert.equal(d.suffix(end + 60)[0].kind, "scan");
});
