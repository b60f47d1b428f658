//! Who may do what. Roles are ordered: a supervisor can do what an operator can, an admin what
//! a supervisor can. The hub checks the signed-in user's role in Rust before every command;
//! the UI hiding a button is a courtesy, not the control.

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Scans, inspects, processes at the bench.
    Operator,
    /// Works exceptions, overrides decisions, closes returns, reprints labels.
    Supervisor,
    /// Configures retailers, rules, users and integrations.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Operator, Role::Supervisor, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// Whether someone with this role may do what `required` may.
    pub fn covers(self, required: Role) -> bool {
        self >= required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Admin.covers(Role::Operator));
        assert!(Role::Supervisor.covers(Role::Supervisor));
        assert!(!Role::Operator.covers(Role::Supervisor));
        assert!(!Role::Supervisor.covers(Role::Admin));
        for r in [Role::Operator, Role::Supervisor, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
