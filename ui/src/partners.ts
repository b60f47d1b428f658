// Partner connections on F5: each retailer's Loop, Increff (Clickpost's QC too) and Returns
// Prime connections. Admins connect one (the hub tests it with the partner before keeping the
// secret in the keyring), test it again, or disconnect it; supervisors see them. The core
// checks every role.

import type { ActionTarget } from "./bindings/ActionTarget";
import type { PartnerConnectionInput } from "./bindings/PartnerConnectionInput";
import type { PartnerConnectionView } from "./bindings/PartnerConnectionView";
import type { RouteView } from "./bindings/RouteView";
import type { SourceRoute } from "./bindings/SourceRoute";
import { el, message, text, type Call } from "./util";

const NAMES: Record<ActionTarget, string> = {
  shopify: "Shopify",
  loop: "Loop Returns",
  increff: "Increff / Clickpost",
  returns_prime: "Returns Prime",
};

export class Partners {
  private role: string | null = null;
  private shown = "";
  private routes: RouteView[] = [];

  constructor(private readonly call: Call) {
    el<HTMLFormElement>("partner-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.connect();
    });
    el<HTMLFormElement>("route-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const retailerId = el<HTMLSelectElement>("route-retailer").value;
      const route: SourceRoute = {
        source: el<HTMLInputElement>("route-source").value.trim(),
        target: el<HTMLSelectElement>("route-target").value as ActionTarget,
      };
      const others = this.routesOf(retailerId).filter((r) => r.source !== route.source);
      void this.saveRoutes(retailerId, [...others, route], `Returns from "${route.source}" now go to ${NAMES[route.target]}.`);
    });
  }

  private routesOf(retailerId: string): SourceRoute[] {
    return this.routes.filter((r) => r.retailer_id === retailerId).map((r) => ({ source: r.source, target: r.target }));
  }

  private showRoutes(routes: RouteView[]): void {
    this.routes = routes;
    const body = el<HTMLTableElement>("routes-table").tBodies[0];
    body?.replaceChildren(
      ...routes.map((r) => {
        const tr = document.createElement("tr");
        tr.dataset["retailer"] = r.retailer_id;
        tr.dataset["source"] = r.source;
        tr.append(text("td", r.retailer_name), text("td", r.source, "mono"), text("td", NAMES[r.target]), text("td", NAMES[r.default_target], "muted"));
        const cell = document.createElement("td");
        if (this.role === "admin") {
          const remove = text("button", "Remove");
          remove.addEventListener("click", () =>
            void this.saveRoutes(r.retailer_id, this.routesOf(r.retailer_id).filter((x) => x.source !== r.source), `Returns from "${r.source}" go to their default again.`),
          );
          cell.append(remove);
        }
        tr.append(cell);
        return tr;
      }),
    );
    if (routes.length === 0) body?.append(text("tr", "No bindings: every source goes to its default."));
  }

  private async saveRoutes(retailerId: string, routes: SourceRoute[], done: string): Promise<void> {
    try {
      this.showRoutes(await this.call("save_partner_routes", { retailerId, routes }));
      this.status(done, true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  /// The form's retailer list is filled by the shops view (the same retailers).
  async load(role: string | null): Promise<void> {
    this.role = role;
    this.shown = "";
    el("partners-status").textContent = "";
    el("partner-form").hidden = role !== "admin";
    el("route-form").hidden = role !== "admin";
    try {
      this.show(await this.call("partner_connections"));
      this.showRoutes(await this.call("partner_routes"));
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private show(views: PartnerConnectionView[]): void {
    const now = JSON.stringify([this.role, views]);
    if (now === this.shown) return;
    this.shown = now;
    const body = el<HTMLTableElement>("partners-table").tBodies[0];
    body?.replaceChildren(...views.map((v) => this.row(v)));
    if (views.length === 0) body?.append(text("tr", "No retailer is connected to a partner."));
  }

  private row(v: PartnerConnectionView): HTMLElement {
    const c = v.connection;
    const tr = document.createElement("tr");
    tr.dataset["retailer"] = v.retailer_id;
    tr.dataset["target"] = c.target;
    const settings = [
      c.username ? `user ${c.username}` : "",
      c.domain ? `domain ${c.domain}` : "",
      c.qc_path ? `QC path ${c.qc_path}` : "",
      v.has_secret ? "secret in this device's keyring" : "no secret on this device: nothing is sent from here",
    ].filter((x) => x !== "");
    tr.append(
      text("td", v.retailer_name),
      text("td", NAMES[c.target]),
      text("td", c.insecure ? `${c.base_url} (insecure: plain http)` : c.base_url, c.insecure ? "mono bad" : "mono"),
      text("td", settings.join(" · "), v.has_secret ? "" : "bad"),
      text("td", c.connected_at),
    );
    const cell = document.createElement("td");
    if (this.role === "admin") {
      const test = text("button", "Test");
      test.className = "test";
      test.addEventListener("click", () => void this.test(v.retailer_id, c.target));
      const off = text("button", "Disconnect");
      off.addEventListener("click", () => void this.disconnect(v.retailer_id, c.target));
      cell.append(test, off);
    }
    tr.append(cell);
    return tr;
  }

  private value(id: string): string | null {
    const v = el<HTMLInputElement>(id).value.trim();
    return v === "" ? null : v;
  }

  private async connect(): Promise<void> {
    const secret = el<HTMLInputElement>("partner-secret");
    const input: PartnerConnectionInput = {
      target: el<HTMLSelectElement>("partner-target").value as ActionTarget,
      base_url: el<HTMLInputElement>("partner-url").value,
      username: this.value("partner-username"),
      domain: this.value("partner-domain"),
      qc_path: this.value("partner-qc-path"),
      photo_url_base: null,
      secret: secret.value,
      insecure: el<HTMLInputElement>("partner-insecure").checked,
    };
    this.status(`Testing the connection with ${NAMES[input.target]}…`, true);
    try {
      const views = await this.call("connect_partner", {
        retailerId: el<HTMLSelectElement>("partner-retailer").value,
        input,
      });
      secret.value = "";
      el<HTMLInputElement>("partner-insecure").checked = false;
      this.show(views);
      this.status(`Connected to ${NAMES[input.target]}: its returns' actions go there now.`, true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async test(retailerId: string, target: ActionTarget): Promise<void> {
    try {
      this.status(await this.call("test_partner", { retailerId, target }), true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async disconnect(retailerId: string, target: ActionTarget): Promise<void> {
    try {
      this.show(await this.call("disconnect_partner", { retailerId, target }));
      this.status(`Disconnected from ${NAMES[target]}: its returns' actions wait until it is connected again.`, true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private status(message: string, ok: boolean): void {
    const s = el("partners-status");
    s.textContent = message;
    s.className = ok ? "" : "bad";
  }
}
