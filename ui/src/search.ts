// Find a return (F8, supervisors): one box for a connote, an order number, an email, a SKU or
// an EAN (type it or scan it: a scan on this screen goes into the box and searches), narrowed
// by retailer, status, days and person. Enter searches; ↑/↓ pick a return, Enter shows its
// timeline, O opens it on the bench, C cancels it with a reason (one not yet at the hub), H
// hands it to another hub (a parcel sent on: the central store decides and both hubs hear by
// sync), E writes every return found to a CSV file,
// PgDn/PgUp turn the page, / goes back to the box. The hub refuses all of it to anyone below
// supervisor.

import type { ReturnHitView } from "./bindings/ReturnHitView";
import type { ReturnSearch } from "./bindings/ReturnSearch";
import type { ReturnStatus } from "./bindings/ReturnStatus";
import type { SearchPage } from "./bindings/SearchPage";
import type { TimelineEntry } from "./bindings/TimelineEntry";
import { addOptions, el, message, movedSelection, text, type Call } from "./util";

const STATUSES: ReturnStatus[] = ["expected", "in_transit", "received", "processed", "closed", "cancelled"];

/// "2026-11-23T19:25:00.000Z" as "2026-11-23 19:25".
export function shortTime(at: string): string {
  return at.slice(0, 16).replace("T", " ");
}

const KIND: Record<string, string> = {
  event: "",
  tracking_in: "carrier",
  tracking_out: "notice",
  action: "action",
};

/// One line of a timeline: when, who and where (device and HLC stamp for an event), what.
export function timelineLine(e: TimelineEntry): string {
  const where = [e.station ? `@ ${e.station}` : "", e.device ? `[${e.device} ${e.hlc ?? ""}]` : ""]
    .filter(Boolean)
    .join(" ");
  const kind = KIND[e.kind] ? `${KIND[e.kind]} · ` : "";
  return `${shortTime(e.at)} · ${kind}${e.who}${where ? ` ${where}` : ""} · ${e.what}`;
}

/// The search as the form says it.
export function searchOf(form: {
  key: string;
  retailer: string;
  status: string;
  from: string;
  to: string;
  operator: string;
  oldest: boolean;
}, page: number): ReturnSearch {
  const or = (v: string): string | null => (v.trim() ? v.trim() : null);
  return {
    key: form.key.trim(),
    retailer_id: or(form.retailer),
    status: (STATUSES as string[]).includes(form.status) ? (form.status as ReturnStatus) : null,
    from: or(form.from),
    to: or(form.to),
    operator: or(form.operator),
    oldest_first: form.oldest,
    page,
  };
}

/// What the status line says of a page.
export function pageSummary(page: SearchPage): string {
  if (page.total === 0) return "Nothing found.";
  const first = page.page * page.page_size + 1;
  const last = first + page.hits.length - 1;
  return `${first}–${last} of ${page.at_least ? "more than " : ""}${page.total} return(s)`;
}

export class Search {
  private hits: ReturnHitView[] = [];
  private selected = 0;
  private page = 0;
  private total = 0;
  private filled = false;
  /// The return the open cancel box is for (fixed when it opens).
  private cancelling: string | null = null;
  /// The return the open hand-over box is for, and whether its request is on its way.
  private handingOver: string | null = null;
  private handOverSent = false;
  private pageSize = 50;

  constructor(
    private readonly call: Call,
    private readonly openReturn: (returnId: string) => void,
  ) {
    el<HTMLFormElement>("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.page = 0;
      void this.run();
    });
    el("cancel-reason").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        void this.cancel();
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.closeCancel();
      }
    });
    for (const id of ["handover-reason", "handover-hub"]) {
      el(id).addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          void this.handOver();
        } else if (e.key === "Escape") {
          e.preventDefault();
          this.closeHandOver();
        }
      });
    }
  }

  /// Whether a box (cancel, hand over) has the keys.
  private boxOpen(): boolean {
    return this.cancelling !== null || this.handingOver !== null;
  }

  /// Asks the central store where the return may go, then opens the box to choose and say why.
  private async openHandOver(returnId: string): Promise<void> {
    const summary = el("search-summary");
    summary.textContent = "Asking the central store which hubs take this return…";
    try {
      const hubs = await this.call("hand_over_targets", { returnId });
      if (!hubs.length) {
        summary.textContent =
          "No other hub takes this retailer's returns: the central store lists them (returnhub-central retailer-hubs).";
        return;
      }
      summary.textContent = "";
      el<HTMLSelectElement>("handover-hub").replaceChildren(
        ...hubs.map((h) => {
          const option = document.createElement("option");
          option.value = h.hub_id;
          option.textContent = h.name ? `${h.hub_id} · ${h.name}` : h.hub_id;
          return option;
        }),
      );
      this.handingOver = returnId;
      el("handover-dialog").hidden = false;
      const input = el<HTMLInputElement>("handover-reason");
      input.value = "";
      input.focus();
    } catch (e) {
      summary.textContent = message(e);
    }
  }

  private closeHandOver(): void {
    this.handingOver = null;
    el("handover-dialog").hidden = true;
    el("search-screen").focus();
  }

  /// Hands the return to the hub chosen, with the reason typed; the list is read again. A
  /// second Enter while the first is on its way sends nothing.
  private async handOver(): Promise<void> {
    const returnId = this.handingOver;
    if (!returnId || this.handOverSent) return;
    const toHub = el<HTMLSelectElement>("handover-hub").value;
    const reason = el<HTMLInputElement>("handover-reason").value;
    el("search-summary").textContent = `Handing ${returnId} to hub ${toHub}…`;
    this.handOverSent = true;
    try {
      const done = await this.call("hand_over_return", { returnId, toHub, reason });
      this.closeHandOver();
      await this.run();
      el("search-summary").textContent = `${returnId}: ${done.message}`;
    } catch (e) {
      el("search-summary").textContent = message(e);
    } finally {
      this.handOverSent = false;
    }
  }

  private closeCancel(): void {
    this.cancelling = null;
    el("cancel-dialog").hidden = true;
    el("search-screen").focus();
  }

  /// Cancels the return the box was opened for, with the reason typed; the list is read again.
  private async cancel(): Promise<void> {
    const returnId = this.cancelling;
    const reason = el<HTMLInputElement>("cancel-reason").value;
    if (!returnId) return;
    try {
      const done = await this.call("cancel_return", { returnId, reason });
      this.closeCancel();
      await this.run();
      el("search-summary").textContent = `${returnId}: ${done.message}`;
    } catch (e) {
      el("search-summary").textContent = message(e);
    }
  }

  /// Every return the form finds, to a CSV file; the summary says where.
  private async exportCsv(): Promise<void> {
    const summary = el("search-summary");
    summary.textContent = "Exporting…";
    try {
      const file = await this.call("export_returns_csv", { search: { ...this.form(), page: 0 } });
      summary.textContent = `Exported ${file.rows} return(s) to ${file.path}`;
    } catch (e) {
      summary.textContent = message(e);
    }
  }

  /// The screen is shown: the box takes the keys.
  open(): void {
    el<HTMLInputElement>("search-key").focus();
    if (!this.filled) void this.run();
  }

  /// A code scanned on this screen: it is the key (not while a box is open).
  scanned(code: string): void {
    if (this.boxOpen()) return;
    el<HTMLInputElement>("search-key").value = code;
    this.page = 0;
    void this.run();
  }

  private form(): ReturnSearch {
    return searchOf(
      {
        key: el<HTMLInputElement>("search-key").value,
        retailer: el<HTMLSelectElement>("search-retailer").value,
        status: el<HTMLSelectElement>("search-status").value,
        from: el<HTMLInputElement>("search-from").value,
        to: el<HTMLInputElement>("search-to").value,
        operator: el<HTMLSelectElement>("search-operator").value,
        oldest: el<HTMLInputElement>("search-oldest").checked,
      },
      this.page,
    );
  }

  private async run(): Promise<void> {
    const status = el("search-summary");
    try {
      const page = await this.call("search_returns", { search: this.form() });
      this.fill(page);
      this.hits = page.hits;
      this.total = page.total;
      this.pageSize = page.page_size;
      this.selected = 0;
      status.textContent = pageSummary(page);
      this.paint();
      el("search-timeline").hidden = true;
      // With results, the keys move through them; with none, they stay in the box.
      if (this.hits.length) el("search-screen").focus();
    } catch (e) {
      status.textContent = message(e);
    }
  }

  /// The retailer and person choices, once.
  private fill(page: SearchPage): void {
    if (this.filled) return;
    this.filled = true;
    addOptions("search-retailer", page.retailers);
    addOptions("search-operator", page.people);
  }

  private paint(): void {
    el<HTMLTableElement>("search-table").tBodies[0]?.replaceChildren(
      ...this.hits.map((h, i) => {
        const tr = document.createElement("tr");
        tr.dataset["returnId"] = h.return_id;
        tr.dataset["status"] = h.status;
        if (i === this.selected) tr.className = "selected";
        tr.append(
          text("td", [h.return_id, h.connote].filter(Boolean).join(" / ")),
          text("td", h.order_number),
          text("td", `${h.customer_name} <${h.email}>`),
          text("td", h.retailer),
          text("td", h.handed_to ? `${h.status.replace("_", " ")} · hub ${h.handed_to}'s` : h.status.replace("_", " ")),
          text("td", String(h.items)),
          text("td", shortTime(h.updated_at)),
        );
        tr.addEventListener("click", () => {
          if (this.boxOpen()) return;
          this.selected = i;
          this.paint();
          void this.timeline();
        });
        return tr;
      }),
    );
  }

  /// The selected return's timeline: its events, carrier events, notices and actions in time
  /// order.
  private async timeline(): Promise<void> {
    const hit = this.hits[this.selected];
    if (!hit) return;
    const section = el("search-timeline");
    try {
      const trail = await this.call("return_timeline", { returnId: hit.return_id });
      el("timeline-title").textContent = `${hit.return_id} · ${hit.order_number} · ${hit.status.replace("_", " ")}`;
      el("timeline-list").replaceChildren(
        ...trail.map((e) => {
          const li = text("li", timelineLine(e));
          li.dataset["kind"] = e.kind;
          if (e.photos.length) li.append(this.thumbnails(e.photos));
          return li;
        }),
      );
      section.hidden = false;
    } catch (e) {
      el("search-summary").textContent = message(e);
    }
  }

  /// An event's photos, small, each loaded from the hub's photo store as it comes.
  private thumbnails(hashes: string[]): HTMLElement {
    const box = document.createElement("span");
    box.className = "thumbs";
    for (const hash of hashes) {
      const img = document.createElement("img");
      img.alt = `photo ${hash.slice(0, 12)}`;
      img.title = hash;
      box.append(img);
      this.call("photo_data_url", { hash }).then(
        (url) => {
          img.src = url;
        },
        (e: unknown) => {
          img.alt = `photo ${hash.slice(0, 12)}: ${message(e)}`;
        },
      );
    }
    return box;
  }

  /// Keys on the search screen outside its fields. True if used.
  key(key: string): boolean {
    if (this.boxOpen()) return false;
    const moved = movedSelection(key, this.selected, this.hits.length);
    if (moved !== null) {
      this.selected = moved;
      this.paint();
      return true;
    }
    switch (key) {
      case "Enter":
        void this.timeline();
        return true;
      case "PageDown":
        if ((this.page + 1) * this.pageSize < this.total) {
          this.page += 1;
          void this.run();
        }
        return true;
      case "PageUp":
        if (this.page > 0) {
          this.page -= 1;
          void this.run();
        }
        return true;
      case "/":
        el<HTMLInputElement>("search-key").focus();
        return true;
    }
    const selected = this.hits[this.selected];
    if (key.toLowerCase() === "c" && selected) {
      this.cancelling = selected.return_id;
      el("cancel-dialog").hidden = false;
      const input = el<HTMLInputElement>("cancel-reason");
      input.value = "";
      input.focus();
      return true;
    }
    if (key.toLowerCase() === "h" && selected) {
      void this.openHandOver(selected.return_id);
      return true;
    }
    if (key.toLowerCase() === "e") {
      void this.exportCsv();
      return true;
    }
    if (key.toLowerCase() === "o") {
      const id = this.hits[this.selected]?.return_id;
      if (id) this.openReturn(id);
      return true;
    }
    return false;
  }
}
