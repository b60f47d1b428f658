//! Automated return rules: the data the admin edits (`model`), the facts they test
//! (`facts`), their validation (`validate`, `analysis`) and their fast evaluation form
//! (`compiled`). Deciding an item's outcome with them is `decision`'s job.

pub(crate) mod analysis;
pub(crate) mod compiled;
pub mod facts;
pub(crate) mod index;
pub mod model;
pub(crate) mod typed;
pub mod validate;

pub use facts::{discount_share, CountryCode, Grade, ItemFacts, QcStatus, Ratio};
pub use model::{Condition, Field, Literal, Op, Outcome, OutcomeKind, Predicate, Rule, RuleSet};
pub use validate::{parse_rule_set, validate, IssueCode, RuleIssue, Severity};
