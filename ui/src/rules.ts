// The admin's rules screen: pick a retailer, edit its rule set (as JSON or in the form of
// ruleform.ts, switching either way keeps the same rules), check it and dry-run it against
// the last 30 days beside the current rules, save it. Every check runs in the hub (which also
// refuses anyone who is not an admin); this screen only shows what it says.

import type { DryRunReport } from "./bindings/DryRunReport";
import type { Outcome } from "./bindings/Outcome";
import type { OutcomeKind } from "./bindings/OutcomeKind";
import type { OutcomeTotal } from "./bindings/OutcomeTotal";
import type { RetailerSummary } from "./bindings/RetailerSummary";
import type { Money } from "./bindings/Money";
import { OUTCOME_LABEL, formFromJson, fromForm, mountRuleForm, ruleSetJson, toForm, type FormIssue } from "./ruleform";
import type { Call } from "./util";
import { message } from "./util";

type View = "json" | "form";

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

function cell(text: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function outcomeText(o: Outcome): string {
  if (o.kind === "credit_note" && o.expiry_days !== null) {
    return `Credit note (${o.expiry_days} days)`;
  }
  return OUTCOME_LABEL[o.kind];
}

function totalsText(totals: OutcomeTotal[], kind: OutcomeKind, format: (m: Money) => string): string {
  const t = totals.find((x) => x.outcome === kind);
  if (!t) return "0";
  return `${t.items} (${t.amounts.map(format).join(" + ") || "no amount"})`;
}

function status(text: string, ok: boolean): void {
  const s = el("rules-status");
  s.textContent = text;
  s.className = ok ? "ok" : "bad";
}

function showIssues(issues: readonly FormIssue[]): void {
  el<HTMLUListElement>("rules-issues").replaceChildren(
    ...issues.map((issue) => {
      const li = document.createElement("li");
      li.className = issue.severity;
      const where = issue.rule_name ?? issue.rule_id ?? (issue.rule_index !== null ? `rule #${issue.rule_index + 1}` : "rule set");
      li.textContent = `${issue.severity === "error" ? "Error" : "Warning"} — ${where}${issue.path ? ` at ${issue.path}` : ""}: ${issue.message}`;
      return li;
    }),
  );
}

function showDryRun(report: DryRunReport, format: (m: Money) => string): void {
  el("dryrun-summary").textContent =
    `${report.items} returned items in the window; ${report.changes.length} would get a different outcome.`;
  const kinds = Object.keys(OUTCOME_LABEL) as OutcomeKind[];
  el<HTMLTableElement>("dryrun-totals").tBodies[0]?.replaceChildren(
    ...kinds.map((kind) => {
      const tr = document.createElement("tr");
      tr.append(cell(OUTCOME_LABEL[kind]), cell(totalsText(report.current, kind, format)), cell(totalsText(report.draft, kind, format)));
      return tr;
    }),
  );
  el<HTMLTableElement>("dryrun-changes").tBodies[0]?.replaceChildren(
    ...report.changes.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset["item"] = c.item_id;
      tr.append(
        cell(c.item_id),
        cell(`${outcomeText(c.current)}${c.current_rule ? ` — ${c.current_rule}` : ""}`),
        cell(`${outcomeText(c.draft)}${c.draft_rule ? ` — ${c.draft_rule}` : ""}`),
        cell(format(c.amount)),
      );
      return tr;
    }),
  );
}

export function setUpRulesScreen(call: Call, format: (m: Money) => string): () => Promise<void> {
  const select = el<HTMLSelectElement>("rules-retailer");
  const text = el<HTMLTextAreaElement>("rules-text");
  const form = mountRuleForm(el("rules-form"));
  let view: View = "json";
  let retailers: RetailerSummary[] = [];

  const showView = (next: View): void => {
    view = next;
    el("rules-json").hidden = next !== "json";
    el("rules-form").hidden = next !== "form";
    el("rules-view-json").setAttribute("aria-pressed", String(next === "json"));
    el("rules-view-form").setAttribute("aria-pressed", String(next === "form"));
  };

  /// The draft the hub gets: the textarea's text, or in the form view the form's rule set,
  /// written into the textarea first so the JSON view shows what was sent. Null (with the
  /// inputs that are not values yet shown) when the form cannot be a rule set.
  const draft = (): string | null => {
    if (view === "json") return text.value;
    const read = fromForm(form.state());
    if (!read.ok) {
      showIssues(read.error);
      form.flag(read.error);
      status("Some inputs are not values yet; fix the marked ones first.", false);
      return null;
    }
    text.value = ruleSetJson(read.value);
    return text.value;
  };

  const switchTo = (next: View): void => {
    if (next === view) return;
    if (next === "json") {
      if (draft() === null) return;
    } else {
      const state = formFromJson(text.value);
      if (!state.ok) {
        // The text stays as it is, to be fixed where it is.
        status(`Stays in JSON: ${state.error}`, false);
        return;
      }
      form.load(state.value);
    }
    showView(next);
    showIssues([]);
    status("", true);
  };

  const loadRules = async (): Promise<void> => {
    const retailer = retailers.find((r) => r.id === select.value);
    el("rules-trigger").textContent = retailer ? `trigger: ${retailer.trigger.replace("_", " ")}` : "";
    const rules = await call("retailer_rules", { retailerId: select.value });
    text.value = ruleSetJson(rules);
    showIssues([]);
    status("", true);
    if (view === "form") {
      const state = toForm(rules);
      if (state.ok) {
        form.load(state.value);
      } else {
        showView("json");
        status(`Shown as JSON: ${state.error}`, false);
      }
    }
  };

  const check = async (): Promise<void> => {
    const sent = draft();
    if (sent === null) return;
    const from = view;
    const args = { retailerId: select.value, draft: sent };
    try {
      const issues = await call("check_rules", args);
      showIssues(issues);
      // Issues point at rules by their place in the draft sent, which is the form's order.
      if (from === "form" && view === "form") form.flag(issues);
      if (issues.some((i) => i.severity === "error")) {
        status("The draft has errors; the dry run needs a valid draft.", false);
        return;
      }
      showDryRun(await call("dry_run_rules", args), format);
      status(issues.length ? "Valid, with warnings." : "Valid.", true);
    } catch (e) {
      status(message(e), false);
    }
  };

  const save = async (): Promise<void> => {
    const sent = draft();
    if (sent === null) return;
    const from = view;
    try {
      const result = await call("save_rules", { retailerId: select.value, draft: sent });
      showIssues(result.issues);
      if (from === "form" && view === "form") form.flag(result.issues);
      status(result.saved ? "Saved as the retailer's rules." : "Not saved: fix the errors first.", result.saved);
    } catch (e) {
      status(message(e), false);
    }
  };

  select.addEventListener("change", () => void loadRules().catch((e: unknown) => status(String(e), false)));
  el("rules-check").addEventListener("click", () => void check());
  el("rules-save").addEventListener("click", () => void save());
  el("rules-view-form").addEventListener("click", () => switchTo("form"));
  el("rules-view-json").addEventListener("click", () => switchTo("json"));
  text.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey) {
      // Indent in place: this is an editor. Esc leaves it for the buttons.
      event.preventDefault();
      text.setRangeText("  ", text.selectionStart, text.selectionEnd, "end");
    } else if (event.key === "Escape") {
      el("rules-check").focus();
    }
  });
  el("rules-screen").addEventListener("keydown", (event) => {
    if (event.ctrlKey && event.key === "Enter") {
      event.preventDefault();
      void check();
    } else if (event.ctrlKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      void save();
    }
  });

  // Called when the screen opens: fresh retailers and rules every time.
  return async () => {
    retailers = await call("list_retailers");
    const keep = select.value;
    select.replaceChildren(
      ...retailers.map((r) => {
        const option = document.createElement("option");
        option.value = r.id;
        option.textContent = r.name;
        return option;
      }),
    );
    if (retailers.some((r) => r.id === keep)) select.value = keep;
    await loadRules();
    if (view === "form") form.focus();
    else text.focus();
  };
}
