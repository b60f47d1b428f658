// Telling a keyboard-wedge scanner from a person typing, wherever the focus is.
//
// A scanner "types" a whole code in a burst: keys a few milliseconds apart, ended by its
// suffix (usually Enter). A person types slower than the gap threshold. The detector sees
// every printable key with its time; when the suffix arrives after a burst of at least
// `minLength` keys, each no more than `maxGapMs` after the one before, it is a scan. Keys
// that do not belong to a burst are handed back as ordinary keys (hotkeys), a little late:
// a key is only known not to start a burst once `maxGapMs` has passed without another.
//
// Pure (no DOM): the page feeds it keys and timestamps, so tests drive it with any timing.

import type { WedgeSettings } from "./bindings/WedgeSettings";

export type WedgeOutput =
  | { kind: "scan"; code: string; lastKeyAt: number }
  | { kind: "keys"; keys: string[] }
  | { kind: "suffix" };

export class WedgeDetector {
  private buffer: { key: string; at: number }[] = [];

  constructor(private settings: WedgeSettings) {}

  configure(settings: WedgeSettings): void {
    this.settings = settings;
    this.buffer = [];
  }

  get maxGapMs(): number {
    return this.settings.max_gap_ms;
  }

  /// Whether `key` is the configured suffix.
  isSuffix(key: string): boolean {
    return (this.settings.suffix === "enter" && key === "Enter") || (this.settings.suffix === "tab" && key === "Tab");
  }

  /// A printable key arrived at `at` (ms). Returns keys that turned out not to be part of a
  /// burst (the gap before this one was too long), to be handled as ordinary keys.
  push(key: string, at: number): string[] {
    const last = this.buffer[this.buffer.length - 1];
    let released: string[] = [];
    if (last && at - last.at > this.settings.max_gap_ms) {
      released = this.buffer.map((k) => k.key);
      this.buffer = [];
    }
    this.buffer.push({ key, at });
    return released;
  }

  /// The suffix key arrived at `at`. A long enough burst is a scan; otherwise the buffered
  /// keys are ordinary keys, and so is the suffix.
  suffix(at: number): WedgeOutput[] {
    const last = this.buffer[this.buffer.length - 1];
    const burst = this.buffer.length >= this.settings.min_length && last !== undefined && at - last.at <= this.settings.max_gap_ms;
    const keys = this.buffer.map((k) => k.key);
    this.buffer = [];
    if (burst) return [{ kind: "scan", code: keys.join(""), lastKeyAt: at }];
    return keys.length > 0 ? [{ kind: "keys", keys }, { kind: "suffix" }] : [{ kind: "suffix" }];
  }

  /// No key for a while (call `maxGapMs` after the last key): a burst with no suffix is a
  /// scan when the scanner sends none; anything else is ordinary keys.
  idle(now: number): WedgeOutput | null {
    const last = this.buffer[this.buffer.length - 1];
    if (!last || now - last.at < this.settings.max_gap_ms) return null;
    const keys = this.buffer.map((k) => k.key);
    this.buffer = [];
    if (this.settings.suffix === "none" && keys.length >= this.settings.min_length) {
      return { kind: "scan", code: keys.join(""), lastKeyAt: last.at };
    }
    return { kind: "keys", keys };
  }

  /// How many keys are waiting to be classified (they may already sit in a text field).
  get pending(): number {
    return this.buffer.length;
  }
}
