// The people screen (admins): everyone who may sign in at this hub, their role, whether they
// are active, must still choose a PIN or are locked out; enrolling one person (a badge scanned
// straight into the form) or a whole staff CSV file; resetting a PIN, lifting a lock-out,
// printing a badge label and reading a person's history. The hub checks the role and every
// value (the last active admin cannot be demoted or deactivated, a badge is one person's).
//
// One-time PINs are shown once, in the box at the top, until the admin dismisses them or the
// session ends: they are kept nowhere else (not in this object, not in a log, not on disk).

import type { IssuedPin } from "./bindings/IssuedPin";
import type { PersonView } from "./bindings/PersonView";
import type { Role } from "./bindings/Role";
import { el, message, text, type Call } from "./util";

const ROLE_LABEL: Record<Role, string> = { operator: "Operator", supervisor: "Supervisor", admin: "Admin" };
const ROLES = Object.keys(ROLE_LABEL) as Role[];

/// The hub refuses a larger staff file too (MAX_STAFF_CSV_BYTES); refused here first so a
/// wrong file is not read into the window at all.
const MAX_STAFF_CSV_BYTES = 1 << 20;

type RowAction = "role" | "deactivate" | "reactivate" | "reset" | "unlock" | "badge" | "history";


function roleIn(value: string): Role | undefined {
  return ROLES.find((r) => r === value);
}

function roleSelect(current: Role): HTMLSelectElement {
  const select = document.createElement("select");
  select.append(
    ...ROLES.map((r) => {
      const option = document.createElement("option");
      option.value = r;
      option.textContent = ROLE_LABEL[r];
      return option;
    }),
  );
  select.value = current;
  return select;
}

export class People {
  private people: PersonView[] = [];
  /// One command at a time: a second click while the hub answers the first is ignored.
  private busy = false;

  constructor(private readonly call: Call) {
    const badge = el<HTMLInputElement>("person-badge");
    const name = el<HTMLInputElement>("person-name");
    el<HTMLFormElement>("enrol-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.enrol();
    });
    // A badge scanned into this field is the new person's badge, not a parcel: its keys are
    // kept from the window's scanner detector (main.ts listens on the document, so a window
    // listener comes first), as on the sign-in screen. The scanner's Enter moves on to the name.
    window.addEventListener(
      "keydown",
      (event) => {
        if (event.target !== badge) return;
        if (event.key === "Enter") {
          event.preventDefault();
          event.stopPropagation();
          if (badge.value.trim()) name.focus();
        } else if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
          event.stopPropagation();
        }
      },
      { capture: true },
    );
    el("staff-import").addEventListener("click", () => void this.importStaff());
    el("people-pins-dismiss").addEventListener("click", () => this.dismissPins());
    // Whoever signs in next must not find the PINs in the page: they go when the session does.
    const signIn = el("sign-in");
    new MutationObserver(() => {
      if (!signIn.hidden) this.dismissPins();
    }).observe(signIn, { attributes: true, attributeFilter: ["hidden"] });
  }

  async load(): Promise<void> {
    try {
      await this.refresh();
      this.status("", true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async refresh(): Promise<void> {
    this.people = await this.call("people");
    this.paint();
  }

  private paint(): void {
    const body = el<HTMLTableElement>("people-table").tBodies[0];
    body?.replaceChildren(...this.people.map((p) => this.row(p)));
    if (this.people.length === 0) {
      const none = text("td", "Nobody is enrolled yet.", "muted");
      none.setAttribute("colspan", "5");
      const tr = document.createElement("tr");
      tr.append(none);
      body?.append(tr);
    }
  }

  private row(p: PersonView): HTMLTableRowElement {
    const tr = document.createElement("tr");
    tr.dataset["userId"] = p.id;
    tr.dataset["badge"] = p.badge;
    if (!p.active) tr.className = "inactive";

    const role = roleSelect(p.role);
    role.dataset["action"] = "role";
    role.setAttribute("aria-label", `Role of ${p.name}`);
    role.addEventListener("change", () => {
      const picked = roleIn(role.value);
      if (!picked) return;
      // Shown as it was until the hub agrees (it refuses demoting the last active admin).
      role.value = p.role;
      void this.act(p, "role", `${p.name} is now ${ROLE_LABEL[picked].toLowerCase()}.`, () =>
        this.call("set_person_role", { userId: p.id, role: picked }),
      );
    });
    const roleCell = document.createElement("td");
    roleCell.append(role);

    const state = document.createElement("td");
    state.append(text("span", p.active ? "active" : "inactive", p.active ? "mark" : "mark off"));
    if (p.must_change_pin) state.append(text("span", "must set PIN", "mark warn"));
    if (p.locked_out) state.append(text("span", "locked out", "mark bad"));

    const actions = document.createElement("td");
    actions.className = "actions";
    if (p.active) {
      actions.append(
        this.button(p, "deactivate", "Deactivate", () =>
          this.act(p, "deactivate", `${p.name} can no longer sign in.`, () =>
            this.call("set_person_active", { userId: p.id, active: false }),
          ),
        ),
      );
    } else {
      actions.append(
        this.button(p, "reactivate", "Reactivate", () =>
          this.act(p, "reactivate", `${p.name} can sign in again.`, () =>
            this.call("set_person_active", { userId: p.id, active: true }),
          ),
        ),
      );
    }
    actions.append(
      this.button(p, "reset", "Reset PIN", () =>
        this.act(p, "reset", `${p.name}'s old PIN no longer works; hand out the one-time PIN above.`, async () => {
          this.showPins([await this.call("reset_pin", { userId: p.id })]);
        }),
      ),
    );
    if (p.locked_out) {
      actions.append(
        this.button(p, "unlock", "Unlock", () =>
          this.act(p, "unlock", `${p.name} may try their PIN again.`, () => this.call("unlock_person", { userId: p.id })),
        ),
      );
    }
    actions.append(
      this.button(p, "badge", "Print badge", () =>
        this.act(p, "badge", `${p.name}'s badge label is queued on this station's printer.`, () =>
          this.call("print_badge", { userId: p.id }),
        ),
      ),
      this.button(p, "history", "History", () => this.history(p)),
    );

    tr.append(text("td", p.name), text("td", p.badge, "mono"), roleCell, state, actions);
    return tr;
  }

  private button(p: PersonView, action: RowAction, label: string, onClick: () => Promise<void>): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset["action"] = action;
    b.setAttribute("aria-label", `${label}: ${p.name}`);
    b.addEventListener("click", () => void onClick());
    return b;
  }

  /// Runs one row's command, then redraws the table from the hub's list and puts the focus
  /// back on the row (the table is rebuilt, so the pressed button is a new one).
  private async act(p: PersonView, action: RowAction, done: string, command: () => Promise<unknown>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await command();
      await this.refresh();
      this.status(done, true);
    } catch (e) {
      this.status(message(e), false);
    } finally {
      this.busy = false;
      this.refocus(p.id, action);
    }
  }

  private refocus(userId: string, action: RowAction): void {
    const rows = el<HTMLTableElement>("people-table").tBodies[0]?.rows;
    const row = rows ? [...rows].find((r) => r.dataset["userId"] === userId) : undefined;
    // Deactivate and Reactivate take each other's place; Unlock goes once it worked.
    const counterpart: RowAction = action === "deactivate" ? "reactivate" : action === "reactivate" ? "deactivate" : action;
    const target =
      row?.querySelector<HTMLElement>(`[data-action="${action}"]`) ??
      row?.querySelector<HTMLElement>(`[data-action="${counterpart}"]`) ??
      row?.querySelector<HTMLElement>("button[data-action]");
    target?.focus();
  }

  private async history(p: PersonView): Promise<void> {
    const box = el("people-history");
    try {
      const entries = await this.call("person_history", { userId: p.id });
      const table = document.createElement("table");
      const head = document.createElement("thead");
      const headRow = document.createElement("tr");
      headRow.append(text("th", "When"), text("th", "Who"), text("th", "Station"), text("th", "What"));
      head.append(headRow);
      const body = document.createElement("tbody");
      body.append(
        ...entries.map((entry) => {
          const tr = document.createElement("tr");
          tr.append(
            text("td", entry.at.slice(0, 19).replace("T", " "), "mono"),
            text("td", entry.who),
            text("td", entry.station ?? "—"),
            text("td", entry.what),
          );
          return tr;
        }),
      );
      table.append(head, body);
      box.dataset["userId"] = p.id;
      box.replaceChildren(
        text("h3", `History of ${p.name} (${p.badge})`),
        entries.length ? table : text("p", "Nothing is recorded for this person yet.", "muted"),
      );
      box.hidden = false;
      this.status("", true);
    } catch (e) {
      this.status(message(e), false);
    }
  }

  private async enrol(): Promise<void> {
    if (this.busy) return;
    const badge = el<HTMLInputElement>("person-badge");
    const name = el<HTMLInputElement>("person-name");
    const role = roleIn(el<HTMLSelectElement>("person-role").value) ?? "operator";
    this.busy = true;
    try {
      const issued = await this.call("enrol_person", {
        person: { badge: badge.value.trim(), name: name.value.trim(), role },
      });
      this.showPins([issued]);
      badge.value = "";
      name.value = "";
      this.status(`Enrolled ${issued.name} (${issued.badge}) as ${ROLE_LABEL[role].toLowerCase()}.`, true);
      await this.refresh();
      badge.focus();
    } catch (e) {
      this.status(message(e), false);
    } finally {
      this.busy = false;
    }
  }

  private async importStaff(): Promise<void> {
    if (this.busy) return;
    const input = el<HTMLInputElement>("staff-file");
    const errors = el("staff-errors");
    errors.replaceChildren();
    const file = input.files?.[0];
    if (!file) {
      this.status("Choose a staff CSV file first (columns badge,name,role, a header row first).", false);
      return;
    }
    if (file.size > MAX_STAFF_CSV_BYTES) {
      this.status(`${file.name} is ${file.size} bytes; a staff file of at most 1 MiB (${MAX_STAFF_CSV_BYTES} bytes) is accepted.`, false);
      return;
    }
    this.busy = true;
    const button = el<HTMLButtonElement>("staff-import");
    button.disabled = true;
    this.status(`Importing ${file.name}… (each one-time PIN takes a moment to secure)`, true);
    try {
      const result = await this.call("import_staff", { csv: await file.text() });
      if (result.errors.length > 0) {
        errors.replaceChildren(...result.errors.map((r) => text("li", `line ${r.line}, field ${r.field}: ${r.message}`, "error")));
        const count = result.errors.length === 1 ? "1 problem" : `${result.errors.length} problems`;
        this.status(`Nothing was enrolled: ${count} in ${file.name}. Fix the file and import it again.`, false);
        return;
      }
      this.showPins(result.enrolled);
      input.value = "";
      const count = result.enrolled.length === 1 ? "1 person" : `${result.enrolled.length} people`;
      this.status(`Enrolled ${count} from ${file.name}.`, true);
      await this.refresh();
    } catch (e) {
      this.status(message(e), false);
    } finally {
      this.busy = false;
      button.disabled = false;
    }
  }

  /// Adds PINs to the box. A person's newer PIN replaces the older one (that one is dead).
  private showPins(issued: readonly IssuedPin[]): void {
    const rows = el("people-pins-rows");
    for (const pin of issued) {
      const tr = document.createElement("tr");
      tr.dataset["pinFor"] = pin.user_id;
      const code = text("td", pin.one_time_pin, "one-time-pin mono");
      code.dataset["badge"] = pin.badge;
      tr.append(text("td", pin.name), text("td", pin.badge, "mono"), code);
      const older = [...rows.children].find((r) => r instanceof HTMLElement && r.dataset["pinFor"] === pin.user_id);
      if (older) older.replaceWith(tr);
      else rows.append(tr);
    }
    el("people-pins").hidden = rows.children.length === 0;
  }

  private dismissPins(): void {
    el("people-pins-rows").replaceChildren();
    el("people-pins").hidden = true;
  }

  private status(text: string, ok: boolean): void {
    const s = el("people-status");
    s.textContent = text;
    s.className = ok ? "ok" : "bad";
  }
}
