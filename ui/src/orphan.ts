// The orphan intake: a parcel whose connote the hub does not know. The operator finds its
// order (number, email, an item's SKU or EAN) and attaches the parcel to it, or finds it at
// Returns Prime and attaches it to the request, or parks it with a note and photos for the
// supervisor.

import type { PartnerReturnMatch } from "./bindings/PartnerReturnMatch";
import type { ScanResult } from "./bindings/ScanResult";
import { el, message, text, type Call } from "./util";
import { beep, showVerdict } from "./verdict";

export class OrphanIntake {
  private orphanConnote = "";
  private orphanPhotos: string[] = [];
  /// A Returns Prime request whose order is not imported: the next order picked is its order.
  private rpPick: PartnerReturnMatch | null = null;

  constructor(
    private readonly call: Call,
    /// Opens the return the parcel now belongs to, as if it had been scanned.
    private readonly showResult: (result: ScanResult) => void,
    /// Esc: back to the empty bench.
    private readonly leave: () => void,
    /// The photo button: the bench's photo picker, which hands the photo back to `addPhoto`.
    choosePhoto: () => void,
  ) {
    el<HTMLFormElement>("orphan-search").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.findOrders();
    });
    el<HTMLFormElement>("orphan-park").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.park();
    });
    el("orphan-note").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.ctrlKey) {
        e.preventDefault();
        void this.park();
      }
    });
    el("orphan-photo").addEventListener("click", choosePhoto);
    el("orphan-rp-find").addEventListener("click", () => void this.findAtReturnsPrime());
  }

  /// A stored photo of the parcel, for the supervisor.
  addPhoto(hash: string): void {
    this.orphanPhotos.push(hash);
    el("orphan-photos").textContent = `${this.orphanPhotos.length} photo(s) attached`;
  }

  open(connote: string): void {
    this.orphanConnote = connote;
    this.orphanPhotos = [];
    el("orphan-connote").textContent = connote;
    el("orphan-photos").textContent = "";
    el<HTMLInputElement>("orphan-query").value = "";
    el<HTMLTextAreaElement>("orphan-note").value = "";
    el("orphan-results").replaceChildren();
    this.rpPick = null;
    el("orphan-rp-pick").hidden = true;
    el("orphan-rp-results").replaceChildren();
    el<HTMLInputElement>("orphan-query").focus();
    void this.offerReturnsPrime();
  }

  /// The Returns Prime lookup is offered when some retailer is connected to Returns Prime.
  private async offerReturnsPrime(): Promise<void> {
    try {
      el("orphan-rp").hidden = !(await this.call("returns_prime_connected"));
    } catch {
      el("orphan-rp").hidden = true;
    }
  }

  get isOpen(): boolean {
    return !el("orphan-panel").hidden;
  }

  /// A scan while the orphan intake is open is an item of the parcel: search by it.
  async scan(code: string): Promise<void> {
    el<HTMLInputElement>("orphan-query").value = code;
    await this.findOrders();
  }

  private async findOrders(): Promise<void> {
    const query = el<HTMLInputElement>("orphan-query").value;
    const list = el<HTMLOListElement>("orphan-results");
    try {
      const orders = await this.call("find_orders", { query });
      if (orders.length === 0) {
        list.replaceChildren(text("li", "No order matches. Try the email, or park the parcel below.", "muted"));
        return;
      }
      list.replaceChildren(
        ...orders.map((o, i) => {
          const li = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          const pick = this.rpPick;
          button.textContent = pick
            ? `${i + 1}. Attach request ${pick.request_number} with order ${o.order_number}`
            : `${i + 1}. Attach to ${o.order_number}`;
          button.dataset["orderId"] = o.order_id;
          button.addEventListener("click", () =>
            void (pick ? this.linkReturnsPrime(pick, o.order_id) : this.link(o.order_id)),
          );
          li.append(
            button,
            text(
              "span",
              ` ${o.retailer} · ${o.customer_name} <${o.email}> · ${o.created_at.slice(0, 10)} · ${o.lines.map((l) => `${l.quantity}× ${l.title}`).join(", ")}${o.open_return ? " · has an open return" : ""}`,
            ),
          );
          return li;
        }),
      );
      list.querySelector("button")?.focus();
    } catch (e) {
      list.replaceChildren(text("li", message(e), "error"));
    }
  }

  private async link(orderId: string): Promise<void> {
    await this.attach(() => this.call("link_orphan", { connote: this.orphanConnote, orderId }));
  }

  /// Attaches the unknown parcel (to an order, or to a partner's request) and opens the
  /// return it now belongs to, as if it had been scanned.
  private async attach(link: () => Promise<ScanResult>): Promise<void> {
    try {
      const result = await link();
      this.rpPick = null;
      el("orphan-panel").hidden = true;
      this.showResult(result);
      beep("expected");
    } catch (e) {
      showVerdict("error", message(e));
      beep("refused");
    }
  }

  /// Looks the typed request number (or else the parcel's connote) up at Returns Prime.
  private async findAtReturnsPrime(): Promise<void> {
    const query = el<HTMLInputElement>("orphan-query").value.trim() || this.orphanConnote;
    const list = el<HTMLOListElement>("orphan-rp-results");
    const button = el<HTMLButtonElement>("orphan-rp-find");
    list.replaceChildren(text("li", `Asking Returns Prime for ${query}…`, "muted"));
    button.disabled = true;
    try {
      const found = await this.call("find_at_returns_prime", { query });
      const rows = found.matches.map((m) => this.returnsPrimeRow(m));
      if (found.matches.length === 0) {
        rows.push(text("li", `No Returns Prime request matches ${query}.`, "muted"));
      }
      rows.push(...found.problems.map((p) => text("li", p, "error")));
      list.replaceChildren(...rows);
      list.querySelector("button")?.focus();
    } catch (e) {
      list.replaceChildren(text("li", message(e), "error"));
    } finally {
      button.disabled = false;
    }
  }

  private returnsPrimeRow(m: PartnerReturnMatch): HTMLElement {
    const li = document.createElement("li");
    const state = [m.status || "no status", m.received ? "received at Returns Prime" : "", m.rejected ? "rejected" : ""]
      .filter((s) => s)
      .join(", ");
    const items = m.items
      .map((i) => `${i.quantity}× ${i.sku}${i.on_order === false ? " (not on the order)" : ""}`)
      .join(", ");
    const order = m.order
      ? `order ${m.order.order_number} (${m.order.customer_name})`
      : m.order_name
        ? `order ${m.order_name} not imported — pick it below`
        : "order not imported — pick it below";
    const here = m.hub_return ? ` · here as return ${m.hub_return} (${m.hub_return_status ?? ""})` : "";
    li.append(
      text("strong", `Request ${m.request_number}`),
      text("span", ` ${m.retailer_name} · ${state} · ${items} · ${order}${here} `),
    );
    if (m.linkable) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Attach to this request";
      button.dataset["requestId"] = m.request_id;
      button.addEventListener("click", () => void this.attachToRequest(m));
      li.append(button);
    } else {
      li.append(text("span", m.not_linkable ?? "It cannot be attached.", "error"));
    }
    return li;
  }

  /// Attaches the parcel to a request: with its own order when the hub has it (or the hub
  /// already holds the request's return), else the operator picks the order first.
  private async attachToRequest(m: PartnerReturnMatch): Promise<void> {
    if (m.order || m.hub_return) {
      await this.linkReturnsPrime(m, null);
      return;
    }
    this.rpPick = m;
    const hint = el("orphan-rp-pick");
    hint.textContent = `Request ${m.request_number} (${m.retailer_name}): find its order above by number, email or an item's SKU, then pick it to attach.`;
    hint.hidden = false;
    el("orphan-results").replaceChildren();
    el<HTMLInputElement>("orphan-query").value = "";
    el<HTMLInputElement>("orphan-query").focus();
  }

  private async linkReturnsPrime(m: PartnerReturnMatch, orderId: string | null): Promise<void> {
    await this.attach(() =>
      this.call("link_returns_prime", {
        connote: this.orphanConnote,
        retailerId: m.retailer_id,
        requestId: m.request_id,
        orderId,
      }),
    );
  }

  private async park(): Promise<void> {
    const note = el<HTMLTextAreaElement>("orphan-note").value;
    try {
      await this.call("park_orphan", { connote: this.orphanConnote, note, photos: this.orphanPhotos });
      el("orphan-panel").hidden = true;
      showVerdict("done", `${this.orphanConnote} parked for the supervisor. Ready for the next parcel.`);
      beep("done");
      el<HTMLInputElement>("scan-input").focus();
    } catch (e) {
      showVerdict("error", message(e));
      beep("refused");
    }
  }

  /// Digit keys pick an order from the results while they have the focus.
  key(key: string): boolean {
    const index = Number.parseInt(key, 10) - 1;
    const buttons = el("orphan-results").querySelectorAll("button");
    const button = buttons[index];
    if (button) {
      button.click();
      return true;
    }
    if (key === "Escape") {
      this.leave();
      return true;
    }
    return false;
  }
}
