// The bench screen: one scan box that always has the focus, a verdict banner with its own
// colour and sound for each kind of parcel, and the return's details. All data comes from
// typed Rust commands; the types are generated from Rust (./bindings), never written here.

import { invoke } from "@tauri-apps/api/core";
import type { AppInfo } from "./bindings/AppInfo";
import type { DemoConnote } from "./bindings/DemoConnote";
import type { ErrorView } from "./bindings/ErrorView";
import type { Money } from "./bindings/Money";
import type { ReturnOption } from "./bindings/ReturnOption";
import type { ScanResult } from "./bindings/ScanResult";
import type { ScanVerdict } from "./bindings/ScanVerdict";
import type { SessionView } from "./bindings/SessionView";
import type { Trigger } from "./bindings/Trigger";
import { setUpRulesScreen } from "./rules";

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const VERDICT_LABEL: Record<ScanVerdict, string> = {
  expected: "Expected return",
  already_processed: "Duplicate: already processed",
  closed: "Closed return",
  cancelled: "Cancelled return",
  other_hub: "Belongs to another hub",
  unknown: "Unknown connote",
  misread: "Misread",
};

// A distinct tone pattern per verdict, so the operator hears the outcome without looking.
const VERDICT_TONES: Record<ScanVerdict, number[]> = {
  expected: [880],
  already_processed: [440, 440],
  closed: [330, 330],
  cancelled: [330, 330],
  other_hub: [523, 392],
  unknown: [220, 220, 220],
  misread: [180],
};

const TRIGGER_LABEL: Record<Trigger, string> = {
  first_scan: "First scan (carrier in-transit event)",
  processing: "Processing at this hub",
  manual: "Manual close by a supervisor",
};

const OPTION_LABEL: Record<ReturnOption, string> = {
  refund: "Refund",
  credit_note: "Credit note",
  exchange: "Exchange",
};

let audio: AudioContext | null = null;

function isErrorView(e: unknown): e is ErrorView {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/// Calls a Rust command. A "not signed in" answer (the station locked, or nobody signed in)
/// brings up the sign-in screen; every error is rethrown as one readable sentence.
async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    if (isErrorView(e)) {
      if (e.code === "not_signed_in") showSignIn();
      throw new Error(e.message);
    }
    throw new Error(String(e));
  }
}

function showSignIn(message = ""): void {
  role = null;
  el("nav").hidden = true;
  el("sign-in").hidden = false;
  el("user-name").textContent = "";
  el("sign-out").hidden = true;
  el("sign-in-error").textContent = message;
  const badge = el<HTMLInputElement>("badge-input");
  badge.value = "";
  el<HTMLInputElement>("pin-input").value = "";
  badge.focus();
}

let role: SessionView["role"] | null = null;
let openRules: (() => Promise<void>) | null = null;

type Screen = "bench" | "rules";

function showScreen(screen: Screen): void {
  // Only admins see the rules screen; the hub refuses its commands to anyone else anyway.
  const target: Screen = screen === "rules" && role === "admin" ? "rules" : "bench";
  el("bench-screen").hidden = target !== "bench";
  el("rules-screen").hidden = target !== "rules";
  el("screen-title").textContent = target === "bench" ? "Bench" : "Rules";
  el("nav-bench").setAttribute("aria-current", target === "bench" ? "page" : "false");
  el("nav-rules").setAttribute("aria-current", target === "rules" ? "page" : "false");
  if (target === "bench") {
    el<HTMLInputElement>("scan-input").focus();
  } else {
    openRules?.().catch((e: unknown) => {
      el("rules-status").textContent = e instanceof Error ? e.message : String(e);
    });
  }
}

function showSession(session: SessionView): void {
  role = session.role;
  el("sign-in").hidden = true;
  el("user-name").textContent = `${session.name} (${session.role})`;
  el("sign-out").hidden = false;
  el("nav").hidden = session.role !== "admin";
  showScreen("bench");
}

function beep(verdict: ScanVerdict): void {
  try {
    audio ??= new AudioContext();
    const ctx = audio;
    VERDICT_TONES[verdict].forEach((hz, i) => {
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
  }
}

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

function text(tag: string, content: string, className?: string): HTMLElement {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

function showVerdict(kind: ScanVerdict | "error" | "idle", message: string): void {
  const banner = el<HTMLDivElement>("verdict");
  banner.className = `verdict ${kind}`;
  banner.dataset["verdict"] = kind;
  banner.textContent = kind === "idle" || kind === "error" ? message : `${VERDICT_LABEL[kind]} — ${message}`;
}

function renderResult(result: ScanResult): void {
  showVerdict(result.verdict, result.message);
  const panel = el<HTMLElement>("return-panel");
  const ret = result.ret;
  if (!ret) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  el("ret-retailer").textContent = ret.retailer.name;
  el("ret-order").textContent = ret.order_number;
  el("ret-customer").textContent = `${ret.customer_name} <${ret.customer_email}>`;
  el("ret-status").textContent = ret.status.replace("_", " ");
  el("ret-connotes").textContent = ret.connotes.join(", ");
  el("ret-trigger").textContent = TRIGGER_LABEL[ret.retailer.trigger];
  const list = el<HTMLUListElement>("ret-items");
  list.replaceChildren(
    ...ret.items.map((item) => {
      const li = document.createElement("li");
      li.className = "item";
      li.dataset["sku"] = item.sku;
      const img = document.createElement("img");
      img.alt = item.title;
      if (item.image) img.src = item.image;
      const body = document.createElement("div");
      body.append(
        text("h3", item.title),
        text("div", `SKU ${item.sku}${item.ean ? ` · EAN ${item.ean}` : ""} · qty ${item.quantity} · ${formatMoney(item.unit_price)} each`, "meta"),
        text("div", `Reason: ${item.reason}${item.sub_reason ? ` — ${item.sub_reason}` : ""}`, "reason"),
      );
      if (item.comment) body.append(text("div", `“${item.comment}”`, "meta"));
      body.append(
        text("div", item.chosen_option ? `Customer chose: ${OPTION_LABEL[item.chosen_option]}` : "Option decided by the retailer's rules", "choice"),
      );
      li.append(img, body);
      return li;
    }),
  );
}

async function submitScan(raw: string): Promise<void> {
  const started = performance.now();
  try {
    const result = await call<ScanResult>("lookup_connote", { raw });
    renderResult(result);
    beep(result.verdict);
  } catch (e) {
    el<HTMLElement>("return-panel").hidden = true;
    showVerdict("error", e instanceof Error ? e.message : String(e));
    beep("misread");
  }
  // Time from submit to painted, read by the benchmark through WebDriver.
  requestAnimationFrame(() => {
    document.body.dataset["lastScanMs"] = (performance.now() - started).toFixed(2);
  });
}

async function loadHeader(): Promise<void> {
  const info = await call<AppInfo>("app_info");
  el("hub-name").textContent = info.hub_name;
  el("station").textContent = `station ${info.station}`;
  el("demo-badge").hidden = !info.demo;
  el("demo-users").hidden = !info.demo;
  document.title = `Returnhub — Bench — ${info.hub_id}`;
}

async function loadDemoConnotes(): Promise<void> {
  const rows = await call<DemoConnote[]>("demo_connotes");
  el("demo-help").hidden = rows.length === 0;
  el<HTMLTableElement>("demo-connotes").tBodies[0]?.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      tr.append(text("td", row.connote), text("td", VERDICT_LABEL[row.verdict]), text("td", row.retailer));
      return tr;
    }),
  );
}

function setUpSignIn(): void {
  const badge = el<HTMLInputElement>("badge-input");
  const pin = el<HTMLInputElement>("pin-input");
  // A badge scan ends with Enter: move on to the PIN.
  badge.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      if (badge.value.trim()) pin.focus();
    }
  });
  const form = el<HTMLFormElement>("sign-in-form");
  pin.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const args = { badge: badge.value, pin: pin.value };
    pin.value = "";
    call<SessionView>("sign_in", args)
      .then(showSession)
      .catch((e: unknown) => {
        el("sign-in-error").textContent = e instanceof Error ? e.message : String(e);
        beep("misread");
        pin.focus();
      });
  });
  const signOut = (): void => {
    call<null>("sign_out")
      .catch(() => undefined)
      .finally(() => showSignIn());
  };
  el("sign-out").addEventListener("click", signOut);
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey && event.shiftKey && event.key.toLowerCase() === "l") signOut();
  });
  // The hub locks an idle station; look now and then so the screen locks too.
  const check = (): void => {
    call<SessionView | null>("session")
      .then((session) => (session ? showSession(session) : showSignIn()))
      .catch(() => showSignIn());
  };
  check();
  window.setInterval(() => {
    if (el("sign-in").hidden) {
      call<SessionView | null>("session").then((s) => {
        if (!s) showSignIn("The station locked after a while without use.");
      }, () => undefined);
    }
  }, 30_000);
}

function main(): void {
  setUpSignIn();
  openRules = setUpRulesScreen(call, formatMoney);
  el("nav-bench").addEventListener("click", () => showScreen("bench"));
  el("nav-rules").addEventListener("click", () => showScreen("rules"));
  document.addEventListener("keydown", (event) => {
    if (!el("sign-in").hidden) return;
    if (event.key === "F1") {
      event.preventDefault();
      showScreen("bench");
    } else if (event.key === "F2") {
      event.preventDefault();
      showScreen("rules");
    }
  });
  const form = el<HTMLFormElement>("scan-form");
  const input = el<HTMLInputElement>("scan-input");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const raw = input.value;
    input.value = "";
    void submitScan(raw);
  });
  // The scan box keeps the focus: a scanner's keystrokes must never land elsewhere.
  document.addEventListener("keydown", (event) => {
    if (!el("sign-in").hidden || el("bench-screen").hidden) return;
    if (document.activeElement !== input && event.key.length === 1 && !event.ctrlKey && !event.altKey) {
      input.focus();
    }
  });
  loadHeader().catch((e: unknown) => showVerdict("error", `Cannot reach the hub: ${String(e)}`));
  loadDemoConnotes().catch((e: unknown) => showVerdict("error", `Cannot list demo connotes: ${String(e)}`));
}

main();
