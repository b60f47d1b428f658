// The open return as the bench paints it: the return's header, each item with its
// inspection and decision (and, for supervisors, why the engine decided so), extras, what
// still blocks processing, labels and actions. Pure painting from the hub's answer; the keys
// and commands are bench.ts's.

import type { BenchState } from "./bindings/BenchState";
import type { DecidedBy } from "./bindings/DecidedBy";
import type { InspectionView } from "./bindings/InspectionView";
import type { Money } from "./bindings/Money";
import type { Outcome } from "./bindings/Outcome";
import type { ReturnOption } from "./bindings/ReturnOption";
import type { ReturnView } from "./bindings/ReturnView";
import type { Trigger } from "./bindings/Trigger";
import { imageSource } from "./images";
import { actionLine } from "./actions";
import { el, formatMoney, text } from "./util";

const TRIGGER_LABEL: Record<Trigger, string> = {
  first_scan: "First scan (carrier in-transit event)",
  processing: "Processing at this hub",
  manual: "Manual close by a supervisor",
};

const OPTION_LABEL: Record<ReturnOption, string> = {
  refund: "Refund",
  credit_note: "Credit note",
  exchange: "Exchange",
};

function outcomeText(outcome: Outcome, amount: Money | null): string {
  const name: Record<Outcome["kind"], string> = {
    refund: "Refund",
    credit_note: "Credit note",
    exchange: "Exchange",
    no_action: "No action",
    hold_for_review: "Hold for review",
  };
  return amount ? `${name[outcome.kind]} ${formatMoney(amount)}` : name[outcome.kind];
}

function decidedByText(by: DecidedBy): string {
  switch (by.by) {
    case "engine": {
      const source = by.decision.source;
      switch (source.kind) {
        case "rule":
          return `rule “${source.rule_name}” (priority ${source.priority})`;
        case "customer_choice":
          return "the customer's choice";
        case "retailer_default":
          return "the retailer's default";
        case "qc_fail_policy":
          return "the retailer's QC-fail policy";
      }
      return "";
    }
    case "supervisor":
      return `supervisor: ${by.reason}`;
    case "not_received":
      return "not in the parcel";
  }
}

function inspectionText(n: InspectionView | null): string {
  if (!n) return "Not inspected";
  if (n.presence === "missing") return "Missing from the parcel";
  const parts = ["Found"];
  if (n.qc) parts.push(`QC ${n.qc.toUpperCase()}`);
  if (n.qc_reason) parts.push(n.qc_reason);
  if (n.grade) parts.push(`grade ${n.grade}`);
  if (n.disposition) parts.push(n.disposition.replaceAll("_", " "));
  if (n.photos.length) parts.push(`${n.photos.length} photo(s)`);
  if (n.note) parts.push(`“${n.note}”`);
  return parts.join(" · ");
}

/// Paints `ret` as `state` has it, item `selected` highlighted; `explain`: show the engine's
/// reasons (not to operators).
export function paintReturn(
  ret: ReturnView | null,
  state: BenchState | null,
  selected: number,
  explain: boolean,
): void {
  const panel = el<HTMLElement>("return-panel");
  if (!ret) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  el("ret-retailer").textContent = ret.retailer.name;
  el("ret-order").textContent = ret.order_number;
  el("ret-customer").textContent = `${ret.customer_name} <${ret.customer_email}>`;
  el("ret-status").textContent = (state?.status ?? ret.status).replace("_", " ");
  el("ret-connotes").textContent = ret.connotes.join(", ");
  el("ret-trigger").textContent = TRIGGER_LABEL[ret.retailer.trigger];
  const list = el<HTMLUListElement>("ret-items");
  list.replaceChildren(
    ...ret.items.map((item, index) => {
      const itemState = state?.items.find((s) => s.item_id === item.id) ?? null;
      const li = document.createElement("li");
      li.className = "item";
      li.dataset["sku"] = item.sku;
      li.dataset["itemId"] = item.id;
      li.dataset["inspection"] = itemState?.inspection
        ? `${itemState.inspection.presence}${itemState.inspection.qc ? `:${itemState.inspection.qc}` : ""}`
        : "none";
      if (state && index === selected) li.classList.add("selected");
      const img = document.createElement("img");
      img.alt = item.title;
      const source = item.image ? imageSource(item.image) : null;
      if (source) img.src = source;
      const body = document.createElement("div");
      body.append(
        text("h3", `${index + 1}. ${item.title}`),
        text(
          "div",
          `SKU ${item.sku}${item.ean ? ` · EAN ${item.ean}` : ""} · qty ${item.quantity} · ${formatMoney(item.unit_price)} each`,
          "meta",
        ),
        text("div", `Reason: ${item.reason}${item.sub_reason ? ` — ${item.sub_reason}` : ""}`, "reason"),
      );
      if (item.comment) body.append(text("div", `“${item.comment}”`, "meta"));
      body.append(
        text(
          "div",
          item.chosen_option ? `Customer chose: ${OPTION_LABEL[item.chosen_option]}` : "Option decided by the retailer's rules",
          "choice",
        ),
      );
      if (itemState) {
        const inspected = text("div", inspectionText(itemState.inspection), "inspection");
        if (itemState.evidence_required && !itemState.inspection?.photos.length) {
          inspected.append(text("span", " · photo required", "warn"));
        }
        body.append(inspected);
        const decision = itemState.decision;
        if (decision) {
          const line = text("div", `${outcomeText(decision.outcome, decision.amount)} — ${decidedByText(decision.decided_by)}`, "decision");
          line.dataset["outcome"] = decision.outcome.kind;
          body.append(line);
          if (decision.decided_by.by === "engine" && explain) {
            const why = document.createElement("ul");
            why.className = "why";
            const ex = decision.decided_by.decision.explanation;
            if (ex.matched) why.append(text("li", `matched “${ex.matched.rule_name}”: ${ex.matched.why}`));
            for (const miss of ex.not_matched) why.append(text("li", `not “${miss.rule_name}”: ${miss.why}`));
            for (const note of ex.notes) why.append(text("li", note));
            body.append(why);
          }
        }
      }
      li.append(img, body);
      return li;
    }),
  );
  el<HTMLUListElement>("ret-extras").replaceChildren(
    ...(state?.extras ?? []).map((x) => text("li", `Extra in the parcel: ${x.code}`, "extra")),
  );
  const blockers = el("ret-blockers");
  if (!state) {
    blockers.textContent = "";
  } else if (state.status === "received") {
    blockers.textContent = state.blockers.length ? state.blockers.join(" ") : "Ready: Enter processes the return.";
    blockers.className = state.blockers.length ? "blockers" : "blockers ready";
  } else {
    blockers.textContent = `This return is ${state.status.replace("_", " ")}.`;
    blockers.className = "blockers";
  }
  el("ret-exceptions").textContent = state?.open_exceptions.length ? `Open for the supervisor: ${state.open_exceptions.join("; ")}` : "";
  el("ret-labels").textContent = state?.labels.length
    ? `Labels: ${state.labels.map((l) => `${l.reprint ? "reprint " : ""}${l.state === "confirmed" ? "printed" : l.last_error ? `waiting (${l.last_error})` : "queued"}`).join(", ")}`
    : "";
  el("ret-actions").textContent = state?.actions.length
    ? `Actions: ${state.actions.map(actionLine).join("; ")}`
    : "";
}
