// The bench after the scan: the open return with each item's inspection, the keys that
// inspect it (P pass, F fail, M missing, A–D grade, O disposition, H/K photo, N note), the
// Process key (Enter), undo (Ctrl+Z), and the supervisor's keys (V override, X close,
// R reprint, T audit trail). Every key calls one Rust command; the hub checks the role and
// answers with the return's new state, which benchview.ts paints whole.

import type { BenchState } from "./bindings/BenchState";
import type { Disposition } from "./bindings/Disposition";
import type { Grade } from "./bindings/Grade";
import type { InspectRequest } from "./bindings/InspectRequest";
import type { InspectionView } from "./bindings/InspectionView";
import type { ItemScan } from "./bindings/ItemScan";
import type { Outcome } from "./bindings/Outcome";
import type { ReturnView } from "./bindings/ReturnView";
import type { Role } from "./bindings/Role";
import type { ScanResult } from "./bindings/ScanResult";
import { paintReturn } from "./benchview";
import { OrphanIntake } from "./orphan";
import { el, message, text, type Call } from "./util";
import { beep, showVerdict } from "./verdict";

const DISPOSITIONS: Disposition[] = [
  "back_to_stock",
  "resale_hold",
  "refurbish",
  "recycle",
  "donate",
  "destroy",
  "return_to_vendor",
];

type Dialog = "fail" | "note" | "override" | "close" | "camera" | null;

export class Bench {
  ret: ReturnView | null = null;
  state: BenchState | null = null;
  private selected = 0;
  private dialog: Dialog = null;
  private photoTarget: "item" | "orphan" = "item";
  readonly orphan: OrphanIntake;
  private stream: MediaStream | null = null;
  /// Commands run one after another in the order their keys came: "P" then Enter must
  /// inspect before it processes, however fast the keys.
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly call: Call,
    private readonly role: () => Role | null,
  ) {
    el<HTMLInputElement>("photo-file").addEventListener("change", () => void this.photoChosen());
    this.orphan = new OrphanIntake(
      call,
      (result) => this.showResult(result),
      () => this.leave(),
      () => this.choosePhoto("orphan"),
    );
    this.dialogInput("item-note-input", () => void this.saveNote());
    this.dialogInput("override-reason", () => void this.saveOverride());
    this.dialogInput("close-note", () => void this.closeReturn());
  }

  /// Enter in a dialog's input saves; Esc cancels.
  private dialogInput(id: string, save: () => void): void {
    el(id).addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        save();
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.closeDialog();
      }
    });
  }

  /// A return is open and may still be inspected.
  get inspecting(): boolean {
    return this.state?.status === "received";
  }

  get openReturnId(): string | null {
    return this.inspecting ? (this.state?.return_id ?? null) : null;
  }

  private run(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((e: unknown) => showVerdict("error", message(e)));
  }

  /// Every scan (wedge, scan box, serial scanner) comes here. `startedAt` is the
  /// performance.now() of the scanner's last key, for the scan-to-paint figure. A scan typed
  /// into the connote box is always a parcel; a scan anywhere else with a return open may be
  /// one of its items.
  scan(raw: string, startedAt: number, parcel: boolean): void {
    this.run(() => this.scanNow(raw, startedAt, parcel));
  }

  private async scanNow(raw: string, startedAt: number, parcel: boolean): Promise<void> {
    try {
      const openReturn = parcel ? null : this.openReturnId;
      const sent = performance.now();
      const answer = await this.call("bench_scan", { raw, openReturn });
      // The command's share of the scan-to-paint time (IPC both ways and the hub's work).
      document.body.dataset["lastIpcMs"] = (performance.now() - sent).toFixed(2);
      document.body.dataset["lastQueueMs"] = (sent - startedAt).toFixed(2);
      if (answer.kind === "parcel") {
        this.showResult(answer.result);
        beep(answer.result.verdict);
      } else {
        this.itemScanned(answer.result);
      }
    } catch (e) {
      showVerdict("error", message(e));
      beep("misread");
    }
    requestAnimationFrame(() => {
      // Read by the benchmark and the tests through WebDriver.
      document.body.dataset["lastScanMs"] = (performance.now() - startedAt).toFixed(2);
      document.body.dataset["scans"] = String(Number(document.body.dataset["scans"] ?? "0") + 1);
    });
  }

  showResult(result: ScanResult): void {
    showVerdict(result.verdict, result.message);
    this.closeDialog();
    el("audit").hidden = true;
    this.ret = result.ret;
    this.state = result.bench;
    this.selected = 0;
    el("orphan-panel").hidden = result.verdict !== "unknown";
    if (result.verdict === "unknown") {
      this.orphan.open(result.connote);
    }
    this.paint();
    if (this.ret) el("return-panel").focus({ preventScroll: true });
    else if (result.verdict !== "unknown") el<HTMLInputElement>("scan-input").focus();
  }

  private itemScanned(scan: ItemScan): void {
    this.state = scan.state;
    if (scan.matched_item) {
      const index = this.ret?.items.findIndex((i) => i.id === scan.matched_item) ?? -1;
      if (index >= 0) this.selected = index;
    }
    showVerdict(scan.extra ? "already_processed" : "expected", scan.message);
    beep(scan.extra ? "already_processed" : "item");
    this.paint();
  }

  /// Leaves the return (Esc): the bench is ready for the next parcel.
  leave(): void {
    this.ret = null;
    this.state = null;
    this.closeDialog();
    el("return-panel").hidden = true;
    el("orphan-panel").hidden = true;
    showVerdict("idle", "Ready for the next parcel.");
    el<HTMLInputElement>("scan-input").focus();
  }

  paint(): void {
    paintReturn(this.ret, this.state, this.selected, this.role() !== "operator");
  }

  // --- Keys -------------------------------------------------------------------------------

  /// A key pressed with a return open and no text field focused. True if it was used.
  key(key: string, ctrl: boolean): boolean {
    if (!this.ret) return false;
    if (this.dialog === "fail") return this.failKey(key);
    if (this.dialog === "camera") {
      if (key === " ") this.run(() => this.snap());
      else if (key === "Escape") this.closeDialog();
      return true;
    }
    const items = this.ret.items;
    if (ctrl && key.toLowerCase() === "z") {
      this.run(() => this.undo());
      return true;
    }
    if (ctrl) return false;
    const digit = Number.parseInt(key, 10);
    if (digit >= 1 && digit <= items.length) {
      this.select(digit - 1);
      return true;
    }
    const supervisor = this.role() === "supervisor" || this.role() === "admin";
    switch (key) {
      case "ArrowDown":
        this.select(Math.min(this.selected + 1, items.length - 1));
        return true;
      case "ArrowUp":
        this.select(Math.max(this.selected - 1, 0));
        return true;
      case "Escape":
        this.leave();
        return true;
      case "Enter":
        this.run(() => this.process());
        return true;
    }
    switch (key.toLowerCase()) {
      case "p":
        this.run(() => this.inspect((n) => ({ ...n, presence: "found", qc: "pass", qc_reason: null, grade: n.grade ?? "A", disposition: null })));
        return true;
      case "f":
        if (this.inspecting) this.openDialog("fail");
        return true;
      case "m":
        this.run(() => this.inspect((n) => ({ ...n, presence: "missing", qc: null, qc_reason: null, grade: null, disposition: null, photos: [] })));
        return true;
      case "a":
      case "b":
      case "c":
      case "d": {
        const grade = key.toUpperCase() as Grade;
        this.run(() => this.inspect((n) => ({ ...n, presence: "found", grade })));
        return true;
      }
      case "o":
        this.run(() => this.nextDisposition());
        return true;
      case "n":
        if (this.inspecting) this.openDialog("note");
        return true;
      case "h":
        this.choosePhoto("item");
        return true;
      case "k":
        this.run(() => this.openCamera());
        return true;
      case "v":
        if (supervisor) this.openDialog("override");
        return supervisor;
      case "x":
        if (supervisor) this.openDialog("close");
        return supervisor;
      case "r":
        if (supervisor) this.run(() => this.reprint());
        return supervisor;
      case "t":
        if (supervisor) this.run(() => this.toggleAudit());
        return supervisor;
    }
    return false;
  }

  private select(index: number): void {
    this.selected = index;
    this.paint();
  }

  private failKey(key: string): boolean {
    if (key === "Escape") {
      this.closeDialog();
      return true;
    }
    const reasons = this.state?.qc_reasons ?? [];
    const index = Number.parseInt(key, 10) - 1;
    const reason = reasons[index];
    if (reason) {
      this.closeDialog();
      this.run(() => this.inspect((n) => ({ ...n, presence: "found", qc: "fail", qc_reason: reason.code, disposition: null })));
    }
    return true;
  }

  private openDialog(dialog: Exclude<Dialog, null>): void {
    this.closeDialog();
    this.dialog = dialog;
    if (dialog === "fail") {
      const reasons = this.state?.qc_reasons ?? [];
      el<HTMLOListElement>("fail-reason-list").replaceChildren(
        ...reasons.map((r, i) => text("li", `${i + 1}. ${r.label}${r.requires_photo ? " (photo required)" : ""}`)),
      );
      el("fail-reasons").hidden = false;
    } else if (dialog === "note") {
      const input = el<HTMLInputElement>("item-note-input");
      input.value = this.currentInspection()?.note ?? "";
      el("item-note").hidden = false;
      input.focus();
    } else if (dialog === "override") {
      el<HTMLInputElement>("override-reason").value = "";
      el("override").hidden = false;
      el<HTMLSelectElement>("override-outcome").focus();
    } else if (dialog === "close") {
      el<HTMLInputElement>("close-note").value = "";
      el("close-dialog").hidden = false;
      el<HTMLInputElement>("close-note").focus();
    } else if (dialog === "camera") {
      el("camera").hidden = false;
    }
  }

  private closeDialog(): void {
    for (const id of ["fail-reasons", "item-note", "override", "close-dialog", "camera"]) el(id).hidden = true;
    if (this.stream) {
      for (const track of this.stream.getTracks()) track.stop();
      this.stream = null;
    }
    const wasOpen = this.dialog !== null;
    this.dialog = null;
    if (wasOpen && this.ret) el("return-panel").focus({ preventScroll: true });
  }

  private currentItemId(): string | null {
    return this.ret?.items[this.selected]?.id ?? null;
  }

  private currentInspection(): InspectionView | null {
    const id = this.currentItemId();
    return this.state?.items.find((s) => s.item_id === id)?.inspection ?? null;
  }

  // --- Commands ---------------------------------------------------------------------------

  /// Records the selected item's inspection as `change` makes it from the current one.
  private async inspect(change: (n: InspectRequest) => InspectRequest): Promise<void> {
    const itemId = this.currentItemId();
    if (!this.state || !itemId) return;
    const now = this.currentInspection();
    const base: InspectRequest = {
      return_id: this.state.return_id,
      item_id: itemId,
      presence: now?.presence ?? "found",
      qc: now?.qc ?? null,
      qc_reason: now?.qc_reason ?? null,
      grade: now?.grade ?? null,
      disposition: now?.disposition ?? null,
      note: now?.note ?? null,
      photos: now?.photos ?? [],
    };
    const request = change(base);
    if (request.qc !== "fail") request.qc_reason = null;
    await this.apply(() => this.call("inspect_item", { request }), "item");
    // After a verdict, move on to the next item that still needs one.
    const next = this.state.items.findIndex((s, i) => i > this.selected && !s.inspection);
    if (next >= 0 && request.qc !== null) this.select(next);
  }

  private async nextDisposition(): Promise<void> {
    const now = this.currentInspection()?.disposition ?? null;
    const at = now ? DISPOSITIONS.indexOf(now) : -1;
    const disposition = DISPOSITIONS[(at + 1) % DISPOSITIONS.length] ?? "back_to_stock";
    await this.inspect((n) => ({ ...n, presence: "found", disposition }));
  }

  private async saveNote(): Promise<void> {
    const note = el<HTMLInputElement>("item-note-input").value;
    this.closeDialog();
    await this.inspect((n) => ({ ...n, note }));
  }

  private async apply(command: () => Promise<BenchState>, tone: "item" | "done"): Promise<void> {
    try {
      this.state = await command();
      beep(tone);
      this.paint();
    } catch (e) {
      showVerdict("error", message(e));
      beep("refused");
    }
  }

  private async undo(): Promise<void> {
    if (!this.state) return;
    const id = this.state.return_id;
    await this.apply(() => this.call("undo_last", { returnId: id }), "item");
  }

  async process(): Promise<void> {
    if (!this.state) return;
    try {
      const done = await this.call("process_return", { returnId: this.state.return_id });
      this.state = done.state;
      showVerdict("done", done.message);
      beep("done");
      this.paint();
      // The next parcel: the scan box has the focus again (the result stays on screen).
      el<HTMLInputElement>("scan-input").focus();
    } catch (e) {
      showVerdict("error", message(e));
      beep("refused");
    }
  }

  private async saveOverride(): Promise<void> {
    const itemId = this.currentItemId();
    if (!this.state || !itemId) return;
    const kind = el<HTMLSelectElement>("override-outcome").value as Outcome["kind"];
    const outcome: Outcome = kind === "credit_note" ? { kind, expiry_days: null } : ({ kind } as Outcome);
    const reason = el<HTMLInputElement>("override-reason").value;
    try {
      const result = await this.call("override_decision", {
        returnId: this.state.return_id,
        itemId,
        outcome,
        reason,
      });
      this.closeDialog();
      this.state = result.state;
      showVerdict("done", result.message);
      this.paint();
    } catch (e) {
      showVerdict("error", message(e));
      beep("refused");
    }
  }

  private async closeReturn(): Promise<void> {
    if (!this.state) return;
    const note = el<HTMLInputElement>("close-note").value;
    try {
      const result = await this.call("close_return", { returnId: this.state.return_id, note });
      this.closeDialog();
      this.state = result.state;
      showVerdict("done", result.message);
      beep("done");
      this.paint();
    } catch (e) {
      showVerdict("error", message(e));
      beep("refused");
    }
  }

  private async reprint(): Promise<void> {
    if (!this.state) return;
    const id = this.state.return_id;
    await this.apply(() => this.call("reprint_labels", { returnId: id }), "done");
  }

  private async toggleAudit(): Promise<void> {
    const list = el<HTMLOListElement>("audit");
    if (!list.hidden || !this.state) {
      list.hidden = true;
      return;
    }
    try {
      const trail = await this.call("audit_trail", { returnId: this.state.return_id });
      list.replaceChildren(...trail.map((e) => text("li", `${e.at.slice(0, 19).replace("T", " ")} · ${e.who}${e.station ? ` @ ${e.station}` : ""} · ${e.what}`)));
      list.hidden = false;
    } catch (e) {
      showVerdict("error", message(e));
    }
  }

  // --- Photos -----------------------------------------------------------------------------

  private choosePhoto(target: "item" | "orphan"): void {
    if (target === "item" && !this.inspecting) return;
    this.photoTarget = target;
    const input = el<HTMLInputElement>("photo-file");
    input.value = "";
    input.click();
  }

  private async photoChosen(): Promise<void> {
    const file = el<HTMLInputElement>("photo-file").files?.[0];
    if (!file) return;
    await this.storePhoto(new Uint8Array(await file.arrayBuffer()));
  }

  /// Stores the photo in the hub, then attaches it to the item (or the orphan parcel).
  async storePhoto(bytes: Uint8Array): Promise<void> {
    try {
      const photo = await this.call("add_photo", bytes);
      if (this.photoTarget === "orphan") {
        this.orphan.addPhoto(photo.hash);
      } else {
        await this.inspect((n) => ({ ...n, presence: "found", photos: [...n.photos, photo.hash] }));
      }
    } catch (e) {
      showVerdict("error", message(e));
      beep("refused");
    }
  }

  private async openCamera(): Promise<void> {
    if (!this.inspecting) return;
    const media = navigator.mediaDevices;
    if (!media?.getUserMedia) {
      showVerdict("error", "This station has no camera access: attach a photo file with H.");
      return;
    }
    try {
      this.stream = await media.getUserMedia({ video: true });
      this.photoTarget = "item";
      this.openDialog("camera");
      el<HTMLVideoElement>("camera-video").srcObject = this.stream;
    } catch (e) {
      showVerdict("error", `No camera found (${message(e)}): attach a photo file with H.`);
    }
  }

  private async snap(): Promise<void> {
    const video = el<HTMLVideoElement>("camera-video");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d")?.drawImage(video, 0, 0);
    this.closeDialog();
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    if (blob) await this.storePhoto(new Uint8Array(await blob.arrayBuffer()));
  }
}
