//! The people of a hub, as admins look after them: enrol, change role, reset a PIN, deactivate
//! and reactivate, lift a wrong-PIN lockout, import staff from a CSV file, print a badge. Each
//! change is one `UserEnrolled` event carrying the person's whole new record (the audit trail
//! shows before → after by comparing it with the record it replaces), checked first against
//! the rules in `returnhub_core::people` (unique badges, one active admin always).
//!
//! PINs an admin hands out (enrolment, import, reset) are one-time: shown once to the admin,
//! stored only as a hash, and the person chooses their own at the next sign-in before they can
//! do anything else.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use returnhub_core::auth::Role;
use returnhub_core::bench::LabelJob;
use returnhub_core::people::{self, PeopleError};
use returnhub_core::record::{SignOutReason, UserRecord};
use returnhub_devices::label::templates;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::EventInput;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::supervisor::{audit_entry, AuditEntry};
use crate::{Hub, HubError, Result};

/// The longest staff file accepted: a hub's staff fit in far less.
pub const MAX_STAFF_CSV_BYTES: usize = 1 << 20;
const MAX_STAFF_ROWS: usize = 2_000;

/// A person as the people screen lists them (never the PIN or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PersonView {
    pub id: String,
    pub name: String,
    pub badge: String,
    pub role: Role,
    pub active: bool,
    /// Signs in with a one-time PIN and must choose their own.
    pub must_change_pin: bool,
    /// Locked out after wrong PINs at any station of the hub (an admin can lift it).
    pub locked_out: bool,
}

/// A new person, as the enrol form (or a CSV row) gives them.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    pub badge: String,
    pub name: String,
    pub role: Role,
}

/// A one-time PIN handed to a person; shown to the admin once, never stored as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct IssuedPin {
    pub user_id: String,
    pub name: String,
    pub badge: String,
    pub one_time_pin: String,
}

/// One refused row of a staff CSV file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct StaffRowError {
    /// The line in the file (the header is line 1).
    pub line: u32,
    pub field: String,
    pub message: String,
}

/// What a staff import did: every row enrolled, or (with any error) none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct StaffImport {
    pub enrolled: Vec<IssuedPin>,
    pub errors: Vec<StaffRowError>,
}

/// Six random digits.
fn one_time_pin() -> String {
    format!("{:06}", OsRng.next_u32() % 1_000_000)
}

fn person_error(e: PeopleError) -> HubError {
    match e {
        PeopleError::Invalid(message) => HubError::Invalid(message),
        PeopleError::DuplicateBadge { .. } => HubError::Conflict(e.to_string()),
        PeopleError::LastAdmin(_) => HubError::NotAllowed(e.to_string()),
    }
}

impl Hub {
    /// Everyone enrolled at this hub (admins).
    pub fn people(&self) -> Result<Vec<PersonView>> {
        self.authorize(Role::Admin)?;
        let users = self.store().users()?;
        let locked = self.locked_out_badges()?;
        Ok(users.into_iter().map(|u| view_of(u, &locked)).collect())
    }

    /// Enrols a person with a one-time PIN (admins).
    pub fn enrol_person(&self, input: &PersonInput) -> Result<IssuedPin> {
        let actor = self.authorize(Role::Admin)?;
        let badge = people::check_badge(&input.badge).map_err(person_error)?;
        let name = people::check_name(&input.name).map_err(person_error)?;
        let pin = one_time_pin();
        let record = UserRecord {
            id: format!("u-{}", uuid::Uuid::now_v7().simple()),
            name,
            badge,
            pin_hash: crate::auth::hash_pin(&pin),
            role: input.role,
            active: true,
            must_change_pin: true,
        };
        self.record_person(&actor.user_id, &record)?;
        tracing::info!(actor = %actor.user_id, user = %record.id, role = record.role.as_str(), "enrolled a person");
        Ok(IssuedPin {
            user_id: record.id,
            name: record.name,
            badge: record.badge,
            one_time_pin: pin,
        })
    }

    /// Gives a person another role (admins). The last active admin keeps theirs.
    pub fn set_role(&self, user_id: &str, role: Role) -> Result<PersonView> {
        self.change_person(user_id, |u| u.role = role)
    }

    /// Lets a person sign in again, or stops them (admins); their history stays.
    pub fn set_active(&self, user_id: &str, active: bool) -> Result<PersonView> {
        self.change_person(user_id, |u| u.active = active)
    }

    /// Replaces a person's PIN with a one-time PIN they must change at the next sign-in.
    pub fn reset_pin(&self, user_id: &str) -> Result<IssuedPin> {
        // Checked before the (deliberately slow) hash, not only inside change_person.
        self.authorize(Role::Admin)?;
        let pin = one_time_pin();
        let hash = crate::auth::hash_pin(&pin);
        let view = self.change_person(user_id, |u| {
            u.pin_hash = hash;
            u.must_change_pin = true;
        })?;
        Ok(IssuedPin {
            user_id: view.id,
            name: view.name,
            badge: view.badge,
            one_time_pin: pin,
        })
    }

    /// Lifts a badge's wrong-PIN lockout (admins): a `UserUnlocked` event, which ends the count
    /// at every station of the hub.
    pub fn unlock_person(&self, user_id: &str) -> Result<PersonView> {
        let actor = self.authorize(Role::Admin)?;
        let user = self.person(user_id)?;
        let station = self.options().station.clone();
        self.store().write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::UserUnlocked {
                    user_id: user.id.clone(),
                    station: station.clone(),
                },
                actor: actor.user_id.clone(),
                station: Some(station.clone()),
            })?;
            Ok(())
        })?;
        tracing::info!(actor = %actor.user_id, user = %user.id, "lifted a lockout");
        self.person_view(user_id)
    }

    /// Queues the person's badge label on this station's printer (admins).
    pub fn print_badge(&self, user_id: &str) -> Result<()> {
        let actor = self.authorize(Role::Admin)?;
        let user = self.person(user_id)?;
        let options = self.options();
        let job = LabelJob {
            id: crate::bench::new_id(),
            return_id: user.id.clone(),
            station: options.station.clone(),
            template: "badge".into(),
            fields: templates::badge_fields(
                &user.name,
                user.role.as_str(),
                &user.badge,
                &options.hub_name,
            ),
            reprint_of: None,
        };
        // The label must render before it is queued: a badge code the printer cannot encode
        // is the admin's to know now, not a stuck print job later.
        crate::station::render(&job).map_err(|e| HubError::Device(e.to_string()))?;
        self.store().write((self.clock)(), |tx| {
            tx.append(self.input(&actor, DomainEvent::LabelQueued(job)))?;
            Ok(())
        })?;
        self.print_wakeup();
        Ok(())
    }

    /// A person's history: enrolment and every change (before → after), unlocks, badge labels,
    /// sign-ins (admins).
    pub fn person_history(&self, user_id: &str) -> Result<Vec<AuditEntry>> {
        self.authorize(Role::Admin)?;
        let store = self.store();
        let mut previous: Option<UserRecord> = None;
        let mut out = Vec::new();
        for row in store.events_for(user_id)? {
            let event: DomainEvent = serde_json::from_str(&row.payload).map_err(|e| {
                HubError::Corrupt(format!("event {} cannot be read: {e}", row.event_id))
            })?;
            let what = match &event {
                DomainEvent::UserEnrolled(after) => {
                    let text = people::describe_change(previous.as_ref(), after);
                    previous = Some(after.clone());
                    text
                }
                DomainEvent::UserUnlocked { station, .. } => {
                    format!("Lockout lifted at {station}")
                }
                DomainEvent::SignedIn { station, .. } => format!("Signed in at {station}"),
                DomainEvent::SignedOut {
                    station, reason, ..
                } => match reason {
                    SignOutReason::Manual => format!("Signed out at {station}"),
                    SignOutReason::Inactivity => {
                        format!("Station {station} locked after a while idle")
                    }
                },
                DomainEvent::LabelQueued(_) => "Badge label printed".into(),
                other => other.kind().replace('_', " "),
            };
            out.push(audit_entry(&store, row, what)?);
        }
        Ok(out)
    }

    /// Enrols every person of a staff CSV file (admins): columns `badge`, `name`, `role`
    /// (operator, supervisor or admin), a header row first. Any bad row refuses the whole
    /// file, each error naming its line and field; nothing is enrolled half-way.
    pub fn import_staff(&self, csv_text: &str) -> Result<StaffImport> {
        let actor = self.authorize(Role::Admin)?;
        if csv_text.len() > MAX_STAFF_CSV_BYTES {
            return Err(HubError::Invalid(format!(
                "the file is {} bytes; a staff file of at most {MAX_STAFF_CSV_BYTES} is accepted",
                csv_text.len()
            )));
        }
        let (rows, mut errors) = parse_staff(csv_text);
        let mut current = self.store().users()?;
        let mut planned = Vec::new();
        for (line, input) in rows {
            let mut row_error = |field: &str, message: String| {
                errors.push(StaffRowError {
                    line,
                    field: field.into(),
                    message,
                })
            };
            let badge =
                people::check_badge(&input.badge).map_err(|e| row_error("badge", e.to_string()));
            let name =
                people::check_name(&input.name).map_err(|e| row_error("name", e.to_string()));
            let (Ok(badge), Ok(name)) = (badge, name) else {
                continue;
            };
            let pin = one_time_pin();
            let record = UserRecord {
                id: format!("u-{}", uuid::Uuid::now_v7().simple()),
                name,
                badge,
                pin_hash: String::new(),
                role: input.role,
                active: true,
                must_change_pin: true,
            };
            // Checked against everyone enrolled and every row before it.
            if let Err(e) = people::check_change(&current, &record) {
                errors.push(StaffRowError {
                    line,
                    field: "badge".into(),
                    message: e.to_string(),
                });
                continue;
            }
            current.push(record.clone());
            planned.push((record, pin));
        }
        if planned.is_empty() && errors.is_empty() {
            errors.push(StaffRowError {
                line: 1,
                field: "file".into(),
                message: "no people in the file: a header row (badge,name,role), then one row each"
                    .into(),
            });
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Ok(StaffImport {
                enrolled: Vec::new(),
                errors,
            });
        }
        // Hashing is the slow part (Argon2id); done before the store is locked.
        for (record, pin) in &mut planned {
            record.pin_hash = crate::auth::hash_pin(pin);
        }
        self.store().write((self.clock)(), |tx| {
            for (record, _) in &planned {
                tx.append(self.input(&actor, DomainEvent::UserEnrolled(record.clone())))?;
            }
            Ok(())
        })?;
        tracing::info!(actor = %actor.user_id, people = planned.len(), "imported staff");
        Ok(StaffImport {
            enrolled: planned
                .into_iter()
                .map(|(r, pin)| IssuedPin {
                    user_id: r.id,
                    name: r.name,
                    badge: r.badge,
                    one_time_pin: pin,
                })
                .collect(),
            errors: Vec::new(),
        })
    }

    /// The signed-in person changes their own PIN (required after a one-time PIN).
    pub fn change_own_pin(
        &self,
        current_pin: &str,
        new_pin: &str,
        new_pin_again: &str,
    ) -> Result<()> {
        let user_id = self.signed_in_user_id()?;
        people::check_pin(new_pin).map_err(person_error)?;
        if new_pin != new_pin_again {
            return Err(HubError::Invalid("the two new PINs differ".into()));
        }
        if new_pin == current_pin {
            return Err(HubError::Invalid(
                "choose a PIN other than the one-time PIN".into(),
            ));
        }
        let user = self.person(&user_id)?;
        if !crate::auth::pin_matches(current_pin, &user.pin_hash) {
            return Err(HubError::SignIn("the current PIN is not right".into()));
        }
        let record = UserRecord {
            pin_hash: crate::auth::hash_pin(new_pin),
            must_change_pin: false,
            ..user
        };
        self.store().write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::UserEnrolled(record.clone()),
                actor: user_id.clone(),
                station: Some(self.options().station.clone()),
            })?;
            Ok(())
        })?;
        self.pin_changed();
        tracing::info!(user = %user_id, "changed their PIN");
        Ok(())
    }

    fn person(&self, user_id: &str) -> Result<UserRecord> {
        self.store()
            .users()?
            .into_iter()
            .find(|u| u.id == user_id)
            .ok_or_else(|| HubError::NotFound(format!("no person {user_id} at this hub")))
    }

    /// The person as the people screen shows them (the caller has checked the role).
    fn person_view(&self, user_id: &str) -> Result<PersonView> {
        Ok(view_of(self.person(user_id)?, &self.locked_out_badges()?))
    }

    /// Applies `change` to a person's record and records it, if it keeps the rules.
    fn change_person(
        &self,
        user_id: &str,
        change: impl FnOnce(&mut UserRecord),
    ) -> Result<PersonView> {
        let actor = self.authorize(Role::Admin)?;
        let mut after = self.person(user_id)?;
        let before = after.clone();
        change(&mut after);
        if after == before {
            return self.person_view(user_id);
        }
        self.record_person(&actor.user_id, &after)?;
        tracing::info!(actor = %actor.user_id, user = user_id, change = %people::describe_change(Some(&before), &after), "changed a person");
        self.person_view(user_id)
    }

    /// Checks a person's new record against everyone enrolled and records it, holding the
    /// store from the check to the write so two admins cannot both take the last admin away.
    fn record_person(&self, actor: &str, record: &UserRecord) -> Result<()> {
        let station = self.options().station.clone();
        let mut store = self.store();
        people::check_change(&store.users()?, record).map_err(person_error)?;
        store.write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::UserEnrolled(record.clone()),
                actor: actor.to_string(),
                station: Some(station.clone()),
            })?;
            Ok(())
        })?;
        drop(store);
        self.person_changed(record);
        Ok(())
    }
}

fn view_of(user: UserRecord, locked_out: &[String]) -> PersonView {
    PersonView {
        locked_out: locked_out
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&user.badge)),
        id: user.id,
        name: user.name,
        badge: user.badge,
        role: user.role,
        active: user.active,
        must_change_pin: user.must_change_pin,
    }
}

/// Reads a staff CSV file into rows (with their line numbers) and per-row errors.
fn parse_staff(text: &str) -> (Vec<(u32, PersonInput)>, Vec<StaffRowError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.to_ascii_lowercase()).collect::<Vec<_>>(),
        Err(e) => {
            errors.push(StaffRowError {
                line: 1,
                field: "header".into(),
                message: format!("cannot read the header row: {e}"),
            });
            return (rows, errors);
        }
    };
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(badge_at), Some(name_at), Some(role_at)) =
        (column("badge"), column("name"), column("role"))
    else {
        errors.push(StaffRowError {
            line: 1,
            field: "header".into(),
            message: format!(
                "the header row must name the columns badge, name and role (it has: {})",
                headers.join(", ")
            ),
        });
        return (rows, errors);
    };
    for (n, record) in reader.records().enumerate() {
        if n >= MAX_STAFF_ROWS {
            errors.push(StaffRowError {
                line: n as u32 + 2,
                field: "file".into(),
                message: format!("at most {MAX_STAFF_ROWS} people per file"),
            });
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(n as u32 + 2, |p| p.line() as u32);
                errors.push(StaffRowError {
                    line,
                    field: "row".into(),
                    message: format!("cannot read this row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(n as u32 + 2, |p| p.line() as u32);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |at: usize| record.get(at).unwrap_or("").to_string();
        let role_text = get(role_at).to_ascii_lowercase();
        let Some(role) = Role::parse(&role_text) else {
            errors.push(StaffRowError {
                line,
                field: "role".into(),
                message: format!(
                    "'{}' is not a role: operator, supervisor or admin",
                    get(role_at)
                ),
            });
            continue;
        };
        rows.push((
            line,
            PersonInput {
                badge: get(badge_at),
                name: get(name_at),
                role,
            },
        ));
    }
    (rows, errors)
}
