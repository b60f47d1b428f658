// The search form's request and the page summary (node --test, on the esbuild bundle of
// search.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { pageSummary, searchOf, shortTime, timelineLine } from "../dist-test/search.mjs";

const form = {
  key: "  LZ482131160NZ ",
  retailer: "",
  status: "",
  from: "",
  to: "",
  operator: "",
  oldest: false,
};

test("an empty filter is no filter, and the key is trimmed", () => {
  assert.deepEqual(searchOf(form, 0), {
    key: "LZ482131160NZ",
    retailer_id: null,
    status: null,
    from: null,
    to: null,
    operator: null,
    oldest_first: false,
    page: 0,
  });
});

test("every filter given is sent, and an unknown status is none", () => {
  const s = searchOf(
    { ...form, retailer: "kowhai", status: "processed", from: "2026-11-22", to: "2026-11-23", operator: "u-olivia", oldest: true },
    2,
  );
  assert.equal(s.retailer_id, "kowhai");
  assert.equal(s.status, "processed");
  assert.equal(s.from, "2026-11-22");
  assert.equal(s.to, "2026-11-23");
  assert.equal(s.operator, "u-olivia");
  assert.equal(s.oldest_first, true);
  assert.equal(s.page, 2);
  assert.equal(searchOf({ ...form, status: "lost" }, 0).status, null);
});

test("the page summary says which returns of how many", () => {
  const none = { hits: [], total: 0, at_least: false, page: 0, page_size: 50, retailers: [], people: [] };
  assert.equal(pageSummary(none), "Nothing found.");
  const hits = Array.from({ length: 50 }, () => ({}));
  assert.equal(pageSummary({ ...none, hits, total: 120, page: 1 }), "51–100 of 120 return(s)");
  assert.equal(pageSummary({ ...none, hits, total: 10001, at_least: true }), "1–50 of more than 10001 return(s)");
  assert.equal(shortTime("2026-11-23T19:25:00.000Z"), "2026-11-23 19:25");
});

test("a timeline line says when, who, where and what", () => {
  const event = {
    at: "2026-11-23T19:25:00.000Z",
    kind: "event",
    who: "Aroha Ngata",
    station: "bench-1",
    device: "dev-akl-1",
    hlc: "0001795461900000-00000-dev-akl-1",
    what: "Scanned LZ482131160NZ",
  };
  assert.equal(
    timelineLine(event),
    "2026-11-23 19:25 · Aroha Ngata @ bench-1 [dev-akl-1 0001795461900000-00000-dev-akl-1] · Scanned LZ482131160NZ",
  );
  const carrier = { ...event, kind: "tracking_in", who: "nzpost", station: null, device: null, hlc: null, what: "Carrier: RT In transit" };
  assert.equal(timelineLine(carrier), "2026-11-23 19:25 · carrier · nzpost · Carrier: RT In transit");
});
