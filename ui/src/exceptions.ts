// The supervisor's exception queue (F3): unknown parcels, mismatches, QC holds and duplicate
// processing attempts. ↑/↓ pick one, Enter opens its return on the bench (where V, X, R, T
// override, close, reprint and show the trail), R resolves it with a note. The hub refuses
// all of it to anyone below supervisor.

import type { ExceptionView } from "./bindings/ExceptionView";
import type { HeldEventView } from "./bindings/HeldEventView";
import { el, message, movedSelection, text, type Call } from "./util";

const KIND_LABEL: Record<ExceptionView["kind"], string> = {
  unknown_parcel: "Unknown parcel",
  mismatch: "Missing / extra items",
  qc_hold: "QC hold",
  duplicate_processing: "Duplicate processing",
};

const HELD_LABEL: Record<string, string> = {
  needs_update: "needs an update",
  unapplied: "waits for one that needs an update",
  malformed: "malformed",
  refused: "refused by the central store",
};

export class Exceptions {
  private rows: ExceptionView[] = [];
  private selected = 0;
  private resolving = false;

  constructor(
    private readonly call: Call,
    private readonly openReturn: (returnId: string) => void,
  ) {
    el<HTMLInputElement>("exceptions-resolved").addEventListener("change", () => void this.load());
    el("held-resend").addEventListener("click", () => void this.resendRefused());
    el("resolve-note").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        void this.resolve();
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.closeResolve();
      }
    });
  }

  async load(): Promise<void> {
    const status = el("exceptions-status");
    try {
      this.rows = await this.call("list_exceptions", {
        includeResolved: el<HTMLInputElement>("exceptions-resolved").checked,
      });
      status.textContent = `${this.rows.filter((r) => r.open).length} open`;
      this.selected = Math.min(this.selected, Math.max(this.rows.length - 1, 0));
      this.paint();
      el("exceptions-screen").focus();
    } catch (e) {
      status.textContent = message(e);
    }
    await this.loadHeld();
  }

  /// Events held back: other stations' that this one cannot apply yet (a newer Returnhub's,
  /// applied by its first sync after its update, and those waiting for them), malformed ones,
  /// and this station's own that the central store refused.
  private async loadHeld(): Promise<void> {
    let held: HeldEventView[];
    try {
      held = await this.call("held_events");
    } catch (e) {
      el("held-summary").textContent = message(e);
      el("held-events").hidden = false;
      return;
    }
    el("held-events").hidden = held.length === 0;
    const malformed = held.filter((h) => h.state === "malformed").length;
    const refused = held.filter((h) => h.state === "refused").length;
    el("held-resend-row").hidden = refused === 0;
    const waiting = held.length - malformed - refused;
    el("held-summary").textContent = [
      waiting ? `${waiting} event(s) from a newer Returnhub: this station needs an update; they are applied by its first sync after it.` : "",
      malformed ? `${malformed} malformed event(s), kept and never applied: tell whoever supports Returnhub.` : "",
      refused ? `${refused} of this station's event(s) refused by the central store: this hub may not do that; tell whoever runs the central store if it should.` : "",
    ].filter(Boolean).join(" ");
    el<HTMLTableElement>("held-table").tBodies[0]?.replaceChildren(
      ...held.map((h) => {
        const tr = document.createElement("tr");
        tr.dataset["state"] = h.state;
        tr.append(
          text("td", `${h.kind} v${h.version}`),
          text("td", [h.device_id, h.station].filter(Boolean).join(" / ")),
          text("td", h.recorded_at.slice(0, 16).replace("T", " ")),
          text("td", `${HELD_LABEL[h.state] ?? h.state}: ${h.reason}`),
        );
        return tr;
      }),
    );
  }

  /// Asks the sync worker to send this station's refused events again at once; the list is
  /// read again when its round has had time to answer.
  private async resendRefused(): Promise<void> {
    const status = el("held-resend-status");
    try {
      await this.call("resend_refused_events");
      status.textContent = "Sending them again with this sync round…";
      window.setTimeout(() => void this.loadHeld(), 3000);
    } catch (e) {
      status.textContent = message(e);
    }
  }

  private paint(): void {
    el<HTMLTableElement>("exceptions-table").tBodies[0]?.replaceChildren(
      ...this.rows.map((x, i) => {
        const tr = document.createElement("tr");
        tr.dataset["kind"] = x.kind;
        tr.dataset["returnId"] = x.return_id ?? "";
        if (i === this.selected) tr.className = "selected";
        tr.append(
          text("td", KIND_LABEL[x.kind]),
          text("td", [x.return_id, x.connote].filter(Boolean).join(" / ")),
          text("td", x.note + (x.photos.length ? ` (${x.photos.length} photo(s))` : "")),
          text("td", `${x.raised_at.slice(0, 16).replace("T", " ")} by ${x.raised_by}`),
          text("td", x.open ? "open" : `resolved: ${x.resolution ?? ""}`),
        );
        return tr;
      }),
    );
  }

  /// Keys on the exceptions screen. True if used.
  key(key: string): boolean {
    if (this.resolving) return false;
    const moved = movedSelection(key, this.selected, this.rows.length);
    if (moved !== null) {
      this.selected = moved;
      this.paint();
      return true;
    }
    switch (key) {
      case "Enter": {
        const id = this.rows[this.selected]?.return_id;
        if (id) this.openReturn(id);
        return true;
      }
    }
    switch (key.toLowerCase()) {
      case "r":
        if (this.rows[this.selected]?.open) {
          this.resolving = true;
          el("resolve-dialog").hidden = false;
          const input = el<HTMLInputElement>("resolve-note");
          input.value = "";
          input.focus();
        }
        return true;
      case "i": {
        const box = el<HTMLInputElement>("exceptions-resolved");
        box.checked = !box.checked;
        void this.load();
        return true;
      }
    }
    return false;
  }

  private closeResolve(): void {
    this.resolving = false;
    el("resolve-dialog").hidden = true;
    el("exceptions-screen").focus();
  }

  private async resolve(): Promise<void> {
    const row = this.rows[this.selected];
    if (!row) return;
    try {
      await this.call("resolve_exception", {
        id: row.id,
        resolution: el<HTMLInputElement>("resolve-note").value,
      });
      this.closeResolve();
      await this.load();
    } catch (e) {
      el("exceptions-status").textContent = message(e);
    }
  }
}
