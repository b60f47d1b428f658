// What the reports screen shows of a table, without the page: cells as text, the filter as
// the hub wants it, and a table's chart as Chart.js data. Pure, so node tests it.

import type { Cell } from "./bindings/Cell";
import type { ColumnKind } from "./bindings/ColumnKind";
import type { ReportFilter } from "./bindings/ReportFilter";
import type { ReportTable } from "./bindings/ReportTable";

/// A duration as a person reads it (the same words as the printed summary).
export function humanMillis(ms: number): string {
  const v = Math.max(0, Math.trunc(ms));
  if (v < 1_000) return `${v} ms`;
  if (v < 60_000) return `${Math.trunc(v / 1_000)} s`;
  if (v < 3_600_000) return `${Math.trunc(v / 60_000)} min`;
  if (v < 86_400_000) return `${Math.trunc(v / 3_600_000)}.${Math.trunc((v % 3_600_000) / 360_000)} h`;
  return `${Math.trunc(v / 86_400_000)}.${Math.trunc((v % 86_400_000) / 8_640_000)} d`;
}

/// A cell as the table on screen shows it.
export function cellText(cell: Cell, kind: ColumnKind): string {
  if (cell === null) return "";
  if (typeof cell === "number") return kind === "millis" ? humanMillis(cell) : String(cell);
  return cell;
}

/// The station's offset from UTC (minutes east) at local midnight starting `day`
/// (YYYY-MM-DD) plus `days`; today's when `day` is not a day.
export function offsetAt(day: string | null, days = 0): number {
  const m = day ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(day) : null;
  const at = m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days) : new Date();
  return -at.getTimezoneOffset();
}

/// The filter as the form says it: empty fields are no filter; days are the station's own,
/// each bound at the offset it had then (daylight saving may change it in between).
export function filterOf(form: {
  from: string;
  to: string;
  retailer: string;
  operator: string;
  station: string;
}): ReportFilter {
  const or = (v: string): string | null => (v.trim() ? v.trim() : null);
  const from = or(form.from);
  const to = or(form.to);
  return {
    from,
    to,
    retailer_id: or(form.retailer),
    operator: or(form.operator),
    station: or(form.station),
    utc_offset_minutes: offsetAt(from),
    end_utc_offset_minutes: to ? offsetAt(to, 1) : null,
  };
}

/// A day as YYYY-MM-DD in the station's local calendar.
export function localDay(at: Date): string {
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
}

export type ChartData = {
  type: "bar" | "doughnut";
  horizontal: boolean;
  labels: string[];
  datasets: { label: string; data: number[] }[];
};

/// A table's chart (its spec from the hub) as Chart.js data; null for a table without one
/// or without rows. Rows with the same label (a reason across retailers) are added up.
export function chartOf(table: ReportTable, maxBars = 15): ChartData | null {
  const spec = table.chart;
  if (!spec || table.rows.length === 0) return null;
  const labels: string[] = [];
  const sums: number[][] = spec.value_columns.map(() => []);
  for (const row of table.rows) {
    const labelCell = row[spec.label_column] ?? null;
    const column = table.columns[spec.label_column];
    const label = cellText(labelCell, column ? column.kind : "text") || "(none)";
    let at = labels.indexOf(label);
    if (at < 0) {
      if (labels.length >= maxBars) continue;
      at = labels.push(label) - 1;
      for (const s of sums) s.push(0);
    }
    spec.value_columns.forEach((c, i) => {
      const v = row[c];
      const series = sums[i];
      if (series && typeof v === "number") series[at] = (series[at] ?? 0) + v;
    });
  }
  return {
    type: spec.kind === "doughnut" ? "doughnut" : "bar",
    horizontal: spec.kind === "horizontal_bar",
    labels,
    datasets: spec.value_columns.map((c, i) => ({
      label: table.columns[c]?.label ?? "",
      data: sums[i] ?? [],
    })),
  };
}
