//! Supervisors find past returns (F8): by a key (a connote, an order number, a customer's
//! email, an item's SKU or EAN, typed or scanned), a retailer, a status, the days of its last
//! change and a person who worked on it; a page at a time, newest change first or oldest.
//! [`Hub::return_timeline`] follows one return from its upload or intake to its actions'
//! outcomes: every event of its log with who, when, station, device and HLC stamp, the carrier
//! events relayed for it, the tracking notices sent for it and each action's attempts. From
//! the local store, so it works offline; it holds what this station recorded and what sync
//! brought.

use returnhub_core::auth::Role;
use returnhub_core::model::ReturnStatus;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::ReturnQuery;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Hub, HubError, Result};

/// Results a page.
pub const SEARCH_PAGE: u32 = 50;

/// What a supervisor asks for; every part given narrows the search.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct ReturnSearch {
    /// A connote, an order number ("1042" or "#1042"), a customer's email, or an item's SKU or
    /// EAN; empty for any.
    #[serde(default)]
    pub key: String,
    pub retailer_id: Option<String>,
    pub status: Option<ReturnStatus>,
    /// The first and last day (YYYY-MM-DD, UTC) of the return's last change, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    /// A person (user id) who recorded anything on the return.
    pub operator: Option<String>,
    #[serde(default)]
    pub oldest_first: bool,
    /// Zero-based.
    #[serde(default)]
    pub page: u32,
}

/// One page of what a search found.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SearchPage {
    pub hits: Vec<ReturnHitView>,
    /// How many returns the search finds in all (with `at_least`, at least this many: a key
    /// on very many returns, a best-selling SKU, is counted only so far).
    #[ts(type = "number")]
    pub total: u64,
    pub at_least: bool,
    pub page: u32,
    pub page_size: u32,
    /// What the retailer and person filters offer: (id, name).
    pub retailers: Vec<(String, String)>,
    pub people: Vec<(String, String)>,
}

/// A return found.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReturnHitView {
    pub return_id: String,
    pub status: String,
    pub retailer: String,
    pub order_number: String,
    pub customer_name: String,
    pub email: String,
    pub connote: Option<String>,
    pub items: u32,
    pub created_at: String,
    pub updated_at: String,
    /// The hub it was handed to, when it is not this hub's any more (read-only here).
    pub handed_to: Option<String>,
}

/// A table written to a CSV file for a supervisor to open elsewhere.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ExportedFile {
    /// Where it is (under the data dir's `exports`).
    pub path: String,
    /// Rows, not counting the header.
    #[ts(type = "number")]
    pub rows: u64,
}

/// The columns of a search's CSV, in order.
pub const SEARCH_CSV_HEADER: [&str; 10] = [
    "return_id",
    "connote",
    "order_number",
    "customer_name",
    "email",
    "retailer",
    "status",
    "items",
    "created_at",
    "updated_at",
];

/// One line of a return's timeline.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TimelineEntry {
    /// RFC 3339.
    pub at: String,
    /// event (of the return's log), tracking_in (a carrier's event), tracking_out (a notice
    /// to a retailer's webhook), action (an action's attempts so far).
    pub kind: String,
    /// A person's name, a system actor, or the carrier / URL.
    pub who: String,
    pub station: Option<String>,
    /// For an event: the device that recorded it and its hybrid logical clock stamp.
    pub device: Option<String>,
    pub hlc: Option<String>,
    pub what: String,
    /// The photos it recorded (an inspection's, an extra item's, an exception's), by content
    /// hash: `photo_data_url` shows each.
    pub photos: Vec<String>,
}

/// A text field of an exported CSV as a spreadsheet shows it but will not run it: text that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return (a customer named
/// `=HYPERLINK(…)`) gets a leading apostrophe, as OWASP advises against CSV injection. A plain
/// number (`-12.50`) is left as it is: numbers stay unformatted.
pub(crate) fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(text) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// `-12`, `+3`, `-0.50`: a sign, digits, and at most one point followed by digits.
fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// The start of day `day` (YYYY-MM-DD, UTC) in Unix ms, or why it is not a day (`what` names
/// the field).
pub(crate) fn day_ms(day: &str, what: &str) -> Result<i64> {
    let day = day.trim();
    (day.len() == 10)
        .then(|| returnhub_core::time::parse_rfc3339(&format!("{day}T00:00:00Z")))
        .flatten()
        .ok_or_else(|| {
            HubError::Invalid(format!(
                "{what} {day:?} is not a day: type it as YYYY-MM-DD"
            ))
        })
}

/// `YYYY-MM-DD` as the RFC 3339 start of that day (UTC).
fn day_start(day: &str, what: &str) -> Result<String> {
    Ok(returnhub_core::time::rfc3339(day_ms(day, what)?))
}

/// The start of the day after `day` (YYYY-MM-DD), as RFC 3339.
fn day_after(day: &str) -> Result<String> {
    Ok(returnhub_core::time::rfc3339(
        day_ms(day, "the last day")? + 86_400_000,
    ))
}

/// What the store is asked for a supervisor's search (its page set by the caller).
fn query_of(search: &ReturnSearch) -> Result<ReturnQuery> {
    let key = search.key.trim();
    let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    Ok(ReturnQuery {
        key: Some(key.to_owned()).filter(|k| !k.is_empty()),
        connote_form: Some(returnhub_devices::scan::normalise_wedge(key).text),
        retailer_id: given(&search.retailer_id),
        status: search.status,
        changed_from: given(&search.from)
            .map(|d| day_start(&d, "the first day"))
            .transpose()?,
        changed_until: given(&search.to).map(|d| day_after(&d)).transpose()?,
        actor: given(&search.operator),
        oldest_first: search.oldest_first,
        limit: 0,
        offset: 0,
    })
}

impl Hub {
    /// Everything that happened to a return, in time order (see the module doc).
    pub fn return_timeline(&self, return_id: &str) -> Result<Vec<TimelineEntry>> {
        self.authorize(Role::Supervisor)?;
        let store = self.store();
        if store.return_by_id(return_id)?.is_none() {
            return Err(HubError::NotFound(format!("no return {return_id}")));
        }
        let mut out = Vec::new();
        for row in store.events_for(return_id)? {
            let (device, hlc) = (row.device_id.clone(), row.hlc.clone());
            let event: DomainEvent = serde_json::from_str(&row.payload).map_err(|e| {
                HubError::Corrupt(format!("event {} cannot be read: {e}", row.event_id))
            })?;
            let photos = match &event {
                DomainEvent::ItemInspected(i) => i.photos.clone(),
                DomainEvent::ExtraItemRecorded(x) => x.photos.clone(),
                DomainEvent::ExceptionRaised(e) => e.photos.clone(),
                _ => Vec::new(),
            };
            let entry =
                crate::supervisor::audit_entry(&store, row, crate::supervisor::describe(&event))?;
            out.push(TimelineEntry {
                at: entry.at,
                kind: "event".into(),
                who: entry.who,
                station: entry.station,
                device: Some(device),
                hlc: Some(hlc),
                what: entry.what,
                photos,
            });
        }
        for t in store.tracking_in_for(return_id)? {
            out.push(TimelineEntry {
                at: t.event_at,
                kind: "tracking_in".into(),
                who: t.source,
                station: None,
                device: None,
                hlc: None,
                what: format!("Carrier: {} {} ({})", t.code, t.status, t.connote),
                photos: Vec::new(),
            });
        }
        for d in store.deliveries_for(return_id)? {
            let outcome = match (&d.delivered_at, &d.last_error) {
                (Some(at), _) => {
                    format!("delivered {}", at.get(..16).unwrap_or(at).replace('T', " "))
                }
                (None, Some(e)) => {
                    format!("not yet delivered after {} attempt(s): {e}", d.attempts)
                }
                (None, None) => "waiting to be sent".to_owned(),
            };
            out.push(TimelineEntry {
                at: d.created_at,
                kind: "tracking_out".into(),
                who: d.url,
                station: None,
                device: None,
                hlc: None,
                what: format!("Told {}: {outcome}", d.code),
                photos: Vec::new(),
            });
        }
        for (_, _, payload) in store.actions_of(return_id)? {
            let action: returnhub_core::trigger::ActionDue = serde_json::from_str(&payload)
                .map_err(|e| HubError::Corrupt(format!("an action cannot be read: {e}")))?;
            let Some(row) = store.action(&action.key)? else {
                continue;
            };
            out.push(TimelineEntry {
                at: row.updated_at,
                kind: "action".into(),
                who: row.reference.unwrap_or_default(),
                station: None,
                device: None,
                hlc: None,
                what: format!(
                    "Action {}{}: {} after {} attempt(s){}",
                    action.kind.name().replace('_', " "),
                    action.amount.map(|m| format!(" {m}")).unwrap_or_default(),
                    row.state.as_str(),
                    row.attempts,
                    row.last_error
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ),
                photos: Vec::new(),
            });
        }
        // Merged in time order; lines at the same instant keep their order above.
        out.sort_by_key(|e| returnhub_core::time::parse_rfc3339(&e.at).unwrap_or(i64::MAX));
        Ok(out)
    }

    /// Every return a search finds (all of them, not a page) as a CSV file under the data
    /// dir's `exports`: RFC 4180 with the `csv` crate, UTF-8, a header row, numbers as they
    /// are and times in RFC 3339. Written to a temporary file and renamed, so a file there is
    /// always whole.
    pub fn export_returns_csv(&self, search: ReturnSearch) -> Result<ExportedFile> {
        self.authorize(Role::Supervisor)?;
        let (path, partial) = self.export_path("returns", "csv")?;
        let failed = |e: &dyn std::fmt::Display| {
            HubError::Failed(format!("cannot write {}: {e}", partial.display()))
        };
        let mut out = csv::Writer::from_path(&partial).map_err(|e| failed(&e))?;
        out.write_record(SEARCH_CSV_HEADER)
            .map_err(|e| failed(&e))?;
        // Read a page of the store at a time, letting it go between pages for the bench.
        const EXPORT_PAGE: u32 = 500;
        let query = query_of(&search)?;
        let mut rows = 0u64;
        for page in 0u32.. {
            let found = self.store().search_returns(&ReturnQuery {
                limit: EXPORT_PAGE,
                offset: page.saturating_mul(EXPORT_PAGE),
                ..query.clone()
            })?;
            let last = found.hits.len() < EXPORT_PAGE as usize;
            for h in found.hits {
                let connote = h.connote.unwrap_or_default();
                let items = h.items.to_string();
                let fields = [
                    csv_text(&h.return_id),
                    csv_text(&connote),
                    csv_text(&h.order_number),
                    csv_text(&h.customer_name),
                    csv_text(&h.email),
                    csv_text(&h.retailer),
                    csv_text(&h.status),
                    items.as_str().into(),
                    csv_text(&h.created_at),
                    csv_text(&h.updated_at),
                ];
                out.write_record(fields.iter().map(|f| f.as_bytes()))
                    .map_err(|e| failed(&e))?;
                rows += 1;
            }
            if last {
                break;
            }
        }
        let file = out.into_inner().map_err(|e| failed(&e))?;
        file.sync_all().map_err(|e| failed(&e))?;
        drop(file);
        std::fs::rename(&partial, &path).map_err(|e| failed(&e))?;
        tracing::info!(path = %path.display(), rows, "returns exported");
        Ok(ExportedFile {
            path: path.display().to_string(),
            rows,
        })
    }

    /// A new file `<stem>-<time>.<ext>` under the data dir's `exports` (a second one in the
    /// same second gets `-2`), and the partial name to write it under first, so a file there
    /// is always whole.
    pub(crate) fn export_path(
        &self,
        stem: &str,
        ext: &str,
    ) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
        let dir = self.options().data_dir.join("exports");
        std::fs::create_dir_all(&dir).map_err(|e| {
            HubError::Failed(format!("cannot make the folder {}: {e}", dir.display()))
        })?;
        let stamp = returnhub_core::time::rfc3339((self.clock)())
            .get(..19)
            .unwrap_or_default()
            .replace([':', '-'], "")
            .replace('T', "-");
        let path = (1..)
            .map(|n| match n {
                1 => dir.join(format!("{stem}-{stamp}.{ext}")),
                n => dir.join(format!("{stem}-{stamp}-{n}.{ext}")),
            })
            .find(|p| !p.exists())
            .unwrap_or_else(|| dir.join(format!("{stem}-{stamp}.{ext}")));
        let partial = path.with_extension(format!("{ext}.partial"));
        Ok((path, partial))
    }

    /// Past returns as a supervisor searches for them (see the module doc).
    pub fn search_returns(&self, search: ReturnSearch) -> Result<SearchPage> {
        self.authorize(Role::Supervisor)?;
        let query = ReturnQuery {
            limit: SEARCH_PAGE,
            offset: search.page.saturating_mul(SEARCH_PAGE),
            ..query_of(&search)?
        };
        let store = self.store();
        let found = store.search_returns(&query)?;
        let here = self.options().hub_id.clone();
        Ok(SearchPage {
            hits: found
                .hits
                .into_iter()
                .map(|h| ReturnHitView {
                    return_id: h.return_id,
                    status: h.status,
                    retailer: h.retailer,
                    order_number: h.order_number,
                    customer_name: h.customer_name,
                    email: h.email,
                    connote: h.connote,
                    items: h.items,
                    created_at: h.created_at,
                    updated_at: h.updated_at,
                    handed_to: (h.hub_id != here).then_some(h.hub_id),
                })
                .collect(),
            total: found.total,
            at_least: found.at_least,
            page: search.page,
            page_size: SEARCH_PAGE,
            retailers: store
                .retailer_summaries()?
                .into_iter()
                .map(|r| (r.id, r.name))
                .collect(),
            people: store.users()?.into_iter().map(|u| (u.id, u.name)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_text_that_a_spreadsheet_would_run_is_defused_and_numbers_stay() {
        for risky in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-cmd",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "-",
            "-1e5",
        ] {
            assert_eq!(csv_text(risky), format!("'{risky}"), "{risky:?}");
        }
        for plain in [
            "-12.50",
            "+3",
            "-0",
            "12",
            "Kōwhai Apparel",
            "",
            "a=b",
            "#1001",
        ] {
            assert_eq!(csv_text(plain), plain, "{plain:?}");
        }
    }

    #[test]
    fn days_are_checked_and_the_last_one_is_included() {
        assert_eq!(
            day_start("2026-11-23", "x").unwrap(),
            "2026-11-23T00:00:00.000Z"
        );
        assert_eq!(day_after("2026-11-23").unwrap(), "2026-11-24T00:00:00.000Z");
        assert_eq!(day_after("2026-12-31").unwrap(), "2027-01-01T00:00:00.000Z");
        assert_eq!(day_after("2028-02-28").unwrap(), "2028-02-29T00:00:00.000Z");
        for bad in [
            "23/11/2026",
            "2026-13-01",
            "2026-11-1",
            "yesterday",
            "2026-11-23T00",
        ] {
            assert!(day_start(bad, "the first day").is_err(), "{bad}");
        }
    }
}
