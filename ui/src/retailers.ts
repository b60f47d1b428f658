// The retailers screen (admins): every retailer, and the form that creates one or edits its
// settings: id, the display name the Return Upload API matches on, currency, country, when
// actions fire, the customer's choice, exchanges, credit-note expiry, the default outcome,
// what a QC failure does, and the return and QC-fail reason lists. Rules (F2) and Shopify /
// partner settings (F5) have screens of their own. The hub checks everything and answers
// every problem at once, each naming its field; the form pins each one beside its input.
//
// The model half (first) is data in, data out, so node's test runner checks it: the form as
// typed (a draft) to and from the hub's RetailerForm, reason list edits, and where a
// FieldIssue's `field` key is shown. The DOM half (last) draws the draft and turns each
// control into one change of it.

import type { AuditEntry } from "./bindings/AuditEntry";
import type { FieldIssue } from "./bindings/FieldIssue";
import type { Outcome } from "./bindings/Outcome";
import type { OutcomeKind } from "./bindings/OutcomeKind";
import type { QcFailPolicy } from "./bindings/QcFailPolicy";
import type { RetailerForm } from "./bindings/RetailerForm";
import type { RetailerSummary } from "./bindings/RetailerSummary";
import type { Trigger } from "./bindings/Trigger";
import { OUTCOME_LABEL } from "./ruleform";
import { el, message, text, type Call } from "./util";

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

// --- The model ---------------------------------------------------------------------------

export const TRIGGER_LABEL: Record<Trigger, string> = {
  first_scan: "First scan (carrier in transit)",
  processing: "Processing at the hub",
  manual: "Manual close by a supervisor",
};

export const QC_FAIL_LABEL: Record<QcFailPolicy, string> = {
  no_action: "No action: a failed item gets nothing",
  hold_for_review: "Hold for a supervisor to review",
  rule_driven: "The rules decide (they may test the QC status)",
};

const TRIGGERS = Object.keys(TRIGGER_LABEL) as Trigger[];
const QC_FAIL_POLICIES = Object.keys(QC_FAIL_LABEL) as QcFailPolicy[];
const OUTCOME_KINDS = Object.keys(OUTCOME_LABEL) as OutcomeKind[];

/// The form as its inputs hold it. Numbers stay text as typed (so "12x" is answered, not
/// silently read as "no expiry"); the default outcome is its kind plus the credit note's
/// expiry, which keeps what was typed while another kind is picked. Every other key is the
/// RetailerForm's own, so a FieldIssue's key names a draft key too.
export type RetailerDraft = Omit<RetailerForm, "credit_note_expiry_days" | "default_outcome"> & {
  /// Empty: credit notes the customer chose do not expire.
  credit_note_expiry_days: string;
  default_outcome: OutcomeKind;
  /// The default credit note's expiry, used when `default_outcome` is credit_note.
  default_expiry_days: string;
};

/// The key the draft's default credit-note expiry is reported under (the hub has no such
/// key: it reports that expiry as `default_outcome`).
export const DEFAULT_EXPIRY_FIELD = "default_outcome.expiry_days";

export function draftOf(form: RetailerForm): RetailerDraft {
  const outcome = form.default_outcome;
  return {
    id: form.id,
    name: form.name,
    currency: form.currency,
    country: form.country,
    trigger: form.trigger,
    customers_choose: form.customers_choose,
    rules_override_customer_choice: form.rules_override_customer_choice,
    exchange_enabled: form.exchange_enabled,
    credit_note_expiry_days: form.credit_note_expiry_days === null ? "" : String(form.credit_note_expiry_days),
    default_outcome: outcome.kind,
    default_expiry_days: outcome.kind === "credit_note" && outcome.expiry_days !== null ? String(outcome.expiry_days) : "",
    qc_fail: form.qc_fail,
    reasons: form.reasons.map((r) => ({ ...r, sub_reasons: r.sub_reasons.map((s) => ({ ...s })) })),
    qc_reasons: form.qc_reasons.map((r) => ({ ...r })),
  };
}

/// The hub reads days as a u32; its own check says which range is allowed.
const MAX_U32 = 4_294_967_295;

/// Days as typed: empty is none; anything but a whole number is refused.
export function daysOf(typed: string): Result<number | null, string> {
  const t = typed.trim();
  if (t === "") return { ok: true, value: null };
  if (!/^\d+$/.test(t) || Number(t) > MAX_U32) {
    return { ok: false, error: `'${t}' is not a whole number of days (leave it empty for no expiry)` };
  }
  return { ok: true, value: Number(t) };
}

/// The hub's form from the draft: exactly RetailerForm's keys (the hub refuses any other), or
/// the numbers that are not numbers, each under its field's key.
export function formOf(draft: RetailerDraft): Result<RetailerForm, FieldIssue[]> {
  const issues: FieldIssue[] = [];
  const expiry = daysOf(draft.credit_note_expiry_days);
  if (!expiry.ok) issues.push({ field: "credit_note_expiry_days", message: expiry.error });
  let outcome: Outcome;
  if (draft.default_outcome === "credit_note") {
    const days = daysOf(draft.default_expiry_days);
    if (!days.ok) issues.push({ field: DEFAULT_EXPIRY_FIELD, message: days.error });
    outcome = { kind: "credit_note", expiry_days: days.ok ? days.value : null };
  } else {
    outcome = { kind: draft.default_outcome };
  }
  if (issues.length > 0) return { ok: false, error: issues };
  return {
    ok: true,
    value: {
      id: draft.id,
      name: draft.name,
      currency: draft.currency,
      country: draft.country,
      trigger: draft.trigger,
      customers_choose: draft.customers_choose,
      rules_override_customer_choice: draft.rules_override_customer_choice,
      exchange_enabled: draft.exchange_enabled,
      credit_note_expiry_days: expiry.ok ? expiry.value : null,
      default_outcome: outcome,
      qc_fail: draft.qc_fail,
      reasons: draft.reasons.map((r) => ({
        code: r.code,
        label: r.label,
        requires_evidence: r.requires_evidence,
        sub_reasons: r.sub_reasons.map((s) => ({ code: s.code, label: s.label })),
      })),
      qc_reasons: draft.qc_reasons.map((r) => ({ code: r.code, label: r.label, requires_photo: r.requires_photo })),
    },
  };
}

export function addReason(draft: RetailerDraft): RetailerDraft {
  return { ...draft, reasons: [...draft.reasons, { code: "", label: "", requires_evidence: false, sub_reasons: [] }] };
}

export function removeReason(draft: RetailerDraft, n: number): RetailerDraft {
  return { ...draft, reasons: draft.reasons.filter((_, i) => i !== n) };
}

export function addSubReason(draft: RetailerDraft, n: number): RetailerDraft {
  return {
    ...draft,
    reasons: draft.reasons.map((r, i) => (i === n ? { ...r, sub_reasons: [...r.sub_reasons, { code: "", label: "" }] } : r)),
  };
}

export function removeSubReason(draft: RetailerDraft, n: number, m: number): RetailerDraft {
  return {
    ...draft,
    reasons: draft.reasons.map((r, i) => (i === n ? { ...r, sub_reasons: r.sub_reasons.filter((_, j) => j !== m) } : r)),
  };
}

export function addQcReason(draft: RetailerDraft): RetailerDraft {
  return { ...draft, qc_reasons: [...draft.qc_reasons, { code: "", label: "", requires_photo: false }] };
}

export function removeQcReason(draft: RetailerDraft, n: number): RetailerDraft {
  return { ...draft, qc_reasons: draft.qc_reasons.filter((_, i) => i !== n) };
}

/// The form's own keys and the element each is shown on. `rules` (the retailer's rules no
/// longer agree with these settings) goes on the note that sends the admin to F2.
const FIELD_ELEMENT: Readonly<Record<string, string>> = {
  id: "retailer-id",
  name: "retailer-name",
  currency: "retailer-currency",
  country: "retailer-country",
  trigger: "retailer-trigger",
  customers_choose: "retailer-customers-choose",
  rules_override_customer_choice: "retailer-rules-override",
  exchange_enabled: "retailer-exchange",
  credit_note_expiry_days: "retailer-expiry",
  default_outcome: "retailer-default-outcome",
  [DEFAULT_EXPIRY_FIELD]: "retailer-default-expiry",
  qc_fail: "retailer-qc-fail",
  rules: "retailer-rules-note",
  reasons: "retailer-reasons",
  qc_reasons: "retailer-qc-reasons",
};

const REASON_PART: Readonly<Record<string, string>> = { code: "code", label: "label", requires_evidence: "evidence" };
const QC_REASON_PART: Readonly<Record<string, string>> = { code: "code", label: "label", requires_photo: "photo" };

/// The id of the element a FieldIssue's `field` is shown beside (`reasons[1].sub_reasons[0].code`
/// → `reason-1-sub-0-code`, `country` → `retailer-country`); null for a key the form does not know.
export function fieldElementId(field: string): string | null {
  const own = Object.hasOwn(FIELD_ELEMENT, field) ? FIELD_ELEMENT[field] : undefined;
  if (own !== undefined) return own;
  const sub = /^reasons\[(\d+)\]\.sub_reasons\[(\d+)\](?:\.(code|label))?$/.exec(field);
  if (sub) return `reason-${sub[1]}-sub-${sub[2]}${sub[3] ? `-${sub[3]}` : ""}`;
  const reason = /^reasons\[(\d+)\](?:\.(\w+))?$/.exec(field);
  if (reason) {
    if (reason[2] === undefined) return `reason-${reason[1]}`;
    const part = Object.hasOwn(REASON_PART, reason[2]) ? REASON_PART[reason[2]] : undefined;
    return part === undefined ? null : `reason-${reason[1]}-${part}`;
  }
  const qc = /^qc_reasons\[(\d+)\](?:\.(\w+))?$/.exec(field);
  if (qc) {
    if (qc[2] === undefined) return `qc-reason-${qc[1]}`;
    const part = Object.hasOwn(QC_REASON_PART, qc[2]) ? QC_REASON_PART[qc[2]] : undefined;
    return part === undefined ? null : `qc-reason-${qc[1]}-${part}`;
  }
  return null;
}

/// Issues grouped by the element they are shown beside (in the order the hub gave them), and
/// the ones no element takes (said in the status line instead).
export function placeIssues(issues: readonly FieldIssue[]): { placed: Map<string, FieldIssue[]>; unplaced: FieldIssue[] } {
  const placed = new Map<string, FieldIssue[]>();
  const unplaced: FieldIssue[] = [];
  for (const issue of issues) {
    const id = fieldElementId(issue.field);
    if (id === null) unplaced.push(issue);
    else placed.set(id, [...(placed.get(id) ?? []), issue]);
  }
  return { placed, unplaced };
}

/// The status line's summary of a refused save.
export function issueSummary(issues: readonly FieldIssue[], unplaced: readonly FieldIssue[]): string {
  const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
  const marked = issues.length - unplaced.length;
  const parts = [`Not saved: ${count}${marked > 0 ? ", marked beside the fields" : ""}.`];
  for (const issue of unplaced) parts.push(`${issue.field}: ${issue.message}.`);
  return parts.join(" ");
}

// --- The screen --------------------------------------------------------------------------

type TextKey = "id" | "name" | "currency" | "country" | "credit_note_expiry_days" | "default_expiry_days";
type CheckKey = "customers_choose" | "rules_override_customer_choice" | "exchange_enabled";

const TEXT_INPUTS: readonly (readonly [string, TextKey])[] = [
  ["retailer-id", "id"],
  ["retailer-name", "name"],
  ["retailer-currency", "currency"],
  ["retailer-country", "country"],
  ["retailer-expiry", "credit_note_expiry_days"],
  ["retailer-default-expiry", "default_expiry_days"],
];

const CHECKBOXES: readonly (readonly [string, CheckKey])[] = [
  ["retailer-customers-choose", "customers_choose"],
  ["retailer-rules-override", "rules_override_customer_choice"],
  ["retailer-exchange", "exchange_enabled"],
];


function fillSelect<T extends string>(id: string, labels: Record<T, string>): void {
  el<HTMLSelectElement>(id).replaceChildren(
    ...(Object.keys(labels) as T[]).map((value) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = labels[value];
      return option;
    }),
  );
}

function button(id: string, label: string, onClick: () => void, ariaLabel = ""): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.id = id;
  b.textContent = label;
  if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", onClick);
  return b;
}

/// A text input whose every keystroke updates the draft without redrawing (the caret stays).
function textInput(id: string, label: string, value: string, placeholder: string, onInput: (value: string) => void): HTMLInputElement {
  const input = document.createElement("input");
  input.id = id;
  input.value = value;
  input.placeholder = placeholder;
  input.spellcheck = false;
  input.maxLength = 200;
  input.setAttribute("aria-label", label);
  input.addEventListener("input", () => onInput(input.value));
  return input;
}

function checkbox(id: string, label: string, checked: boolean, onChange: (checked: boolean) => void): HTMLLabelElement {
  const box = document.createElement("input");
  box.type = "checkbox";
  box.id = id;
  box.checked = checked;
  box.addEventListener("change", () => onChange(box.checked));
  const wrap = document.createElement("label");
  wrap.className = "check";
  wrap.append(box, ` ${label}`);
  return wrap;
}

export class Retailers {
  private retailers: RetailerSummary[] = [];
  private draft: RetailerDraft | null = null;
  /// True while the form is a new retailer's (saved with create, its id still editable).
  private creating = false;
  /// Edited since it was loaded or saved: a visit to another screen keeps the edits.
  private dirty = false;
  private saving = false;

  constructor(private readonly call: Call) {
    fillSelect("retailer-trigger", TRIGGER_LABEL);
    fillSelect("retailer-default-outcome", OUTCOME_LABEL);
    fillSelect("retailer-qc-fail", QC_FAIL_LABEL);
    for (const [id, key] of TEXT_INPUTS) {
      el<HTMLInputElement>(id).addEventListener("input", (e) => {
        if (e.target instanceof HTMLInputElement) this.edit({ [key]: e.target.value });
      });
    }
    for (const [id, key] of CHECKBOXES) {
      el<HTMLInputElement>(id).addEventListener("change", (e) => {
        if (e.target instanceof HTMLInputElement) this.edit({ [key]: e.target.checked });
      });
    }
    el<HTMLSelectElement>("retailer-trigger").addEventListener("change", (e) => {
      const trigger = TRIGGERS.find((t) => e.target instanceof HTMLSelectElement && t === e.target.value);
      if (trigger) this.edit({ trigger });
    });
    el<HTMLSelectElement>("retailer-qc-fail").addEventListener("change", (e) => {
      const qc_fail = QC_FAIL_POLICIES.find((p) => e.target instanceof HTMLSelectElement && p === e.target.value);
      if (qc_fail) this.edit({ qc_fail });
    });
    el<HTMLSelectElement>("retailer-default-outcome").addEventListener("change", (e) => {
      const default_outcome = OUTCOME_KINDS.find((k) => e.target instanceof HTMLSelectElement && k === e.target.value);
      if (default_outcome) this.edit({ default_outcome });
      this.showDefaultExpiry();
    });
    el<HTMLFormElement>("retailer-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
    el("retailer-new").addEventListener("click", () => void this.open(null));
    el("retailer-copy-name").addEventListener("click", () => void this.copyName());
    el("reason-add").addEventListener("click", () => {
      this.restructure((d) => addReason(d));
      this.focusId(`reason-${(this.draft?.reasons.length ?? 1) - 1}-code`);
    });
    el("qc-reason-add").addEventListener("click", () => {
      this.restructure((d) => addQcReason(d));
      this.focusId(`qc-reason-${(this.draft?.qc_reasons.length ?? 1) - 1}-code`);
    });
  }

  /// The list, and the form: the one being edited (reloaded unless it has unsaved edits),
  /// else the first retailer, else a new one.
  async load(): Promise<void> {
    try {
      await this.loadList();
      const current = this.draft && !this.creating ? this.draft.id : null;
      if (this.draft && (this.dirty || this.creating)) {
        this.paintList();
        return;
      }
      const pick = current !== null && this.retailers.some((r) => r.id === current) ? current : (this.retailers[0]?.id ?? null);
      await this.open(pick);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async loadList(): Promise<void> {
    this.retailers = await this.call("list_retailers");
    this.paintList();
  }

  private paintList(): void {
    const editing = this.draft && !this.creating ? this.draft.id : null;
    el("retailer-list").replaceChildren(
      ...this.retailers.map((r) => {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.dataset["retailerId"] = r.id;
        b.append(text("span", r.name), text("span", `${r.id} · ${TRIGGER_LABEL[r.trigger]}`, "muted"));
        b.setAttribute("aria-current", r.id === editing ? "true" : "false");
        b.addEventListener("click", () => void this.open(r.id));
        li.append(b);
        return li;
      }),
    );
    if (this.retailers.length === 0) el("retailer-list").append(text("li", "No retailer yet.", "muted"));
  }

  /// Loads a retailer's form and history, or (null) a blank form for a new retailer. Answers
  /// the hub's refusal, if it refused (also said in the status line).
  private async open(retailerId: string | null): Promise<string | null> {
    try {
      const [form, history] = await Promise.all([
        this.call("retailer_form", { retailerId }),
        retailerId === null ? Promise.resolve(null) : this.call("retailer_history", { retailerId }),
      ]);
      this.creating = retailerId === null;
      this.show(draftOf(form));
      this.showHistory(history);
      this.paintList();
      this.status("", true);
      if (this.creating) el("retailer-id").focus();
      return null;
    } catch (e) {
      this.status(message(e), false);
      return message(e);
    }
  }

  private show(draft: RetailerDraft): void {
    this.draft = draft;
    this.dirty = false;
    this.clearIssues();
    el("retailer-heading").textContent = this.creating ? "New retailer" : `Edit ${draft.name}`;
    const id = el<HTMLInputElement>("retailer-id");
    id.readOnly = !this.creating;
    for (const [inputId, key] of TEXT_INPUTS) el<HTMLInputElement>(inputId).value = draft[key];
    for (const [inputId, key] of CHECKBOXES) el<HTMLInputElement>(inputId).checked = draft[key];
    el<HTMLSelectElement>("retailer-trigger").value = draft.trigger;
    el<HTMLSelectElement>("retailer-default-outcome").value = draft.default_outcome;
    el<HTMLSelectElement>("retailer-qc-fail").value = draft.qc_fail;
    this.showDefaultExpiry();
    this.paintReasons();
  }

  private showDefaultExpiry(): void {
    el("retailer-default-expiry-field").hidden = this.draft?.default_outcome !== "credit_note";
  }

  private showHistory(entries: AuditEntry[] | null): void {
    const body = el<HTMLTableElement>("retailer-history").tBodies[0];
    if (!body) return;
    body.replaceChildren(
      ...(entries ?? []).map((entry) => {
        const tr = document.createElement("tr");
        tr.append(
          text("td", entry.at.slice(0, 19).replace("T", " "), "mono"),
          text("td", entry.who),
          text("td", entry.station ?? "—"),
          text("td", entry.what),
        );
        return tr;
      }),
    );
    if (!entries || entries.length === 0) {
      const none = text("td", entries ? "No change is recorded yet." : "A new retailer has no history yet.", "muted");
      none.setAttribute("colspan", "4");
      const tr = document.createElement("tr");
      tr.append(none);
      body.append(tr);
    }
  }

  private edit(change: Partial<RetailerDraft>): void {
    if (!this.draft) return;
    this.draft = { ...this.draft, ...change };
    this.dirty = true;
  }

  /// A reason added or removed: the lists are redrawn (their ids follow the positions).
  private restructure(change: (draft: RetailerDraft) => RetailerDraft): void {
    if (!this.draft) return;
    this.draft = change(this.draft);
    this.dirty = true;
    this.paintReasons();
  }

  private paintReasons(): void {
    const draft = this.draft;
    if (!draft) return;
    el("retailer-reasons").replaceChildren(...draft.reasons.map((reason, n) => this.reasonRow(reason, n)));
    el("retailer-qc-reasons").replaceChildren(
      ...draft.qc_reasons.map((reason, n) => {
        const li = document.createElement("li");
        li.id = `qc-reason-${n}`;
        li.className = "row reason-line";
        li.append(
          textInput(`qc-reason-${n}-code`, `QC fail reason ${n + 1}: code`, reason.code, "CODE", (code) =>
            this.editQcReason(n, { code }),
          ),
          textInput(`qc-reason-${n}-label`, `QC fail reason ${n + 1}: label`, reason.label, "What the operator sees", (label) =>
            this.editQcReason(n, { label }),
          ),
          checkbox(`qc-reason-${n}-photo`, "photo required", reason.requires_photo, (requires_photo) =>
            this.editQcReason(n, { requires_photo }),
          ),
          button(
            `qc-reason-${n}-remove`,
            "Remove",
            () => {
              this.restructure((d) => removeQcReason(d, n));
              this.focusId(`qc-reason-${n}-code`, "qc-reason-add");
            },
            `Remove QC fail reason ${n + 1}`,
          ),
        );
        return li;
      }),
    );
  }

  private reasonRow(reason: RetailerDraft["reasons"][number], n: number): HTMLLIElement {
    const li = document.createElement("li");
    li.id = `reason-${n}`;
    li.className = "reason";
    const line = document.createElement("div");
    line.className = "row reason-line";
    line.append(
      textInput(`reason-${n}-code`, `Return reason ${n + 1}: code`, reason.code, "CODE", (code) => this.editReason(n, { code })),
      textInput(`reason-${n}-label`, `Return reason ${n + 1}: label`, reason.label, "What the customer sees", (label) =>
        this.editReason(n, { label }),
      ),
      checkbox(`reason-${n}-evidence`, "photo required", reason.requires_evidence, (requires_evidence) =>
        this.editReason(n, { requires_evidence }),
      ),
      button(
        `reason-${n}-sub-add`,
        "Add sub-reason",
        () => {
          this.restructure((d) => addSubReason(d, n));
          this.focusId(`reason-${n}-sub-${(this.draft?.reasons[n]?.sub_reasons.length ?? 1) - 1}-code`);
        },
        `Add a sub-reason to return reason ${n + 1}`,
      ),
      button(
        `reason-${n}-remove`,
        "Remove",
        () => {
          this.restructure((d) => removeReason(d, n));
          this.focusId(`reason-${n}-code`, "reason-add");
        },
        `Remove return reason ${n + 1}`,
      ),
    );
    const subs = document.createElement("ol");
    subs.className = "sub-reasons";
    subs.append(
      ...reason.sub_reasons.map((sub, m) => {
        const row = document.createElement("li");
        row.id = `reason-${n}-sub-${m}`;
        row.className = "row reason-line";
        row.append(
          textInput(`reason-${n}-sub-${m}-code`, `Reason ${n + 1}, sub-reason ${m + 1}: code`, sub.code, "CODE", (code) =>
            this.editSubReason(n, m, { code }),
          ),
          textInput(`reason-${n}-sub-${m}-label`, `Reason ${n + 1}, sub-reason ${m + 1}: label`, sub.label, "Label", (label) =>
            this.editSubReason(n, m, { label }),
          ),
          button(
            `reason-${n}-sub-${m}-remove`,
            "Remove",
            () => {
              this.restructure((d) => removeSubReason(d, n, m));
              this.focusId(`reason-${n}-sub-${m}-code`, `reason-${n}-sub-add`);
            },
            `Remove sub-reason ${m + 1} of return reason ${n + 1}`,
          ),
        );
        return row;
      }),
    );
    li.append(line, subs);
    return li;
  }

  private editReason(n: number, change: Partial<Omit<RetailerDraft["reasons"][number], "sub_reasons">>): void {
    if (!this.draft) return;
    this.edit({ reasons: this.draft.reasons.map((r, i) => (i === n ? { ...r, ...change } : r)) });
  }

  private editSubReason(n: number, m: number, change: Partial<RetailerDraft["reasons"][number]["sub_reasons"][number]>): void {
    if (!this.draft) return;
    this.edit({
      reasons: this.draft.reasons.map((r, i) =>
        i === n ? { ...r, sub_reasons: r.sub_reasons.map((s, j) => (j === m ? { ...s, ...change } : s)) } : r,
      ),
    });
  }

  private editQcReason(n: number, change: Partial<RetailerDraft["qc_reasons"][number]>): void {
    if (!this.draft) return;
    this.edit({ qc_reasons: this.draft.qc_reasons.map((r, i) => (i === n ? { ...r, ...change } : r)) });
  }

  /// Focuses the first of the ids the page has (after a redraw, the row that took the
  /// removed one's place, else the button that adds one).
  private focusId(...ids: string[]): void {
    for (const id of ids) {
      const target = document.getElementById(id);
      if (target) {
        target.focus();
        return;
      }
    }
  }

  /// Saves the form (Ctrl+S on this screen too): creates the retailer when it is new.
  async save(): Promise<void> {
    if (!this.draft || this.saving) return;
    this.clearIssues();
    const form = formOf(this.draft);
    if (!form.ok) {
      this.showIssues(form.error);
      return;
    }
    this.saving = true;
    el<HTMLButtonElement>("retailer-save").disabled = true;
    this.status("Saving…", true);
    try {
      const saved = await this.call("save_retailer", { form: form.value, create: this.creating });
      if (!saved.saved) {
        this.showIssues(saved.issues);
        return;
      }
      this.dirty = false;
      await this.loadList();
      const refusal = await this.open(saved.retailer_id);
      this.status(refusal === null ? "Saved." : `Saved, but the saved form could not be shown: ${refusal}`, refusal === null);
    } catch (e) {
      this.status(message(e), false);
    } finally {
      this.saving = false;
      el<HTMLButtonElement>("retailer-save").disabled = false;
    }
  }

  private clearIssues(): void {
    const screen = el("retailers-screen");
    for (const note of screen.querySelectorAll(".field-error")) note.remove();
    for (const marked of screen.querySelectorAll(".invalid")) {
      marked.classList.remove("invalid");
      marked.removeAttribute("aria-invalid");
      marked.removeAttribute("aria-describedby");
    }
  }

  /// Each issue beside its field (a checkbox's beside its label), the first one focused; the
  /// summary, and any issue no field takes, in the status line.
  private showIssues(issues: readonly FieldIssue[]): void {
    const { placed, unplaced } = placeIssues(issues);
    let first: HTMLElement | null = null;
    for (const [id, here] of placed) {
      const target = document.getElementById(id);
      if (!target) {
        unplaced.push(...here);
        continue;
      }
      const note = text("span", here.map((issue) => issue.message).join("; "), "field-error");
      note.id = `${id}-error`;
      target.classList.add("invalid");
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-describedby", note.id);
      const anchor = target.parentElement instanceof HTMLLabelElement ? target.parentElement : target;
      anchor.after(note);
      first ??= target;
    }
    this.status(issueSummary(issues, unplaced), false);
    first?.focus();
  }

  /// The display name, exactly as stored (the hub trims it), for the partner's Upload API set-up.
  private async copyName(): Promise<void> {
    const input = el<HTMLInputElement>("retailer-name");
    const name = input.value.trim();
    try {
      await navigator.clipboard.writeText(name);
      this.status(`Copied the display name "${name}".`, true);
    } catch {
      input.focus();
      input.select();
      this.status("The clipboard is not available here: the name is selected, press Ctrl+C to copy it.", true);
    }
  }

  private status(text: string, ok: boolean): void {
    const s = el("retailer-status");
    s.textContent = text;
    s.className = ok ? "ok" : "bad";
  }
}
