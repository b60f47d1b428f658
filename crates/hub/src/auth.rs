//! Sign-in at a station and the role check every command goes through.
//!
//! One station, one signed-in user (the bench is a shared machine). Operators sign in by
//! scanning their badge and typing a PIN; the PIN is checked against an Argon2id hash and never
//! stored, logged or put in an event. The session locks after a configurable time without a
//! command, and repeated wrong PINs lock the badge out for a while. Every sign-in, sign-out,
//! lock and refusal is an event: the audit trail says who was at which station when. The
//! lockout is counted from the refusals in the store (`sign_in_failures`, projected from those
//! events), so it survives a restart and holds at every station of the hub as they sync.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use returnhub_core::auth::Role;
use returnhub_core::record::SignOutReason;
use returnhub_core::time::UnixMillis;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::EventInput;
use serde::Serialize;
use ts_rs::TS;

use crate::{Hub, HubError, Result};

/// Wrong PINs for one badge within the window before it is locked out.
const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW_MS: i64 = 5 * 60_000;
const LOCKOUT_MS: i64 = 60_000;

/// Who is signed in, as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SessionView {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    /// Signed in with a one-time PIN: every command but changing it is refused until then.
    pub must_change_pin: bool,
}

/// The signed-in user a command acts as; recorded as the actor of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    current: Option<(SessionView, UnixMillis)>,
}

/// Hashes a PIN for storage (Argon2id, random salt).
pub fn hash_pin(pin: &str) -> String {
    Argon2::default()
        .hash_password(pin.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("Argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether refusals at these times (the last few minutes') lock the badge out at `now`.
fn locked_out(recent: &[UnixMillis], now: UnixMillis) -> bool {
    recent.len() >= MAX_FAILURES && recent.last().is_some_and(|last| now - last < LOCKOUT_MS)
}

pub(crate) fn pin_matches(pin: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(pin.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Hub {
    /// Signs `badge` in with `pin`, replacing whoever was signed in at this station.
    pub fn sign_in(&self, badge: &str, pin: &str) -> Result<SessionView> {
        let badge = badge.trim();
        let now = (self.clock)();
        let recent = self
            .store()
            .sign_in_failures(badge, now - FAILURE_WINDOW_MS)?;
        if locked_out(&recent, now) {
            return Err(HubError::SignIn(
                "too many wrong PINs for this badge: wait a minute, or ask a supervisor".into(),
            ));
        }
        let user = self.store().user_by_badge(badge)?;
        let refusal = match &user {
            None => Some("unknown badge"),
            Some(u) if !u.active => Some("user is not active"),
            Some(u) if !pin_matches(pin, &u.pin_hash) => Some("wrong PIN"),
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            self.record(
                now,
                "system:sign-in",
                DomainEvent::SignInRefused {
                    badge: badge.to_string(),
                    station: self.options().station.clone(),
                    reason: reason.to_string(),
                },
            )?;
            tracing::warn!(badge, reason, "sign-in refused");
            // One message for both, so a badge cannot be probed for existence.
            return Err(HubError::SignIn("badge or PIN not recognised".into()));
        }
        let user = user.expect("refusal covers a missing user");
        let view = SessionView {
            user_id: user.id.clone(),
            name: user.name,
            role: user.role,
            must_change_pin: user.must_change_pin,
        };
        // Whoever was signed in at this station hands over.
        self.sign_out()?;
        self.record(
            now,
            &user.id,
            DomainEvent::SignedIn {
                user_id: user.id.clone(),
                station: self.options().station.clone(),
            },
        )?;
        self.sessions().current = Some((view.clone(), now));
        tracing::info!(user = %view.user_id, role = view.role.as_str(), "signed in");
        Ok(view)
    }

    pub fn sign_out(&self) -> Result<()> {
        let now = (self.clock)();
        let previous = self.sessions().current.take();
        if let Some((prev, _)) = previous {
            self.record(
                now,
                &prev.user_id,
                self.signed_out(&prev, SignOutReason::Manual),
            )?;
        }
        Ok(())
    }

    /// Who is signed in now; locks the station first if it sat idle too long.
    pub fn session(&self) -> Result<Option<SessionView>> {
        self.expire_if_idle((self.clock)())?;
        Ok(self.sessions().current.as_ref().map(|(v, _)| v.clone()))
    }

    /// The signed-in user if their role covers `required`; marks the session active.
    pub fn authorize(&self, required: Role) -> Result<Actor> {
        let now = (self.clock)();
        self.expire_if_idle(now)?;
        let mut sessions = self.sessions();
        let Some((view, last)) = sessions.current.as_mut() else {
            return Err(HubError::NotSignedIn);
        };
        if view.must_change_pin {
            return Err(HubError::MustChangePin);
        }
        if !view.role.covers(required) {
            tracing::warn!(user = %view.user_id, needed = required.as_str(), "forbidden");
            return Err(HubError::Forbidden {
                needed: required,
                have: view.role,
            });
        }
        *last = now;
        Ok(Actor {
            user_id: view.user_id.clone(),
            role: view.role,
        })
    }

    /// Who is signed in, even before they chose their own PIN (only changing it needs this).
    pub(crate) fn signed_in_user_id(&self) -> Result<String> {
        let now = (self.clock)();
        self.expire_if_idle(now)?;
        let mut sessions = self.sessions();
        let Some((view, last)) = sessions.current.as_mut() else {
            return Err(HubError::NotSignedIn);
        };
        *last = now;
        Ok(view.user_id.clone())
    }

    /// The signed-in person chose their own PIN: the session may do what their role allows.
    pub(crate) fn pin_changed(&self) {
        if let Some((view, _)) = self.sessions().current.as_mut() {
            view.must_change_pin = false;
        }
    }

    /// A person's record changed: if they are the one signed in here, their session follows
    /// at once (a new role; deactivated: signed out), not at their next sign-in.
    pub(crate) fn person_changed(&self, record: &returnhub_core::record::UserRecord) {
        let mut sessions = self.sessions();
        let Some((view, _)) = sessions.current.as_mut() else {
            return;
        };
        if view.user_id != record.id {
            return;
        }
        if record.active {
            view.role = record.role;
            view.name.clone_from(&record.name);
        } else {
            sessions.current = None;
        }
    }

    /// Badges locked out now (wrong PINs, at any station of the hub).
    pub(crate) fn locked_out_badges(&self) -> Result<Vec<String>> {
        let now = (self.clock)();
        Ok(self
            .store()
            .badges_refused(now - FAILURE_WINDOW_MS, MAX_FAILURES as u32)?
            .into_iter()
            .filter(|(_, last)| now - last < LOCKOUT_MS)
            .map(|(badge, _)| badge)
            .collect())
    }

    fn expire_if_idle(&self, now: UnixMillis) -> Result<()> {
        let limit = i64::from(self.options().lock_after_minutes) * 60_000;
        let expired = {
            let mut sessions = self.sessions();
            match &sessions.current {
                Some((_, last)) if now - last >= limit => sessions.current.take(),
                _ => None,
            }
        };
        if let Some((view, _)) = expired {
            self.record(
                now,
                &view.user_id,
                self.signed_out(&view, SignOutReason::Inactivity),
            )?;
            tracing::info!(user = %view.user_id, "station locked after inactivity");
        }
        Ok(())
    }

    fn signed_out(&self, view: &SessionView, reason: SignOutReason) -> DomainEvent {
        DomainEvent::SignedOut {
            user_id: view.user_id.clone(),
            station: self.options().station.clone(),
            reason,
        }
    }

    /// Appends one event as `actor`.
    fn record(&self, now: UnixMillis, actor: &str, event: DomainEvent) -> Result<()> {
        self.store().write(now, |tx| {
            tx.append(EventInput {
                event,
                actor: actor.to_string(),
                station: Some(self.options().station.clone()),
            })
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_hash_with_salt_and_verify() {
        let a = hash_pin("2468");
        let b = hash_pin("2468");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(pin_matches("2468", &a) && pin_matches("2468", &b));
        assert!(!pin_matches("2469", &a));
        assert!(!pin_matches("2468", "not a hash"));
    }
}
