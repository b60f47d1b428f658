//! Retailers' connections to partners (Loop, Increff with Clickpost, Returns Prime), made by an
//! admin on F5: the connection is tested against the partner with its credentials before
//! anything is kept; the key, password or token goes to the keyring, the rest into the
//! retailer's configuration (an event, so it syncs). The dispatcher (`shops.rs`) routes each
//! action to the target its return's source is bound to, through these connections.

use returnhub_connectors::returns_prime::DEFAULT_QC_PATH;
use returnhub_connectors::route::partner_secret_name;
use returnhub_connectors::PartnerTarget;
use returnhub_core::auth::Role;
use returnhub_core::partner::{
    default_target, ActionTarget, PartnerConnection, PartnerPolicy, SourceRoute,
};
use returnhub_core::time::rfc3339;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Hub, HubError, Result};

/// What an admin submits to connect a retailer to a partner.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct PartnerConnectionInput {
    pub target: ActionTarget,
    pub base_url: String,
    pub username: Option<String>,
    pub domain: Option<String>,
    pub qc_path: Option<String>,
    pub photo_url_base: Option<String>,
    /// Loop's API key, Increff's password or Returns Prime's token. Kept in the keyring.
    pub secret: String,
    /// Allow plain http to `base_url` off this machine (shown in red).
    #[serde(default)]
    pub insecure: bool,
}

/// A source binding as F5 shows it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct RouteView {
    pub retailer_id: String,
    pub retailer_name: String,
    pub source: String,
    pub target: ActionTarget,
    /// Where returns from `source` would go without the binding.
    pub default_target: ActionTarget,
}

/// A connection as F5 shows it (never the secret).
#[derive(Debug, Clone, Serialize, TS)]
pub struct PartnerConnectionView {
    pub retailer_id: String,
    pub retailer_name: String,
    pub connection: PartnerConnection,
    /// The secret is in this device's keyring (without it nothing is sent from here).
    pub has_secret: bool,
}

fn test(target: &PartnerTarget) -> Result<()> {
    let rt = crate::shops::runtime()
        .map_err(|e| HubError::Failed(format!("cannot test the connection: {e}")))?;
    rt.block_on(target.test_connection())
        .map_err(HubError::Network)
}

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Hub {
    /// Every retailer's partner connections (supervisors see them; admins change them).
    pub fn partner_connections(&self) -> Result<Vec<PartnerConnectionView>> {
        self.authorize(Role::Supervisor)?;
        let store = self.store();
        let mut views = Vec::new();
        for record in store.retailer_records()? {
            for c in &record.policy.partners.connections {
                views.push(PartnerConnectionView {
                    retailer_id: record.id.clone(),
                    retailer_name: record.name.clone(),
                    has_secret: self
                        .secrets
                        .load(&partner_secret_name(&record.id, c.target))
                        .is_ok(),
                    connection: c.clone(),
                });
            }
        }
        Ok(views)
    }

    /// Connects a retailer to a partner (admins): tested with the partner first; nothing is
    /// kept when the test fails. Replaces an earlier connection to the same partner.
    pub fn connect_partner(
        &self,
        retailer_id: &str,
        input: PartnerConnectionInput,
    ) -> Result<Vec<PartnerConnectionView>> {
        let actor = self.authorize(Role::Admin)?;
        if self.store().retailer_record(retailer_id)?.is_none() {
            return Err(HubError::UnknownRetailer(retailer_id.to_owned()));
        }
        let base_url = input.base_url.trim().trim_end_matches('/').to_owned();
        let mut problems = Vec::new();
        if let Err(why) = returnhub_core::partner::check_endpoint(&base_url, input.insecure) {
            problems.push(format!("the API address: {why}"));
        }
        let secret = input.secret.trim().to_owned();
        if secret.is_empty() || secret.len() > 1000 {
            problems.push(match input.target {
                ActionTarget::Loop => "the Loop API key is required".to_owned(),
                ActionTarget::Increff => "the Increff password is required".to_owned(),
                _ => "the Returns Prime token is required".to_owned(),
            });
        }
        if input.target == ActionTarget::Increff {
            if trimmed(&input.username).is_none() {
                problems.push("Increff needs the username (authUsername)".to_owned());
            }
            if trimmed(&input.domain).is_none() {
                problems.push("Increff needs the domain (authDomainName)".to_owned());
            }
        }
        if let Some(path) = trimmed(&input.qc_path) {
            if !path.starts_with('/') || !path.contains("{id}") {
                problems.push(format!(
                    "the QC path \"{path}\" must start with / and contain {{id}} (default {DEFAULT_QC_PATH})"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(HubError::Invalid(problems.join("; ")));
        }
        let connection = PartnerConnection {
            target: input.target,
            base_url,
            username: trimmed(&input.username),
            domain: trimmed(&input.domain),
            qc_path: trimmed(&input.qc_path),
            photo_url_base: trimmed(&input.photo_url_base),
            connected_at: rfc3339((self.clock)()),
            insecure: input.insecure,
        };
        let target = PartnerTarget::build(&connection, &secret).map_err(HubError::Invalid)?;
        test(&target).map_err(|e| {
            HubError::Network(format!(
                "{} did not accept the connection: {}",
                input.target.name(),
                crate::ErrorView::from(e).message
            ))
        })?;
        self.secrets
            .save(&partner_secret_name(retailer_id, input.target), &secret)
            .map_err(|e| HubError::Failed(format!("cannot keep the secret: {e}")))?;
        self.reconfigure_retailer(retailer_id, &actor.user_id, |record| {
            let list = &mut record.policy.partners.connections;
            list.retain(|c| c.target != connection.target);
            list.push(connection);
        })?;
        tracing::info!(
            retailer = retailer_id,
            partner = input.target.name(),
            "partner connected"
        );
        self.actions_queued();
        self.partner_connections()
    }

    /// Tests a stored connection again (admins): one sentence either way.
    pub fn test_partner(&self, retailer_id: &str, target: ActionTarget) -> Result<String> {
        self.authorize(Role::Admin)?;
        let record = self
            .store()
            .retailer_record(retailer_id)?
            .ok_or_else(|| HubError::UnknownRetailer(retailer_id.to_owned()))?;
        let connection = record
            .policy
            .partners
            .connections
            .iter()
            .find(|c| c.target == target)
            .ok_or_else(|| {
                HubError::NotFound(format!(
                    "{} is not connected to {}",
                    record.name,
                    target.name()
                ))
            })?;
        let secret = self
            .secrets
            .load(&partner_secret_name(retailer_id, target))
            .map_err(|e| HubError::NotFound(format!("{e}: connect again to enter it")))?;
        test(&PartnerTarget::build(connection, &secret).map_err(HubError::Invalid)?)?;
        Ok(format!(
            "{} answered: {}'s connection works.",
            connection.base_url, record.name
        ))
    }

    /// Every retailer's source bindings (supervisors see them; admins change them).
    pub fn partner_routes(&self) -> Result<Vec<RouteView>> {
        self.authorize(Role::Supervisor)?;
        let store = self.store();
        let mut views = Vec::new();
        for record in store.retailer_records()? {
            for route in &record.policy.partners.routes {
                views.push(RouteView {
                    retailer_id: record.id.clone(),
                    retailer_name: record.name.clone(),
                    source: route.source.clone(),
                    target: route.target,
                    default_target: default_target(&route.source),
                });
            }
        }
        Ok(views)
    }

    /// Replaces a retailer's source bindings (admins): returns from each `source` are then
    /// actioned through its `target` instead of the default for that source. Actions already
    /// due follow the binding at the time they are sent; every problem is named and nothing is
    /// kept unless all are fixed.
    pub fn save_partner_routes(
        &self,
        retailer_id: &str,
        routes: Vec<SourceRoute>,
    ) -> Result<Vec<RouteView>> {
        let actor = self.authorize(Role::Admin)?;
        let routes: Vec<SourceRoute> = routes
            .into_iter()
            .map(|r| SourceRoute {
                source: r.source.trim().to_owned(),
                target: r.target,
            })
            .collect();
        let problems = PartnerPolicy {
            routes: routes.clone(),
            ..Default::default()
        }
        .problems();
        if !problems.is_empty() {
            return Err(HubError::Invalid(problems.join("; ")));
        }
        if self.store().retailer_record(retailer_id)?.is_none() {
            return Err(HubError::UnknownRetailer(retailer_id.to_owned()));
        }
        if self.reconfigure_retailer(retailer_id, &actor.user_id, |record| {
            record.policy.partners.routes = routes
        })? {
            tracing::info!(retailer = retailer_id, actor = %actor.user_id, "saved the retailer's source bindings");
            self.actions_queued();
        }
        self.partner_routes()
    }

    /// Disconnects a retailer from a partner (admins): the secret is forgotten; its returns'
    /// actions wait until it is connected again.
    pub fn disconnect_partner(
        &self,
        retailer_id: &str,
        target: ActionTarget,
    ) -> Result<Vec<PartnerConnectionView>> {
        let actor = self.authorize(Role::Admin)?;
        self.reconfigure_retailer(retailer_id, &actor.user_id, |record| {
            record
                .policy
                .partners
                .connections
                .retain(|c| c.target != target)
        })?;
        let _ = self
            .secrets
            .delete(&partner_secret_name(retailer_id, target));
        self.partner_connections()
    }

    /// The partner targets this device can send through: connections with their secret here.
    pub(crate) fn partner_targets(
        &self,
        store: &returnhub_store::Store,
    ) -> std::result::Result<Vec<(String, PartnerTarget)>, String> {
        let mut out = Vec::new();
        for record in store.retailer_records().map_err(|e| e.to_string())? {
            for c in &record.policy.partners.connections {
                match self
                    .secrets
                    .load(&partner_secret_name(&record.id, c.target))
                {
                    Ok(secret) => match PartnerTarget::build(c, &secret) {
                        Ok(target) => out.push((record.id.clone(), target)),
                        Err(e) => {
                            tracing::warn!(retailer = %record.id, partner = c.target.name(), error = %e, "partner connection unusable")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(retailer = %record.id, partner = c.target.name(), error = %e, "no secret on this device; its actions wait")
                    }
                }
            }
        }
        Ok(out)
    }
}
