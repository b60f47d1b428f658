// The shops screen (F5): each retailer's Shopify shop (admins connect one: the hub checks the
// domain and token with Shopify before keeping the token in the keyring), its order import
// (done / estimated, rate, time left), its actions by state, and the actions that need a
// supervisor (failed, or outcome unknown) with a retry that reconciles before it resends.
// Admins also set how each retailer's actions are carried out on Shopify (credit notes as gift
// cards or store credit; exchanges by releasing a held order or processing a Shopify return;
// an optional tag for No Action orders): the core checks the role and the values.

import type { ActionView } from "./bindings/ActionView";
import type { ImportView } from "./bindings/ImportView";
import type { RetailerShopView } from "./bindings/RetailerShopView";
import type { ShopifyPolicy } from "./bindings/ShopifyPolicy";
import type { ShopsView } from "./bindings/ShopsView";
import { el, message, text, type Call } from "./util";

export class Shops {
  private role: string | null = null;
  private policies = new Map<string, ShopifyPolicy>();
  /// What the tables show now: the live refresh re-renders a table only when this changes,
  /// so a button is never replaced under the pointer between press and release.
  private shownRetailers = "";
  private shownTroubled = "";

  constructor(private readonly call: Call) {
    el<HTMLFormElement>("shop-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.connect();
    });
    el<HTMLFormElement>("shopify-policy-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.savePolicy();
    });
    el<HTMLSelectElement>("policy-retailer").addEventListener("change", () => this.fillPolicy());
    el<HTMLSelectElement>("policy-exchange").addEventListener("change", () => this.prefixState());
  }

  async load(role: string | null): Promise<void> {
    this.role = role;
    this.shownRetailers = "";
    this.shownTroubled = "";
    el("shop-form").hidden = role !== "admin";
    el("shopify-policy-form").hidden = role !== "admin";
    try {
      this.show(await this.call("shops_view"), true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  /// Live figures (import progress, action counts) while the screen is open.
  async refresh(): Promise<void> {
    this.show(await this.call("shops_view"), false);
  }

  private show(view: ShopsView, fillForm: boolean): void {
    const d = view.dispatch;
    el("shops-dispatch").textContent =
      d.mode === "central"
        ? "A central store is configured: it sends this hub's actions (this hub sends none); their outcomes come back when the hub syncs, and a failed one can be retried here."
        : d.mode === "here"
          ? `This hub sends the actions of connected retailers.${d.last_pass_at ? ` Last pass ${d.last_pass_at}.` : ""}${d.last_error ? ` Error: ${d.last_error}` : ""}`
          : "No shop is connected: actions wait in the queue until their retailer's shop is.";
    const central = d.mode === "central";
    const retailers = JSON.stringify([central, this.role, view.retailers]);
    if (retailers !== this.shownRetailers) {
      this.shownRetailers = retailers;
      el<HTMLTableElement>("shops-table").tBodies[0]?.replaceChildren(...view.retailers.map((r) => this.row(r, central)));
    }
    this.policies = new Map(view.retailers.map((r) => [r.retailer_id, r.shopify]));
    if (fillForm) {
      for (const id of ["shop-retailer", "policy-retailer", "webhook-retailer", "receipt-retailer", "partner-retailer", "route-retailer"]) {
        el<HTMLSelectElement>(id).replaceChildren(
          ...view.retailers.map((r) => {
            const o = document.createElement("option");
            o.value = r.retailer_id;
            o.textContent = r.retailer_name;
            return o;
          }),
        );
      }
      this.fillPolicy();
    }
    const troubledNow = JSON.stringify(view.troubled);
    if (troubledNow !== this.shownTroubled) {
      this.shownTroubled = troubledNow;
      const troubled = el<HTMLTableElement>("troubled-table").tBodies[0];
      troubled?.replaceChildren(...view.troubled.map((a) => this.troubledRow(a)));
      if (view.troubled.length === 0) troubled?.append(text("tr", "No failed or unknown actions."));
    }
  }

  /// `central`: the central store sends this hub's actions; the hub knows an outcome once it
  /// has synced it back.
  private row(r: RetailerShopView, central: boolean): HTMLElement {
    const tr = document.createElement("tr");
    tr.dataset["retailer"] = r.retailer_id;
    const c = r.connection;
    const a = r.actions;
    tr.append(
      text("td", r.retailer_name),
      text("td", c ? `${c.shop_name} (${c.shop_domain})` : "not connected", c ? "" : "muted"),
      text("td", c ? importText(r.import) : "—", "import"),
      text(
        "td",
        central
          ? `${a.confirmed} confirmed · ${a.pending + a.sent + a.unknown} with the central store · ${a.failed} failed`
          : `${a.confirmed} confirmed · ${a.pending + a.sent} queued · ${a.unknown} unknown · ${a.failed} failed`,
        "actions",
      ),
    );
    const cell = document.createElement("td");
    if (c && this.role === "admin") {
      const now = text("button", "Import now");
      now.addEventListener("click", () => void this.act(() => this.call("start_import", { retailerId: r.retailer_id }), "Import started."));
      const off = text("button", "Disconnect");
      off.addEventListener("click", () => void this.act(() => this.call("disconnect_shop", { retailerId: r.retailer_id }), "Disconnected."));
      cell.append(now, off);
    }
    tr.append(cell);
    return tr;
  }

  private troubledRow(a: ActionView): HTMLElement {
    const tr = document.createElement("tr");
    tr.dataset["key"] = a.key;
    tr.append(
      text("td", a.kind.replaceAll("_", " ")),
      text("td", a.amount ?? ""),
      text("td", a.return_id, "mono"),
      text("td", a.state, a.state === "failed" ? "bad" : ""),
      text("td", `${a.attempts}`),
      text("td", a.last_error ?? ""),
    );
    const cell = document.createElement("td");
    if (a.state === "failed") {
      const retry = text("button", "Retry");
      retry.className = "retry";
      retry.addEventListener("click", () => void this.act(
          () => this.call("retry_action", { key: a.key }),
          "Queued again: it is checked with the shop before anything is resent.",
        ));
      cell.append(retry);
    }
    tr.append(cell);
    return tr;
  }

  /// Runs a command that answers the shops screen as it is now, and shows it.
  private async act(run: () => Promise<ShopsView>, done: string): Promise<void> {
    try {
      this.show(await run(), false);
      this.status(done, true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  /// The policy form shows the chosen retailer's saved settings.
  private fillPolicy(): void {
    const p = this.policies.get(el<HTMLSelectElement>("policy-retailer").value);
    if (!p) return;
    el<HTMLSelectElement>("policy-credit-note").value = p.credit_note;
    el<HTMLSelectElement>("policy-exchange").value = p.exchange;
    el<HTMLInputElement>("policy-exchange-prefix").value = p.exchange_tag_prefix;
    el<HTMLInputElement>("policy-no-action-tag").value = p.no_action_tag ?? "";
    el<HTMLInputElement>("policy-notify").checked = p.notify_customer;
    this.prefixState();
  }

  private prefixState(): void {
    el<HTMLInputElement>("policy-exchange-prefix").disabled =
      el<HTMLSelectElement>("policy-exchange").value !== "release_hold";
  }

  private async savePolicy(): Promise<void> {
    const retailerId = el<HTMLSelectElement>("policy-retailer").value;
    const tag = el<HTMLInputElement>("policy-no-action-tag").value;
    const policy: ShopifyPolicy = {
      credit_note: el<HTMLSelectElement>("policy-credit-note").value as ShopifyPolicy["credit_note"],
      exchange: el<HTMLSelectElement>("policy-exchange").value as ShopifyPolicy["exchange"],
      exchange_tag_prefix: el<HTMLInputElement>("policy-exchange-prefix").value,
      no_action_tag: tag === "" ? null : tag,
      notify_customer: el<HTMLInputElement>("policy-notify").checked,
    };
    try {
      this.show(await this.call("save_shopify_policy", { retailerId, policy }), false);
      this.fillPolicy();
      this.status("Settings saved: queued and future actions of this retailer follow them.", true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async connect(): Promise<void> {
    const token = el<HTMLInputElement>("shop-token");
    this.status("Checking with Shopify…", true);
    try {
      const view = await this.call("connect_shop", {
        retailerId: el<HTMLSelectElement>("shop-retailer").value,
        shopDomain: el<HTMLInputElement>("shop-domain").value,
        accessToken: token.value,
        clientId: el<HTMLInputElement>("shop-client-id").value.trim() || null,
      });
      token.value = "";
      this.show(view, false);
      const r = view.retailers.find((x) => x.retailer_id === el<HTMLSelectElement>("shop-retailer").value);
      this.status(`Connected to ${r?.connection?.shop_name ?? "the shop"}; importing the last 30 days of orders.`, true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private status(message: string, ok: boolean): void {
    const s = el("shops-status");
    s.textContent = message;
    s.className = ok ? "" : "bad";
  }
}

function importText(i: ImportView): string {
  const total = i.estimated_total !== null ? ` / ~${i.estimated_total}` : "";
  const eta = i.eta_seconds !== null ? `, ${i.eta_seconds} s left` : "";
  const how = i.method ? ` (${i.method})` : "";
  switch (i.state) {
    case "running":
      return `importing${how}: ${i.done}${total} orders, ${i.rate}/s${eta}`;
    case "done":
      return `up to date: ${i.done} new, ${i.updated} updated, ${i.skipped} unchanged${i.last_import_at ? ` · ${i.last_import_at}` : ""}`;
    case "failed":
      return `stopped (resumes from its cursor): ${i.last_error ?? ""}`;
    default:
      return i.last_import_at ? `last import ${i.last_import_at}` : "waiting for the first import";
  }
}
