//! The seam to the action dispatcher. The central store claims every action (one row per
//! idempotency key); whatever sends it to Shopify or a partner (the `Target`s in
//! `crates/connectors`) implements [`ActionDispatcher`], and [`dispatch_due`] drives it:
//!
//! 1. `claimed` → `sent` is stored *before* the send, so a crash after the send never
//!    re-sends blindly;
//! 2. the send's outcome moves the claim to `confirmed`, `failed` or `unknown`;
//! 3. a claim found in `sent` or `unknown` (a crash or a timeout after the send) is
//!    reconciled against the target (`reconcile`, e.g. read the order's refunds) before
//!    anything is sent again.
//!
//! A claim's end (confirmed, or failed with the reason) is also recorded as an
//! `ActionConfirmed` / `ActionFailed` event for the return's hub, in the same transaction: the
//! hub's supervisor sees it on F5, and the hub's Retry (an `ActionRetried` event, pushed) sends
//! a failed claim back through reconciliation here.

use std::cell::OnceCell;

use returnhub_core::time::UnixMillis;
use returnhub_protocol::action::ActionContext;
use returnhub_protocol::wire::ClaimState;

use crate::storage::{ActionClaim, CentralStorage, ClaimEnd, Result};

type ContextRead<'a> = Box<dyn Fn() -> std::result::Result<ActionContext, String> + 'a>;

/// What a claim's action is about (its order, lines and their dispositions: the storage's
/// `action_context`), read when a dispatcher first asks and then kept: [`dispatch_due`] makes
/// one per claim and hands it to every call about that claim (`serves`, `dispatch` or
/// `reconcile`, `target_for`), so a claim's context is read at most once per pass, and the
/// target named in its outcome is the one chosen for its send.
pub struct ClaimContext<'a> {
    read: ContextRead<'a>,
    value: OnceCell<std::result::Result<ActionContext, String>>,
}

impl<'a> ClaimContext<'a> {
    /// `claim`'s context as `storage` has it.
    pub fn of(storage: &'a dyn CentralStorage, claim: &'a ActionClaim) -> ClaimContext<'a> {
        ClaimContext::from_fn(move || storage.action_context(claim).map_err(|e| e.to_string()))
    }

    /// A context read by `read` (called once, when first asked).
    pub fn from_fn(
        read: impl Fn() -> std::result::Result<ActionContext, String> + 'a,
    ) -> ClaimContext<'a> {
        ClaimContext {
            read: Box::new(read),
            value: OnceCell::new(),
        }
    }

    /// The context, or why it cannot be read (the return is not at the central store, say).
    pub fn get(&self) -> std::result::Result<&ActionContext, &str> {
        self.value
            .get_or_init(|| (self.read)())
            .as_ref()
            .map_err(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    /// Applied; the target's reference for the effect (a refund's id, say), and what the
    /// customer got back in the currency they paid when that is not the action's.
    Confirmed(returnhub_connectors::Confirmation),
    /// The target refused it for good (shown to the supervisor).
    Failed(String),
    /// No answer after the request left: reconcile before any retry.
    Unknown(String),
    /// Reconciliation found it was never applied: send it again.
    NotApplied,
}

pub trait ActionDispatcher {
    /// The target's name in the events that record an outcome ("shopify", say).
    fn target(&self) -> &str {
        "dispatcher"
    }
    /// Sends the action once, under `claim.key` as the idempotency key.
    fn dispatch(&self, claim: &ActionClaim, context: &ClaimContext<'_>) -> DispatchOutcome;
    /// Asks the target whether the action under `claim.key` was applied.
    fn reconcile(&self, claim: &ActionClaim, context: &ClaimContext<'_>) -> DispatchOutcome;
    /// The name recorded for this claim's outcome (a router names the target it chose).
    fn target_for(&self, _claim: &ActionClaim, _context: &ClaimContext<'_>) -> String {
        self.target().to_owned()
    }
    /// Whether this dispatcher can carry the claim out now (its target is connected). Claims
    /// it cannot are left claimed, untouched.
    fn serves(&self, _claim: &ActionClaim, _context: &ClaimContext<'_>) -> bool {
        true
    }
    /// The retailers whose actions this dispatcher carries out; `None`: every retailer's.
    /// Other retailers' claims are left alone (not sent, not counted as attempts).
    fn retailers(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub sent: usize,
    pub reconciled: usize,
}

fn settle(
    storage: &dyn CentralStorage,
    dispatcher: &dyn ActionDispatcher,
    claim: &ActionClaim,
    context: &ClaimContext<'_>,
    from: ClaimState,
    outcome: DispatchOutcome,
    now: UnixMillis,
) -> Result<()> {
    let target = dispatcher.target_for(claim, context);
    match outcome {
        DispatchOutcome::Confirmed(confirmation) => {
            let end = ClaimEnd::Confirmed {
                target,
                reference: confirmation.reference,
                paid: confirmation.paid,
            };
            storage.finish_claim(claim, from, &end, now)?;
        }
        DispatchOutcome::Failed(reason) => {
            storage.finish_claim(claim, from, &ClaimEnd::Failed { target, reason }, now)?;
        }
        DispatchOutcome::Unknown(e) if from == ClaimState::Unknown => {
            // Checked again without an answer: later and later, then a supervisor's.
            let checks = claim.checks + 1;
            if checks >= MAX_CHECKS {
                let reason = format!(
                    "no certain answer from {target} after {checks} checks (last: {e}): see \
                     whether the effect exists there, then retry"
                );
                tracing::error!(key = %claim.key, target = %target, checks, "action given up as failed");
                storage.finish_claim(claim, from, &ClaimEnd::Failed { target, reason }, now)?;
            } else {
                storage.set_claim_state(&claim.key, from, ClaimState::Unknown, Some(&e), now)?;
                storage.defer_claim(
                    &claim.key,
                    checks,
                    now + check_delay_ms(checks, &claim.key),
                )?;
            }
        }
        DispatchOutcome::Unknown(e) => {
            // A send with no certain outcome: checked at once, on the next pass.
            storage.set_claim_state(&claim.key, from, ClaimState::Unknown, Some(&e), now)?;
        }
        DispatchOutcome::NotApplied => {
            storage.set_claim_state(&claim.key, from, ClaimState::Claimed, None, now)?;
        }
    }
    Ok(())
}

/// How many checks of an unknown claim before it ends failed, for a supervisor (about six
/// hours with [`check_delay_ms`]).
pub const MAX_CHECKS: u32 = 12;

/// When to check an unknown claim again after `checks` checks: 30 s doubling up to an hour,
/// with equal jitter drawn from the key, so claims that failed together are not all checked
/// again at the same moment.
pub fn check_delay_ms(checks: u32, key: &str) -> i64 {
    let base: i64 = 30_000i64
        .saturating_mul(1i64 << checks.saturating_sub(1).min(20))
        .min(3_600_000);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain(checks.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    base / 2 + (h % (base as u64 / 2 + 1)) as i64
}

/// One pass: sends up to `limit` claimed actions, then reconciles up to `limit` claims left
/// `sent`/`unknown` whose check is due. New claims go first: however many old ones wait
/// for an answer, a new one never waits behind them. Run it in one task only (the state
/// changes are compare-and-set, so a second runner can never send a claim the first already
/// moved to `sent`).
pub fn dispatch_due(
    storage: &dyn CentralStorage,
    dispatcher: &dyn ActionDispatcher,
    now: UnixMillis,
    limit: u32,
) -> Result<DispatchReport> {
    let mut report = DispatchReport::default();
    let retailers = dispatcher.retailers();
    let retailers = retailers.as_deref();
    // The unknown claims due now, taken before this pass sends anything: one whose send
    // ends unknown in this pass is checked on a later one.
    let unknown = storage.claims_due(ClaimState::Unknown, retailers, now, limit)?;
    // Claims a crash left `sent` are checked before anything new is sent.
    for claim in storage.claims_due(ClaimState::Sent, retailers, now, limit)? {
        let context = ClaimContext::of(storage, &claim);
        let outcome = dispatcher.reconcile(&claim, &context);
        settle(
            storage,
            dispatcher,
            &claim,
            &context,
            ClaimState::Sent,
            outcome,
            now,
        )?;
        report.reconciled += 1;
    }
    send_claimed(storage, dispatcher, retailers, now, limit, &mut report)?;
    for claim in unknown {
        let context = ClaimContext::of(storage, &claim);
        let outcome = dispatcher.reconcile(&claim, &context);
        settle(
            storage,
            dispatcher,
            &claim,
            &context,
            ClaimState::Unknown,
            outcome,
            now,
        )?;
        report.reconciled += 1;
    }
    // What the checks found never applied goes out now.
    let left = limit.saturating_sub(report.sent as u32);
    send_claimed(storage, dispatcher, retailers, now, left, &mut report)?;
    Ok(report)
}

fn send_claimed(
    storage: &dyn CentralStorage,
    dispatcher: &dyn ActionDispatcher,
    retailers: Option<&[String]>,
    now: UnixMillis,
    limit: u32,
    report: &mut DispatchReport,
) -> Result<()> {
    for claim in storage.claims_due(ClaimState::Claimed, retailers, now, limit)? {
        let context = ClaimContext::of(storage, &claim);
        if !dispatcher.serves(&claim, &context) {
            continue;
        }
        if !storage.set_claim_state(&claim.key, ClaimState::Claimed, ClaimState::Sent, None, now)? {
            continue;
        }
        let outcome = dispatcher.dispatch(&claim, &context);
        settle(
            storage,
            dispatcher,
            &claim,
            &context,
            ClaimState::Sent,
            outcome,
            now,
        )?;
        report.sent += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_claims_context_is_read_once_however_often_it_is_asked_for() {
        let reads = Cell::new(0);
        let context = ClaimContext::from_fn(|| {
            reads.set(reads.get() + 1);
            Err("action k: return R1 is not at the central store".into())
        });
        assert_eq!(reads.get(), 0, "not read before it is asked for");
        for _ in 0..3 {
            assert_eq!(
                context.get().unwrap_err(),
                "action k: return R1 is not at the central store"
            );
        }
        assert_eq!(reads.get(), 1);
    }
}
