//! Loop Returns as a dispatch [`Target`], and Loop's signed webhooks.
//!
//! A return that came from Loop is settled by Loop: Loop issues the refund, gift card or
//! exchange once it *processes* the return. What the hub owes Loop is what the bench found, per
//! item, and then the word to process. One [`ActionKind::PartnerUpdate`] per return carries it:
//!
//! 1. `GET /warehouse/return/details?return_id={id}`: where the return stands at Loop. A
//!    return already queued is not queued again (the answer is "unknown, waiting for Loop"),
//!    a closed one is confirmed (Loop settles a return once, whoever asked), a flagged,
//!    cancelled or expired one fails with a sentence saying so.
//! 2. `POST /warehouse/return/{id}/remove?line_item_id=1,2`: the items the bench did not find.
//! 3. `POST /dispositioning/grade` `{items: [{line_item_id, condition_category, note, images,
//!    inspected_at}]}`: each inspected item's condition (mapping below).
//! 4. `POST /dispositioning/assess` `{items: [{line_item_id, disposition_outcome}]}`: where each
//!    item goes (mapping below).
//! 5. `POST /warehouse/return/{id}/process`: queues processing. A 200 means *queued*, not
//!    done, so the send answers [`TargetError::Unknown`] and the dispatcher keeps the action
//!    unknown and reconciles it until Loop has closed the return (or said processing failed).
//!
//! Steps 2–4 set state (the same request twice leaves the same state), so a resend after a
//! reconciliation that found the return open and not queued repeats them safely. Step 5 is
//! only ever sent when the return was seen open (or after a processing failure, which only a
//! supervisor's retry sends again), and a refusal of it is looked into before it is called a
//! failure: a return an earlier, lost try already queued or closed is not a failure.
//!
//! Errors: connection refused and HTTP 429 → [`TargetError::NotApplied`] (the request certainly
//! did not take effect); HTTP 5xx, a timeout or a connection dropped after the request left →
//! [`TargetError::Unknown`]; a 4xx refusal → [`TargetError::Permanent`] with Loop's message
//! (`UNPROCESSABLE_FLAGGED_RETURN` says the return is flagged at Loop).
//!
//! # Condition category (`/dispositioning/grade`)
//!
//! First match wins:
//!
//! | our record                                                       | Loop            |
//! |------------------------------------------------------------------|-----------------|
//! | presence `missing`, or QC reason `MISSING`                       | `missing`       |
//! | QC reason naming another item: `INCORRECT_ITEM`, `WRONG_ITEM`, `WRONG_PRODUCT`, `WRONG_SKU`, `ITEM_MISMATCH`, `NOT_ORIGINAL_ITEM`, `COUNTERFEIT` | `incorrect_item` |
//! | QC reason naming something worthless: `JUNK`, `EMPTY_BOX`, `EMPTY_PACKAGE`, `NOT_A_PRODUCT`, `FOREIGN_OBJECT`, `TRASH` | `junk` |
//! | grade A, B, C, D                                                 | `grade_a` … `grade_d` |
//! | anything else (inspected, no grade)                              | not graded      |
//!
//! QC reasons are compared upper-cased with every run of other characters as one `_`, so
//! "Wrong item" and `WRONG-ITEM` match too. An item with no grade is not graded at Loop: every
//! category of Loop's claims something the bench did not record.
//!
//! # Disposition outcome (`/dispositioning/assess`)
//!
//! Loop knows `back_to_stock`, `resale_hold`, `recycle`, `donate` and `missing`. A missing
//! item is `missing` whatever its disposition. Ours map one to one where Loop has the same,
//! and otherwise to what the item does to the merchant's stock: `refurbish` → `resale_hold`
//! (kept, not sellable until refurbished), `return_to_vendor` → `resale_hold` (kept out of
//! sellable stock until it goes back), `destroy` → `recycle` (leaves inventory for good). An
//! item without a disposition is not assessed.
//!
//! # Assumptions (Loop's public documentation does not say)
//!
//! - *Queued and failed processing.* Loop documents the return states `open`, `closed`,
//!   `cancelled`, `expired` and `review` (flagged), and that a 200 from `process` only queues.
//!   It does not document how a return reads between the two, nor a failure other than the
//!   `return.processing.failed` webhook. We read an optional `processing` object on the
//!   details: `{status: "queued", queued_at}` or `{status: "failed", error}`. If Loop shows it
//!   otherwise, [`parse_return_state`] is the one place to change.
//! - *Assess body.* Only `disposition_outcome` and its values are documented; we send
//!   `{items: [{line_item_id, disposition_outcome}]}` like the grade body.
//! - *Line item ids* are sent as JSON numbers when they are all digits (Loop's ids are
//!   integers), else as strings.
//! - *Images* are the photos' content hashes: the hub keeps photos by hash and does not publish
//!   them at URLs yet. When it does, the URLs go here.
//! - *Webhook body.* Loop's return webhook carries `trigger` (`return.closed`, …) and the Loop
//!   return `id`; `return.processing.failed` is taken to carry its reason in `reason` (or
//!   `error`, or `message`).
//!
//! The API key travels only in `X-Authorization`; it is never in a URL, a log line, an error
//! or `Debug` output.

use std::fmt;
use std::time::Duration;

use returnhub_core::trigger::{ActionDue, ActionKind};
use returnhub_protocol::action::{ActionContext, ActionLine, ItemQc};
use serde_json::{json, Value};

use crate::dispatch::{Confirmation, Target, TargetError};

/// Loop's production API root.
pub const API_BASE: &str = "https://api.loopreturns.com/api/v1";

/// Where Loop is and the key it gave the retailer (scope "Returns").
#[derive(Clone, PartialEq, Eq)]
pub struct LoopConfig {
    /// The API root, e.g. [`API_BASE`]; a simulator's address in tests.
    pub base_url: String,
    pub api_key: String,
}

impl LoopConfig {
    /// Loop's production API with `api_key`.
    pub fn production(api_key: &str) -> LoopConfig {
        LoopConfig {
            base_url: API_BASE.to_owned(),
            api_key: api_key.to_owned(),
        }
    }
}

/// Never prints the key: configurations end up in logs and panic messages.
impl fmt::Debug for LoopConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// Where a return stands at Loop, as [`parse_return_state`] reads the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopReturnState {
    /// Open and not queued: nothing of ours is under way.
    Open,
    /// Processing was asked and Loop has not finished it.
    Queued {
        since: Option<String>,
    },
    /// Loop tried to process it and could not.
    ProcessingFailed {
        reason: String,
    },
    /// Processed (or closed by hand): Loop settled it.
    Closed,
    /// Flagged for review (`review`).
    Flagged,
    Cancelled,
    Expired,
    /// A state this connector does not know.
    Other(String),
}

/// Reads a return's state from Loop's return details (see the module's assumptions).
pub fn parse_return_state(details: &Value) -> LoopReturnState {
    let state = details
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let processing = details.get("processing").filter(|p| p.is_object());
    let text = |p: &Value, k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
    match state {
        "closed" => LoopReturnState::Closed,
        "review" => LoopReturnState::Flagged,
        "cancelled" => LoopReturnState::Cancelled,
        "expired" => LoopReturnState::Expired,
        "open" => match processing
            .and_then(|p| p.get("status"))
            .and_then(Value::as_str)
        {
            Some("queued") => LoopReturnState::Queued {
                since: processing.and_then(|p| text(p, "queued_at")),
            },
            Some("failed") => LoopReturnState::ProcessingFailed {
                reason: processing
                    .and_then(|p| text(p, "error").or_else(|| text(p, "reason")))
                    .unwrap_or_else(|| "Loop gave no reason".to_owned()),
            },
            _ => LoopReturnState::Open,
        },
        other => LoopReturnState::Other(other.to_owned()),
    }
}

/// Loop's condition category for an inspected item (see the module's table), or `None` when
/// the bench recorded nothing Loop has a category for.
pub fn condition_category(qc: &ItemQc) -> Option<&'static str> {
    const INCORRECT: [&str; 7] = [
        "INCORRECT_ITEM",
        "WRONG_ITEM",
        "WRONG_PRODUCT",
        "WRONG_SKU",
        "ITEM_MISMATCH",
        "NOT_ORIGINAL_ITEM",
        "COUNTERFEIT",
    ];
    const JUNK: [&str; 6] = [
        "JUNK",
        "EMPTY_BOX",
        "EMPTY_PACKAGE",
        "NOT_A_PRODUCT",
        "FOREIGN_OBJECT",
        "TRASH",
    ];
    let reason = qc.qc_reason.as_deref().map(reason_code).unwrap_or_default();
    if qc.presence == "missing" || reason == "MISSING" {
        return Some("missing");
    }
    if INCORRECT.contains(&reason.as_str()) {
        return Some("incorrect_item");
    }
    if JUNK.contains(&reason.as_str()) {
        return Some("junk");
    }
    match qc.grade.as_deref() {
        Some("A") => Some("grade_a"),
        Some("B") => Some("grade_b"),
        Some("C") => Some("grade_c"),
        Some("D") => Some("grade_d"),
        _ => None,
    }
}

/// `Wrong item` → `WRONG_ITEM`: upper case, each run of other characters one `_`.
fn reason_code(reason: &str) -> String {
    let mut code = String::with_capacity(reason.len());
    for c in reason.trim().chars() {
        if c.is_ascii_alphanumeric() {
            code.push(c.to_ascii_uppercase());
        } else if !code.ends_with('_') {
            code.push('_');
        }
    }
    code.trim_matches('_').to_owned()
}

/// Loop's disposition outcome for a line (see the module's mapping), or `None` when the
/// bench gave it no disposition.
pub fn disposition_outcome(line: &ActionLine) -> Option<&'static str> {
    if line.qc.as_ref().is_some_and(|qc| qc.presence == "missing") {
        return Some("missing");
    }
    match line.disposition.as_deref()? {
        "back_to_stock" => Some("back_to_stock"),
        "resale_hold" | "refurbish" | "return_to_vendor" => Some("resale_hold"),
        "recycle" | "destroy" => Some("recycle"),
        "donate" => Some("donate"),
        _ => None,
    }
}

/// Loop's line ids are integers: sent as numbers when they are.
fn line_id_json(id: &str) -> Value {
    match id.parse::<u64>() {
        Ok(n) if !id.starts_with('0') || id == "0" => json!(n),
        _ => json!(id),
    }
}

/// What one update sends, worked out before anything is sent (so a line Loop cannot be told
/// about fails the action before any request).
#[derive(Debug, Default)]
struct Plan {
    removed: Vec<String>,
    grades: Vec<Value>,
    assessments: Vec<Value>,
}

impl Plan {
    fn of(action: &ActionDue, context: &ActionContext) -> Result<Plan, TargetError> {
        let mut plan = Plan::default();
        for line in &context.lines {
            let Some(line_id) = line.external_id.as_deref().filter(|s| !s.is_empty()) else {
                // An item the customer did not return has no line at Loop: nothing to tell.
                if line.qc.as_ref().is_some_and(|qc| qc.presence == "extra") {
                    tracing::info!(key = %action.key, item = %line.return_item_id, "extra item has no Loop line; not sent to Loop");
                    continue;
                }
                return Err(TargetError::Permanent(format!(
                    "item {} of return {} has no Loop line item id, so Loop cannot be told \
                     about it; import the return from Loop again",
                    line.return_item_id, action.return_id
                )));
            };
            let missing = line.qc.as_ref().is_some_and(|qc| qc.presence == "missing");
            if missing {
                plan.removed.push(line_id.to_owned());
            }
            if let Some(qc) = &line.qc {
                if let Some(category) = condition_category(qc) {
                    plan.grades.push(json!({
                        "line_item_id": line_id_json(line_id),
                        "condition_category": category,
                        "note": grade_note(qc),
                        "images": qc.photos,
                        "inspected_at": qc.inspected_at,
                    }));
                }
            }
            if let Some(outcome) = disposition_outcome(line) {
                plan.assessments.push(json!({
                    "line_item_id": line_id_json(line_id),
                    "disposition_outcome": outcome,
                }));
            }
        }
        Ok(plan)
    }
}

/// The grade's note: the QC result and reason (Loop's categories do not carry them), then the
/// operator's note.
fn grade_note(qc: &ItemQc) -> String {
    let mut parts = Vec::new();
    if let Some(result) = &qc.qc {
        match &qc.qc_reason {
            Some(reason) => parts.push(format!("QC {result}: {reason}")),
            None => parts.push(format!("QC {result}")),
        }
    }
    if let Some(note) = qc.note.as_deref().filter(|n| !n.trim().is_empty()) {
        parts.push(note.trim().to_owned());
    }
    parts.join(". ")
}

/// A request that did not get a usable answer.
#[derive(Debug)]
enum CallError {
    /// Certainly not carried out: connection refused, or HTTP 429.
    NotSent(String),
    /// May have been carried out: a timeout, a dropped connection, HTTP 5xx.
    Lost(String),
}

impl From<CallError> for TargetError {
    fn from(e: CallError) -> TargetError {
        match e {
            CallError::NotSent(m) => TargetError::NotApplied(m),
            CallError::Lost(m) => TargetError::Unknown(m),
        }
    }
}

/// An answer from Loop.
#[derive(Debug)]
enum Reply {
    /// 2xx, with the body (`Null` when empty or not JSON).
    Done(Value),
    /// 4xx other than 429: Loop refused it, nothing was done.
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
}

/// reqwest's message without the URL (it repeats the return id the caller names anyway).
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the connection failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = None;
    while let Some(s) = source {
        detail = Some(s.to_string());
        source = s.source();
    }
    match detail {
        Some(d) => format!("{kind} ({d})"),
        None => kind.to_owned(),
    }
}

/// Loop as a dispatch target.
pub struct LoopTarget {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

impl fmt::Debug for LoopTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopTarget")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl LoopTarget {
    /// A target with a 30 s timeout per request.
    pub fn new(config: &LoopConfig) -> Result<LoopTarget, String> {
        LoopTarget::with_timeout(config, Duration::from_secs(30))
    }

    /// A target whose requests give up after `timeout` (and count as lost, not refused).
    pub fn with_timeout(config: &LoopConfig, timeout: Duration) -> Result<LoopTarget, String> {
        let base = config.base_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!(
                "the Loop API address \"{base}\" must start with https://"
            ));
        }
        if config.api_key.trim().is_empty() {
            return Err(
                "the Loop API key is empty; generate one with the Returns scope in \
                        Loop's Developer tools"
                    .to_owned(),
            );
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for Loop: {e}"))?;
        Ok(LoopTarget {
            http,
            base,
            api_key: config.api_key.trim().to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, CallError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Authorization", &self.api_key)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(CallError::NotSent(transport_message(&e))),
            Err(e) => return Err(CallError::Lost(transport_message(&e))),
        };
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Lost(transport_message(&e)))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(Reply::Done(value)),
            429 => Err(CallError::NotSent(
                "Loop is limiting the rate of requests (HTTP 429)".into(),
            )),
            500..=599 => Err(CallError::Lost(format!("Loop answered HTTP {status}"))),
            _ => {
                let errors = value
                    .get("errors")
                    .filter(|e| e.is_object())
                    .unwrap_or(&value);
                let text = |k: &str| errors.get(k).and_then(Value::as_str).map(str::to_owned);
                Ok(Reply::Refused {
                    status,
                    code: text("code"),
                    message: text("message").unwrap_or_else(|| format!("HTTP {status}")),
                })
            }
        }
    }

    /// A refusal as a failure: a refused key, an unknown return, or Loop's own message.
    fn refusal(
        what: &str,
        loop_id: &str,
        status: u16,
        code: Option<&str>,
        message: &str,
    ) -> TargetError {
        match (status, code) {
            (401 | 403, _) | (_, Some("NOT_AUTHORIZED")) => TargetError::Permanent(format!(
                "Loop refused the API key (HTTP {status}); enter a valid key with the Returns \
                 scope and retry"
            )),
            (404, _) | (_, Some("NOT_FOUND")) => TargetError::Permanent(format!(
                "Loop has no return {loop_id}; check the return's Loop id"
            )),
            (_, Some(code)) => TargetError::Permanent(format!(
                "Loop refused {what} for return {loop_id}: {message} ({code})"
            )),
            _ => TargetError::Permanent(format!(
                "Loop refused {what} for return {loop_id}: {message}"
            )),
        }
    }

    /// A state-setting POST. A refusal fails the action unless Loop's record explains it
    /// (an earlier try, its answer lost, queued or closed the return since it was read).
    /// `Ok(Some)`: the return turned out closed, nothing more to send.
    async fn post(
        &self,
        what: &str,
        loop_id: &str,
        path: &str,
        body: &Value,
    ) -> Result<Option<Confirmation>, TargetError> {
        match self.call(reqwest::Method::POST, path, Some(body)).await? {
            Reply::Done(_) => Ok(None),
            Reply::Refused {
                status,
                code,
                message,
            } => {
                let refusal = Self::refusal(what, loop_id, status, code.as_deref(), &message);
                self.unless_settled(loop_id, refusal).await
            }
        }
    }

    /// After a refusal: `Err(refusal)` when the return is still open (Loop meant it), else what
    /// its state means ([`LoopTarget::settled`]): closed → `Ok(Some)`, queued → unknown, ….
    async fn unless_settled(
        &self,
        loop_id: &str,
        refusal: TargetError,
    ) -> Result<Option<Confirmation>, TargetError> {
        match self.return_state(loop_id).await? {
            LoopReturnState::Open | LoopReturnState::ProcessingFailed { .. } => Err(refusal),
            state => Self::settled(loop_id, state),
        }
    }

    /// Where the return stands at Loop, from its details. A read changes nothing, so a lost
    /// answer is [`TargetError::Unknown`] only in the sense "ask again later".
    pub async fn return_state(&self, loop_id: &str) -> Result<LoopReturnState, TargetError> {
        let path = format!(
            "/warehouse/return/details?return_id={}",
            query_value(loop_id)
        );
        match self.call(reqwest::Method::GET, &path, None).await? {
            Reply::Done(details) => Ok(parse_return_state(&details)),
            Reply::Refused {
                status,
                code,
                message,
            } => Err(Self::refusal(
                "the return's details",
                loop_id,
                status,
                code.as_deref(),
                &message,
            )),
        }
    }

    /// Checks the address and the key with the cheapest authenticated read there is (one
    /// return of the list). Errors are one sentence for the settings screen.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self
            .call(
                reqwest::Method::GET,
                "/warehouse/return/list?paginate=true&pageSize=1",
                None,
            )
            .await
        {
            Ok(Reply::Done(_)) => Ok(()),
            Ok(Reply::Refused {
                status,
                code,
                message,
                ..
            }) => Err(match (status, code.as_deref()) {
                (401 | 403, _) | (_, Some("NOT_AUTHORIZED")) => format!(
                    "Loop refused the API key (HTTP {status}); check that it is copied whole \
                     and has the Returns scope"
                ),
                _ => format!("Loop answered HTTP {status}: {message}"),
            }),
            Err(CallError::NotSent(m)) | Err(CallError::Lost(m)) => {
                Err(format!("Loop could not be reached: {m}"))
            }
        }
    }

    /// What a state other than open means for an update about to be sent, or for an action
    /// being reconciled. `Ok(None)`: open, nothing under way.
    fn settled(loop_id: &str, state: LoopReturnState) -> Result<Option<Confirmation>, TargetError> {
        match state {
            LoopReturnState::Open => Ok(None),
            LoopReturnState::Closed => Ok(Some(Confirmation::new(loop_id))),
            LoopReturnState::Queued { since } => Err(TargetError::Unknown(format!(
                "still processing at Loop since {}; waiting for return.closed",
                since.as_deref().unwrap_or("an unknown time")
            ))),
            LoopReturnState::ProcessingFailed { reason } => Err(TargetError::Permanent(format!(
                "Loop could not process return {loop_id}: {reason}"
            ))),
            LoopReturnState::Flagged => Err(flagged(loop_id)),
            LoopReturnState::Cancelled => Err(TargetError::Permanent(format!(
                "return {loop_id} was cancelled at Loop, so Loop will not process it"
            ))),
            LoopReturnState::Expired => Err(TargetError::Permanent(format!(
                "return {loop_id} expired at Loop, so Loop will not process it"
            ))),
            LoopReturnState::Other(state) => Err(TargetError::Unknown(format!(
                "Loop reports return {loop_id} as \"{state}\", a state Returnhub does not know; \
                 it is looked at again later"
            ))),
        }
    }

    async fn update(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        let loop_id = loop_return_id(action, context)?;
        let plan = Plan::of(action, context)?;
        match self.return_state(loop_id).await? {
            // Sent after a processing failure only by a supervisor's retry: process again.
            LoopReturnState::ProcessingFailed { reason } => {
                tracing::info!(key = %action.key, loop_return = loop_id, reason = %reason, "processing failed at Loop before; sending the update again");
            }
            LoopReturnState::Closed => {
                tracing::warn!(key = %action.key, loop_return = loop_id, "the return is closed at Loop already; Loop settled it, nothing more is sent");
                return Ok(Confirmation::new(loop_id));
            }
            state => {
                Self::settled(loop_id, state)?;
            }
        }
        let in_path = path_segment(loop_id);
        if !plan.removed.is_empty() {
            let ids: Vec<String> = plan.removed.iter().map(|id| query_value(id)).collect();
            let path = format!(
                "/warehouse/return/{in_path}/remove?line_item_id={}",
                ids.join(",")
            );
            let what = "the removal of missing items";
            if let Some(done) = self.post(what, loop_id, &path, &json!({})).await? {
                return Ok(done);
            }
        }
        if !plan.grades.is_empty() {
            let body = json!({ "items": plan.grades });
            let path = "/dispositioning/grade";
            if let Some(done) = self.post("the grades", loop_id, path, &body).await? {
                return Ok(done);
            }
        }
        if !plan.assessments.is_empty() {
            let body = json!({ "items": plan.assessments });
            let path = "/dispositioning/assess";
            if let Some(done) = self.post("the dispositions", loop_id, path, &body).await? {
                return Ok(done);
            }
        }
        // Loop adds these values to the return's timeline (and to orders processing creates):
        // the action's key ties Loop's note to our event log.
        let body = json!({ "returnhub_action": action.key.as_str() });
        let path = format!("/warehouse/return/{in_path}/process");
        match self.call(reqwest::Method::POST, &path, Some(&body)).await? {
            Reply::Done(_) => Err(TargetError::Unknown(
                "queued at Loop; waiting for return.closed".into(),
            )),
            Reply::Refused {
                code: Some(code), ..
            } if code == "UNPROCESSABLE_FLAGGED_RETURN" => Err(flagged(loop_id)),
            // Refused because an earlier try (its answer lost) queued or closed it?
            Reply::Refused {
                status,
                code,
                message,
            } => {
                let refusal =
                    Self::refusal("processing", loop_id, status, code.as_deref(), &message);
                match self.unless_settled(loop_id, refusal).await? {
                    Some(done) => Ok(done),
                    None => Err(Self::refusal(
                        "processing",
                        loop_id,
                        status,
                        code.as_deref(),
                        &message,
                    )),
                }
            }
        }
    }
}

fn flagged(loop_id: &str) -> TargetError {
    TargetError::Permanent(format!(
        "return {loop_id} is flagged at Loop (UNPROCESSABLE_FLAGGED_RETURN), and Loop does not \
         process flagged returns; resolve the flag in Loop's admin and retry"
    ))
}

/// The return's id at Loop, or why there is none.
fn loop_return_id<'a>(
    action: &ActionDue,
    context: &'a ActionContext,
) -> Result<&'a str, TargetError> {
    context
        .external_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            TargetError::Permanent(format!(
                "return {} has no Loop return id, so Loop cannot be told about it",
                action.return_id
            ))
        })
}

fn not_an_update(action: &ActionDue) -> TargetError {
    TargetError::Permanent(format!(
        "action {} is a {} for Shopify, not an update for Loop; the return's source is bound \
         to Loop, so bind it to Shopify on F5 if Shopify should carry it, and retry",
        action.key,
        action.kind.name()
    ))
}

/// Percent-encodes everything but unreserved characters (ids are put in paths and queries).
fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn path_segment(s: &str) -> String {
    query_value(s)
}

impl Target for LoopTarget {
    fn name(&self) -> &str {
        "loop"
    }

    async fn send(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError> {
        match action.kind {
            ActionKind::PartnerUpdate => self.update(action, context).await,
            _ => Err(not_an_update(action)),
        }
    }

    /// From Loop's own record of the return: closed → confirmed; queued → still unknown (and
    /// says since when); open and not queued → absent, safe to send; a processing failure,
    /// a flag, a cancellation → failed with the reason.
    async fn reconcile(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Option<Confirmation>, TargetError> {
        if action.kind != ActionKind::PartnerUpdate {
            return Err(not_an_update(action));
        }
        let loop_id = loop_return_id(action, context)?;
        let state = self.return_state(loop_id).await?;
        Self::settled(loop_id, state)
    }
}

/// A Loop webhook the hub acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopTopic {
    /// `return.closed` (or `return.updated` with the state `closed`): Loop settled it.
    Closed,
    /// `return.processing.failed`, with Loop's reason.
    ProcessingFailed { reason: String },
    /// Any other trigger, named.
    Other(String),
}

/// A verified webhook: what happened to which Loop return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopWebhook {
    pub topic: LoopTopic,
    /// The return's id at Loop (`returns.external_id` in the store).
    pub return_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoopWebhookError {
    #[error(
        "Loop webhook refused: no webhook secret is configured, so no signature can be checked"
    )]
    NoSecret,
    #[error("Loop webhook refused: the X-Loop-Signature header is missing")]
    MissingSignature,
    #[error("Loop webhook refused: the signature does not match the body and the secret")]
    BadSignature,
    #[error("Loop webhook refused: the body is not JSON ({0})")]
    NotJson(String),
    #[error("Loop webhook refused: the body names no return id")]
    NoReturnId,
}

/// The `X-Loop-Signature` Loop would send for `body` (for simulators and tests).
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    crate::webhook::sign(secret, body)
}

/// Checks `X-Loop-Signature` (base64 HMAC-SHA256 of the raw body, compared in constant time)
/// before the body is even parsed, then reads it. A refusal is logged without the secret,
/// the signature or the body.
pub fn verify_webhook(
    secret: &[u8],
    body: &[u8],
    signature: Option<&str>,
) -> Result<LoopWebhook, LoopWebhookError> {
    use crate::webhook::{check_signed, SignatureRefusal};
    check_signed("loop", secret, body, signature).map_err(|refusal| match refusal {
        SignatureRefusal::NoSecret => LoopWebhookError::NoSecret,
        SignatureRefusal::Missing => LoopWebhookError::MissingSignature,
        SignatureRefusal::Bad => LoopWebhookError::BadSignature,
    })?;
    let value: Value =
        serde_json::from_slice(body).map_err(|e| LoopWebhookError::NotJson(e.to_string()))?;
    let id_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let return_id = id_of(value.get("id"))
        .or_else(|| id_of(value.get("return_id")))
        .or_else(|| id_of(value.pointer("/return/id")))
        .ok_or(LoopWebhookError::NoReturnId)?;
    let text = |p: &str| value.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let trigger = text("/trigger")
        .or_else(|| text("/topic").filter(|t| t.contains('.')))
        .unwrap_or_default();
    let topic = match trigger.as_str() {
        "return.closed" => LoopTopic::Closed,
        "return.updated" if text("/state").as_deref() == Some("closed") => LoopTopic::Closed,
        "return.processing.failed" => LoopTopic::ProcessingFailed {
            reason: text("/reason")
                .or_else(|| text("/error"))
                .or_else(|| text("/message"))
                .or_else(|| text("/error/message"))
                .unwrap_or_else(|| "Loop gave no reason".to_owned()),
        },
        other => LoopTopic::Other(other.to_owned()),
    };
    Ok(LoopWebhook { topic, return_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qc(presence: &str, reason: Option<&str>, grade: Option<&str>) -> ItemQc {
        ItemQc {
            presence: presence.into(),
            qc: Some(if reason.is_some() { "fail" } else { "pass" }.into()),
            qc_reason: reason.map(str::to_owned),
            grade: grade.map(str::to_owned),
            note: None,
            photos: vec![],
            inspected_at: "2026-11-24T01:02:03Z".into(),
        }
    }

    #[test]
    fn conditions_follow_the_documented_order() {
        assert_eq!(
            condition_category(&qc("missing", None, Some("A"))),
            Some("missing")
        );
        assert_eq!(
            condition_category(&qc("found", Some("MISSING"), None)),
            Some("missing")
        );
        assert_eq!(
            condition_category(&qc("found", Some("Wrong item"), Some("B"))),
            Some("incorrect_item")
        );
        assert_eq!(
            condition_category(&qc("found", Some("incorrect-item"), None)),
            Some("incorrect_item")
        );
        assert_eq!(
            condition_category(&qc("found", Some("EMPTY_BOX"), None)),
            Some("junk")
        );
        assert_eq!(
            condition_category(&qc("found", Some("STAIN_DAMAGE"), Some("C"))),
            Some("grade_c")
        );
        assert_eq!(
            condition_category(&qc("found", Some("STAIN_DAMAGE"), None)),
            None
        );
        for (g, c) in [
            ("A", "grade_a"),
            ("B", "grade_b"),
            ("C", "grade_c"),
            ("D", "grade_d"),
        ] {
            assert_eq!(condition_category(&qc("found", None, Some(g))), Some(c));
        }
    }

    #[test]
    fn every_disposition_has_a_loop_outcome() {
        let line = |d: &str| ActionLine {
            return_item_id: "i".into(),
            order_line_id: "o".into(),
            quantity: 1,
            disposition: Some(d.into()),
            sku: "S".into(),
            external_id: Some("1".into()),
            qc: Some(qc("found", None, Some("A"))),
            outcome: None,
            chosen_option: None,
        };
        for d in returnhub_core::bench::Disposition::ALL {
            let outcome = disposition_outcome(&line(d.as_str()));
            assert!(
                matches!(
                    outcome,
                    Some("back_to_stock" | "resale_hold" | "recycle" | "donate")
                ),
                "{d:?} → {outcome:?}"
            );
        }
        assert_eq!(disposition_outcome(&line("destroy")), Some("recycle"));
        assert_eq!(disposition_outcome(&line("refurbish")), Some("resale_hold"));
        let mut missing = line("back_to_stock");
        missing.qc = Some(qc("missing", None, None));
        assert_eq!(disposition_outcome(&missing), Some("missing"));
    }

    #[test]
    fn states_are_read_from_the_details() {
        assert_eq!(
            parse_return_state(&json!({"state": "open"})),
            LoopReturnState::Open
        );
        assert_eq!(
            parse_return_state(
                &json!({"state": "open", "processing": {"status": "queued", "queued_at": "t"}})
            ),
            LoopReturnState::Queued {
                since: Some("t".into())
            }
        );
        assert_eq!(
            parse_return_state(
                &json!({"state": "open", "processing": {"status": "failed", "error": "no stock"}})
            ),
            LoopReturnState::ProcessingFailed {
                reason: "no stock".into()
            }
        );
        assert_eq!(
            parse_return_state(&json!({"state": "review"})),
            LoopReturnState::Flagged
        );
        assert_eq!(
            parse_return_state(&json!({"state": "closed"})),
            LoopReturnState::Closed
        );
    }

    #[test]
    fn ids_are_encoded_and_numbers_sent_as_numbers() {
        assert_eq!(query_value("12 a/b"), "12%20a%2Fb");
        assert_eq!(line_id_json("293482039"), json!(293482039u64));
        assert_eq!(line_id_json("L-1"), json!("L-1"));
        assert_eq!(line_id_json("007"), json!("007"));
    }
}
