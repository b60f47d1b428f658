// The rule form's model (node --test, on the esbuild bundle of ruleform.ts): JSON -> form ->
// JSON gives back the same rule set, priorities follow the list, tree edits do what they say.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  FIELDS,
  addChild,
  addRule,
  amountMinor,
  amountText,
  editCondition,
  editPredicate,
  enginePath,
  formFromJson,
  fromForm,
  literalKind,
  moveRule,
  nodeAt,
  opsFor,
  parseRuleSet,
  removeNode,
  removeRule,
  ruleSetJson,
  setGroupKind,
  toForm,
  unwrapNode,
  withField,
  withOp,
  wrapNode,
} from "../dist-test/ruleform.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/// The demo's rule sets, read out of the Rust source so the test follows them.
function demoRuleSets() {
  const source = readFileSync(join(repo, "crates", "hub", "src", "demo.rs"), "utf8");
  const sets = [...source.matchAll(/const (\w+_RULES): &str = r#"([\s\S]*?)"#;/g)].map((m) => [m[1], m[2]]);
  sets.push(["changed-mind fixture", readFileSync(join(repo, "tests", "fixtures", "rules_changed_mind_credit.json"), "utf8")]);
  return sets;
}

/// What the engine's serde makes of the JSON: `enabled` defaults to true.
function withEngineDefaults(json) {
  const set = JSON.parse(json);
  return { rules: set.rules.map((rule) => ({ enabled: true, ...rule })) };
}

function ok(result) {
  assert.equal(result.ok, true, result.ok ? "" : JSON.stringify(result.error));
  return result.value;
}

function roundTrip(set) {
  return ok(fromForm(ok(toForm(set))));
}

/// A rule set with every field, every literal kind, every operator shape and nested groups.
const NESTED = {
  rules: [
    {
      id: "nested",
      name: "Nested",
      priority: 1,
      enabled: true,
      condition: {
        all: [
          { predicate: { field: "return_reason", op: "in", value: { list: ["FAULTY", "WRONG_ITEM"] } } },
          { predicate: { field: "sub_reason", op: "contains", value: { text: "colour" } } },
          {
            any: [
              { predicate: { field: "order_discount_percent", op: "gte", value: { percent: "12.5" } } },
              { predicate: { field: "order_discount_amount", op: "gt", value: { money: { minor: 1050, currency: "NZD" } } } },
              { not: { predicate: { field: "order_value", op: "lte", value: { money: { minor: 1500, currency: "JPY" } } } } },
              { not: { all: [] } },
            ],
          },
          { not: { predicate: { field: "order_country", op: "eq", value: { text: "CA" } } } },
          { predicate: { field: "product_tags", op: "ne", value: { text: "Final Sale" } } },
          { predicate: { field: "order_tags", op: "in", value: { list: ["VIP", "Staff"] } } },
          { predicate: { field: "qc_status", op: "eq", value: { text: "pass" } } },
          { predicate: { field: "qc_grade", op: "in", value: { list: ["A", "B"] } } },
          { predicate: { field: "days_since_order", op: "lt", value: { number: 30 } } },
          { predicate: { field: "item_price", op: "ne", value: { money: { minor: 1234, currency: "KWD" } } } },
          { predicate: { field: "sku", op: "eq", value: { text: "TEE-BLK-M" } } },
        ],
      },
      outcome: { kind: "credit_note", expiry_days: 365 },
    },
    {
      id: "catch-all",
      name: "Everything else",
      priority: 2,
      enabled: false,
      condition: { all: [] },
      outcome: { kind: "credit_note", expiry_days: null },
    },
    {
      id: "swap",
      name: "Exchanges",
      priority: 3,
      enabled: true,
      condition: { any: [{ predicate: { field: "product_tags", op: "contains", value: { text: "Swap" } } }] },
      outcome: { kind: "exchange" },
    },
  ],
};

test("the demo rule sets come back identical through the form", () => {
  const sets = demoRuleSets();
  assert.deepEqual(
    sets.map(([name]) => name),
    ["KOWHAI_RULES", "BONDI_RULES", "MAPLE_RULES", "changed-mind fixture"],
  );
  for (const [name, json] of sets) {
    const parsed = ok(parseRuleSet(json));
    assert.deepEqual(parsed, withEngineDefaults(json), `${name} reads as the engine reads it`);
    const back = roundTrip(parsed);
    assert.deepEqual(back, parsed, name);
    assert.equal(ruleSetJson(back), ruleSetJson(parsed), `${name}: same text, same key order`);
  }
});

test("the JSON the form writes is the engine's own serialisation", () => {
  const [, kowhai] = demoRuleSets()[0];
  const text = ruleSetJson(roundTrip(ok(parseRuleSet(kowhai))));
  assert.equal(
    text,
    JSON.stringify(
      {
        rules: [
          {
            id: "sale-items",
            name: "Sale items",
            priority: 1,
            enabled: true,
            condition: { predicate: { field: "product_tags", op: "eq", value: { text: "Sale Item" } } },
            outcome: { kind: "no_action" },
          },
          {
            id: "faulty",
            name: "Faulty goods are refunded",
            priority: 2,
            enabled: true,
            condition: { predicate: { field: "return_reason", op: "eq", value: { text: "FAULTY" } } },
            outcome: { kind: "refund" },
          },
        ],
      },
      null,
      2,
    ),
  );
});

test("a nested AND / OR / NOT rule set with every field comes back identical", () => {
  const fieldsUsed = new Set();
  const collect = (c) => {
    if ("predicate" in c) fieldsUsed.add(c.predicate.field);
    for (const child of c.all ?? c.any ?? (c.not ? [c.not] : [])) collect(child);
  };
  NESTED.rules.forEach((r) => collect(r.condition));
  assert.deepEqual([...fieldsUsed].sort(), [...FIELDS].sort(), "the example covers every field");

  assert.deepEqual(roundTrip(NESTED), NESTED);
  // And through the text, as the view switch does it.
  const form = ok(formFromJson(ruleSetJson(NESTED)));
  assert.equal(ruleSetJson(ok(fromForm(form))), ruleSetJson(NESTED));
});

test("money shows in major units of its currency and reads back exactly", () => {
  const form = ok(toForm(NESTED));
  const all = form.rules[0].condition;
  assert.deepEqual(nodeAt(all, [2, 1]).value, { kind: "money", amount: "10.50", currency: "NZD" });
  assert.deepEqual(nodeAt(all, [2, 2, 0]).value, { kind: "money", amount: "1500", currency: "JPY" });
  assert.deepEqual(nodeAt(all, [9]).value, { kind: "money", amount: "1.234", currency: "KWD" });
  assert.equal(amountText(-5, "USD"), "-0.05");
  assert.deepEqual(amountMinor("12.5", "NZD"), { ok: true, value: 1250 });
  assert.deepEqual(amountMinor("3.100", "USD"), { ok: true, value: 310 });
  assert.deepEqual(amountMinor("-0.05", "USD"), { ok: true, value: -5 });
  for (const [bad, currency] of [["1.234", "USD"], ["1.5", "JPY"], ["", "NZD"], ["1.2.3", "NZD"], ["abc", "NZD"], ["1e3", "NZD"]]) {
    assert.equal(amountMinor(bad, currency).ok, false, `${bad} ${currency}`);
  }
});

test("an edit in the form is what the JSON then says, and the JSON's edit is what the form shows", () => {
  const [, kowhai] = demoRuleSets()[0];
  let form = ok(formFromJson(kowhai));
  form = editCondition(form, 1, (c) => editPredicate(c, [], (p) => ({ ...p, value: { kind: "text", text: "DAMAGED" } })));
  const json = ruleSetJson(ok(fromForm(form)));
  assert.deepEqual(JSON.parse(json).rules[1].condition, { predicate: { field: "return_reason", op: "eq", value: { text: "DAMAGED" } } });

  const edited = json.replace('"no_action"', '"credit_note",\n        "expiry_days": 30');
  const again = ok(formFromJson(edited));
  assert.deepEqual(again.rules[0].outcome, { kind: "credit_note", expiryDays: "30" });
});

test("the form lists rules by priority and keeps their numbers until the list changes", () => {
  const rule = (id, priority) => ({ ...NESTED.rules[2], id, name: id, priority });
  const form = ok(toForm({ rules: [rule("c", 30), rule("a", 10), rule("tie", 30), rule("b", 20)] }));
  assert.deepEqual(form.rules.map((r) => [r.id, r.priority]), [["a", 10], ["b", 20], ["c", 30], ["tie", 30]]);
  // Untouched, the tie goes to the engine as it is, for Check to refuse it.
  assert.deepEqual(ok(fromForm(form)).rules.map((r) => r.priority), [10, 20, 30, 30]);

  const moved = moveRule(form, 3, -1);
  assert.deepEqual(moved.rules.map((r) => [r.id, r.priority]), [["a", 1], ["b", 2], ["tie", 3], ["c", 4]]);
  const down = moveRule(moved, 0, 1);
  assert.deepEqual(down.rules.map((r) => [r.id, r.priority]), [["b", 1], ["a", 2], ["tie", 3], ["c", 4]]);
  assert.deepEqual(ok(fromForm(down)).rules.map((r) => [r.id, r.priority]), [["b", 1], ["a", 2], ["tie", 3], ["c", 4]]);
  // At either end a move does nothing.
  assert.equal(moveRule(down, 0, -1), down);
  assert.equal(moveRule(down, 3, 1), down);
  assert.equal(form.rules[3].id, "tie", "the original state is not changed");
});

test("adding and removing rules renumbers them and keeps ids unique", () => {
  const [, bondi] = demoRuleSets()[1];
  let form = ok(formFromJson(bondi));
  form = addRule(addRule(form));
  assert.deepEqual(form.rules.map((r) => r.priority), [1, 2, 3, 4, 5]);
  const ids = form.rules.map((r) => r.id);
  assert.equal(new Set(ids).size, 5);
  assert.deepEqual(ids.slice(3), ["rule-4", "rule-5"]);
  assert.deepEqual(form.rules[4].condition, { kind: "predicate", field: "return_reason", op: "eq", value: { kind: "text", text: "" } });

  // A new rule that says return_reason eq "FAULTY" -> refund, moved up to be tried first.
  form = editCondition(form, 4, (c) => editPredicate(c, [], (p) => ({ ...p, value: { kind: "text", text: "FAULTY" } })));
  for (let i = 4; i > 0; i -= 1) form = moveRule(form, i, -1);
  const set = ok(fromForm(form));
  assert.deepEqual(set.rules[0], {
    id: "rule-5",
    name: "New rule",
    priority: 1,
    enabled: true,
    condition: { predicate: { field: "return_reason", op: "eq", value: { text: "FAULTY" } } },
    outcome: { kind: "refund" },
  });

  form = removeRule(form, 0);
  assert.deepEqual(form.rules.map((r) => [r.id, r.priority]), [["faulty", 1], ["canada", 2], ["deep-discount", 3], ["rule-4", 4]]);
  assert.equal(removeRule(form, 9), form);
});

test("condition nodes are added, wrapped, unwrapped and removed where the path says", () => {
  const start = { kind: "predicate", field: "return_reason", op: "eq", value: { kind: "text", text: "FAULTY" } };
  assert.equal(addChild(start, [], "predicate"), start, "a predicate has no children to add to");
  assert.equal(removeNode(start, []), start, "the root stays");

  let root = wrapNode(start, [], "all");
  assert.deepEqual(root, { kind: "all", children: [start] });
  root = addChild(root, [], "predicate");
  root = addChild(root, [], "any");
  assert.equal(root.children.length, 3);
  assert.equal(nodeAt(root, [2]).kind, "any");
  assert.equal(nodeAt(root, [2, 0]).kind, "predicate", "a new group holds one condition to fill in");
  root = wrapNode(root, [2, 0], "not");
  assert.equal(enginePath(root, [2, 0, 0]), "condition.all[2].any[0].not");
  root = setGroupKind(root, [], "any");
  assert.equal(enginePath(root, [2, 0]), "condition.any[2].any[0]");

  const json = ok(fromForm({ rules: [{ id: "r", name: "r", priority: 1, enabled: true, condition: root, outcome: { kind: "refund", expiryDays: "" } }] }));
  assert.deepEqual(json.rules[0].condition, {
    any: [
      { predicate: { field: "return_reason", op: "eq", value: { text: "FAULTY" } } },
      { predicate: { field: "return_reason", op: "eq", value: { text: "" } } },
      { any: [{ not: { predicate: { field: "return_reason", op: "eq", value: { text: "" } } } }] },
    ],
  });

  // Unwrap the NOT, then the one-child group; remove the middle predicate.
  root = unwrapNode(root, [2, 0]);
  assert.equal(nodeAt(root, [2, 0]).kind, "predicate");
  root = unwrapNode(root, [2]);
  assert.equal(nodeAt(root, [2]).kind, "predicate");
  assert.equal(unwrapNode(root, [1]), root, "a predicate has nothing around it to take away");
  const before = root;
  root = removeNode(root, [1]);
  assert.equal(root.children.length, 2);
  assert.equal(before.children.length, 3, "edits leave the old tree alone");
  assert.equal(removeNode(root, [5]), root, "no node there");
  root = removeNode(removeNode(root, [1]), [0]);
  assert.deepEqual(root, { kind: "any", children: [] });
});

test("each field offers exactly the operators and literal kinds the engine accepts", () => {
  assert.deepEqual(opsFor("return_reason"), ["eq", "ne", "contains", "in"]);
  assert.deepEqual(opsFor("order_country"), ["eq", "ne", "in"], "codes cannot contain");
  assert.deepEqual(opsFor("product_tags"), ["eq", "contains", "ne", "in"]);
  assert.deepEqual(opsFor("item_price"), ["eq", "ne", "gt", "gte", "lt", "lte"]);
  assert.equal(literalKind("sku", "in"), "list");
  assert.equal(literalKind("qc_grade", "eq"), "text");
  assert.equal(literalKind("order_discount_percent", "lt"), "percent");
  assert.equal(literalKind("order_value", "eq"), "money");
  assert.equal(literalKind("days_since_order", "gte"), "number");

  const reason = { kind: "predicate", field: "return_reason", op: "contains", value: { kind: "text", text: "FAULTY" } };
  // eq -> in keeps what was typed, as the list's one value.
  assert.deepEqual(withOp(reason, "in", "NZD").value, { kind: "list", items: ["FAULTY"] });
  // Same shape: the value stays; a code field takes no `contains`, so the operator resets.
  assert.deepEqual(withField(reason, "sub_reason", "NZD"), { ...reason, field: "sub_reason" });
  assert.deepEqual(withField(reason, "qc_status", "NZD"), { kind: "predicate", field: "qc_status", op: "eq", value: { kind: "text", text: "" } });
  // To an ordered field: a comparison and an empty value of the field's kind.
  assert.deepEqual(withField(reason, "order_value", "CAD"), { kind: "predicate", field: "order_value", op: "eq", value: { kind: "money", amount: "", currency: "CAD" } });
  const days = withField({ ...reason, op: "ne" }, "days_since_order", "CAD");
  assert.deepEqual(days, { kind: "predicate", field: "days_since_order", op: "ne", value: { kind: "number", text: "" } }, "the operator stays if it applies");
  const value = { kind: "predicate", field: "order_value", op: "gt", value: { kind: "money", amount: "50", currency: "NZD" } };
  assert.deepEqual(withField(value, "item_price", "NZD").value, value.value, "money to money keeps the amount");
  assert.deepEqual(withField(value, "order_discount_percent", "NZD").value, { kind: "percent", text: "" });
});

test("JSON the engine would not parse, or the form cannot show, is refused with where and why", () => {
  const one = (condition, outcome = { kind: "refund" }) => JSON.stringify({ rules: [{ id: "x", name: "Colours", priority: 1, condition, outcome }] });
  const cases = [
    ["{\"rules\": [", /does not parse/],
    [JSON.stringify({ rules: [], extra: 1 }), /unknown key 'extra'/],
    [one({ predicate: { field: "colour", op: "eq", value: { text: "red" } } }), /rule 'Colours' at condition\.predicate\.field: unknown field 'colour'/],
    [one({ predicate: { field: "sku", op: "like", value: { text: "A" } } }), /condition\.predicate\.op: unknown operator 'like'/],
    [one({ all: [], any: [] }), /rule 'Colours' at condition: .*exactly one/],
    [one({ predicate: { field: "order_value", op: "gt", value: { money: { minor: 5, currency: "NZ" } } } }), /'NZ' is not an ISO 4217/],
    [one({ predicate: { field: "days_since_order", op: "gt", value: { number: -1 } } }), /condition\.predicate\.value\.number/],
    [one({ all: [] }, { kind: "refund", expiry_days: 3 }), /rule 'Colours' at outcome: unknown key 'expiry_days'/],
    [JSON.stringify({ rules: [{ id: "x", name: "No outcome", priority: 1, condition: { all: [] } }] }), /rule 'No outcome': missing 'outcome'/],
    [JSON.stringify({ rules: [{ id: "x", name: "Null", priority: 1, enabled: null, condition: { all: [] }, outcome: { kind: "refund" } }] }), /rule 'Null' at enabled: expected true or false/],
    [one({ all: [] }, { kind: "store_credit" }), /at outcome\.kind: unknown outcome 'store_credit'/],
    // Well-formed, but a type the engine refuses: no form row can show it.
    [one({ any: [{ predicate: { field: "order_value", op: "gt", value: { text: "fifty" } } }] }), /rule 'Colours' at condition\.any\[0\]\.predicate\.value: order_value gt takes a money value, not a text/],
    [one({ predicate: { field: "qc_grade", op: "contains", value: { text: "A" } } }), /operator 'contains' does not apply to qc_grade/],
  ];
  for (const [json, why] of cases) {
    const result = formFromJson(json);
    assert.equal(result.ok, false, json);
    assert.match(result.error, why);
  }
  // What the engine's serde fills in, the parser fills in too.
  const defaults = ok(parseRuleSet(one({ all: [] }, { kind: "credit_note" })));
  assert.deepEqual(defaults.rules[0].outcome, { kind: "credit_note", expiry_days: null });
  assert.equal(defaults.rules[0].enabled, true);
  assert.deepEqual(ok(parseRuleSet(one({ predicate: { field: "item_price", op: "lt", value: { money: { minor: 5, currency: " nzd" } } } }))).rules[0].condition.predicate.value, {
    money: { minor: 5, currency: "NZD" },
  });
});

test("inputs that are not values yet keep the form from becoming JSON, each pinned to its place", () => {
  let form = ok(toForm(NESTED));
  form = editCondition(form, 0, (c) => editPredicate(c, [2, 1], (p) => ({ ...p, value: { kind: "money", amount: "12.345", currency: "NZD" } })));
  form = editCondition(form, 0, (c) => editPredicate(c, [8], (p) => ({ ...p, value: { kind: "number", text: "thirty" } })));
  form = editCondition(form, 0, (c) => editPredicate(c, [9], (p) => ({ ...p, value: { kind: "money", amount: "1", currency: "KW" } })));
  form = { rules: form.rules.map((r, i) => (i === 1 ? { ...r, outcome: { kind: "credit_note", expiryDays: "90 days" } } : r)) };
  const result = fromForm(form);
  assert.equal(result.ok, false);
  assert.deepEqual(
    result.error.map((i) => [i.rule_index, i.rule_name, i.path, i.severity]),
    [
      [0, "Nested", "condition.all[2].any[1].predicate.value", "error"],
      [0, "Nested", "condition.all[8].predicate.value", "error"],
      [0, "Nested", "condition.all[9].predicate.value", "error"],
      [1, "Everything else", "outcome.expiry_days", "error"],
    ],
  );
  assert.match(result.error[0].message, /'12.345' is not an amount in NZD/);
  // An empty expiry is "never"; a value the engine judges (0 days, an empty text) goes to it.
  form = ok(toForm(NESTED));
  form = { rules: form.rules.map((r, i) => (i === 1 ? { ...r, outcome: { kind: "credit_note", expiryDays: "0" } } : r)) };
  assert.deepEqual(ok(fromForm(form)).rules[1].outcome, { kind: "credit_note", expiry_days: 0 });
});
