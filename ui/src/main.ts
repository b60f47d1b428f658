// The window: first-start setup, sign-in, the screens (bench F1, rules F2, exceptions F3,
// station F4, shops F5, people F6, retailers F7, find a return F8, reports F9), and the one
// keyboard path. Every key goes through the wedge detector first: a scanner's burst is a scan
// wherever the focus is (a text field gets its characters taken back out), anything else is an
// ordinary key for the screen.
// Serial scanners arrive as `scanner` events and take the same path. All data comes from typed
// Rust commands; the types are generated from Rust (./bindings), never written here.

import { invoke, type InvokeArgs } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { ErrorView } from "./bindings/ErrorView";
import type { PrinterQueueView } from "./bindings/PrinterQueueView";
import type { ScannerEvent } from "./bindings/ScannerEvent";
import type { SessionView } from "./bindings/SessionView";
import type { JoinInput } from "./bindings/JoinInput";
import type { SetupInput } from "./bindings/SetupInput";
import type { SetupState } from "./bindings/SetupState";
import type { StationConfig } from "./bindings/StationConfig";
import type { SyncView } from "./bindings/SyncView";
import { Bench } from "./bench";
import { Exceptions } from "./exceptions";
import type { Reports } from "./reports";
import { Search } from "./search";
import { setUpRulesScreen } from "./rules";
import { Settings } from "./settings";
import { Shops } from "./shops";
import { Webhooks } from "./webhooks";
import { Partners } from "./partners";
import { People } from "./people";
import { Retailers } from "./retailers";
import { el, formatMoney, message, text, typingInField, type Call } from "./util";
import { VERDICT_LABEL, beep, showVerdict } from "./verdict";
import { WedgeDetector } from "./wedge";

export { formatMoney };

function isErrorView(e: unknown): e is ErrorView {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/// The one way the window calls Rust: the command's arguments and answer are the handler's
/// (generated/Commands.ts, written from commands.rs), so a drift fails `tsc`. A "not signed
/// in" answer (the station locked, or nobody signed in) brings up the sign-in screen; every
/// error is rethrown as one readable sentence.
const call: Call = async (cmd, ...args) => {
  try {
    return await invoke(cmd, args[0] as InvokeArgs | undefined);
  } catch (e) {
    if (isErrorView(e)) {
      if (e.code === "not_signed_in") showSignIn();
      if (e.code === "change_pin") showPinChange();
      throw new Error(e.message);
    }
    throw new Error(String(e));
  }
};

let role: SessionView["role"] | null = null;
let openRules: (() => Promise<void>) | null = null;
const bench = new Bench(call, () => role);
const exceptions = new Exceptions(call, (returnId) => void openOnBench(returnId));
const search = new Search(call, (returnId) => void openOnBench(returnId));
/// The reports screen and its charting library load when it is first opened.
let reports: Reports | null = null;
async function openReports(): Promise<void> {
  if (!reports) {
    const { Reports } = await import("./reports");
    reports = new Reports(call);
  }
  reports.open();
}
const wedge = new WedgeDetector({ max_gap_ms: 35, min_length: 6, suffix: "enter" });
const settings = new Settings(call, (config: StationConfig) => wedge.configure(config.wedge));

const shops = new Shops(call);
const webhooks = new Webhooks(call);
const partners = new Partners(call);
const people = new People(call);
const retailers = new Retailers(call);

type Screen =
  | "bench"
  | "rules"
  | "exceptions"
  | "settings"
  | "shops"
  | "people"
  | "retailers"
  | "search"
  | "reports";

/// Setup, sign-in or the PIN change is in front: keys belong to its form, not to the bench.
function overlayOpen(): boolean {
  return !el("sign-in").hidden || !el("setup").hidden || !el("pin-change").hidden;
}
let screen: Screen = "bench";

function showSignIn(message = ""): void {
  role = null;
  // Signed out (Ctrl+Shift+L, or the station locked) while asked for a new PIN: the next
  // person signs in, and is not shown the last one's PIN form.
  el("pin-change").hidden = true;
  el("sign-in").hidden = false;
  el("user-name").textContent = "";
  el("sign-out").hidden = true;
  el("sign-in-error").textContent = message;
  const badge = el<HTMLInputElement>("badge-input");
  badge.value = "";
  el<HTMLInputElement>("pin-input").value = "";
  badge.focus();
}

function showScreen(wanted: Screen): void {
  // Screens a role may not use are not shown; the hub refuses their commands anyway.
  const allowed =
    ((wanted === "rules" || wanted === "people" || wanted === "retailers") && role === "admin") ||
    ((wanted === "exceptions" || wanted === "shops" || wanted === "search" || wanted === "reports") &&
      (role === "supervisor" || role === "admin")) ||
    wanted === "bench" ||
    wanted === "settings";
  screen = allowed ? wanted : "bench";
  const screens: Record<Screen, string> = {
    bench: "bench-screen",
    rules: "rules-screen",
    exceptions: "exceptions-screen",
    settings: "settings-screen",
    shops: "shops-screen",
    people: "people-screen",
    retailers: "retailers-screen",
    search: "search-screen",
    reports: "reports-screen",
  };
  const titles: Record<Screen, string> = {
    bench: "Bench",
    rules: "Rules",
    exceptions: "Exceptions",
    settings: "Station",
    shops: "Shops",
    people: "People",
    retailers: "Retailers",
    search: "Find a return",
    reports: "Reports",
  };
  for (const [name, id] of Object.entries(screens)) el(id).hidden = name !== screen;
  el("screen-title").textContent = titles[screen];
  for (const name of Object.keys(screens)) {
    el(`nav-${name}`).setAttribute("aria-current", name === screen ? "page" : "false");
  }
  if (screen === "bench") {
    if (bench.ret) el("return-panel").focus({ preventScroll: true });
    else el<HTMLInputElement>("scan-input").focus();
  } else if (screen === "rules") {
    openRules?.().catch((e: unknown) => {
      el("rules-status").textContent = message(e);
    });
  } else if (screen === "exceptions") {
    void exceptions.load();
  } else if (screen === "shops") {
    void shops.load(role);
    void webhooks.load(role);
    void partners.load(role);
  } else if (screen === "people") {
    void people.load();
  } else if (screen === "retailers") {
    void retailers.load();
  } else if (screen === "search") {
    search.open();
  } else if (screen === "reports") {
    openReports().catch((e: unknown) => {
      el("reports-status").textContent = message(e);
    });
  } else {
    void settings.load();
  }
}

function showSession(session: SessionView): void {
  role = session.role;
  el("sign-in").hidden = true;
  el("user-name").textContent = `${session.name} (${session.role})`;
  el("sign-out").hidden = false;
  const supervisor = session.role === "supervisor" || session.role === "admin";
  el("nav-rules").hidden = session.role !== "admin";
  el("nav-people").hidden = session.role !== "admin";
  el("nav-retailers").hidden = session.role !== "admin";
  el("nav-exceptions").hidden = !supervisor;
  el("nav-shops").hidden = !supervisor;
  el("nav-search").hidden = !supervisor;
  el("nav-reports").hidden = !supervisor;
  el("supervisor-keys").hidden = !supervisor;
  showScreen("bench");
  if (session.must_change_pin) showPinChange();
}

/// The signed-in person holds a one-time PIN: nothing else until they choose their own.
function showPinChange(): void {
  el("pin-change").hidden = false;
  el("pin-change-error").textContent = "";
  for (const id of ["pin-current", "pin-new", "pin-new-again"]) el<HTMLInputElement>(id).value = "";
  el<HTMLInputElement>("pin-current").focus();
}

function setUpPinChange(): void {
  el<HTMLFormElement>("pin-change-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = (id: string): string => el<HTMLInputElement>(id).value;
    const args = { currentPin: field("pin-current"), newPin: field("pin-new"), newPinAgain: field("pin-new-again") };
    for (const id of ["pin-current", "pin-new", "pin-new-again"]) el<HTMLInputElement>(id).value = "";
    call("change_own_pin", args).then(
      (session) => {
        el("pin-change").hidden = true;
        showSession(session);
      },
      (e: unknown) => {
        el("pin-change-error").textContent = message(e);
        el<HTMLInputElement>("pin-current").focus();
      },
    );
  });
}

/// First start: nobody is enrolled and the demo is off. The hub refuses setup once anyone is,
/// so this screen is only a convenience over that rule.
function showSetup(state: SetupState): void {
  el("sign-in").hidden = true;
  el("setup").hidden = false;
  el<HTMLInputElement>("setup-hub-id").value = state.hub_id;
  el<HTMLInputElement>("setup-hub-name").value = state.hub_name;
  el<HTMLInputElement>("setup-station").value = state.station;
  el<HTMLInputElement>("setup-central-url").value = state.central_url ?? "";
  if (state.joining) return showJoining(state);
  el<HTMLInputElement>(state.hub_id ? "setup-badge" : "setup-hub-id").focus();
}

/// "A new hub" asks for the hub and its first admin; "another station of a hub" only for the
/// central store and this station's token (the rest comes from the central store).
let joiningMode = false;

function setSetupMode(join: boolean): void {
  joiningMode = join;
  el("setup-mode-new").setAttribute("aria-pressed", String(!join));
  el("setup-mode-join").setAttribute("aria-pressed", String(join));
  const fields = el<HTMLFieldSetElement>("setup-new-fields");
  // Disabled, its required inputs do not stop the form; hidden, they are not in the way.
  fields.disabled = join;
  fields.hidden = join;
  el("setup-join-help").hidden = !join;
  el("setup-central-heading").textContent = join ? "Central return store" : "Central return store (optional)";
  el("setup-submit").textContent = join ? "Join the hub" : "Set up the hub";
  el("setup-error").textContent = "";
  el<HTMLInputElement>(join ? "setup-central-url" : "setup-hub-id").focus();
}

let joinWatch: number | undefined;

/// Joined: the hub's people are on their way from the central store; sign-in when they are here.
function showJoining(state: SetupState): void {
  setSetupMode(true);
  for (const id of ["setup-mode-new", "setup-mode-join", "setup-submit"]) el<HTMLButtonElement>(id).disabled = true;
  const paint = (s: SetupState): void => {
    el("setup-joining").hidden = false;
    el("setup-joining").textContent =
      `This station joined hub ${s.hub_id} (${s.hub_name}). Bringing its people from the central store…` +
      (s.sync_error ? ` Not yet: ${s.sync_error}` : "");
  };
  paint(state);
  window.clearInterval(joinWatch);
  joinWatch = window.setInterval(() => {
    call("setup_state").then((s) => {
      if (s.needed) return paint(s);
      window.clearInterval(joinWatch);
      el("setup").hidden = true;
      void loadHeader();
      showSignIn(`This station is part of ${s.hub_name} now: sign in with your badge.`);
    }, () => undefined);
  }, 1_000);
}

function setUpSetup(): void {
  el("setup-mode-new").addEventListener("click", () => setSetupMode(false));
  el("setup-mode-join").addEventListener("click", () => setSetupMode(true));
  // An error is about what was typed: it goes as soon as anything is typed again.
  el<HTMLFormElement>("setup-form").addEventListener("input", () => {
    el("setup-error").textContent = "";
  });
  el<HTMLFormElement>("setup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = (id: string): string => el<HTMLInputElement>(id).value;
    const optional = (id: string): string | null => value(id).trim() || null;
    const submit = el<HTMLButtonElement>("setup-submit");
    const failed = (e: unknown): void => {
      submit.disabled = false;
      // Set up after all (say, the device token could not be kept): sign in, with the reason.
      call("setup_state").then(
        (state) => {
          if (state.needed) {
            el("setup-error").textContent = message(e);
          } else {
            el("setup").hidden = true;
            void loadHeader();
            showSignIn(message(e));
          }
        },
        () => {
          el("setup-error").textContent = message(e);
        },
      );
    };
    if (joiningMode) {
      const input: JoinInput = {
        central_url: value("setup-central-url"),
        central_insecure: el<HTMLInputElement>("setup-central-insecure").checked,
        device_token: value("setup-token"),
        station: optional("setup-station"),
      };
      submit.disabled = true;
      call("join_hub", { input }).then((state) => {
        el<HTMLInputElement>("setup-token").value = "";
        showJoining(state);
      }, failed);
      return;
    }
    if (value("setup-pin") !== value("setup-pin-again")) {
      el("setup-error").textContent = "The two PINs differ: type the same PIN twice.";
      return;
    }
    const input: SetupInput = {
      hub_id: value("setup-hub-id"),
      hub_name: value("setup-hub-name"),
      station: optional("setup-station"),
      admin_badge: value("setup-badge"),
      admin_name: value("setup-name"),
      pin: value("setup-pin"),
      pin_again: value("setup-pin-again"),
      central_url: optional("setup-central-url"),
      central_insecure: el<HTMLInputElement>("setup-central-insecure").checked,
      device_token: optional("setup-token"),
    };
    submit.disabled = true;
    call("set_up", { input }).then((session) => {
      for (const id of ["setup-pin", "setup-pin-again", "setup-token"]) el<HTMLInputElement>(id).value = "";
      submit.disabled = false;
      el("setup").hidden = true;
      void loadHeader();
      showSession(session);
      watchStation().catch((e: unknown) => showVerdict("error", `Station settings: ${message(e)}`));
    }, failed);
  });
}

async function openOnBench(returnId: string): Promise<void> {
  try {
    const result = await call("open_return", { returnId });
    showScreen("bench");
    bench.showResult(result);
  } catch (e) {
    showVerdict("error", message(e));
  }
}

// --- The keyboard path -------------------------------------------------------------------

/// A scan from the wedge or a serial scanner, wherever the focus was.
function routeScan(code: string, startedAt: number, parcel = false): void {
  if (overlayOpen()) return;
  // On the search screen a scan is what to find (an item's EAN, a parcel's connote).
  if (screen === "search") {
    search.scanned(code);
    return;
  }
  if (screen !== "bench") showScreen("bench");
  if (bench.orphan.isOpen && !bench.ret) {
    // An item scanned off the unknown parcel: look its order up by SKU / EAN.
    void bench.orphan.scan(code);
    return;
  }
  bench.scan(code, startedAt, parcel);
}

/// An ordinary key (not part of a scan) on the current screen.
function hotkey(key: string, ctrl: boolean): boolean {
  const screenKeys = {
    F1: "bench",
    F2: "rules",
    F3: "exceptions",
    F4: "settings",
    F5: "shops",
    F6: "people",
    F7: "retailers",
    F8: "search",
    F9: "reports",
  } as const;
  if (key in screenKeys) {
    showScreen(screenKeys[key as keyof typeof screenKeys]);
    return true;
  }
  if (screen === "settings" && ctrl && key.toLowerCase() === "s") {
    void settings.save();
    return true;
  }
  if (screen === "retailers" && ctrl && key.toLowerCase() === "s") {
    void retailers.save();
    return true;
  }
  if (typingInField()) return false;
  if (screen === "exceptions") return exceptions.key(key);
  if (screen === "search") return search.key(key);
  if (screen === "reports") return reports?.key(key) ?? false;
  if (screen !== "bench") return false;
  if (key === "/") {
    el<HTMLInputElement>("scan-input").focus();
    return true;
  }
  if (bench.orphan.isOpen && !bench.ret) return bench.orphan.key(key);
  return bench.key(key, ctrl);
}

let idleTimer: number | undefined;

function setUpKeyboard(): void {
  const input = el<HTMLInputElement>("scan-input");
  const form = el<HTMLFormElement>("scan-form");
  let enterAt = 0;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const raw = input.value;
    input.value = "";
    if (raw.trim()) routeScan(raw, enterAt || performance.now(), true);
  });

  document.addEventListener(
    "keydown",
    (event) => {
      if (overlayOpen()) return;
      const ctrl = event.ctrlKey || event.metaKey;
      // The scan box: typed or scanned, Enter submits, at once on the key going down (the
      // form's own submit waits for the key press, which WebKitGTK delivers tens of ms later).
      if (document.activeElement === input) {
        if (event.key === "Enter") {
          event.preventDefault();
          enterAt = event.timeStamp;
          // How late the webview handed us the key (its own input latency, not ours).
          document.body.dataset["lastKeyLagMs"] = (performance.now() - event.timeStamp).toFixed(2);
          form.requestSubmit();
        }
        if (event.key.startsWith("F") && event.key.length <= 3 && hotkey(event.key, ctrl)) event.preventDefault();
        return;
      }
      const field = typingInField();
      const printable = event.key.length === 1 && !ctrl && !event.altKey;
      if (printable) {
        for (const key of wedge.push(event.key, event.timeStamp)) hotkey(key, false);
        // Outside a text field the key waits until it is known not to start a scan.
        if (!field) event.preventDefault();
        window.clearTimeout(idleTimer);
        idleTimer = window.setTimeout(() => {
          const out = wedge.idle(performance.now());
          if (out?.kind === "keys" && !typingInField()) for (const key of out.keys) hotkey(key, false);
          if (out?.kind === "scan") routeScan(takeBack(out.code), out.lastKeyAt);
        }, wedge.maxGapMs + 5);
        return;
      }
      if (wedge.isSuffix(event.key) && !ctrl) {
        window.clearTimeout(idleTimer);
        for (const out of wedge.suffix(event.timeStamp)) {
          if (out.kind === "scan") {
            event.preventDefault();
            routeScan(field ? takeBack(out.code) : out.code, out.lastKeyAt);
          } else if (out.kind === "keys") {
            if (!field) for (const key of out.keys) hotkey(key, false);
          } else if (hotkey(event.key, false)) {
            event.preventDefault();
          }
        }
        return;
      }
      if (hotkey(event.key, ctrl)) event.preventDefault();
    },
    { capture: true },
  );
}

/// A scan that went into a text field: take its characters back out of the field.
function takeBack(code: string): string {
  const active = document.activeElement;
  if ((active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement) && active.value.endsWith(code)) {
    active.value = active.value.slice(0, active.value.length - code.length);
  }
  return code;
}

// --- Start-up ----------------------------------------------------------------------------

async function loadHeader(): Promise<void> {
  const info = await call("app_info");
  el("hub-name").textContent = info.hub_name;
  el("station").textContent = `station ${info.station}`;
  el("demo-badge").hidden = !info.demo;
  el("demo-users").hidden = !info.demo;
  document.title = `Returnhub — Bench — ${info.hub_id}`;
}

async function loadDemoConnotes(): Promise<void> {
  const rows = await call("demo_connotes");
  el("demo-help").hidden = rows.length === 0;
  el<HTMLTableElement>("demo-connotes").tBodies[0]?.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      tr.append(text("td", row.connote), text("td", VERDICT_LABEL[row.verdict]), text("td", row.retailer));
      return tr;
    }),
  );
}

/// The station's wedge timing, and the printer line in the header, kept current.
async function watchStation(): Promise<void> {
  const view = await call("station_view");
  wedge.configure(view.config.wedge);
  const paint = (q: PrinterQueueView): void => {
    const node = el("printer-status");
    node.textContent =
      q.printer === "no printer"
        ? `No printer set (F4)${q.waiting ? ` · ${q.waiting} label(s) waiting` : ""}`
        : `Printer: ${q.printer} · ${q.waiting} waiting${q.last_error ? ` · ${q.last_error}` : ""}`;
    node.className = q.last_error ? "bad" : "muted";
  };
  paint(view.printer);
  const paintSync = (v: SyncView): void => {
    const node = el("sync-status");
    const text = !v.central_url
      ? "Standalone (no central store)"
      : !v.running
        ? "Sync: no device token (F4)"
        : `Sync: ${v.online ? "online" : "offline"} · ${v.queue_depth} queued${v.last_success_at ? ` · last ${v.last_success_at.slice(11, 16)}` : ""}${v.last_error ? ` · ${v.last_error}` : ""}`;
    const held = [
      v.needs_update ? `${v.needs_update} event(s) need this station updated` : "",
      v.malformed ? `${v.malformed} malformed event(s) kept` : "",
      v.refused ? `${v.refused} event(s) refused by the central store (F3)` : "",
    ].filter(Boolean);
    node.textContent = held.length ? `${text} · ${held.join(" · ")}` : text;
    node.className = (v.running && !v.online) || held.length ? "bad" : "muted";
    el("central-state").textContent = v.central_url
      ? `${v.central_url}${v.central_insecure ? " (insecure: plain http)" : ""} — ${text}`
      : "None: add [central] url to hub.toml to sync with one.";
    el("central-state").classList.toggle("bad", v.central_insecure);
  };
  call("sync_status").then(paintSync, () => undefined);
  window.setInterval(() => {
    if (overlayOpen()) return;
    call("printer_queue").then(paint, () => undefined);
    call("sync_status").then(paintSync, () => undefined);
    if (screen === "settings") settings.refresh().catch(() => undefined);
  }, 3_000);
  // Import progress moves fast: the shops screen looks every second while it is open.
  window.setInterval(() => {
    if (el("sign-in").hidden && screen === "shops") {
      shops.refresh().catch(() => undefined);
      void webhooks.refresh();
    }
  }, 1_000);
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
    call("sign_in", args)
      .then((session) => {
        showSession(session);
        watchStation().catch((e: unknown) => showVerdict("error", `Station settings: ${message(e)}`));
      })
      .catch((e: unknown) => {
        el("sign-in-error").textContent = message(e);
        beep("misread");
        pin.focus();
      });
  });
  const signOut = (): void => {
    call("sign_out")
      .catch(() => undefined)
      .finally(() => {
        bench.leave();
        showSignIn();
      });
  };
  el("sign-out").addEventListener("click", signOut);
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey && event.shiftKey && event.key.toLowerCase() === "l") signOut();
  });
  call("setup_state")
    .then(async (state) => {
      if (state.needed) return showSetup(state);
      const session = await call("session");
      if (!session) return showSignIn();
      showSession(session);
      watchStation().catch((e: unknown) => showVerdict("error", `Station settings: ${message(e)}`));
    })
    .catch(() => showSignIn());
  // The hub locks an idle station; look now and then so the screen locks too.
  window.setInterval(() => {
    if (el("sign-in").hidden) {
      call("session").then((s) => {
        if (!s) showSignIn("The station locked after a while without use.");
      }, () => undefined);
    }
  }, 30_000);
}

function setUpCentral(): void {
  el<HTMLFormElement>("central-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = el<HTMLInputElement>("central-token");
    const token = input.value;
    input.value = "";
    call("set_central_token", { token }).then(
      (v) => {
        el("central-state").textContent = `${v.central_url ?? ""} — token saved; syncing.`;
      },
      (e: unknown) => {
        el("central-state").textContent = message(e);
      },
    );
  });
}

function main(): void {
  setUpSignIn();
  setUpSetup();
  setUpPinChange();
  setUpCentral();
  openRules = setUpRulesScreen(call, formatMoney);
  for (const name of [
    "bench",
    "rules",
    "exceptions",
    "settings",
    "shops",
    "people",
    "retailers",
    "search",
    "reports",
  ] as const) {
    el(`nav-${name}`).addEventListener("click", () => showScreen(name));
  }
  setUpKeyboard();
  // A serial scanner's codes take the same path as the wedge's.
  listen<ScannerEvent>("scanner", (event) => {
    if (event.payload.kind === "scan") routeScan(event.payload.scan.text, performance.now());
  }).catch((e: unknown) => showVerdict("error", `Serial scanner events: ${message(e)}`));
  loadHeader().catch((e: unknown) => showVerdict("error", `Cannot reach the hub: ${String(e)}`));
  loadDemoConnotes().catch((e: unknown) => showVerdict("error", `Cannot list demo connotes: ${String(e)}`));
}

main();
