// The tracking webhooks on F5: every retailer's URLs with what was delivered and what waits,
// the alert when a URL has failed past its retry budget (the batches are kept and still
// retried), "Send now" for supervisors, and for admins adding, testing and removing URLs
// (passwords go to the keyring and are never shown again). The core checks every role.

import type { ReceiptNotice } from "./bindings/ReceiptNotice";
import type { TrackingWebhookInput } from "./bindings/TrackingWebhookInput";
import type { TrackingWebhookView } from "./bindings/TrackingWebhookView";
import { el, message, text, type Call } from "./util";

export class Webhooks {
  private role: string | null = null;
  private views: TrackingWebhookView[] = [];
  /// What the table shows now: re-rendered only when this changes (no button replaced under
  /// the pointer by the live refresh).
  private shown = "";

  constructor(private readonly call: Call) {
    el<HTMLFormElement>("webhook-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.add();
    });
    el<HTMLFormElement>("receipt-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.saveReceipt();
    });
    el<HTMLSelectElement>("receipt-retailer").addEventListener("change", () => this.fillReceipt());
  }

  /// The form's retailer list is filled by the shops view (the same retailers).
  async load(role: string | null): Promise<void> {
    this.role = role;
    this.shown = "";
    el("webhooks-status").textContent = "";
    el("webhook-form").hidden = role !== "admin";
    el("receipt-form").hidden = role !== "admin";
    await this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      this.show(await this.call("tracking_webhooks"));
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private show(views: TrackingWebhookView[]): void {
    this.views = views;
    const alerted = views.filter((v) => v.alerted > 0);
    const alert = el("webhook-alert");
    alert.hidden = alerted.length === 0;
    alert.textContent = alerted
      .map(
        (v) =>
          `Tracking webhook alert: ${v.alerted} batch(es) for ${v.retailer_name} to ${v.url} still undelivered after the retry budget (kept, still retried). Last error: ${v.last_error ?? "none"}`,
      )
      .join("\n");
    const now = JSON.stringify([this.role, views]);
    if (now === this.shown) return;
    this.shown = now;
    this.fillReceipt();
    const body = el<HTMLTableElement>("webhooks-table").tBodies[0];
    body?.replaceChildren(...views.map((v) => this.row(v)));
    if (views.length === 0) body?.append(text("tr", "No tracking webhook URL is set for any retailer."));
  }

  private row(v: TrackingWebhookView): HTMLElement {
    const tr = document.createElement("tr");
    tr.dataset["url"] = v.url;
    tr.append(
      text("td", `${v.retailer_name}${v.receipt_notice === "first_scan" ? " (RC at the first scan)" : ""}`),
      text(
        "td",
        `${v.url}${v.insecure ? " (insecure: plain http)" : ""}${v.removed ? " (removed; delivering what was queued)" : ""}`,
        v.insecure ? "mono bad" : "mono",
      ),
      text("td", v.username ? `${v.username}${v.has_password ? " · password set" : ""}` : "—"),
      text("td", `${v.delivered}`),
      text("td", v.alerted > 0 ? `${v.pending} (${v.alerted} alerted)` : `${v.pending}`, v.alerted > 0 ? "bad" : ""),
      text("td", v.last_error ?? ""),
    );
    const cell = document.createElement("td");
    if (v.pending > 0 && (this.role === "supervisor" || this.role === "admin")) {
      const now = text("button", "Send now");
      now.className = "send-now";
      now.addEventListener("click", () => void this.sendNow(v));
      cell.append(now);
    }
    if (this.role === "admin" && !v.removed) {
      const test = text("button", "Test");
      test.className = "test";
      test.addEventListener("click", () => void this.test(v));
      const remove = text("button", "Remove");
      remove.addEventListener("click", () => void this.save(v.retailer_id, this.inputsOf(v.retailer_id).filter((h) => h.url !== v.url), "Removed."));
      cell.append(test, remove);
    }
    tr.append(cell);
    return tr;
  }

  /// The retailer's URLs as they are (stored passwords kept).
  private inputsOf(retailerId: string): TrackingWebhookInput[] {
    return this.views
      .filter((v) => v.retailer_id === retailerId && !v.removed)
      .map((v) => ({ url: v.url, username: v.username, password: null, clear_password: false, insecure: v.insecure }));
  }

  private async add(): Promise<void> {
    const retailerId = el<HTMLSelectElement>("webhook-retailer").value;
    const password = el<HTMLInputElement>("webhook-password");
    const username = el<HTMLInputElement>("webhook-username").value.trim();
    const hook: TrackingWebhookInput = {
      url: el<HTMLInputElement>("webhook-url").value.trim(),
      username: username === "" ? null : username,
      password: password.value === "" ? null : password.value,
      clear_password: false,
      insecure: el<HTMLInputElement>("webhook-insecure").checked,
    };
    if (await this.save(retailerId, [...this.inputsOf(retailerId), hook], "Saved: new tracking events go to this URL too.")) {
      password.value = "";
      el<HTMLInputElement>("webhook-url").value = "";
      el<HTMLInputElement>("webhook-insecure").checked = false;
    }
  }

  private async save(retailerId: string, hooks: TrackingWebhookInput[], done: string): Promise<boolean> {
    try {
      this.show(await this.call("save_tracking_webhooks", { retailerId, hooks }));
      this.status(done, true);
      return true;
    } catch (e) {
      this.status(message(e), false);
      return false;
    }
  }

  /// The receipt form shows the chosen retailer's setting (as its URLs' rows carry it).
  private fillReceipt(): void {
    const retailerId = el<HTMLSelectElement>("receipt-retailer").value;
    const known = this.views.find((v) => v.retailer_id === retailerId);
    if (known) el<HTMLSelectElement>("receipt-notice").value = known.receipt_notice;
  }

  private async saveReceipt(): Promise<void> {
    const retailerId = el<HTMLSelectElement>("receipt-retailer").value;
    const notice = el<HTMLSelectElement>("receipt-notice").value as ReceiptNotice;
    try {
      this.show(await this.call("save_receipt_notice", { retailerId, notice }));
      this.status(
        notice === "first_scan"
          ? "Saved: RC goes at the carrier's first scan when it comes before the hub's receipt."
          : "Saved: RC goes when the hub scans the parcel in.",
        true,
      );
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async test(v: TrackingWebhookView): Promise<void> {
    this.status(`Posting an empty array to ${v.url}…`, true);
    try {
      this.status(await this.call("test_tracking_webhook", { retailerId: v.retailer_id, url: v.url }), true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async sendNow(v: TrackingWebhookView): Promise<void> {
    try {
      this.show(await this.call("retry_tracking_webhooks", { retailerId: v.retailer_id, url: v.url }));
      this.status(`Sending the waiting batches to ${v.url} now.`, true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private status(message: string, ok: boolean): void {
    const s = el("webhooks-status");
    s.textContent = message;
    s.className = ok ? "" : "bad";
  }
}
