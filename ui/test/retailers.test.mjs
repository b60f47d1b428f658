// The retailer form's model (node --test, on the esbuild bundle of retailers.ts): the hub's
// form -> draft -> form gives back the same form with exactly the hub's keys, numbers as typed
// are checked, reason edits do what they say, and every field key the hub reports lands on an
// element the page has.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_EXPIRY_FIELD,
  addQcReason,
  addReason,
  addSubReason,
  daysOf,
  draftOf,
  fieldElementId,
  formOf,
  issueSummary,
  placeIssues,
  removeQcReason,
  removeReason,
  removeSubReason,
} from "../dist-test/retailers.mjs";

const ui = join(dirname(fileURLToPath(import.meta.url)), "..");
const retailerRs = readFileSync(join(ui, "..", "crates", "core", "src", "retailer.rs"), "utf8");
const page = readFileSync(join(ui, "index.html"), "utf8");

/// RetailerForm's fields as the Rust struct declares them (it denies unknown fields).
function rustFormFields() {
  const body = /pub struct RetailerForm \{([\s\S]*?)\n\}/.exec(retailerRs);
  assert.ok(body, "crates/core/src/retailer.rs declares RetailerForm");
  return [...body[1].matchAll(/^\s*pub (\w+):/gm)].map((m) => m[1]).sort();
}

function ok(result) {
  assert.equal(result.ok, true, result.ok ? "" : JSON.stringify(result.error));
  return result.value;
}

const FULL = {
  id: "kowhai-apparel",
  name: "Kowhai Apparel",
  currency: "NZD",
  country: "NZ",
  trigger: "first_scan",
  customers_choose: true,
  rules_override_customer_choice: false,
  exchange_enabled: true,
  credit_note_expiry_days: 180,
  default_outcome: { kind: "credit_note", expiry_days: 90 },
  qc_fail: "rule_driven",
  reasons: [
    { code: "FAULTY", label: "Faulty", requires_evidence: true, sub_reasons: [{ code: "ZIP", label: "Broken zip" }, { code: "SEAM", label: "Split seam" }] },
    { code: "CHANGED_MIND", label: "Changed my mind", requires_evidence: false, sub_reasons: [] },
  ],
  qc_reasons: [{ code: "WORN", label: "Worn", requires_photo: true }],
};

const BLANK = {
  id: "",
  name: "",
  currency: "",
  country: "",
  trigger: "processing",
  customers_choose: true,
  rules_override_customer_choice: true,
  exchange_enabled: false,
  credit_note_expiry_days: null,
  default_outcome: { kind: "refund" },
  qc_fail: "hold_for_review",
  reasons: [],
  qc_reasons: [],
};

test("a form comes back from its draft unchanged, with exactly the hub's keys", () => {
  for (const form of [FULL, BLANK]) {
    const back = ok(formOf(draftOf(form)));
    assert.deepEqual(back, form);
    assert.deepEqual(Object.keys(back).sort(), rustFormFields());
  }
  const noExpiry = { ...FULL, default_outcome: { kind: "credit_note", expiry_days: null } };
  assert.deepEqual(ok(formOf(draftOf(noExpiry))).default_outcome, { kind: "credit_note", expiry_days: null });
});

test("the draft holds numbers as text and is a copy, not the form itself", () => {
  const draft = draftOf(FULL);
  assert.equal(draft.credit_note_expiry_days, "180");
  assert.equal(draft.default_outcome, "credit_note");
  assert.equal(draft.default_expiry_days, "90");
  assert.equal(draftOf(BLANK).credit_note_expiry_days, "");
  draft.reasons[0].sub_reasons[0].label = "changed";
  draft.qc_reasons[0].code = "CHANGED";
  assert.equal(FULL.reasons[0].sub_reasons[0].label, "Broken zip");
  assert.equal(FULL.qc_reasons[0].code, "WORN");
});

test("days are a whole number, or empty for none", () => {
  assert.deepEqual(daysOf(""), { ok: true, value: null });
  assert.deepEqual(daysOf("   "), { ok: true, value: null });
  assert.deepEqual(daysOf(" 30 "), { ok: true, value: 30 });
  assert.deepEqual(daysOf("0"), { ok: true, value: 0 }, "the range is the hub's to judge");
  for (const bad of ["12x", "-1", "1.5", "1e3", "4294967296"]) {
    const r = daysOf(bad);
    assert.equal(r.ok, false, bad);
    assert.match(r.error, /whole number of days/);
  }
});

test("numbers that are not numbers are refused under their own fields", () => {
  const draft = { ...draftOf(FULL), credit_note_expiry_days: "a year", default_expiry_days: "ninety" };
  const result = formOf(draft);
  assert.equal(result.ok, false);
  assert.deepEqual(
    result.error.map((i) => i.field),
    ["credit_note_expiry_days", DEFAULT_EXPIRY_FIELD],
  );
  assert.deepEqual(
    result.error.map((i) => fieldElementId(i.field)),
    ["retailer-expiry", "retailer-default-expiry"],
  );
});

test("the default credit note's expiry only counts while credit note is the default", () => {
  const draft = { ...draftOf(FULL), default_outcome: "exchange", default_expiry_days: "not a number" };
  const form = ok(formOf(draft));
  assert.deepEqual(form.default_outcome, { kind: "exchange" });
  // Kept in the draft: picking credit note again brings the typed days back.
  const again = ok(formOf({ ...draft, default_outcome: "credit_note", default_expiry_days: "45" }));
  assert.deepEqual(again.default_outcome, { kind: "credit_note", expiry_days: 45 });
});

test("reason edits add and remove at each level without touching the draft they were given", () => {
  const start = draftOf(FULL);
  const added = addReason(start);
  assert.equal(start.reasons.length, 2);
  assert.equal(added.reasons.length, 3);
  assert.deepEqual(added.reasons[2], { code: "", label: "", requires_evidence: false, sub_reasons: [] });

  const withSub = addSubReason(added, 1);
  assert.deepEqual(withSub.reasons[1].sub_reasons, [{ code: "", label: "" }]);
  assert.equal(added.reasons[1].sub_reasons.length, 0);
  assert.equal(withSub.reasons[0], added.reasons[0], "other reasons are left as they are");

  const lessSub = removeSubReason(start, 0, 0);
  assert.deepEqual(lessSub.reasons[0].sub_reasons, [{ code: "SEAM", label: "Split seam" }]);
  assert.equal(start.reasons[0].sub_reasons.length, 2);

  const removed = removeReason(start, 0);
  assert.deepEqual(removed.reasons.map((r) => r.code), ["CHANGED_MIND"]);

  const qc = addQcReason(start);
  assert.deepEqual(qc.qc_reasons[1], { code: "", label: "", requires_photo: false });
  assert.deepEqual(removeQcReason(qc, 0).qc_reasons, [{ code: "", label: "", requires_photo: false }]);
  assert.equal(start.qc_reasons.length, 1);

  // An edited draft still makes a form the hub reads.
  const form = ok(formOf(addSubReason(addReason(start), 2)));
  assert.deepEqual(form.reasons[2], { code: "", label: "", requires_evidence: false, sub_reasons: [{ code: "", label: "" }] });
});

test("each field key the hub reports maps to its element", () => {
  const expected = {
    id: "retailer-id",
    name: "retailer-name",
    currency: "retailer-currency",
    country: "retailer-country",
    credit_note_expiry_days: "retailer-expiry",
    default_outcome: "retailer-default-outcome",
    rules: "retailer-rules-note",
    reasons: "retailer-reasons",
    qc_reasons: "retailer-qc-reasons",
    "reasons[0].code": "reason-0-code",
    "reasons[12].label": "reason-12-label",
    "reasons[3]": "reason-3",
    "reasons[1].sub_reasons[0].code": "reason-1-sub-0-code",
    "reasons[1].sub_reasons[10].label": "reason-1-sub-10-label",
    "qc_reasons[0].code": "qc-reason-0-code",
    "qc_reasons[4].label": "qc-reason-4-label",
    "qc_reasons[2].requires_photo": "qc-reason-2-photo",
  };
  for (const [field, id] of Object.entries(expected)) assert.equal(fieldElementId(field), id, field);
  for (const unknown of ["", "bogus", "toString", "__proto__", "reasons[0].bogus", "reasons[x].code", "qc_reasons[1].sub_reasons[0].code", "reasons[0].code.extra"]) {
    assert.equal(fieldElementId(unknown), null, unknown);
  }
});

test("every key the Rust check can report lands on an element the page has", () => {
  // Plain keys: issue("name", ...); indexed ones are built with format!.
  const plain = [...new Set([...retailerRs.matchAll(/issue\(\s*"(\w+)"/g)].map((m) => m[1]))];
  assert.ok(plain.length >= 8, `found only ${plain.join(", ")}`);
  // The rules engine's disagreements are reported as `rules` or `default_outcome`.
  for (const field of [...plain, "rules", "default_outcome"]) {
    const id = fieldElementId(field);
    assert.ok(id, `${field} has no element`);
    assert.ok(page.includes(`id="${id}"`), `index.html has no #${id} for ${field}`);
  }
  for (const indexed of ["reasons[{n}].code", "reasons[{n}].label", "qc_reasons[{n}].code", "qc_reasons[{n}].label"]) {
    assert.ok(retailerRs.includes(indexed), `retailer.rs no longer reports ${indexed}`);
  }
  assert.ok(retailerRs.includes('format!("reasons[{n}].sub_reasons[{m}]")'));
  assert.ok(page.includes('id="retailer-default-expiry"'));
});

test("issues are grouped per element in order; unknown keys go to the status line", () => {
  const issues = [
    { field: "name", message: "the display name is empty" },
    { field: "reasons[0].code", message: "the code is empty" },
    { field: "name", message: "second problem" },
    { field: "shopify", message: "something new" },
  ];
  const { placed, unplaced } = placeIssues(issues);
  assert.deepEqual([...placed.keys()], ["retailer-name", "reason-0-code"]);
  assert.deepEqual(placed.get("retailer-name").map((i) => i.message), ["the display name is empty", "second problem"]);
  assert.deepEqual(unplaced, [{ field: "shopify", message: "something new" }]);
  assert.equal(issueSummary(issues, unplaced), "Not saved: 4 problems, marked beside the fields. shopify: something new.");
  assert.equal(issueSummary([issues[0]], []), "Not saved: 1 problem, marked beside the fields.");
});
