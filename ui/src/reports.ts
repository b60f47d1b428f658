// Reports (F9, supervisors): what the hub did in a period — throughput, dock-to-stock,
// reasons, QC, grades, money, open exceptions, failed actions, what was sent, what is still
// awaited — as tables the hub computes
// from the local store (so they work offline), charted with Chart.js. Days are the station's
// local days. Enter in the form shows them (and hands the keys to the screen); each table's
// CSV button writes it to a file; P (or the button) writes the end-of-shift summary PDF; /
// goes back to the form. The hub refuses all of it to anyone below supervisor.

import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  Tooltip,
} from "chart.js";
import type { ReportFilter } from "./bindings/ReportFilter";
import type { ReportSet } from "./bindings/ReportSet";
import type { ReportTable } from "./bindings/ReportTable";
import { cellText, chartOf, filterOf, localDay } from "./reportview";
import { addOptions, el, message, text, type Call } from "./util";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, DoughnutController, ArcElement, Legend, Tooltip);
// The window's dark theme: light text, the tables' rule colour for the grid.
Chart.defaults.color = "#c8d3df";
Chart.defaults.borderColor = "#243242";

/// Series colours (bars), or slice colours (a doughnut), in order.
const PALETTE = ["#5aa0e6", "#e6a35a", "#6cc78a", "#d46a6a", "#b38ad9", "#c9c35a", "#5ac9c3", "#e68ab8"];

export class Reports {
  private charts: Chart[] = [];
  private filled = false;

  constructor(private readonly call: Call) {
    el<HTMLFormElement>("reports-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.run(true);
    });
    el("reports-pdf").addEventListener("click", () => void this.summaryPdf());
  }

  /// The screen is shown: today's figures, the first field takes the keys.
  open(): void {
    const from = el<HTMLInputElement>("reports-from");
    if (!this.filled) {
      // The reports open on the current shift's day, in the station's calendar.
      from.value = localDay(new Date());
      el<HTMLInputElement>("reports-to").value = localDay(new Date());
    }
    from.focus();
    void this.run(false);
  }

  private filter(): ReportFilter {
    return filterOf({
      from: el<HTMLInputElement>("reports-from").value,
      to: el<HTMLInputElement>("reports-to").value,
      retailer: el<HTMLSelectElement>("reports-retailer").value,
      operator: el<HTMLSelectElement>("reports-operator").value,
      station: el<HTMLSelectElement>("reports-station").value,
    });
  }

  /// Reads the reports again; `takeKeys`: the screen then takes the keys (P, /), as after a
  /// search, rather than the field the person is in.
  private async run(takeKeys: boolean): Promise<void> {
    const status = el("reports-status");
    status.textContent = "Counting…";
    try {
      const set = await this.call("reports", { filter: this.filter() });
      this.fill(set);
      el("reports-headline").textContent =
        `${set.period}: ${set.received} parcel(s) received, ${set.processed} return(s) processed, ` +
        `${set.items} item(s).`;
      this.paint(set.tables);
      status.textContent = "";
      if (takeKeys) el("reports-screen").focus({ preventScroll: true });
    } catch (e) {
      status.textContent = message(e);
    }
  }

  /// The retailer, person and station choices, once.
  private fill(set: ReportSet): void {
    if (this.filled) return;
    this.filled = true;
    addOptions("reports-retailer", set.retailers);
    addOptions("reports-operator", set.people);
    addOptions(
      "reports-station",
      set.stations.map((s): [string, string] => [s, s]),
    );
  }

  private paint(tables: ReportTable[]): void {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    el("reports-tables").replaceChildren(...tables.map((t) => this.section(t)));
  }

  private section(t: ReportTable): HTMLElement {
    const section = document.createElement("section");
    section.className = "report";
    section.dataset["report"] = t.name;
    const head = document.createElement("div");
    head.className = "row";
    const csv = text("button", "CSV");
    csv.setAttribute("type", "button");
    csv.dataset["export"] = t.name;
    csv.addEventListener("click", () => void this.exportCsv(t.name));
    head.append(text("h3", t.title), csv);
    section.append(head, text("p", t.about, "muted"));
    const data = chartOf(t);
    if (data) {
      const box = document.createElement("div");
      box.className = data.type === "doughnut" ? "chart chart-round" : "chart";
      const canvas = document.createElement("canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${t.title}: chart of the table below`);
      box.append(canvas);
      section.append(box);
      this.charts.push(
        new Chart(canvas, {
          type: data.type,
          data: {
            labels: data.labels,
            datasets: data.datasets.map((d, i) => ({
              ...d,
              backgroundColor:
                data.type === "doughnut"
                  ? data.labels.map((_, k) => PALETTE[k % PALETTE.length] ?? "#5aa0e6")
                  : (PALETTE[i % PALETTE.length] ?? "#5aa0e6"),
              borderWidth: data.type === "doughnut" ? 0 : 1,
            })),
          },
          options: {
            animation: false,
            responsive: true,
            maintainAspectRatio: false,
            indexAxis: data.horizontal ? "y" : "x",
            plugins: { legend: { display: data.datasets.length > 1 || data.type === "doughnut" } },
          },
        }),
      );
    }
    const table = document.createElement("table");
    const header = document.createElement("tr");
    header.append(...t.columns.filter((c) => c.kind !== "minor").map((c) => text("th", c.label)));
    table.createTHead().append(header);
    const body = table.createTBody();
    if (t.rows.length === 0) {
      const tr = document.createElement("tr");
      const td = text("td", "Nothing in this period.", "muted");
      td.setAttribute("colspan", String(t.columns.length));
      tr.append(td);
      body.append(tr);
    }
    for (const row of t.rows) {
      const tr = document.createElement("tr");
      t.columns.forEach((c, i) => {
        if (c.kind === "minor") return;
        const td = text("td", cellText(row[i] ?? null, c.kind));
        if (c.kind !== "text") td.className = "number";
        tr.append(td);
      });
      body.append(tr);
    }
    section.append(table);
    return section;
  }

  private async exportCsv(name: string): Promise<void> {
    const status = el("reports-status");
    try {
      const file = await this.call("export_report_csv", { filter: this.filter(), table: name });
      status.textContent = `Exported ${file.rows} row(s) to ${file.path}`;
    } catch (e) {
      status.textContent = message(e);
    }
  }

  private async summaryPdf(): Promise<void> {
    const status = el("reports-status");
    status.textContent = "Writing the summary…";
    try {
      const file = await this.call("shift_summary_pdf", { filter: this.filter() });
      status.textContent = `End-of-shift summary written to ${file.path}`;
    } catch (e) {
      status.textContent = message(e);
    }
  }

  /// Keys on the reports screen outside its fields. True if used.
  key(key: string): boolean {
    if (key.toLowerCase() === "p") {
      void this.summaryPdf();
      return true;
    }
    if (key === "/") {
      el<HTMLInputElement>("reports-from").focus();
      return true;
    }
    return false;
  }
}
