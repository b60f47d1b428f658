// What the operator sees and hears of a scan's verdict: the banner and a tone pattern per
// signal, so the outcome is heard without looking.

import type { ScanVerdict } from "./bindings/ScanVerdict";
import { el } from "./util";

export const VERDICT_LABEL: Record<ScanVerdict, string> = {
  expected: "Expected return",
  already_processed: "Duplicate: already processed",
  closed: "Closed return",
  cancelled: "Cancelled return",
  other_hub: "Belongs to another hub",
  unknown: "Unknown connote",
  misread: "Misread",
};

// A distinct tone pattern per signal, so the operator hears the outcome without looking.
const TONES: Record<ScanVerdict | "item" | "done" | "refused", number[]> = {
  expected: [880],
  already_processed: [440, 440],
  closed: [330, 330],
  cancelled: [330, 330],
  other_hub: [523, 392],
  unknown: [220, 220, 220],
  misread: [180],
  item: [1200],
  done: [660, 990],
  refused: [200, 160],
};

let audio: AudioContext | null = null;
let audioFailedAt = -Infinity;

/// Plays the signal's tones after the next frame has painted, so sound never delays what the
/// operator sees. A station without an audio device (opening one can take a long time to
/// fail) is asked again at most once a minute.
export function beep(kind: keyof typeof TONES): void {
  requestAnimationFrame(() => window.setTimeout(() => play(kind), 0));
}

function play(kind: keyof typeof TONES): void {
  if (!audio && performance.now() - audioFailedAt < 60_000) return;
  try {
    audio ??= new AudioContext();
    const ctx = audio;
    (TONES[kind] ?? []).forEach((hz, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = hz;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      const start = ctx.currentTime + i * 0.16;
      osc.start(start);
      osc.stop(start + 0.12);
    });
  } catch {
    // No audio device (e.g. a headless test): the colour and the text still tell.
    audio = null;
    audioFailedAt = performance.now();
  }
}

export function showVerdict(kind: ScanVerdict | "error" | "idle" | "done", message: string): void {
  const banner = el<HTMLDivElement>("verdict");
  banner.className = `verdict ${kind}`;
  banner.dataset["verdict"] = kind;
  banner.textContent =
    kind === "idle" || kind === "error" || kind === "done" ? message : `${VERDICT_LABEL[kind]} — ${message}`;
}
