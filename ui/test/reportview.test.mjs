// The reports screen's pure parts (node --test, on the esbuild bundle of reportview.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cellText, chartOf, filterOf, humanMillis, localDay, offsetAt } from "../dist-test/reportview.mjs";

test("durations read as the printed summary reads them", () => {
  assert.equal(humanMillis(950), "950 ms");
  assert.equal(humanMillis(42_500), "42 s");
  assert.equal(humanMillis(3 * 60_000), "3 min");
  assert.equal(humanMillis(5 * 3_600_000 + 1_800_000), "5.5 h");
  assert.equal(humanMillis(2 * 86_400_000 + 8_640_000), "2.1 d");
  assert.equal(humanMillis(-5), "0 ms");
});

test("cells: nothing is empty, a duration is read, a number is unformatted", () => {
  assert.equal(cellText(null, "text"), "");
  assert.equal(cellText(420_000, "millis"), "7 min");
  assert.equal(cellText(123456, "minor"), "123456");
  assert.equal(cellText("59.00", "decimal"), "59.00");
});

test("an empty field is no filter, and each bound carries the station's offset then", () => {
  const filter = filterOf({ from: " 2026-11-23", to: "2026-11-24", retailer: "kowhai", operator: "", station: " " });
  assert.deepEqual(filter, {
    from: "2026-11-23",
    to: "2026-11-24",
    retailer_id: "kowhai",
    operator: null,
    station: null,
    utc_offset_minutes: -new Date(2026, 10, 23).getTimezoneOffset(),
    end_utc_offset_minutes: -new Date(2026, 10, 25).getTimezoneOffset(),
  });
  assert.equal(filterOf({ from: "", to: "", retailer: "", operator: "", station: "" }).end_utc_offset_minutes, null);
  assert.equal(offsetAt("not a day"), -new Date().getTimezoneOffset());
});

test("today is the station's calendar day", () => {
  assert.equal(localDay(new Date(2026, 10, 23, 23, 59)), "2026-11-23");
  assert.equal(localDay(new Date(2026, 0, 5, 0, 1)), "2026-01-05");
});

const reasons = {
  name: "reasons",
  title: "Why they came back",
  about: "",
  columns: [
    { key: "retailer", label: "Retailer", kind: "text" },
    { key: "reason", label: "Reason", kind: "text" },
    { key: "items", label: "Items", kind: "count" },
  ],
  rows: [
    ["Kōwhai", "Too small", 3],
    ["Maple", "Too small", 2],
    ["Kōwhai", "Faulty", 1],
    ["Kōwhai", null, 4],
  ],
  chart: { kind: "horizontal_bar", label_column: 1, value_columns: [2] },
};

test("a chart adds up rows of one label and keeps the table's order", () => {
  assert.deepEqual(chartOf(reasons), {
    type: "bar",
    horizontal: true,
    labels: ["Too small", "Faulty", "(none)"],
    datasets: [{ label: "Items", data: [5, 1, 4] }],
  });
  assert.deepEqual(chartOf(reasons, 2).labels, ["Too small", "Faulty"]);
  assert.equal(chartOf({ ...reasons, rows: [] }), null);
  assert.equal(chartOf({ ...reasons, chart: null }), null);
});
