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

/// The source of the returns Loop uploads through the Upload API (its API key says so). Loop
/// issues the customer's credit itself when the hub's tracking events (RC, RP) reach its
/// webhook (`https://api.loopreturns.com/hook/v1/seko/update`): nothing is sent anywhere for
/// such a return, since Shopify, or another partner, would pay a second time.
pub const LOOP_UPLOAD: &str = "loop_upload";

/// Whether returns from `source` are paid by whoever uploaded them, on the hub's tracking
/// events alone: no action is ever made due for them.
pub fn pays_itself(source: &str) -> bool {
    source == LOOP_UPLOAD
}

/// The partner that credits returns from `source` itself, on the hub's tracking events (Loop,
/// for the returns it uploads): actioning them through anyone else would pay twice, so no
/// route may send them elsewhere. (Returns from a hub's Loop connection, source `loop`, are
/// paid when Loop is told to process them: an admin may send those to Shopify instead.)
pub fn credited_by(source: &str) -> Option<ActionTarget> {
    (source == LOOP_UPLOAD).then_some(ActionTarget::Loop)
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
    /// Where the retailer's tracking events go (the hub provider's webhook format), e.g.
    /// Loop's `https://api.loopreturns.com/hook/v1/seko/update`. Passwords are secrets: they
    /// live in the keyring under the URL, never here.
    pub tracking_webhooks: Vec<TrackingWebhook>,
    /// The retailer's connections to partners (what is not secret; the key, password or token
    /// is in the keyring of each device that sends).
    pub connections: Vec<PartnerConnection>,
    /// When the receipt notice (RC) goes to the tracking webhooks.
    pub receipt_notice: ReceiptNotice,
}

/// When a retailer's tracking webhooks hear that the return was received (RC): partners such
/// as Loop credit on it, so some retailers want it as early as the carrier's first scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptNotice {
    /// When the hub scans the parcel in (its first bench scan, or the orphan intake).
    #[default]
    HubReceipt,
    /// At the first scan: the carrier's in-transit event (RT) when it comes before the hub's
    /// receipt, else the hub's receipt. Once either way.
    FirstScan,
}

/// How to reach a partner for one retailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct PartnerConnection {
    /// Loop, Increff or Returns Prime.
    pub target: ActionTarget,
    /// The API's base URL (Loop: `https://api.loopreturns.com/api/v1`).
    pub base_url: String,
    /// Increff's `authUsername`.
    #[serde(default)]
    pub username: Option<String>,
    /// Increff's `authDomainName`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Returns Prime's processing-update path (not documented by Returns Prime: an adapter
    /// setting; `{id}` is the request id). `None`: the default.
    #[serde(default)]
    pub qc_path: Option<String>,
    /// Where partners can fetch the hub's photos (`{base}/{hash}.jpg`); `None`: no photo URLs.
    #[serde(default)]
    pub photo_url_base: Option<String>,
    pub connected_at: String,
    /// An admin allowed plain http to `base_url` (the window shows it in red).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// One URL that receives the retailer's tracking events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TrackingWebhook {
    pub url: String,
    /// Sent as the `Username` header, with the `Password` header from the keyring.
    pub username: Option<String>,
    /// An admin allowed plain http to this address (the window shows it in red).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// At most this many tracking webhook URLs per retailer.
pub const MAX_TRACKING_WEBHOOKS: usize = 8;

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
            if let Some(partner) = credited_by(&route.source).filter(|p| *p != route.target) {
                problems.push(format!(
                    "route {}: returns from {} are credited by the partner that uploaded them \
                     ({}) when it receives this hub's tracking events; actioning them through \
                     {} too would pay twice",
                    i + 1,
                    route.source,
                    partner.name(),
                    route.target.name()
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
        if self.tracking_webhooks.len() > MAX_TRACKING_WEBHOOKS {
            problems.push(format!(
                "at most {MAX_TRACKING_WEBHOOKS} tracking webhook URLs per retailer"
            ));
        }
        for (i, hook) in self.tracking_webhooks.iter().enumerate() {
            if let Err(why) = check_webhook_url(&hook.url, hook.insecure) {
                problems.push(format!("webhook {}: {why}", i + 1));
            }
            if self.tracking_webhooks[..i]
                .iter()
                .any(|h| h.url == hook.url)
            {
                problems.push(format!("webhook {}: {} is listed twice", i + 1, hook.url));
            }
            if let Some(user) = &hook.username {
                if user.is_empty() || user.len() > 200 || user.chars().any(char::is_control) {
                    problems.push(format!(
                        "webhook {}: the username must be 1 to 200 printable characters",
                        i + 1
                    ));
                }
            }
        }
        problems
    }
}

/// Why `url` cannot receive tracking events: only absolute URLs with a host, no credentials
/// in them (those go in the Username/Password headers), no spaces; https unless the address
/// is this machine's or `insecure` (see [`check_endpoint`]).
pub fn check_webhook_url(url: &str, insecure: bool) -> Result<(), String> {
    check_endpoint(url, insecure)?;
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.contains('@') {
        return Err(format!(
            "\"{url}\" carries credentials: put them in the username and password fields"
        ));
    }
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{url}\" is not a valid URL (spaces or too long)"));
    }
    Ok(())
}

/// Why `url` may not be called with a secret or a customer's data: it must be `https://`
/// with a host. Plain `http://` is for this machine only (127.0.0.0/8, `localhost`, `[::1]`),
/// or for an address an admin marked `insecure` (the window shows it in red), so nothing
/// crosses a network unencrypted by mistake.
pub fn check_endpoint(url: &str, insecure: bool) -> Result<(), String> {
    let (plain, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (true, rest)
    } else {
        return Err(format!("\"{url}\" must start with https://"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']')
            .next()
            .map(|h| format!("[{h}]"))
            .unwrap_or_default()
    } else {
        host_port
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("\"{url}\" names no host"));
    }
    if plain && !insecure && !is_loopback(&host) {
        return Err(format!(
            "\"{url}\" is not encrypted: use https://, or mark the address insecure if it \
             must be plain http"
        ));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host.strip_prefix("127.").is_some_and(|rest| {
            rest.split('.').count() == 3 && rest.split('.').all(|o| o.parse::<u8>().is_ok())
        })
}

/// The target of a source nobody bound.
pub fn default_target(source: &str) -> ActionTarget {
    match source {
        "loop" | LOOP_UPLOAD => ActionTarget::Loop,
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
                source: "clickpost".into(),
                target: ActionTarget::Shopify,
            }],
            ..PartnerPolicy::default()
        };
        assert_eq!(bound.target_for("clickpost"), ActionTarget::Shopify);
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
            ..PartnerPolicy::default()
        };
        let problems = policy.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("route 1"));
        assert!(problems[1].contains("bound twice"));
        // Loop credits the returns it uploads: sending them to Shopify too would pay twice.
        // A hub's own Loop connection (source "loop") may be sent to Shopify instead.
        {
            let source = LOOP_UPLOAD;
            let twice = PartnerPolicy {
                routes: vec![SourceRoute {
                    source: source.into(),
                    target: ActionTarget::Shopify,
                }],
                ..PartnerPolicy::default()
            };
            let problems = twice.problems();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains("would pay twice"), "{problems:?}");
            let to_loop = PartnerPolicy {
                routes: vec![SourceRoute {
                    source: source.into(),
                    target: ActionTarget::Loop,
                }],
                ..PartnerPolicy::default()
            };
            assert!(to_loop.problems().is_empty());
        }
        let hooks = PartnerPolicy {
            tracking_webhooks: vec![
                TrackingWebhook {
                    url: "https://api.loopreturns.com/hook/v1/seko/update".into(),
                    username: Some("hub".into()),
                    insecure: false,
                },
                TrackingWebhook {
                    url: "ftp://x".into(),
                    username: None,
                    insecure: false,
                },
                TrackingWebhook {
                    url: "https://user:pw@example.com/h".into(),
                    username: None,
                    insecure: false,
                },
                TrackingWebhook {
                    url: "https://api.loopreturns.com/hook/v1/seko/update".into(),
                    username: None,
                    insecure: false,
                },
            ],
            ..PartnerPolicy::default()
        };
        let problems = hooks.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("webhook 2"));
        assert!(problems[1].contains("credentials"));
        assert!(problems[2].contains("listed twice"));
        for t in ActionTarget::ALL {
            assert_eq!(ActionTarget::parse(t.name()), Some(t));
        }
    }

    #[test]
    fn plain_http_leaves_this_machine_only_when_marked_insecure() {
        for ok in [
            "https://api.loopreturns.com/api/v1",
            "https://[2001:db8::1]:8443/x",
            "http://127.0.0.1:8080/x",
            "http://127.9.0.1/x",
            "http://localhost/x",
            "http://[::1]:9000",
        ] {
            assert_eq!(check_endpoint(ok, false), Ok(()), "{ok}");
        }
        for plain in [
            "http://10.0.0.7/h",
            "http://127.0.0.1.example.com/h",
            "http://localhost.evil.example/h",
            "http://[::2]/h",
        ] {
            let e = check_endpoint(plain, false).unwrap_err();
            assert!(e.contains("not encrypted"), "{plain}: {e}");
            assert_eq!(
                check_endpoint(plain, true),
                Ok(()),
                "{plain} marked insecure"
            );
        }
        for bad in [
            "ftp://x.example",
            "x.example/h",
            "https://",
            "https:///path",
            "http://[]/",
        ] {
            assert!(check_endpoint(bad, true).is_err(), "{bad}");
        }
    }
}
