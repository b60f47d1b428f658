// The station screen (F4): the wedge timing, the serial scanner and the label printer of this
// station, the devices plugged in now, the print queue, and the serial scanner's last scan (to
// test it). Everyone sees it; only an admin can save (the hub refuses anyone else).

import type { PrinterSettings } from "./bindings/PrinterSettings";
import type { StationConfig } from "./bindings/StationConfig";
import type { StationView } from "./bindings/StationView";
import type { WedgeSettings } from "./bindings/WedgeSettings";
import { el, message, text, type Call } from "./util";

export class Settings {
  private config: StationConfig | null = null;

  constructor(
    private readonly call: Call,
    private readonly applied: (config: StationConfig) => void,
  ) {
    el<HTMLFormElement>("station-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
  }

  async load(): Promise<void> {
    try {
      this.show(await this.call("station_view"));
    } catch (e) {
      this.status(message(e), false);
    }
  }

  /// Refreshes the live parts (last serial scan, queue) while the screen is open.
  async refresh(): Promise<void> {
    const view = await this.call("station_view");
    el("last-serial-scan").textContent = view.last_serial_scan ?? "—";
    el("station-printer").textContent = `${view.printer.printer} · ${view.printer.waiting} waiting${view.printer.last_error ? ` · ${view.printer.last_error}` : ""}`;
  }

  private show(view: StationView): void {
    const c = view.config;
    this.config = c;
    this.applied(c);
    el("station-name").textContent = c.station;
    el<HTMLInputElement>("wedge-gap").value = String(c.wedge.max_gap_ms);
    el<HTMLInputElement>("wedge-min").value = String(c.wedge.min_length);
    el<HTMLSelectElement>("wedge-suffix").value = c.wedge.suffix;
    const s = c.serial_scanner;
    el<HTMLInputElement>("serial-path").value = s?.path ?? "";
    el<HTMLInputElement>("serial-baud").value = String(s?.baud ?? 9600);
    el<HTMLSelectElement>("serial-parity").value = s?.parity ?? "none";
    el<HTMLInputElement>("serial-suffix").value = s?.suffix ?? "\\r";
    el<HTMLInputElement>("serial-prefix").value = s?.prefix ?? "";
    const hid = c.hid_pos_scanner;
    el<HTMLInputElement>("hid-usb").value = hid ? `${hex4(hid.vid)}:${hex4(hid.pid)}` : "";
    const p = c.printer;
    el<HTMLSelectElement>("printer-kind").value = p.kind;
    el<HTMLInputElement>("printer-target").value =
      p.kind === "tcp" ? p.addr : p.kind === "serial" ? p.path : p.kind === "cups" ? p.queue : p.kind === "pdf_folder" ? p.dir : p.kind === "usb" ? `${hex4(p.vid)}:${hex4(p.pid)}` : "";
    el<HTMLInputElement>("printer-baud").value = String(p.kind === "serial" ? p.baud : 9600);
    el<HTMLInputElement>("printer-raw").checked = p.kind === "cups" && p.raw;
    el("last-serial-scan").textContent = view.last_serial_scan ?? "—";
    el("station-printer").textContent = `${view.printer.printer} · ${view.printer.waiting} waiting${view.printer.last_error ? ` · ${view.printer.last_error}` : ""}`;
    el<HTMLTableElement>("device-table").tBodies[0]?.replaceChildren(
      ...view.devices.map((d) => {
        const tr = document.createElement("tr");
        const id = d.vendor_id !== null && d.product_id !== null ? `${d.vendor_id.toString(16).padStart(4, "0")}:${d.product_id.toString(16).padStart(4, "0")}` : "";
        tr.append(
          text("td", d.path ?? d.usb_location ?? ""),
          text("td", d.kind.replaceAll("_", " ")),
          text("td", [d.manufacturer, d.product, id, d.note].filter(Boolean).join(" · ")),
        );
        return tr;
      }),
    );
    if (view.devices.length === 0) {
      el<HTMLTableElement>("device-table").tBodies[0]?.append(text("tr", "No serial or USB devices found."));
    }
  }

  private read(): StationConfig | string {
    if (!this.config) return "The settings are not loaded yet.";
    const number = (id: string): number => Number.parseInt(el<HTMLInputElement>(id).value, 10);
    const wedge: WedgeSettings = {
      max_gap_ms: number("wedge-gap"),
      min_length: number("wedge-min"),
      suffix: el<HTMLSelectElement>("wedge-suffix").value as WedgeSettings["suffix"],
    };
    const path = el<HTMLInputElement>("serial-path").value.trim();
    const target = el<HTMLInputElement>("printer-target").value.trim();
    const kind = el<HTMLSelectElement>("printer-kind").value as PrinterSettings["kind"];
    const hidText = el<HTMLInputElement>("hid-usb").value.trim();
    const hid = hidText ? usbId(hidText) : null;
    if (hidText && !hid) return "A HID POS scanner is vid:pid in hex, e.g. 05e0:1200.";
    let printer: PrinterSettings;
    switch (kind) {
      case "none":
        printer = { kind };
        break;
      case "tcp":
        printer = { kind, addr: target };
        break;
      case "serial":
        printer = { kind, path: target, baud: number("printer-baud") };
        break;
      case "cups":
        printer = { kind, queue: target, raw: el<HTMLInputElement>("printer-raw").checked };
        break;
      case "pdf_folder":
        printer = { kind, dir: target };
        break;
      case "usb": {
        const id = usbId(target);
        if (!id) return "A USB printer is vid:pid in hex, e.g. 0a5f:0164.";
        printer = { kind, ...id };
        break;
      }
    }
    return {
      station: this.config.station,
      wedge,
      serial_scanner: path
        ? {
            path,
            baud: number("serial-baud"),
            parity: el<HTMLSelectElement>("serial-parity").value,
            suffix: el<HTMLInputElement>("serial-suffix").value,
            prefix: el<HTMLInputElement>("serial-prefix").value,
          }
        : null,
      hid_pos_scanner: hid,
      printer,
    };
  }

  async save(): Promise<void> {
    const config = this.read();
    if (typeof config === "string") {
      this.status(config, false);
      return;
    }
    try {
      this.show(await this.call("save_station", { config }));
      this.status("Saved.", true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private status(message: string, ok: boolean): void {
    const node = el("station-status");
    node.textContent = message;
    node.className = ok ? "ok" : "bad";
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}

/// "05e0:1200" → ids; null unless both halves are 1–4 hex digits.
function usbId(text: string): { vid: number; pid: number } | null {
  const m = /^([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4})$/.exec(text.trim());
  if (!m || m[1] === undefined || m[2] === undefined) return null;
  return { vid: Number.parseInt(m[1], 16), pid: Number.parseInt(m[2], 16) };
}
