// Small helpers every screen uses.

import type { CommandName } from "./generated/CommandName";
import type { Commands } from "./generated/Commands";
import type { Money } from "./bindings/Money";

/// A command's arguments as `call` takes them: none, or exactly the handler's.
export type ArgsOf<K extends CommandName> = Commands[K]["args"] extends void ? [] : [args: Commands[K]["args"]];

/// Calls a Rust command with its arguments, typed with its answer; errors come back as one
/// readable sentence (see main.ts).
export type Call = <K extends CommandName>(cmd: K, ...args: ArgsOf<K>) => Promise<Commands[K]["reply"]>;

/// An error as one sentence for a status line.
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

export function text(tag: string, content: string, className?: string): HTMLElement {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

/// Minor units to text, by the currency's exponent (JPY has none, KWD three).
export function formatMoney(m: Money): string {
  const exponent = ["JPY", "KRW", "VND", "CLP", "ISK"].includes(m.currency)
    ? 0
    : ["KWD", "BHD", "OMR", "JOD", "TND", "IQD", "LYD"].includes(m.currency)
      ? 3
      : 2;
  const negative = m.minor < 0;
  const abs = Math.abs(m.minor);
  const scale = 10 ** exponent;
  const units = Math.trunc(abs / scale);
  const frac = exponent === 0 ? "" : "." + String(abs % scale).padStart(exponent, "0");
  return `${negative ? "-" : ""}${units}${frac} ${m.currency}`;
}

/// Whether keys typed now go into a text field (then they are text, not hotkeys).
export function typingInField(): boolean {
  const active = document.activeElement;
  if (!active) return false;
  if (active instanceof HTMLTextAreaElement || active instanceof HTMLSelectElement) return true;
  return active instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit", "file"].includes(active.type);
}

/// Where ↑ / ↓ move a selection in a list of `length` rows; `null` for any other key.
export function movedSelection(key: string, selected: number, length: number): number | null {
  if (key === "ArrowDown") return Math.max(Math.min(selected + 1, length - 1), 0);
  if (key === "ArrowUp") return Math.max(selected - 1, 0);
  return null;
}

/// Adds (value, label) choices to the select `id`.
export function addOptions(id: string, rows: [string, string][]): void {
  const select = el<HTMLSelectElement>(id);
  for (const [value, label] of rows) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    select.append(option);
  }
}
