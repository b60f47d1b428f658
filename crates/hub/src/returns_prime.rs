//! Returns Prime at the orphan intake: a parcel whose connote matched nothing may be a Returns
//! Prime request the hub was never told about (Returns Prime's webhooks are unsigned, so none
//! are taken). The operator looks the connote (or a request number off the parcel's slip) up
//! at Returns Prime, for every retailer connected to it from this device, and attaches the
//! parcel to the request: the hub then holds a return from Returns Prime (its source, request
//! and line item ids), received, whose processing update goes back to Returns Prime.
//!
//! The request is read again when it is attached (the window's copy may be old), a rejected
//! request is never attached, and the return is one `ReturnExpected` event, received, in one
//! write. The order is the one Returns Prime names (`order_name`, an assumption: see
//! `returnhub_connectors::returns_prime`) when it is imported here, or one the operator picks
//! for the request's retailer.
//!
//! Network reads never hold the store: the connections are read first, the store is let go,
//! Returns Prime is asked (each retailer at once, all within [`LOOKUP_TIMEOUT`]), and only then
//! is the store read again for the orders and returns.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use returnhub_connectors::returns_prime::{
    expected_return_for_order, ExpectAt, RpError, RpRequest, SOURCE,
};
use returnhub_connectors::route::partner_secret_name;
use returnhub_connectors::{ReturnsPrimeClient, ReturnsPrimeConfig, SystemClock};
use returnhub_core::auth::Role;
use returnhub_core::model::{ReturnStatus, ScanResult};
use returnhub_core::partner::{ActionTarget, PartnerConnection};
use returnhub_core::time::rfc3339;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{OrderSummaryRow, Store};
use serde::Serialize;
use ts_rs::TS;

use crate::bench::new_id;
use crate::orphan::{attach_and_receive, is_open, OrderMatch};
use crate::{Hub, HubError, Result};

/// The longest an operator waits for a lookup or a request's read, whatever Returns Prime does.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A Returns Prime request that matched what the operator looked up.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PartnerReturnMatch {
    pub retailer_id: String,
    pub retailer_name: String,
    /// Returns Prime's id of the request (what attaching names).
    pub request_id: String,
    /// The number customers and Returns Prime's screens show.
    pub request_number: String,
    pub status: String,
    pub received: bool,
    pub rejected: bool,
    pub awbs: Vec<String>,
    pub items: Vec<PartnerReturnItem>,
    /// The shop order Returns Prime names, if it names one.
    pub order_name: Option<String>,
    /// That order, when it is imported at this hub.
    pub order: Option<OrderMatch>,
    /// The hub's return for this request, if there is one already.
    pub hub_return: Option<String>,
    pub hub_return_status: Option<String>,
    /// Whether the parcel can be attached to this request (an order may still have to be
    /// picked when `order` is empty).
    pub linkable: bool,
    /// Why not, when it cannot.
    pub not_linkable: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct PartnerReturnItem {
    /// Returns Prime's line item id.
    pub line_item_id: String,
    pub sku: String,
    pub quantity: u32,
    /// Whether the imported order has the SKU (`None` when no order was found).
    pub on_order: Option<bool>,
}

/// A lookup's answer: the requests found, and what could not be searched (a retailer whose
/// Returns Prime did not answer, or whose token is not on this device). One retailer's
/// trouble never hides another's matches.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReturnsPrimeLookup {
    pub matches: Vec<PartnerReturnMatch>,
    pub problems: Vec<String>,
}

/// One retailer's Returns Prime account, usable from this device.
struct Account {
    retailer_id: String,
    retailer_name: String,
    client: ReturnsPrimeClient,
}

/// A client for an operator waiting at the bench: short timeouts, one retry.
fn client_for(
    connection: &PartnerConnection,
    token: &str,
) -> std::result::Result<ReturnsPrimeClient, RpError> {
    let mut config = ReturnsPrimeConfig::new(&connection.base_url, token);
    if let Some(path) = &connection.qc_path {
        config.qc_path = path.clone();
    }
    config.timeout = Duration::from_secs(8);
    config.read_retries = 1;
    config.retry_base = Duration::from_millis(300);
    config.retry_max = Duration::from_secs(1);
    ReturnsPrimeClient::new(config, Arc::new(SystemClock))
}

fn no_token(retailer_name: &str) -> String {
    format!(
        "{retailer_name}'s Returns Prime token is not on this device, so its requests cannot be \
         read from here: an admin connects {retailer_name} to Returns Prime again on F5 to enter it"
    )
}

fn rp_failed(retailer_name: &str, e: &RpError) -> String {
    format!("{retailer_name}'s Returns Prime could not be searched: {e}")
}

/// Runs a Returns Prime read to its end or to [`LOOKUP_TIMEOUT`].
fn block_on<T>(what: &str, work: impl std::future::Future<Output = T>) -> Result<T> {
    let rt = crate::shops::runtime()
        .map_err(|e| HubError::Failed(format!("cannot ask Returns Prime ({what}): {e}")))?;
    rt.block_on(async { tokio::time::timeout(LOOKUP_TIMEOUT, work).await })
        .map_err(|_| {
            HubError::Network(format!(
                "Returns Prime did not answer within {} s ({what}): try again, or park the parcel",
                LOOKUP_TIMEOUT.as_secs()
            ))
        })
}

/// The requests `query` names at one account: as an AWB and as a request number.
async fn look_up(
    client: &ReturnsPrimeClient,
    query: &str,
) -> std::result::Result<Vec<RpRequest>, RpError> {
    let mut found = client.find_by_awb(query).await?;
    if let Some(request) = client.find_by_request_number(query).await? {
        if !found.iter().any(|r| r.id == request.id) {
            found.push(request);
        }
    }
    Ok(found)
}

/// The retailer's imported order named `name` ("#1042" or "1042"), newest first.
fn order_named(store: &Store, retailer_id: &str, name: &str) -> Result<Option<OrderSummaryRow>> {
    let bare = name.trim().trim_start_matches('#');
    if bare.is_empty() {
        return Ok(None);
    }
    for id in store.find_orders(bare, 20)? {
        if let Some(order) = store.order_summary(&id)? {
            if order.retailer_id == retailer_id
                && order.order_number.trim().trim_start_matches('#') == bare
            {
                return Ok(Some(order));
            }
        }
    }
    Ok(None)
}

/// Why a request's return cannot be opened or attached to at this hub, if it cannot.
fn existing_return_refusal(
    hub_id: &str,
    request: &RpRequest,
    existing: Option<&(String, String, String)>,
) -> Option<String> {
    let (id, hub, status) = existing?;
    if hub != hub_id {
        return Some(format!(
            "Returns Prime request {} is return {id} of hub {hub}, not this one: park the parcel \
             for the supervisor",
            request.request_number
        ));
    }
    (!is_open(status)).then(|| {
        format!(
            "Returns Prime request {} is return {id} here, already {}: it is not opened twice; \
             park the parcel for the supervisor",
            request.request_number,
            status.replace('_', " ")
        )
    })
}

impl Hub {
    /// Whether any retailer on this hub is connected to Returns Prime (the intake then offers
    /// the lookup). Operators may ask.
    pub fn returns_prime_connected(&self) -> Result<bool> {
        self.authorize(Role::Operator)?;
        Ok(self.store().retailer_records()?.iter().any(|record| {
            record
                .policy
                .partners
                .connections
                .iter()
                .any(|c| c.target == ActionTarget::ReturnsPrime)
        }))
    }

    /// The Returns Prime accounts this device can read (`only`: one retailer's), and a
    /// sentence for each connection it cannot use. Errors when no retailer is connected.
    fn returns_prime_accounts(&self, only: Option<&str>) -> Result<(Vec<Account>, Vec<String>)> {
        let store = self.store();
        let mut accounts = Vec::new();
        let mut problems = Vec::new();
        let mut connected = 0;
        for record in store.retailer_records()? {
            if only.is_some_and(|id| id != record.id) {
                continue;
            }
            let Some(connection) = record
                .policy
                .partners
                .connections
                .iter()
                .find(|c| c.target == ActionTarget::ReturnsPrime)
            else {
                continue;
            };
            connected += 1;
            let token = match self
                .secrets
                .load(&partner_secret_name(&record.id, ActionTarget::ReturnsPrime))
            {
                Ok(token) => token,
                Err(e) => {
                    tracing::warn!(retailer = %record.id, error = %e, "no Returns Prime token on this device");
                    problems.push(no_token(&record.name));
                    continue;
                }
            };
            match client_for(connection, &token) {
                Ok(client) => accounts.push(Account {
                    retailer_id: record.id.clone(),
                    retailer_name: record.name.clone(),
                    client,
                }),
                Err(e) => problems.push(format!(
                    "{}'s Returns Prime connection cannot be used: {e}",
                    record.name
                )),
            }
        }
        if connected == 0 {
            return Err(HubError::NotFound(match only {
                Some(id) => format!(
                    "retailer {id} is not connected to Returns Prime: an admin connects it on F5"
                ),
                None => "no retailer on this hub is connected to Returns Prime: an admin \
                         connects one on F5"
                    .to_owned(),
            }));
        }
        Ok((accounts, problems))
    }

    /// Looks `query` up at Returns Prime for every connected retailer whose token is on this
    /// device, as an AWB and as a request number (operators). Each request comes with the
    /// imported order it names, the hub's return for it if any, and whether the parcel can be
    /// attached to it. Errors only when nothing could be searched at all.
    pub fn find_at_returns_prime(&self, query: &str) -> Result<ReturnsPrimeLookup> {
        self.authorize(Role::Operator)?;
        let query = returnhub_devices::scan::normalise_wedge(query).text;
        let query = query.trim().to_owned();
        if query.chars().count() < 3 {
            return Err(HubError::Invalid(
                "type at least 3 characters: the parcel's AWB or the Returns Prime request number"
                    .into(),
            ));
        }
        let (accounts, mut problems) = self.returns_prime_accounts(None)?;
        if accounts.is_empty() {
            return Err(HubError::Invalid(problems.join("; ")));
        }
        // Every account at once, the store let go meanwhile.
        let answers = block_on(
            "looking up a parcel",
            join_all(accounts.iter().map(|a| look_up(&a.client, &query))),
        )?;
        let store = self.store();
        let mut matches = Vec::new();
        let mut searched = 0;
        for (account, answer) in accounts.iter().zip(answers) {
            let requests = match answer {
                Ok(requests) => requests,
                Err(e) => {
                    tracing::warn!(retailer = %account.retailer_id, error = %e, "Returns Prime lookup failed");
                    problems.push(rp_failed(&account.retailer_name, &e));
                    continue;
                }
            };
            searched += 1;
            for request in requests {
                matches.push(self.partner_match(&store, account, request)?);
            }
        }
        if searched == 0 {
            return Err(HubError::Invalid(problems.join("; ")));
        }
        Ok(ReturnsPrimeLookup { matches, problems })
    }

    fn partner_match(
        &self,
        store: &Store,
        account: &Account,
        request: RpRequest,
    ) -> Result<PartnerReturnMatch> {
        let order = match &request.order_name {
            Some(name) => order_named(store, &account.retailer_id, name)?,
            None => None,
        };
        let existing = store
            .returns_by_external_id(&account.retailer_id, SOURCE, &request.id)?
            .pop();
        let items: Vec<PartnerReturnItem> = request
            .line_items
            .iter()
            .map(|l| PartnerReturnItem {
                line_item_id: l.id.clone(),
                sku: l.sku.clone(),
                quantity: l.return_quantity,
                on_order: order
                    .as_ref()
                    .map(|o| o.lines.iter().any(|(_, sku, ..)| sku == &l.sku)),
            })
            .collect();
        let not_linkable = if request.rejected {
            Some(format!(
                "Returns Prime rejected request {}: it cannot be attached",
                request.request_number
            ))
        } else if let Some(why) =
            existing_return_refusal(&self.options().hub_id, &request, existing.as_ref())
        {
            Some(why)
        } else if let (Some(o), Some(missing)) =
            (&order, items.iter().find(|i| i.on_order == Some(false)))
        {
            Some(format!(
                "SKU {} is not on order {}: the request cannot be attached to it",
                missing.sku, o.order_number
            ))
        } else if items.is_empty() {
            Some(format!(
                "request {} has no line items",
                request.request_number
            ))
        } else {
            None
        };
        Ok(PartnerReturnMatch {
            retailer_id: account.retailer_id.clone(),
            retailer_name: account.retailer_name.clone(),
            awbs: request.awbs(),
            request_id: request.id,
            request_number: request.request_number,
            status: request.status,
            received: request.received,
            rejected: request.rejected,
            items,
            order_name: request.order_name,
            order: order.map(|o| self.order_match(o)),
            hub_return: existing.as_ref().map(|(id, ..)| id.clone()),
            hub_return_status: existing.map(|(_, _, status)| status),
            linkable: not_linkable.is_none(),
            not_linkable,
        })
    }

    /// Attaches an unknown parcel to a Returns Prime request (operators). The request is read
    /// again from Returns Prime; a rejected one is refused. When the hub already holds the
    /// request's return, open here, the parcel is attached to it (its connote could not find
    /// it, so "scan it again" would not help); processed, closed, cancelled or at another hub,
    /// it is refused. Otherwise a return from Returns Prime is opened, received, on the order
    /// Returns Prime names (imported here) or on `order_id` (the operator's pick, of the same
    /// retailer), with the request's AWBs and this connote. Answers as if it had been scanned.
    pub fn link_returns_prime(
        &self,
        connote: &str,
        retailer_id: &str,
        request_id: &str,
        order_id: Option<&str>,
    ) -> Result<ScanResult> {
        let actor = self.authorize(Role::Operator)?;
        let connote = returnhub_devices::scan::normalise_wedge(connote).text;
        let connote = connote.trim().to_owned();
        if connote.is_empty() {
            return Err(HubError::Invalid("no connote to attach".into()));
        }
        let request_id = request_id.trim();
        if request_id.is_empty() {
            return Err(HubError::Invalid(
                "no Returns Prime request to attach to".into(),
            ));
        }
        let order_id = order_id.map(str::trim).filter(|o| !o.is_empty());
        {
            let store = self.store();
            if store.retailer_record(retailer_id)?.is_none() {
                return Err(HubError::UnknownRetailer(retailer_id.to_owned()));
            }
            if let Some(ret) = store.return_by_connote(&connote)? {
                return Err(HubError::Conflict(format!(
                    "{connote} already belongs to return {}: scan it again",
                    ret.id
                )));
            }
        }
        let (accounts, problems) = self.returns_prime_accounts(Some(retailer_id))?;
        let Some(account) = accounts.into_iter().next() else {
            return Err(HubError::Invalid(problems.join("; ")));
        };
        // Read again: the window's copy may be old (rejected since, items changed).
        let request = block_on(
            &format!("reading request {request_id}"),
            account.client.get(request_id),
        )?
        .map_err(|e| HubError::Network(rp_failed(&account.retailer_name, &e)))?;
        if request.rejected {
            return Err(HubError::Conflict(format!(
                "Returns Prime rejected request {} (status {}): it cannot be attached; park the \
                 parcel for the supervisor",
                request.request_number,
                if request.status.is_empty() {
                    "rejected"
                } else {
                    &request.status
                }
            )));
        }

        let mut store = self.store();
        // The store was let go while Returns Prime answered: check the connote again.
        if let Some(ret) = store.return_by_connote(&connote)? {
            return Err(HubError::Conflict(format!(
                "{connote} already belongs to return {}: scan it again",
                ret.id
            )));
        }
        let now = (self.clock)();
        let existing = store
            .returns_by_external_id(retailer_id, SOURCE, &request.id)?
            .pop();
        if let Some(why) =
            existing_return_refusal(&self.options().hub_id, &request, existing.as_ref())
        {
            return Err(HubError::Invalid(why));
        }
        if let Some((return_id, _, status)) = existing {
            let events = attach_and_receive(&return_id, &status, &connote)?;
            let message = format!(
                "{connote} attached to return {return_id} (Returns Prime request {}): inspect the items.",
                request.request_number
            );
            return self.write_link(
                &mut store, &actor, now, events, &return_id, &connote, message,
            );
        }

        let named = match &request.order_name {
            Some(name) => order_named(&store, retailer_id, name)?,
            None => None,
        };
        let order_id = match (order_id, &named) {
            (Some(picked), Some(named)) if picked != named.id => {
                let picked_number = store
                    .order_summary(picked)?
                    .map_or_else(|| picked.to_owned(), |o| o.order_number);
                return Err(HubError::Invalid(format!(
                    "Returns Prime request {} is for order {}, not {picked_number}: attach it to \
                     its own order",
                    request.request_number, named.order_number
                )));
            }
            (Some(picked), _) => picked.to_owned(),
            (None, Some(named)) => named.id.clone(),
            (None, None) => {
                return Err(HubError::Invalid(match &request.order_name {
                    Some(name) => format!(
                        "Returns Prime request {} is for order {name}, which is not imported at \
                         this hub: find the order (number, email or an item's SKU) and attach \
                         the request with it",
                        request.request_number
                    ),
                    None => format!(
                        "Returns Prime does not say which order request {} is for: find the \
                         order (number, email or an item's SKU) and attach the request with it",
                        request.request_number
                    ),
                }))
            }
        };
        let order = store
            .order_record(&order_id)?
            .ok_or_else(|| HubError::NotFound(format!("no order {order_id} at this hub")))?;
        if order.retailer_id != retailer_id {
            return Err(HubError::Invalid(format!(
                "order {} belongs to another retailer, not to the one whose Returns Prime request \
                 {} this is",
                order.order_number, request.request_number
            )));
        }
        let return_id = format!("ret-{}", new_id());
        let mut record = expected_return_for_order(
            &request,
            ExpectAt {
                return_id: &return_id,
                retailer_id,
                hub_id: &self.options().hub_id,
                created_at: &rfc3339(now),
            },
            &order,
        )
        .map_err(|e| match e {
            RpError::UnknownSku { sku, line_item, .. } => HubError::Invalid(format!(
                "Returns Prime request {} returns SKU {sku} (line item {line_item}), which is not \
                 on order {}: nothing was attached; check the order, or park the parcel",
                request.request_number, order.order_number
            )),
            other => HubError::Invalid(other.to_string()),
        })?;
        record.status = ReturnStatus::Received;
        if !record.connotes.contains(&connote) {
            record.connotes.push(connote.clone());
        }
        for awb in &record.connotes {
            if let Some(ret) = store.return_by_connote(awb)? {
                return Err(HubError::Conflict(format!(
                    "AWB {awb} of Returns Prime request {} already belongs to return {}: tell a \
                     supervisor",
                    request.request_number, ret.id
                )));
            }
        }
        let message = format!(
            "{connote} attached to Returns Prime request {} (order {}): inspect the items.",
            request.request_number, order.order_number
        );
        tracing::info!(retailer = retailer_id, request = %request.id, return_id = %return_id, "parcel attached to a Returns Prime request");
        self.write_link(
            &mut store,
            &actor,
            now,
            vec![DomainEvent::ReturnExpected(record)],
            &return_id,
            &connote,
            message,
        )
    }
}
