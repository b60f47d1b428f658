//! Who may sign in at a hub, and the rules every change to that list keeps: badges are unique,
//! PINs are short digit strings, and the hub always keeps one active admin (otherwise nobody
//! could ever enrol anyone again). Pure: the hub applies these before it records an event, the
//! same whether the change comes from the people screen, a CSV import or first-start setup.

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::record::UserRecord;

/// New PINs only: people enrolled before this rule keep theirs until they change it.
pub const MIN_PIN_DIGITS: usize = 6;
pub const MAX_PIN_DIGITS: usize = 12;
pub const MAX_BADGE_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 100;

/// Why a change to the people of a hub is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleError {
    #[error("badge {badge} is already {holder}'s")]
    DuplicateBadge { badge: String, holder: String },
    #[error("{0} is the last active admin: enrol or promote another admin first")]
    LastAdmin(String),
    #[error("{0}")]
    Invalid(String),
}

/// A badge as scanned or typed: trimmed; printable, no spaces (a scanner sends none).
pub fn check_badge(raw: &str) -> Result<String, PeopleError> {
    let badge = raw.trim();
    if badge.is_empty() {
        return Err(PeopleError::Invalid(
            "the badge is empty: scan it or type its code".into(),
        ));
    }
    if badge.chars().count() > MAX_BADGE_LEN {
        return Err(PeopleError::Invalid(format!(
            "the badge is longer than {MAX_BADGE_LEN} characters"
        )));
    }
    if badge.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PeopleError::Invalid(format!(
            "badge '{badge}' has a space or a control character in it"
        )));
    }
    Ok(badge.to_string())
}

/// A person's name as shown on screens and badges: trimmed, not empty.
pub fn check_name(raw: &str) -> Result<String, PeopleError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(PeopleError::Invalid("the name is empty".into()));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(PeopleError::Invalid(format!(
            "the name is longer than {MAX_NAME_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(PeopleError::Invalid(
            "the name has a control character in it".into(),
        ));
    }
    Ok(name.to_string())
}

/// A new PIN: digits only (typed on a bench keypad), 6 to 12 of them.
pub fn check_pin(pin: &str) -> Result<(), PeopleError> {
    let digits = pin.chars().count();
    if !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(PeopleError::Invalid("a PIN is digits only".into()));
    }
    if !(MIN_PIN_DIGITS..=MAX_PIN_DIGITS).contains(&digits) {
        return Err(PeopleError::Invalid(format!(
            "a PIN has {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits"
        )));
    }
    Ok(())
}

/// Checks that recording `after` (a new person, or a new version of one) keeps the hub's
/// invariants, given everyone enrolled now (`current`, which may hold the earlier version).
pub fn check_change(current: &[UserRecord], after: &UserRecord) -> Result<(), PeopleError> {
    if let Some(holder) = current
        .iter()
        .find(|u| u.id != after.id && u.badge.eq_ignore_ascii_case(&after.badge))
    {
        return Err(PeopleError::DuplicateBadge {
            badge: after.badge.clone(),
            holder: holder.name.clone(),
        });
    }
    let is_active_admin = |u: &UserRecord| u.active && u.role == Role::Admin;
    let before = current.iter().find(|u| u.id == after.id);
    let loses_admin = before.is_some_and(is_active_admin) && !is_active_admin(after);
    if loses_admin
        && !current
            .iter()
            .any(|u| u.id != after.id && is_active_admin(u))
    {
        return Err(PeopleError::LastAdmin(after.name.clone()));
    }
    Ok(())
}

/// What changed between two versions of a person's record, in words, for the audit trail
/// (`before` is `None` for an enrolment). The PIN hash itself never appears.
pub fn describe_change(before: Option<&UserRecord>, after: &UserRecord) -> String {
    let Some(before) = before else {
        return format!(
            "Enrolled {} ({}, badge {}){}",
            after.name,
            after.role.as_str(),
            after.badge,
            if after.active { "" } else { ", inactive" }
        );
    };
    let mut parts = Vec::new();
    if before.name != after.name {
        parts.push(format!("name {} → {}", before.name, after.name));
    }
    if before.badge != after.badge {
        parts.push(format!("badge {} → {}", before.badge, after.badge));
    }
    if before.role != after.role {
        parts.push(format!(
            "role {} → {}",
            before.role.as_str(),
            after.role.as_str()
        ));
    }
    if before.active != after.active {
        parts.push(
            if after.active {
                "reactivated"
            } else {
                "deactivated"
            }
            .to_string(),
        );
    }
    if before.pin_hash != after.pin_hash {
        parts.push(if after.must_change_pin {
            "PIN reset (to be changed at next sign-in)".to_string()
        } else {
            "PIN changed".to_string()
        });
    }
    if parts.is_empty() {
        return format!("{}: no change", after.name);
    }
    format!("{}: {}", after.name, parts.join(", "))
}

/// One row of a staff CSV file, as read (before any check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffRow {
    pub badge: String,
    pub name: String,
    pub role: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, badge: &str, role: Role, active: bool) -> UserRecord {
        UserRecord {
            id: id.into(),
            name: format!("Person {id}"),
            badge: badge.into(),
            pin_hash: "h".into(),
            role,
            active,
            must_change_pin: false,
        }
    }

    #[test]
    fn the_last_active_admin_stays_an_active_admin() {
        let people = vec![
            user("a", "AD-1", Role::Admin, true),
            user("b", "OP-1", Role::Operator, true),
            user("c", "AD-2", Role::Admin, false),
        ];
        let demoted = UserRecord {
            role: Role::Supervisor,
            ..people[0].clone()
        };
        assert!(matches!(
            check_change(&people, &demoted),
            Err(PeopleError::LastAdmin(_))
        ));
        let deactivated = UserRecord {
            active: false,
            ..people[0].clone()
        };
        assert!(matches!(
            check_change(&people, &deactivated),
            Err(PeopleError::LastAdmin(_))
        ));
        // With a second active admin both are fine.
        let mut two = people.clone();
        two[2].active = true;
        assert_eq!(check_change(&two, &demoted), Ok(()));
        // Demoting someone who is not an admin never trips it.
        let operator = UserRecord {
            role: Role::Supervisor,
            ..people[1].clone()
        };
        assert_eq!(check_change(&people, &operator), Ok(()));
    }

    #[test]
    fn badges_are_unique_whatever_their_case() {
        let people = vec![user("a", "AD-1", Role::Admin, true)];
        let newcomer = user("b", "ad-1", Role::Operator, true);
        assert_eq!(
            check_change(&people, &newcomer),
            Err(PeopleError::DuplicateBadge {
                badge: "ad-1".into(),
                holder: "Person a".into()
            })
        );
        // A person keeps their own badge.
        assert_eq!(check_change(&people, &people[0]), Ok(()));
    }

    #[test]
    fn inputs_are_checked() {
        assert_eq!(check_badge("  OP-7 ").unwrap(), "OP-7");
        assert!(check_badge("OP 7").is_err());
        assert!(check_badge(" ").is_err());
        assert!(check_name("").is_err());
        assert_eq!(check_name(" Mere ").unwrap(), "Mere");
        assert!(check_pin("123456").is_ok());
        assert!(check_pin("12345").is_err(), "six digits at least");
        assert!(check_pin("12a456").is_err());
        assert!(check_pin("1234567890123").is_err());
    }

    #[test]
    fn changes_are_described_before_and_after() {
        let before = user("a", "OP-1", Role::Operator, true);
        let after = UserRecord {
            role: Role::Supervisor,
            active: false,
            pin_hash: "other".into(),
            must_change_pin: true,
            ..before.clone()
        };
        let text = describe_change(Some(&before), &after);
        assert!(text.contains("role operator → supervisor"), "{text}");
        assert!(text.contains("deactivated"), "{text}");
        assert!(text.contains("PIN reset"), "{text}");
        assert!(!text.contains("other"), "never the hash: {text}");
        assert!(describe_change(None, &before).starts_with("Enrolled Person a"));
    }
}
