//! Which system carries out a return's actions. A retailer binds each return source (the
//! `source` of a `ReturnRecord`: portal, loop, increff, returns_prime, …) to a target; a
//! source with no binding of its own goes where its name says (Loop returns through Loop,
//! Increff and Clickpost returns through Increff, Returns Prime returns through Returns
//! Prime) and everything else to Shopify directly.

use serde::{Deserialize, Serialize};

/// A system the hub sends return actions to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionTarget {
    Shopify,
    Loop,
    /// Increff's Returns Processing Update; Clickpost's QC reaches Clickpost this way too.
    Increff,
    ReturnsPrime,
}

impl ActionTarget {
    pub const ALL: [ActionTarget; 4] = [
        ActionTarget::Shopify,
        ActionTarget::Loop,
        ActionTarget::Increff,
        ActionTarget::ReturnsPrime,
    ];

    /// The name in events and settings ("shopify", "loop", "increff", "returns_prime").
    pub fn name(self) -> &'static str {
        match self {
            ActionTarget::Shopify => "shopify",
            ActionTarget::Loop => "loop",
            ActionTarget::Increff => "increff",
            ActionTarget::ReturnsPrime => "returns_prime",
        }
    }

    pub fn parse(name: &str) -> Option<ActionTarget> {
        ActionTarget::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the partner decides and carries out the money side itself (it is told each
    /// item's QC result, including the items that get nothing from us).
    pub fn is_partner(self) -> bool {
        self != ActionTarget::Shopify
    }
}

/// One binding: returns from `source` are actioned through `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct SourceRoute {
    pub source: String,
    pub target: ActionTarget,
}

/// A retailer's partner settings. Part of the retailer's policy, so it syncs with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default, deny_unknown_fields)]
pub struct PartnerPolicy {
    /// Bindings that replace the default for their source.
    pub routes: Vec<SourceRoute>,
}

impl PartnerPolicy {
    /// Where actions of a return from `source` go.
    pub fn target_for(&self, source: &str) -> ActionTarget {
        if let Some(route) = self.routes.iter().find(|r| r.source == source) {
            return route.target;
        }
        default_target(source)
    }

    /// The problems an admin must fix before the settings can be saved.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, route) in self.routes.iter().enumerate() {
            let ok = !route.source.is_empty()
                && route.source.len() <= 40
                && route
                    .source
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                problems.push(format!(
                    "route {}: the source \"{}\" must be 1 to 40 lower-case letters, digits or _",
                    i + 1,
                    route.source
                ));
            }
            if self.routes[..i].iter().any(|r| r.source == route.source) {
                problems.push(format!(
                    "route {}: the source \"{}\" is bound twice",
                    i + 1,
                    route.source
                ));
            }
        }
        problems
    }
}

/// The target of a source nobody bound.
pub fn default_target(source: &str) -> ActionTarget {
    match source {
        "loop" => ActionTarget::Loop,
        "increff" | "clickpost" => ActionTarget::Increff,
        "returns_prime" => ActionTarget::ReturnsPrime,
        _ => ActionTarget::Shopify,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_go_to_their_partner_unless_bound_elsewhere() {
        let policy = PartnerPolicy::default();
        assert_eq!(policy.target_for("loop"), ActionTarget::Loop);
        assert_eq!(policy.target_for("clickpost"), ActionTarget::Increff);
        assert_eq!(policy.target_for("increff"), ActionTarget::Increff);
        assert_eq!(
            policy.target_for("returns_prime"),
            ActionTarget::ReturnsPrime
        );
        assert_eq!(policy.target_for("portal"), ActionTarget::Shopify);
        let bound = PartnerPolicy {
            routes: vec![SourceRoute {
                source: "loop".into(),
                target: ActionTarget::Shopify,
            }],
        };
        assert_eq!(bound.target_for("loop"), ActionTarget::Shopify);
        assert!(bound.problems().is_empty());
    }

    #[test]
    fn bad_routes_are_named() {
        let policy = PartnerPolicy {
            routes: vec![
                SourceRoute {
                    source: "Loop ".into(),
                    target: ActionTarget::Loop,
                },
                SourceRoute {
                    source: "x".into(),
                    target: ActionTarget::Loop,
                },
                SourceRoute {
                    source: "x".into(),
                    target: ActionTarget::Increff,
                },
            ],
        };
        let problems = policy.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("route 1"));
        assert!(problems[1].contains("bound twice"));
        for t in ActionTarget::ALL {
            assert_eq!(ActionTarget::parse(t.name()), Some(t));
        }
    }
}
