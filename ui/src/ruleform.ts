// The rules screen's form editor: a rule set as rules with condition trees an admin edits
// without writing JSON, and back to exactly the JSON the engine parses. The model half (first)
// is data in, data out, so node's test runner checks the round trip; the DOM half (last) draws
// the model and turns each control into one model step.
//
// The form offers only what the engine accepts (crates/core/src/rules/typed.rs): each field
// has a shape, each shape its operators, and field plus operator fix the literal's kind.
// Everything else is the engine's to judge (priority ties, shadowed rules, QC fields under a
// first-scan trigger, a disabled Exchange): Check's issues are pinned on the form's nodes.

import type { Condition } from "./bindings/Condition";
import type { Field } from "./bindings/Field";
import type { Literal } from "./bindings/Literal";
import type { Op } from "./bindings/Op";
import type { Outcome } from "./bindings/Outcome";
import type { OutcomeKind } from "./bindings/OutcomeKind";
import type { Predicate } from "./bindings/Predicate";
import type { Rule } from "./bindings/Rule";
import type { RuleIssue } from "./bindings/RuleIssue";
import type { RuleSet } from "./bindings/RuleSet";
import { message } from "./util";

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

// --- What the engine knows -------------------------------------------------------------

/// How a field's value is shaped (typed.rs `Shape`): free text, one of a few codes, a tag
/// set, or something ordered whose literal kind the field fixes.
type FieldSpec =
  | { label: string; shape: "text" | "code" | "tags"; suggestions: readonly string[]; placeholder: string }
  | { label: string; shape: "ordered"; literal: "percent" | "money" | "number"; unit: string };

export type Shape = FieldSpec["shape"];
export type LiteralKind = "text" | "list" | "percent" | "money" | "number";
export type GroupKind = "all" | "any";

/// Every field, in the engine's order (model.rs `Field::ALL`).
const FIELD_SPEC: Record<Field, FieldSpec> = {
  return_reason: { label: "Return reason", shape: "text", suggestions: [], placeholder: "FAULTY" },
  sub_reason: { label: "Sub-reason", shape: "text", suggestions: [], placeholder: "COLOUR" },
  order_discount_percent: { label: "Order discount", shape: "ordered", literal: "percent", unit: "%" },
  order_discount_amount: { label: "Order discount amount", shape: "ordered", literal: "money", unit: "" },
  order_value: { label: "Order value", shape: "ordered", literal: "money", unit: "" },
  order_country: { label: "Order country", shape: "code", suggestions: [], placeholder: "CA" },
  product_tags: { label: "Product tags", shape: "tags", suggestions: [], placeholder: "Sale Item" },
  order_tags: { label: "Order tags", shape: "tags", suggestions: [], placeholder: "VIP" },
  qc_status: { label: "QC status", shape: "code", suggestions: ["pass", "fail"], placeholder: "pass" },
  qc_grade: { label: "QC grade", shape: "code", suggestions: ["A", "B", "C", "D"], placeholder: "A" },
  days_since_order: { label: "Days since order", shape: "ordered", literal: "number", unit: "days" },
  item_price: { label: "Item price", shape: "ordered", literal: "money", unit: "" },
  sku: { label: "SKU", shape: "text", suggestions: [], placeholder: "TEE-BLK-M" },
};

export const FIELDS = Object.keys(FIELD_SPEC) as Field[];

/// The operators the engine accepts per shape (typed.rs `check`): codes cannot `contains`,
/// ordered fields only compare, and on tags `eq`/`contains` both mean "has the tag".
const OPS_BY_SHAPE: Record<Shape, readonly Op[]> = {
  text: ["eq", "ne", "contains", "in"],
  code: ["eq", "ne", "in"],
  tags: ["eq", "contains", "ne", "in"],
  ordered: ["eq", "ne", "gt", "gte", "lt", "lte"],
};

const ALL_OPS: readonly Op[] = ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in"];

const OP_LABEL: Record<Op, string> = {
  eq: "= (eq)",
  ne: "≠ (ne)",
  gt: "> (gt)",
  gte: "≥ (gte)",
  lt: "< (lt)",
  lte: "≤ (lte)",
  contains: "contains",
  in: "is one of (in)",
};

const TAG_OP_LABEL: Partial<Record<Op, string>> = {
  eq: "has tag (eq)",
  contains: "has tag (contains)",
  ne: "lacks tag (ne)",
  in: "has any of (in)",
};

export const OUTCOME_LABEL: Record<OutcomeKind, string> = {
  refund: "Refund",
  credit_note: "Credit note",
  exchange: "Exchange",
  no_action: "No action",
  hold_for_review: "Hold for review",
};

const OUTCOME_KINDS = Object.keys(OUTCOME_LABEL) as OutcomeKind[];

export function shapeOf(field: Field): Shape {
  return FIELD_SPEC[field].shape;
}

export function opsFor(field: Field): readonly Op[] {
  return OPS_BY_SHAPE[shapeOf(field)];
}

export function opLabel(field: Field, op: Op): string {
  return (shapeOf(field) === "tags" ? TAG_OP_LABEL[op] : undefined) ?? OP_LABEL[op];
}

export function fieldLabel(field: Field): string {
  return FIELD_SPEC[field].label;
}

/// The literal kind the engine wants for `field op _`: `in` takes a list, other tests on
/// text, codes and tags one text; an ordered field its own kind whatever the comparison.
export function literalKind(field: Field, op: Op): LiteralKind {
  const spec = FIELD_SPEC[field];
  if (spec.shape === "ordered") return spec.literal;
  return op === "in" ? "list" : "text";
}

/// Minor-unit digits per currency: the engine's table (crates/core/src/money.rs), so an
/// amount typed here parses to the same minor units the engine would.
const ZERO_DECIMAL = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"];
const THREE_DECIMAL = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

export function currencyExponent(currency: string): number {
  if (ZERO_DECIMAL.includes(currency)) return 0;
  if (THREE_DECIMAL.includes(currency)) return 3;
  return 2;
}

/// Minor units as the exact decimal an admin reads ("400.00" for 40000 CAD, "1500" JPY).
export function amountText(minor: number, currency: string): string {
  const exponent = currencyExponent(currency);
  const digits = String(Math.abs(minor)).padStart(exponent + 1, "0");
  const sign = minor < 0 ? "-" : "";
  return exponent === 0 ? sign + digits : `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/// An exact decimal in minor units, as `Money::parse` reads it: no rounding, so more
/// decimals than the currency has are refused unless they are zeros.
export function amountMinor(amount: string, currency: string): Result<number, string> {
  const exponent = currencyExponent(currency);
  const refused: Result<number, string> = {
    ok: false,
    error: `'${amount}' is not an amount in ${currency} (digits, at most ${exponent} decimals)`,
  };
  const s = amount.trim();
  const negative = s.startsWith("-");
  const unsigned = negative || s.startsWith("+") ? s.slice(1) : s;
  const [whole = "", fraction = "", ...extra] = unsigned.split(".");
  if (extra.length > 0 || (whole === "" && fraction === "") || !/^\d*$/.test(whole) || !/^\d*$/.test(fraction)) {
    return refused;
  }
  if (/[^0]/.test(fraction.slice(exponent))) return refused;
  const minor = BigInt((whole || "0") + fraction.slice(0, exponent).padEnd(exponent, "0"));
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, error: `'${amount}' is too large an amount` };
  return { ok: true, value: Number(negative ? -minor : minor) };
}

const U32_MAX = 4_294_967_295;

function wholeNumber(text: string): number | null {
  const s = text.trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return n <= U32_MAX ? n : null;
}

// --- The form's model ------------------------------------------------------------------

/// A literal as its inputs hold it: text as typed, so a half-typed amount is kept until
/// the form is read, and a value the engine would refuse still reaches the engine to say so.
export type ValueDraft =
  | { kind: "text"; text: string }
  | { kind: "list"; items: string[] }
  | { kind: "percent"; text: string }
  | { kind: "money"; amount: string; currency: string }
  | { kind: "number"; text: string };

export type PredicateDraft = { kind: "predicate"; field: Field; op: Op; value: ValueDraft };
export type GroupDraft = { kind: GroupKind; children: NodeDraft[] };
export type NotDraft = { kind: "not"; child: NodeDraft };
export type NodeDraft = PredicateDraft | GroupDraft | NotDraft;

/// `expiryDays` is kept while another outcome is picked, so trying Refund and going back
/// to a credit note does not lose the days.
export type OutcomeDraft = { kind: OutcomeKind; expiryDays: string };

export type RuleDraft = {
  id: string;
  name: string;
  priority: number;
  enabled: boolean;
  condition: NodeDraft;
  outcome: OutcomeDraft;
};

/// The rules in evaluation order: position in the list is the order they are tried in.
export type FormState = { rules: RuleDraft[] };

/// A problem pinned on a rule and a place inside it; the engine's `RuleIssue` is one too.
export type FormIssue = Pick<RuleIssue, "severity" | "rule_index" | "rule_id" | "rule_name" | "path" | "message">;

/// Where a node sits in its rule's condition: child indexes from the root (a NOT's only
/// child is 0).
export type NodePath = readonly number[];

export function isGroup(node: NodeDraft): node is GroupDraft {
  return node.kind === "all" || node.kind === "any";
}

export function childrenOf(node: NodeDraft): readonly NodeDraft[] {
  if (isGroup(node)) return node.children;
  return node.kind === "not" ? [node.child] : [];
}

export function emptyValue(kind: LiteralKind, currency: string): ValueDraft {
  switch (kind) {
    case "text":
    case "percent":
    case "number":
      return { kind, text: "" };
    case "list":
      return { kind, items: [""] };
    case "money":
      return { kind, amount: "", currency };
  }
}

export function newPredicate(): PredicateDraft {
  return { kind: "predicate", field: "return_reason", op: "eq", value: { kind: "text", text: "" } };
}

/// `value` as the literal kind `kind`: one text and a list of texts turn into each other
/// (switching `eq` to `in` keeps what was typed); anything else starts empty.
export function fitValue(value: ValueDraft, kind: LiteralKind, currency: string): ValueDraft {
  if (value.kind === kind) return value;
  if (value.kind === "text" && kind === "list") return { kind: "list", items: [value.text] };
  if (value.kind === "list" && kind === "text") return { kind: "text", text: value.items[0] ?? "" };
  return emptyValue(kind, currency);
}

/// The predicate on another field: the operator is kept if the field takes it, the value if
/// the field is shaped the same (return reason to sub-reason, order value to item price).
export function withField(pred: PredicateDraft, field: Field, currency: string): PredicateDraft {
  const ops = opsFor(field);
  const op = ops.includes(pred.op) ? pred.op : (ops[0] ?? "eq");
  const kind = literalKind(field, op);
  const value = shapeOf(field) === shapeOf(pred.field) ? fitValue(pred.value, kind, currency) : emptyValue(kind, currency);
  return { kind: "predicate", field, op, value };
}

export function withOp(pred: PredicateDraft, op: Op, currency: string): PredicateDraft {
  return { ...pred, op, value: fitValue(pred.value, literalKind(pred.field, op), currency) };
}

// Tree edits. Each returns a new root and leaves the old one as it was; a path that leads
// nowhere, or an edit that does not apply to the node there, returns the very same root.

export function nodeAt(root: NodeDraft, path: NodePath): NodeDraft | undefined {
  let node: NodeDraft | undefined = root;
  for (const step of path) node = node && childrenOf(node)[step];
  return node;
}

export function editNode(root: NodeDraft, path: NodePath, edit: (node: NodeDraft) => NodeDraft): NodeDraft {
  const [step, ...rest] = path;
  if (step === undefined) return edit(root);
  const child = childrenOf(root)[step];
  const edited = child && editNode(child, rest, edit);
  if (!edited || edited === child) return root;
  if (root.kind === "not") return { kind: "not", child: edited };
  if (!isGroup(root)) return root;
  const children = root.children.slice();
  children[step] = edited;
  return { kind: root.kind, children };
}

/// Appends a new condition to the group at `path`: a predicate, or a group holding one.
export function addChild(root: NodeDraft, path: NodePath, kind: "predicate" | GroupKind): NodeDraft {
  const child: NodeDraft = kind === "predicate" ? newPredicate() : { kind, children: [newPredicate()] };
  return editNode(root, path, (node) => (isGroup(node) ? { kind: node.kind, children: [...node.children, child] } : node));
}

/// Removes a group's child; the root and a NOT's only child stay (remove the NOT instead).
export function removeNode(root: NodeDraft, path: NodePath): NodeDraft {
  const index = path[path.length - 1];
  if (index === undefined) return root;
  return editNode(root, path.slice(0, -1), (parent) =>
    isGroup(parent) && index < parent.children.length ? { kind: parent.kind, children: parent.children.filter((_, i) => i !== index) } : parent,
  );
}

/// Puts the node inside a new AND/OR group (to add conditions beside it) or a NOT.
export function wrapNode(root: NodeDraft, path: NodePath, kind: GroupKind | "not"): NodeDraft {
  return editNode(root, path, (node) => (kind === "not" ? { kind, child: node } : { kind, children: [node] }));
}

/// Takes a NOT, or a group of exactly one, away from around its child.
export function unwrapNode(root: NodeDraft, path: NodePath): NodeDraft {
  return editNode(root, path, (node) => {
    if (node.kind === "not") return node.child;
    const [only, ...others] = childrenOf(node);
    return isGroup(node) && only && others.length === 0 ? only : node;
  });
}

export function setGroupKind(root: NodeDraft, path: NodePath, kind: GroupKind): NodeDraft {
  return editNode(root, path, (node) => (isGroup(node) ? { kind, children: node.children } : node));
}

export function editPredicate(root: NodeDraft, path: NodePath, edit: (pred: PredicateDraft) => PredicateDraft): NodeDraft {
  return editNode(root, path, (node) => (node.kind === "predicate" ? edit(node) : node));
}

/// The engine's name for the node at `path` ("condition.all[1].not"), as issues carry it.
export function enginePath(root: NodeDraft, path: NodePath): string {
  let text = "condition";
  let node: NodeDraft | undefined = root;
  for (const step of path) {
    if (!node) break;
    text += isGroup(node) ? `.${node.kind}[${step}]` : ".not";
    node = childrenOf(node)[step];
  }
  return text;
}

// Rule list edits. Priorities follow the list: any change to it numbers them 1..n again.

function renumbered(rules: readonly RuleDraft[]): FormState {
  return { rules: rules.map((rule, i) => ({ ...rule, priority: i + 1 })) };
}

/// A new rule at the end (tried last), with an id no other rule has and one empty predicate.
export function addRule(state: FormState): FormState {
  const ids = new Set(state.rules.map((r) => r.id));
  let n = state.rules.length + 1;
  while (ids.has(`rule-${n}`)) n += 1;
  const rule: RuleDraft = {
    id: `rule-${n}`,
    name: "New rule",
    priority: 0,
    enabled: true,
    condition: newPredicate(),
    outcome: { kind: "refund", expiryDays: "" },
  };
  return renumbered([...state.rules, rule]);
}

export function removeRule(state: FormState, index: number): FormState {
  if (!state.rules[index]) return state;
  return renumbered(state.rules.filter((_, i) => i !== index));
}

/// Moves a rule one place earlier (-1) or later (+1); at either end it stays.
export function moveRule(state: FormState, index: number, delta: -1 | 1): FormState {
  const rule = state.rules[index];
  const other = state.rules[index + delta];
  if (!rule || !other) return state;
  const rules = state.rules.slice();
  rules[index] = other;
  rules[index + delta] = rule;
  return renumbered(rules);
}

export function editRule(state: FormState, index: number, edit: (rule: RuleDraft) => RuleDraft): FormState {
  const rule = state.rules[index];
  if (!rule) return state;
  const rules = state.rules.slice();
  rules[index] = edit(rule);
  return { rules };
}

export function editCondition(state: FormState, index: number, edit: (root: NodeDraft) => NodeDraft): FormState {
  return editRule(state, index, (rule) => ({ ...rule, condition: edit(rule.condition) }));
}

/// The currency a new money value starts in: the first one the rule set already uses.
export function defaultCurrency(state: FormState): string {
  const find = (node: NodeDraft): string | undefined =>
    node.kind === "predicate" ? (node.value.kind === "money" ? node.value.currency : undefined) : childrenOf(node).map(find).find(Boolean);
  return state.rules.map((r) => find(r.condition)).find(Boolean) ?? "";
}

// --- JSON text -> RuleSet, as strictly as the engine's serde reads it ------------------

class ShapeError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function object(v: unknown, path: string, what: string, keys: readonly string[]): Record<string, unknown> {
  if (!isObject(v)) throw new ShapeError(path, `expected ${what}`);
  for (const key of Object.keys(v)) {
    if (!keys.includes(key)) throw new ShapeError(path, `unknown key '${key}' (expected ${keys.join(", ")})`);
  }
  return v;
}

function member(obj: Record<string, unknown>, key: string, path: string): unknown {
  if (!(key in obj)) throw new ShapeError(path, `missing '${key}'`);
  return obj[key];
}

function textAt(v: unknown, path: string): string {
  if (typeof v !== "string") throw new ShapeError(path, "expected a text");
  return v;
}

function u32At(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw new ShapeError(path, "expected a whole number from 0 to 4294967295");
  }
  return v;
}

/// An externally tagged enum value (`{"all": [..]}`, `{"text": ".."}`): its one key and value.
function tagged(v: unknown, path: string, what: string, tags: readonly string[]): [string, unknown] {
  if (!isObject(v)) throw new ShapeError(path, `expected ${what}`);
  const entries = Object.entries(v);
  const [entry] = entries;
  if (!entry || entries.length > 1) throw new ShapeError(path, `expected ${what} with exactly one of ${tags.join(", ")}`);
  if (!tags.includes(entry[0])) throw new ShapeError(path, `unknown '${entry[0]}' (expected one of ${tags.join(", ")})`);
  return entry;
}

function parseLiteral(v: unknown, path: string): Literal {
  const [tag, inner] = tagged(v, path, "a value", ["text", "list", "percent", "money", "number"]);
  const here = `${path}.${tag}`;
  switch (tag) {
    case "text":
      return { text: textAt(inner, here) };
    case "percent":
      return { percent: textAt(inner, here) };
    case "number":
      return { number: u32At(inner, here) };
    case "list":
      if (!Array.isArray(inner)) throw new ShapeError(here, "expected a list of texts");
      return { list: inner.map((item: unknown, i) => textAt(item, `${here}[${i}]`)) };
    case "money": {
      // Money is not `deny_unknown_fields` in the engine: extra keys are ignored there too.
      if (!isObject(inner)) throw new ShapeError(here, "expected {\"minor\": .., \"currency\": ..}");
      const minor = member(inner, "minor", here);
      if (typeof minor !== "number" || !Number.isSafeInteger(minor)) throw new ShapeError(`${here}.minor`, "expected a whole number of minor units");
      const currency = textAt(member(inner, "currency", here), `${here}.currency`).trim();
      if (!/^[A-Za-z]{3}$/.test(currency)) throw new ShapeError(`${here}.currency`, `'${currency}' is not an ISO 4217 currency code (three letters, e.g. NZD)`);
      return { money: { minor, currency: currency.toUpperCase() } };
    }
    default:
      throw new ShapeError(path, `unknown value kind '${tag}'`);
  }
}

function parsePredicate(v: unknown, path: string): Predicate {
  const obj = object(v, path, "a predicate {\"field\", \"op\", \"value\"}", ["field", "op", "value"]);
  const field = textAt(member(obj, "field", path), `${path}.field`);
  const op = textAt(member(obj, "op", path), `${path}.op`);
  const knownField = FIELDS.find((f) => f === field);
  if (!knownField) throw new ShapeError(`${path}.field`, `unknown field '${field}' (known fields: ${FIELDS.join(", ")})`);
  const knownOp = ALL_OPS.find((o) => o === op);
  if (!knownOp) throw new ShapeError(`${path}.op`, `unknown operator '${op}' (known operators: ${ALL_OPS.join(", ")})`);
  return { field: knownField, op: knownOp, value: parseLiteral(member(obj, "value", path), `${path}.value`) };
}

function parseCondition(v: unknown, path: string): Condition {
  const [tag, inner] = tagged(v, path, "a condition", ["all", "any", "not", "predicate"]);
  const here = `${path}.${tag}`;
  switch (tag) {
    case "all":
    case "any": {
      if (!Array.isArray(inner)) throw new ShapeError(here, "expected a list of conditions");
      const list = inner.map((c: unknown, i) => parseCondition(c, `${here}[${i}]`));
      return tag === "all" ? { all: list } : { any: list };
    }
    case "not":
      return { not: parseCondition(inner, here) };
    case "predicate":
      return { predicate: parsePredicate(inner, here) };
    default:
      throw new ShapeError(path, `unknown condition '${tag}'`);
  }
}

function parseOutcome(v: unknown, path: string): Outcome {
  if (!isObject(v)) throw new ShapeError(path, "expected {\"kind\": ..}");
  if (!("kind" in v)) throw new ShapeError(path, "missing 'kind'");
  const kind = OUTCOME_KINDS.find((k) => k === v["kind"]);
  if (!kind) throw new ShapeError(`${path}.kind`, `unknown outcome '${String(v["kind"])}' (expected one of ${OUTCOME_KINDS.join(", ")})`);
  if (kind !== "credit_note") {
    object(v, path, "an outcome", ["kind"]);
    return outcomeOf(kind, null);
  }
  const obj = object(v, path, "an outcome", ["kind", "expiry_days"]);
  const days = obj["expiry_days"];
  return { kind, expiry_days: days === undefined || days === null ? null : u32At(days, `${path}.expiry_days`) };
}

function outcomeOf(kind: OutcomeKind, expiryDays: number | null): Outcome {
  switch (kind) {
    case "credit_note":
      return { kind, expiry_days: expiryDays };
    case "refund":
    case "exchange":
    case "no_action":
    case "hold_for_review":
      return { kind };
  }
}

/// The rule's name for a message, as the engine's issues name it.
function ruleWhere(raw: unknown, index: number): string {
  const name = isObject(raw) ? raw["name"] : undefined;
  return typeof name === "string" ? `rule '${name}'` : `rule #${index + 1}`;
}

function parseRule(raw: unknown, index: number): Rule {
  try {
    const keys = ["id", "name", "priority", "enabled", "condition", "outcome"];
    const obj = object(raw, "", "a rule object", keys);
    const enabled = "enabled" in obj ? obj["enabled"] : true;
    if (typeof enabled !== "boolean") throw new ShapeError("enabled", "expected true or false");
    return {
      id: textAt(member(obj, "id", ""), "id"),
      name: textAt(member(obj, "name", ""), "name"),
      priority: u32At(member(obj, "priority", ""), "priority"),
      enabled,
      condition: parseCondition(member(obj, "condition", ""), "condition"),
      outcome: parseOutcome(member(obj, "outcome", ""), "outcome"),
    };
  } catch (e) {
    if (!(e instanceof ShapeError)) throw e;
    throw new Error(`${ruleWhere(raw, index)}${e.path ? ` at ${e.path}` : ""}: ${e.message}`);
  }
}

/// Reads a rule set's JSON the way the engine's serde does: unknown keys and missing ones
/// refused, `enabled` defaulting to true and a credit note's expiry to none.
export function parseRuleSet(json: string): Result<RuleSet, string> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    return { ok: false, error: `the JSON does not parse: ${message(e)}` };
  }
  try {
    const top = object(value, "", "a rule set {\"rules\": [..]}", ["rules"]);
    const rules = member(top, "rules", "");
    if (!Array.isArray(rules)) throw new ShapeError("rules", "expected a list of rules");
    return { ok: true, value: { rules: rules.map((raw: unknown, i) => parseRule(raw, i)) } };
  } catch (e) {
    if (e instanceof ShapeError) return { ok: false, error: `rule set${e.path ? ` at ${e.path}` : ""}: ${e.message}` };
    return { ok: false, error: message(e) };
  }
}

// --- RuleSet <-> form ------------------------------------------------------------------

function literalKindOf(value: Literal): LiteralKind {
  if ("text" in value) return "text";
  if ("list" in value) return "list";
  if ("percent" in value) return "percent";
  if ("money" in value) return "money";
  return "number";
}

function valueDraft(value: Literal): ValueDraft {
  if ("text" in value) return { kind: "text", text: value.text };
  if ("list" in value) return { kind: "list", items: value.list.slice() };
  if ("percent" in value) return { kind: "percent", text: value.percent };
  if ("money" in value) return { kind: "money", amount: amountText(value.money.minor, value.money.currency), currency: value.money.currency };
  return { kind: "number", text: String(value.number) };
}

function nodeDraft(condition: Condition, path: string): NodeDraft {
  if ("all" in condition) return { kind: "all", children: condition.all.map((c, i) => nodeDraft(c, `${path}.all[${i}]`)) };
  if ("any" in condition) return { kind: "any", children: condition.any.map((c, i) => nodeDraft(c, `${path}.any[${i}]`)) };
  if ("not" in condition) return { kind: "not", child: nodeDraft(condition.not, `${path}.not`) };
  const { field, op, value } = condition.predicate;
  const here = `${path}.predicate`;
  if (!opsFor(field).includes(op)) {
    throw new ShapeError(`${here}.op`, `operator '${op}' does not apply to ${field} (the form offers ${opsFor(field).join(", ")})`);
  }
  const wanted = literalKind(field, op);
  if (literalKindOf(value) !== wanted) {
    throw new ShapeError(`${here}.value`, `${field} ${op} takes a ${wanted} value, not a ${literalKindOf(value)}`);
  }
  return { kind: "predicate", field, op, value: valueDraft(value) };
}

/// The rule set as the form shows it, rules in the order they are tried (by priority; equal
/// priorities keep their list order, and their tie is left for Check to report). Priorities
/// are kept as they are until the list changes. A predicate the engine would refuse for its
/// type cannot be drawn as a form row, so it is refused here, to be fixed in the JSON.
export function toForm(set: RuleSet): Result<FormState, string> {
  const order = set.rules.map((rule, index) => ({ rule, index })).sort((a, b) => a.rule.priority - b.rule.priority || a.index - b.index);
  try {
    const rules = order.map(({ rule, index }): RuleDraft => {
      try {
        return {
          id: rule.id,
          name: rule.name,
          priority: rule.priority,
          enabled: rule.enabled,
          condition: nodeDraft(rule.condition, "condition"),
          outcome: {
            kind: rule.outcome.kind,
            expiryDays: rule.outcome.kind === "credit_note" && rule.outcome.expiry_days !== null ? String(rule.outcome.expiry_days) : "",
          },
        };
      } catch (e) {
        if (!(e instanceof ShapeError)) throw e;
        throw new Error(`${ruleWhere(rule, index)} at ${e.path}: ${e.message}`);
      }
    });
    return { ok: true, value: { rules } };
  } catch (e) {
    return { ok: false, error: message(e) };
  }
}

/// JSON text straight to the form: what switching from the JSON view does.
export function formFromJson(json: string): Result<FormState, string> {
  const parsed = parseRuleSet(json);
  return parsed.ok ? toForm(parsed.value) : parsed;
}

/// The form's rule set, in the engine's shapes and key order, or every input that cannot be
/// one yet (an amount, a day count or a currency that does not read). What the engine
/// decides about a well-formed value (an empty text, a percent over 100) is left to it.
export function fromForm(state: FormState): Result<RuleSet, FormIssue[]> {
  const issues: FormIssue[] = [];
  const rules = state.rules.map((draft, index): Rule => {
    const problem = (path: string, message: string): void => {
      issues.push({ severity: "error", rule_index: index, rule_id: draft.id, rule_name: draft.name, path, message });
    };
    const literal = (value: ValueDraft, path: string): Literal => {
      switch (value.kind) {
        case "text":
          return { text: value.text };
        case "list":
          return { list: value.items.slice() };
        case "percent":
          return { percent: value.text };
        case "number": {
          const n = wholeNumber(value.text);
          if (n === null) problem(path, `'${value.text}' is not a whole number`);
          return { number: n ?? 0 };
        }
        case "money": {
          const currency = value.currency.trim().toUpperCase();
          if (!/^[A-Z]{3}$/.test(currency)) {
            problem(path, `'${value.currency}' is not a currency code (three letters, e.g. NZD)`);
            return { money: { minor: 0, currency } };
          }
          const minor = amountMinor(value.amount, currency);
          if (!minor.ok) problem(path, minor.error);
          return { money: { minor: minor.ok ? minor.value : 0, currency } };
        }
      }
    };
    const condition = (node: NodeDraft, path: string): Condition => {
      switch (node.kind) {
        case "all":
          return { all: node.children.map((c, i) => condition(c, `${path}.all[${i}]`)) };
        case "any":
          return { any: node.children.map((c, i) => condition(c, `${path}.any[${i}]`)) };
        case "not":
          return { not: condition(node.child, `${path}.not`) };
        case "predicate":
          return { predicate: { field: node.field, op: node.op, value: literal(node.value, `${path}.predicate.value`) } };
      }
    };
    let expiry: number | null = null;
    if (draft.outcome.kind === "credit_note" && draft.outcome.expiryDays.trim() !== "") {
      expiry = wholeNumber(draft.outcome.expiryDays);
      if (expiry === null) problem("outcome.expiry_days", `'${draft.outcome.expiryDays}' is not a number of days (leave it empty for no expiry)`);
    }
    return {
      id: draft.id,
      name: draft.name,
      priority: draft.priority,
      enabled: draft.enabled,
      condition: condition(draft.condition, "condition"),
      outcome: outcomeOf(draft.outcome.kind, expiry),
    };
  });
  return issues.length ? { ok: false, error: issues } : { ok: true, value: { rules } };
}

/// The rule set as the JSON view shows it (and the hub's `retailer_rules` returns it).
export function ruleSetJson(set: RuleSet): string {
  return JSON.stringify(set, null, 2);
}

// --- The form in the page --------------------------------------------------------------
//
// Every control has a stable id: `rule-<i>-<what>` for a rule's own controls and
// `rule-<i>-c[-<child>...]-<what>` for a condition node's (the root is `rule-<i>-c`, its
// second child `rule-<i>-c-1`). Nodes carry `data-path`, the engine's path
// ("condition.all[1]"), so an issue finds the node it is about.

export interface RuleForm {
  state(): FormState;
  load(state: FormState): void;
  /// Marks the rules and nodes the issues point at (clearing earlier marks).
  flag(issues: readonly FormIssue[]): void;
  focus(): void;
}

type Choice<T extends string> = { value: T; label: string };

function button(id: string, label: string, onClick: () => void, title = ""): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.id = id;
  b.textContent = label;
  if (title) b.title = title;
  b.addEventListener("click", onClick);
  return b;
}

function choice<T extends string>(id: string, label: string, options: readonly Choice<T>[], current: T, onPick: (value: T) => void): HTMLSelectElement {
  const select = document.createElement("select");
  select.id = id;
  select.setAttribute("aria-label", label);
  select.append(
    ...options.map((o) => {
      const option = document.createElement("option");
      option.value = o.value;
      option.textContent = o.label;
      return option;
    }),
  );
  select.value = current;
  select.addEventListener("change", () => {
    const picked = options.find((o) => o.value === select.value);
    if (picked) onPick(picked.value);
  });
  return select;
}

/// A text input whose every keystroke updates the model without redrawing (the caret stays).
function textInput(id: string, label: string, value: string, onInput: (value: string) => void): HTMLInputElement {
  const input = document.createElement("input");
  input.type = "text";
  input.id = id;
  input.value = value;
  input.spellcheck = false;
  input.size = 14;
  input.setAttribute("aria-label", label);
  const update = (): void => onInput(input.value);
  input.addEventListener("input", update);
  input.addEventListener("change", update);
  return input;
}

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = document.createElement("label");
  label.append(text, " ", control);
  control.removeAttribute("aria-label");
  return label;
}

function span(text: string, className: string): HTMLSpanElement {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
}

function nodeId(ruleIndex: number, path: NodePath): string {
  return `rule-${ruleIndex}-c${path.map((step) => `-${step}`).join("")}`;
}

/// The control a keyboard user lands on in a node after it is redrawn.
function firstControlId(node: NodeDraft | undefined, id: string): string {
  if (!node || node.kind === "predicate") return `${id}-field`;
  return isGroup(node) ? `${id}-kind` : `${id}-unwrap`;
}

const valuesListId = (field: Field): string => `rule-values-${field}`;

export function mountRuleForm(root: HTMLElement): RuleForm {
  let state: FormState = { rules: [] };
  const list = document.createElement("ol");
  list.id = "rule-list";
  list.className = "rule-list";
  const empty = span("No rules: every item gets the customer's choice or the retailer's default.", "muted");
  // Suggestions for code fields with a fixed list; the engine also takes other spellings
  // ("PASS"), so these are a datalist rather than a select that would rewrite them.
  const datalists = FIELDS.flatMap((field) => {
    const spec = FIELD_SPEC[field];
    if (spec.shape === "ordered" || spec.suggestions.length === 0) return [];
    const dl = document.createElement("datalist");
    dl.id = valuesListId(field);
    dl.append(
      ...spec.suggestions.map((s) => {
        const option = document.createElement("option");
        option.value = s;
        return option;
      }),
    );
    return [dl];
  });
  const add = button("rule-add", "Add rule", () => commit(addRule(state), `rule-${state.rules.length}-name`), "A new rule, tried after all the others");
  const addRow = document.createElement("div");
  addRow.className = "row";
  addRow.append(add);
  root.replaceChildren(list, empty, addRow, ...datalists);

  /// A change that keeps the layout: the model only.
  const quietly = (next: FormState): void => {
    state = next;
  };
  /// A change that redraws: focus goes to `focusId`, or stays on the control it was on.
  const commit = (next: FormState, focusId?: string): void => {
    const keep = focusId ?? (document.activeElement instanceof HTMLElement ? document.activeElement.id : "");
    state = next;
    render();
    if (keep) document.getElementById(keep)?.focus();
  };

  const valueControls = (ruleIndex: number, path: NodePath, pred: PredicateDraft, enginePathText: string): HTMLElement => {
    const id = nodeId(ruleIndex, path);
    const spec = FIELD_SPEC[pred.field];
    const setValue = (value: ValueDraft): void => quietly(editCondition(state, ruleIndex, (c) => editPredicate(c, path, (p) => ({ ...p, value }))));
    const current = (): ValueDraft => {
      const node = nodeAt(state.rules[ruleIndex]?.condition ?? pred, path);
      return node?.kind === "predicate" ? node.value : pred.value;
    };
    const wrap = document.createElement("span");
    wrap.className = "cond-value";
    wrap.dataset["path"] = `${enginePathText}.predicate.value`;
    const suggest = (input: HTMLInputElement): HTMLInputElement => {
      if (spec.shape !== "ordered") {
        input.placeholder = spec.placeholder;
        if (spec.suggestions.length) input.setAttribute("list", valuesListId(pred.field));
      }
      return input;
    };
    const value = pred.value;
    switch (value.kind) {
      case "text":
        wrap.append(suggest(textInput(`${id}-value`, "Value", value.text, (text) => setValue({ kind: "text", text }))));
        break;
      case "percent":
      case "number": {
        const kind = value.kind;
        const input = textInput(`${id}-value`, kind === "percent" ? "Percent" : "Number", value.text, (text) => setValue({ kind, text }));
        input.inputMode = kind === "percent" ? "decimal" : "numeric";
        input.size = 6;
        wrap.append(input);
        if (spec.shape === "ordered" && spec.unit) wrap.append(span(spec.unit, "muted"));
        break;
      }
      case "money": {
        // Each input reads the other's text from the model: keystrokes there changed it.
        const money = (): { amount: string; currency: string } => {
          const v = current();
          return v.kind === "money" ? v : value;
        };
        const amount = textInput(`${id}-value`, "Amount", value.amount, (text) => setValue({ ...money(), kind: "money", amount: text }));
        amount.inputMode = "decimal";
        amount.size = 10;
        const currency = textInput(`${id}-currency`, "Currency", value.currency, (text) => setValue({ ...money(), kind: "money", currency: text }));
        currency.size = 4;
        currency.maxLength = 3;
        currency.placeholder = "NZD";
        wrap.append(amount, currency);
        break;
      }
      case "list": {
        const items = value.items;
        const setItems = (next: string[], focusId?: string): void => {
          const edited = editCondition(state, ruleIndex, (c) => editPredicate(c, path, (p) => ({ ...p, value: { kind: "list", items: next } })));
          if (focusId) commit(edited, focusId);
          else quietly(edited);
        };
        // Reads the items from the model, not this closure: earlier keystrokes changed them.
        const currentItems = (): string[] => {
          const v = current();
          return v.kind === "list" ? v.items.slice() : items.slice();
        };
        wrap.setAttribute("role", "group");
        wrap.setAttribute("aria-label", "Values, any of which matches");
        items.forEach((item, k) => {
          const input = suggest(
            textInput(`${id}-item-${k}`, `Value ${k + 1}`, item, (text) => {
              const next = currentItems();
              next[k] = text;
              setItems(next);
            }),
          );
          input.size = 12;
          const remove = button(`${id}-item-${k}-remove`, "×", () => {
            const next = currentItems().filter((_, j) => j !== k);
            setItems(next, next.length ? `${id}-item-${Math.min(k, next.length - 1)}` : `${id}-item-add`);
          });
          remove.setAttribute("aria-label", `Remove value ${k + 1}`);
          wrap.append(input, remove);
        });
        wrap.append(button(`${id}-item-add`, "Add value", () => setItems([...currentItems(), ""], `${id}-item-${items.length}`)));
        break;
      }
    }
    return wrap;
  };

  const nodeElement = (ruleIndex: number, rootNode: NodeDraft, path: NodePath): HTMLElement => {
    const node = nodeAt(rootNode, path) ?? rootNode;
    const id = nodeId(ruleIndex, path);
    const here = enginePath(rootNode, path);
    const parent = path.length ? nodeAt(rootNode, path.slice(0, -1)) : undefined;
    const edit = (change: (c: NodeDraft) => NodeDraft, focusId?: string): void => commit(editCondition(state, ruleIndex, change), focusId);
    const currency = (): string => defaultCurrency(state);
    const box = document.createElement("div");
    box.id = id;
    box.dataset["path"] = here;
    const tools: HTMLElement[] = [];
    if (node.kind !== "not") {
      tools.push(button(`${id}-not`, "NOT", () => edit((c) => wrapNode(c, path, "not"), `${id}-unwrap`), "Negate: true when this is false"));
    }
    if (node.kind === "predicate") {
      tools.push(button(`${id}-group`, "Group", () => edit((c) => wrapNode(c, path, "all"), `${id}-add-predicate`), "Put this in an AND/OR group to add conditions beside it"));
    }
    if (node.kind === "not" || (isGroup(node) && node.children.length === 1)) {
      const what = node.kind === "not" ? "Remove NOT" : "Ungroup";
      tools.push(button(`${id}-unwrap`, what, () => edit((c) => unwrapNode(c, path), firstControlId(childrenOf(node)[0], id))));
    }
    if (parent && isGroup(parent)) {
      const parentId = nodeId(ruleIndex, path.slice(0, -1));
      tools.push(button(`${id}-remove`, "Remove", () => edit((c) => removeNode(c, path), `${parentId}-add-predicate`), "Remove this condition"));
    }

    if (node.kind === "predicate") {
      box.className = "cond-pred";
      const field = choice(
        `${id}-field`,
        "Field",
        FIELDS.map((f) => ({ value: f, label: fieldLabel(f) })),
        node.field,
        (f) => edit((c) => editPredicate(c, path, (p) => withField(p, f, currency()))),
      );
      field.dataset["path"] = `${here}.predicate.field`;
      const op = choice(
        `${id}-op`,
        "Operator",
        opsFor(node.field).map((o) => ({ value: o, label: opLabel(node.field, o) })),
        node.op,
        (o) => edit((c) => editPredicate(c, path, (p) => withOp(p, o, currency()))),
      );
      op.dataset["path"] = `${here}.predicate.op`;
      box.append(field, op, valueControls(ruleIndex, path, node, here), ...tools);
      return box;
    }

    const head = document.createElement("div");
    head.className = "row cond-head";
    const body = document.createElement(node.kind === "not" ? "div" : "ol");
    body.className = "cond-children";
    if (node.kind === "not") {
      box.className = "cond-not";
      head.append(span("NOT", "cond-tag"), ...tools);
      body.append(nodeElement(ruleIndex, rootNode, [...path, 0]));
    } else {
      box.className = "cond-group";
      const kind = choice<GroupKind>(
        `${id}-kind`,
        "Combine with",
        [
          { value: "all", label: "ALL of (AND)" },
          { value: "any", label: "ANY of (OR)" },
        ],
        node.kind,
        (k) => edit((c) => setGroupKind(c, path, k)),
      );
      const n = node.children.length;
      head.append(
        kind,
        button(`${id}-add-predicate`, "Add condition", () => edit((c) => addChild(c, path, "predicate"), `${id}-${n}-field`)),
        button(`${id}-add-group`, "Add group", () => edit((c) => addChild(c, path, "all"), `${id}-${n}-0-field`)),
        ...tools,
      );
      if (n === 0) {
        head.append(span(node.kind === "all" ? "No conditions: true for every item." : "Empty OR: never true (the engine refuses it).", "muted"));
      }
      body.append(
        ...node.children.map((_, i) => {
          const li = document.createElement("li");
          li.append(nodeElement(ruleIndex, rootNode, [...path, i]));
          return li;
        }),
      );
    }
    box.append(head, body);
    return box;
  };

  const ruleElement = (rule: RuleDraft, i: number): HTMLLIElement => {
    const li = document.createElement("li");
    li.className = rule.enabled ? "rule-card" : "rule-card disabled";
    li.id = `rule-${i}`;
    li.dataset["rule"] = String(i);
    const edit = (change: (r: RuleDraft) => RuleDraft): void => quietly(editRule(state, i, change));
    const last = state.rules.length - 1;

    const head = document.createElement("div");
    head.className = "row rule-head";
    const priority = span(`Priority ${rule.priority}`, "rule-priority");
    priority.id = `rule-${i}-priority`;
    priority.dataset["path"] = "priority";
    const name = textInput(`rule-${i}-name`, "Name", rule.name, (v) => edit((r) => ({ ...r, name: v })));
    name.dataset["path"] = "name";
    name.size = 26;
    const id = textInput(`rule-${i}-id`, "Id", rule.id, (v) => edit((r) => ({ ...r, id: v })));
    id.dataset["path"] = "id";
    id.size = 12;
    const enabled = choice(
      `rule-${i}-enabled`,
      "Enabled",
      [
        { value: "on", label: "Enabled" },
        { value: "off", label: "Disabled" },
      ],
      rule.enabled ? "on" : "off",
      (v) => commit(editRule(state, i, (r) => ({ ...r, enabled: v === "on" }))),
    );
    const up = button(`rule-${i}-up`, "Move up", () => commit(moveRule(state, i, -1), i - 1 === 0 ? "rule-0-down" : `rule-${i - 1}-up`), "Tried one place earlier");
    up.disabled = i === 0;
    const down = button(`rule-${i}-down`, "Move down", () => commit(moveRule(state, i, 1), i + 1 === last ? `rule-${last}-up` : `rule-${i + 1}-down`), "Tried one place later");
    down.disabled = i === last;
    const remove = button(`rule-${i}-remove`, "Remove rule", () => {
      const next = removeRule(state, i);
      commit(next, next.rules.length ? `rule-${Math.min(i, next.rules.length - 1)}-name` : "rule-add");
    });
    head.append(priority, labelled("Name", name), labelled("Id", id), enabled, up, down, remove);

    const when = document.createElement("div");
    when.className = "rule-when";
    when.append(span("When", "muted"), nodeElement(i, rule.condition, []));

    const then = document.createElement("div");
    then.className = "row rule-then";
    then.dataset["path"] = "outcome";
    const outcome = choice(
      `rule-${i}-outcome`,
      "Then",
      OUTCOME_KINDS.map((k) => ({ value: k, label: OUTCOME_LABEL[k] })),
      rule.outcome.kind,
      (k) => commit(editRule(state, i, (r) => ({ ...r, outcome: { ...r.outcome, kind: k } }))),
    );
    then.append(labelled("Then", outcome));
    if (rule.outcome.kind === "credit_note") {
      const expiry = textInput(`rule-${i}-expiry`, "Expires after (days)", rule.outcome.expiryDays, (v) => edit((r) => ({ ...r, outcome: { ...r.outcome, expiryDays: v } })));
      expiry.inputMode = "numeric";
      expiry.size = 5;
      expiry.placeholder = "never";
      then.append(labelled("expires after", expiry), span("days (empty: never)", "muted"));
    } else if (rule.outcome.kind === "exchange") {
      then.append(span("Only where the retailer offers exchanges (Check says).", "muted"));
    }
    li.append(head, when, then);
    return li;
  };

  const render = (): void => {
    list.replaceChildren(...state.rules.map(ruleElement));
    empty.hidden = state.rules.length > 0;
  };

  render();
  return {
    state: () => state,
    load: (next) => commit(next, ""),
    flag: (issues) => {
      for (const marked of root.querySelectorAll<HTMLElement>(".flag-error, .flag-warning")) {
        marked.classList.remove("flag-error", "flag-warning");
        marked.removeAttribute("title");
      }
      for (const issue of issues) {
        const card = issue.rule_index === null ? null : document.getElementById(`rule-${issue.rule_index}`);
        if (!card) continue;
        // The deepest element whose path the issue's path starts with, else the whole rule.
        const covers = (p: string): boolean => issue.path === p || issue.path.startsWith(`${p}.`) || issue.path.startsWith(`${p}[`);
        let target: HTMLElement = card;
        let best = -1;
        for (const candidate of card.querySelectorAll<HTMLElement>("[data-path]")) {
          const p = candidate.dataset["path"] ?? "";
          if (covers(p) && p.length > best) {
            target = candidate;
            best = p.length;
          }
        }
        target.classList.add(`flag-${issue.severity}`);
        target.title = target.title ? `${target.title}\n${issue.message}` : issue.message;
      }
    },
    focus: () => document.getElementById(state.rules.length ? "rule-0-name" : "rule-add")?.focus(),
  };
}
