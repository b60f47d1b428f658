//! The action dispatcher, the same for every target (Shopify, Loop, Increff, Returns Prime;
//! [`crate::route::Router`] chooses among them per action). It works the `action` outbox rows of the hub store:
//!
//! ```text
//! pending ──mark sent (durable)──▶ sent ──send──▶ confirmed            (ActionConfirmed event)
//!    ▲                              │      ├────▶ pending + backoff    (certainly not applied)
//!    │                              │      ├────▶ unknown + backoff    (timeout, lost connection)
//!    │                              │      └────▶ failed               (refused; ActionFailed event)
//!    └──── reconcile: no effect ◀── unknown ──reconcile: effect found──▶ confirmed
//! ```
//!
//! A row is marked `sent` and that is on disk before the request leaves, so a crash between
//! the two leaves `sent`, which the next run reconciles (asks the target whether the effect
//! exists) and never sends blindly. Only a reconciliation that finds no effect lets an
//! action be sent again.

use std::sync::Arc;
use std::time::Duration;

use returnhub_core::time::{parse_rfc3339, UnixMillis};
use returnhub_core::trigger::ActionDue;
use returnhub_protocol::action::ActionContext;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{ActionRow, EventInput, OutboxState, Store, StoreError};

use crate::clock::{Backoff, Clock};

/// What a target reports for an effect that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The target's id of the effect (a refund GID, a gift card GID, …).
    pub reference: String,
    /// What the customer got back in the currency they paid, when that is not the action's
    /// (a Shopify order paid in a presentment currency).
    pub paid: Option<returnhub_core::money::Money>,
}

impl From<&str> for Confirmation {
    fn from(reference: &str) -> Confirmation {
        Confirmation::new(reference)
    }
}

impl From<String> for Confirmation {
    fn from(reference: String) -> Confirmation {
        Confirmation::new(reference)
    }
}

impl Confirmation {
    pub fn new(reference: impl Into<String>) -> Confirmation {
        Confirmation {
            reference: reference.into(),
            paid: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The action certainly did not take effect (refused before it ran, connection
    /// refused, throttled): it may be sent again after a backoff.
    #[error("not applied: {0}")]
    NotApplied(String),
    /// It may or may not have taken effect: reconcile before anything is sent again.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The target refused it for good; a supervisor must look at it.
    #[error("{0}")]
    Permanent(String),
}

/// A system that carries out actions. Implementations must make `reconcile` answer from
/// the target's own records (never from local state): it is what makes a retry safe.
///
/// `async fn` in a trait: the dispatcher is driven on one task, so the futures need not be
/// `Send`.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// Named in the confirmation and failure events ("shopify", "loop", …).
    fn name(&self) -> &str;

    /// The name of what carries out this action (a router answers with the target it
    /// chooses); by default [`Target::name`].
    fn name_for(&self, _context: &ActionContext) -> String {
        self.name().to_owned()
    }

    /// Carries the action out once.
    async fn send(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Confirmation, TargetError>;

    /// Whether the action's effect exists at the target, found by its idempotency key (or
    /// something derived from it). `Ok(None)`: certainly not; sending it is safe.
    async fn reconcile(
        &self,
        action: &ActionDue,
        context: &ActionContext,
    ) -> Result<Option<Confirmation>, TargetError>;
}

#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// Sends of one action before it is marked failed (for errors that are not permanent).
    pub max_attempts: u32,
    /// Rows read per pass.
    pub batch: usize,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub jitter_seed: u64,
    /// The actor recorded on confirmation and failure events.
    pub actor: String,
    /// Only these retailers' actions (the ones this target serves); `None`: all.
    pub retailers: Option<Vec<String>>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            max_attempts: 8,
            batch: 100,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(15 * 60),
            jitter_seed: 0xD15_BA7C4,
            actor: "system:dispatcher".into(),
            retailers: None,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DispatchReport {
    pub sent: u64,
    pub confirmed: u64,
    pub failed: u64,
    /// Sent again later: known not to have been applied.
    pub rescheduled: u64,
    /// Outcome unknown: to be reconciled.
    pub unknown: u64,
    /// Reconciliations that found the effect / found none.
    pub reconciled_found: u64,
    pub reconciled_absent: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("the dispatcher cannot update the store: {0}")]
    Store(#[from] StoreError),
}

pub struct Dispatcher<T: Target> {
    target: T,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    options: DispatchOptions,
}

impl<T: Target> Dispatcher<T> {
    pub fn new(target: T, clock: Arc<dyn Clock>, options: DispatchOptions) -> Dispatcher<T> {
        Dispatcher {
            backoff: Backoff::new(
                options.backoff_base,
                options.backoff_max,
                options.jitter_seed,
            ),
            target,
            clock,
            options,
        }
    }

    pub fn target(&self) -> &T {
        &self.target
    }

    /// Works every action that is due now, once.
    pub async fn run_once(&self, store: &mut Store) -> Result<DispatchReport, DispatchError> {
        let mut report = DispatchReport::default();
        let due = store.due_actions(
            self.options.retailers.as_deref(),
            self.clock.now_ms(),
            self.options.batch,
        )?;
        for row in due {
            self.work(store, row, &mut report).await?;
        }
        Ok(report)
    }

    /// Runs passes until no action is pending, sent or unknown (everything confirmed or
    /// failed), or `stop` says so; sleeps until the next row is due in between.
    pub async fn run_until_idle(
        &self,
        store: &mut Store,
        stop: impl Fn() -> bool,
    ) -> Result<DispatchReport, DispatchError> {
        let mut total = DispatchReport::default();
        while !stop() {
            let pass = self.run_once(store).await?;
            total.add(&pass);
            let Some(next) = store.next_action_at(self.options.retailers.as_deref())? else {
                break;
            };
            let now = self.clock.now_ms();
            let wait = parse_rfc3339(&next).map_or(0, |at| at - now);
            if wait > 0 {
                self.clock.sleep(Duration::from_millis(wait as u64)).await;
            }
        }
        Ok(total)
    }

    async fn work(
        &self,
        store: &mut Store,
        row: ActionRow,
        report: &mut DispatchReport,
    ) -> Result<(), DispatchError> {
        let key = row.action.key.clone();
        let context = match store.action_context(&row.action) {
            Ok(c) => c,
            Err(StoreError::Invalid(reason)) => {
                let name = self.target.name().to_owned();
                return self.fail(store, &row.action, &name, &reason, report);
            }
            Err(e) => return Err(e.into()),
        };
        let name = self.target.name_for(&context);
        if matches!(row.state, OutboxState::Sent | OutboxState::Unknown) {
            match self.target.reconcile(&row.action, &context).await {
                Ok(Some(confirmation)) => {
                    report.reconciled_found += 1;
                    return self.confirm(store, &row.action, &name, confirmation, report);
                }
                Ok(None) => {
                    report.reconciled_absent += 1;
                    let now = self.clock.now_ms();
                    store.reschedule_action(
                        &key,
                        now,
                        now,
                        "reconciled: no effect at the target",
                    )?;
                    tracing::info!(key = %key, target = %name, "no effect found; sending again");
                }
                Err(TargetError::Permanent(reason)) => {
                    return self.fail(
                        store,
                        &row.action,
                        &name,
                        &format!("reconcile: {reason}"),
                        report,
                    )
                }
                Err(e) => {
                    let now = self.clock.now_ms();
                    let next = now + self.delay_ms(row.attempts);
                    store.mark_action_unknown(&key, now, next, &format!("reconcile: {e}"))?;
                    report.unknown += 1;
                    return Ok(());
                }
            }
        }
        self.send(store, &row.action, &context, &name, row.attempts, report)
            .await
    }

    async fn send(
        &self,
        store: &mut Store,
        action: &ActionDue,
        context: &ActionContext,
        name: &str,
        attempts_before: u32,
        report: &mut DispatchReport,
    ) -> Result<(), DispatchError> {
        let key = &action.key;
        // Durable before the request leaves: a crash from here on is reconciled.
        store.mark_action_sent(key, self.clock.now_ms())?;
        let attempts = attempts_before + 1;
        report.sent += 1;
        let result = self.target.send(action, context).await;
        let now = self.clock.now_ms();
        match result {
            Ok(confirmation) => self.confirm(store, action, name, confirmation, report),
            Err(TargetError::Permanent(reason)) => self.fail(store, action, name, &reason, report),
            // Given up only when it certainly did not take effect: an unknown outcome stays
            // unknown (listed for the supervisor) and keeps being reconciled, so an action
            // whose effect exists is never marked failed.
            Err(TargetError::NotApplied(reason)) if attempts >= self.options.max_attempts => self
                .fail(
                    store,
                    action,
                    name,
                    &format!("gave up after {attempts} attempts: {reason}"),
                    report,
                ),
            Err(TargetError::NotApplied(reason)) => {
                store.reschedule_action(key, now, now + self.delay_ms(attempts), &reason)?;
                report.rescheduled += 1;
                Ok(())
            }
            Err(TargetError::Unknown(reason)) => {
                store.mark_action_unknown(key, now, now + self.delay_ms(attempts), &reason)?;
                report.unknown += 1;
                tracing::warn!(key = %key, target = %name, reason = %reason, "action outcome unknown; will reconcile");
                Ok(())
            }
        }
    }

    fn delay_ms(&self, attempts: u32) -> UnixMillis {
        self.backoff.delay(attempts.saturating_sub(1)).as_millis() as UnixMillis
    }

    fn confirm(
        &self,
        store: &mut Store,
        action: &ActionDue,
        name: &str,
        confirmation: Confirmation,
        report: &mut DispatchReport,
    ) -> Result<(), DispatchError> {
        let key = &action.key;
        let event = DomainEvent::ActionConfirmed {
            key: key.clone(),
            return_id: action.return_id.clone(),
            target: name.to_owned(),
            reference: confirmation.reference.clone(),
            paid: confirmation.paid,
        };
        self.append(store, event)?;
        report.confirmed += 1;
        tracing::info!(key = %key, target = %name, reference = %confirmation.reference, "action confirmed");
        Ok(())
    }

    fn fail(
        &self,
        store: &mut Store,
        action: &ActionDue,
        name: &str,
        reason: &str,
        report: &mut DispatchReport,
    ) -> Result<(), DispatchError> {
        let key = &action.key;
        let event = DomainEvent::ActionFailed {
            key: key.clone(),
            return_id: action.return_id.clone(),
            target: name.to_owned(),
            reason: reason.to_owned(),
        };
        self.append(store, event)?;
        report.failed += 1;
        tracing::error!(key = %key, target = %name, reason, "action failed; a supervisor can retry it");
        Ok(())
    }

    fn append(&self, store: &mut Store, event: DomainEvent) -> Result<(), DispatchError> {
        let actor = self.options.actor.clone();
        store.write(self.clock.now_ms(), |tx| {
            tx.append(EventInput {
                event,
                actor,
                station: None,
            })
        })?;
        Ok(())
    }
}

impl DispatchReport {
    /// Adds another pass's counts to these.
    pub fn add(&mut self, other: &DispatchReport) {
        self.sent += other.sent;
        self.confirmed += other.confirmed;
        self.failed += other.failed;
        self.rescheduled += other.rescheduled;
        self.unknown += other.unknown;
        self.reconciled_found += other.reconciled_found;
        self.reconciled_absent += other.reconciled_absent;
    }
}
