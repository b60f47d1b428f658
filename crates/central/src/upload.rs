//! Field validation for the Return Upload API and tracking events in: pure, so every rule is
//! tested without a server. Each problem is one [`FieldError`] naming the field.

use returnhub_core::decision::ReturnOption;
use returnhub_core::money::{Currency, Money};
use returnhub_core::time::parse_rfc3339;
use returnhub_protocol::wire::{FieldError, TrackingIn, UploadRow};

/// An upload line that passed every field check, in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow {
    pub consignment: String,
    pub order_number: String,
    pub sku: String,
    pub ean: Option<String>,
    pub reason: String,
    pub sub_reason: Option<String>,
    pub option: ReturnOption,
    pub unit_price: Money,
    pub quantity: u32,
    pub description: Option<String>,
    pub hub_id: String,
    pub customer_name: String,
    pub email: String,
    pub country: String,
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Text that is present, at most `max` characters and printable.
fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(err(field, "is required"));
    } else if v.chars().count() > max {
        errors.push(err(field, format!("is longer than {max} characters")));
    } else if v.chars().any(char::is_control) {
        errors.push(err(field, "contains control characters"));
    }
    v.to_string()
}

fn identifier(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    let v = text(errors, field, value, 64);
    if !v.is_empty()
        && !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        errors.push(err(
            field,
            "may contain only letters, digits and - _ . / (no spaces)",
        ));
    }
    v
}

/// Checks every field of one upload line. `reasons` are the retailer's reason codes (empty:
/// any reason is accepted); `exchanges`: whether the retailer offers exchanges (EXCHANGE is
/// refused otherwise, as the portal would not have offered it).
pub fn validate_row(
    row: &UploadRow,
    currency: Currency,
    reasons: &[String],
    exchanges: bool,
) -> Result<ValidRow, Vec<FieldError>> {
    let mut e = Vec::new();
    let consignment = identifier(&mut e, "ConsignmentNo", &row.consignment_no).to_uppercase();
    let order_number = text(&mut e, "OrderNumber", &row.order_number, 64);
    let sku = text(&mut e, "Sku", &row.sku, 64);
    let ean = row.ean.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(ean) = ean {
        if !matches!(ean.len(), 8 | 12 | 13 | 14) || !ean.bytes().all(|b| b.is_ascii_digit()) {
            e.push(err("EAN", "must be 8, 12, 13 or 14 digits"));
        }
    }
    let reason = text(&mut e, "Reason", &row.reason, 64);
    if !reason.is_empty() && !reasons.is_empty() && !reasons.contains(&reason) {
        e.push(err(
            "Reason",
            format!(
                "'{reason}' is not one of the retailer's reasons ({})",
                reasons.join(", ")
            ),
        ));
    }
    let option = match row.return_action.trim().to_ascii_uppercase().as_str() {
        "REFUND" => Some(ReturnOption::Refund),
        "CREDIT NOTE" | "CREDIT NOTE PLUS" => Some(ReturnOption::CreditNote),
        "EXCHANGE" if exchanges => Some(ReturnOption::Exchange),
        "EXCHANGE" => {
            e.push(err(
                "ReturnAction",
                "EXCHANGE is not offered: the retailer has exchanges turned off (an admin turns \
                 them on in the retailer's settings)",
            ));
            None
        }
        _ => {
            e.push(err(
                "ReturnAction",
                if exchanges {
                    "must be REFUND, CREDIT NOTE, CREDIT NOTE PLUS or EXCHANGE"
                } else {
                    "must be REFUND, CREDIT NOTE or CREDIT NOTE PLUS"
                },
            ));
            None
        }
    };
    let unit_price = match Money::parse(row.item_value.trim(), currency) {
        Ok(m) if m.minor >= 0 => Some(m),
        Ok(_) => {
            e.push(err("ItemValue", "must not be negative"));
            None
        }
        Err(problem) => {
            e.push(err("ItemValue", problem.to_string()));
            None
        }
    };
    let quantity = row.quantity.unwrap_or(1);
    if !(1..=999).contains(&quantity) {
        e.push(err("Quantity", "must be between 1 and 999"));
    }
    let hub_id = identifier(&mut e, "HubId", &row.hub_id);
    let email = row.email.as_deref().unwrap_or("").trim().to_string();
    if !email.is_empty() && (!email.contains('@') || email.len() > 254) {
        e.push(err("Email", "is not an email address"));
    }
    let country = row
        .country
        .as_deref()
        .unwrap_or("ZZ")
        .trim()
        .to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        e.push(err("Country", "must be an ISO 3166-1 alpha-2 code"));
    }
    match (e.is_empty(), option, unit_price) {
        (true, Some(option), Some(unit_price)) => Ok(ValidRow {
            consignment,
            order_number,
            sku,
            ean: ean.map(str::to_string),
            reason,
            sub_reason: row
                .sub_reason
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            option,
            unit_price,
            quantity,
            description: row.item_description.clone(),
            hub_id,
            customer_name: row.customer_name.clone().unwrap_or_default(),
            email,
            country,
        }),
        _ => Err(e),
    }
}

/// Checks a tracking event; returns its normalised connote and event time.
pub fn validate_tracking(t: &TrackingIn) -> Result<(String, String), Vec<FieldError>> {
    let mut e = Vec::new();
    let connote = identifier(&mut e, "ConsignmentNo", &t.consignment_no).to_uppercase();
    let code = t.code.trim();
    if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        e.push(err("Code", "must be a short code such as RT or RP"));
    }
    let at = parse_rfc3339(t.event_dt.trim());
    if at.is_none() {
        e.push(err("EventDT", "must be an RFC 3339 time with an offset"));
    }
    match at {
        Some(ms) if e.is_empty() => Ok((connote, returnhub_core::time::rfc3339(ms))),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> UploadRow {
        UploadRow {
            consignment_no: "abc123".into(),
            order_number: "#1001".into(),
            sku: "SKU-1".into(),
            ean: Some("4006381333931".into()),
            reason: "too_small".into(),
            return_action: "credit note plus".into(),
            item_value: "49.95".into(),
            hub_id: "syd".into(),
            ..UploadRow::default()
        }
    }

    #[test]
    fn a_good_row_becomes_domain_values() {
        let aud: Currency = "AUD".parse().unwrap();
        let v = validate_row(&row(), aud, &[], false).unwrap();
        assert_eq!(v.consignment, "ABC123");
        assert_eq!(v.option, ReturnOption::CreditNote);
        assert_eq!(v.unit_price, Money::new(4995, aud));
        assert_eq!(v.quantity, 1);
        assert_eq!(v.country, "ZZ");
    }

    /// EXCHANGE is taken only from a retailer that offers exchanges, and says why otherwise.
    #[test]
    fn exchange_is_taken_where_the_retailer_offers_it() {
        let aud: Currency = "AUD".parse().unwrap();
        let exchange = UploadRow {
            return_action: " exchange ".into(),
            ..row()
        };
        let v = validate_row(&exchange, aud, &[], true).unwrap();
        assert_eq!(v.option, ReturnOption::Exchange);
        let refused = validate_row(&exchange, aud, &[], false).unwrap_err();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].field, "ReturnAction");
        assert!(refused[0].message.contains("exchanges turned off"));
        let other = UploadRow {
            return_action: "SWAP".into(),
            ..row()
        };
        let refused = validate_row(&other, aud, &[], true).unwrap_err();
        assert!(refused[0].message.contains("or EXCHANGE"), "{refused:?}");
    }

    #[test]
    fn every_bad_field_is_named() {
        let aud: Currency = "AUD".parse().unwrap();
        let bad = UploadRow {
            consignment_no: "has space".into(),
            order_number: "".into(),
            sku: "".into(),
            ean: Some("12".into()),
            reason: "nope".into(),
            return_action: "CASH".into(),
            item_value: "1.234".into(),
            quantity: Some(0),
            hub_id: "".into(),
            email: Some("x".into()),
            country: Some("AUS".into()),
            ..UploadRow::default()
        };
        let errors = validate_row(&bad, aud, &["too_small".into()], true).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "ConsignmentNo",
            "OrderNumber",
            "Sku",
            "EAN",
            "Reason",
            "ReturnAction",
            "ItemValue",
            "Quantity",
            "HubId",
            "Email",
            "Country",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn tracking_needs_a_time_with_an_offset() {
        let t = TrackingIn {
            consignment_no: "c1".into(),
            code: "RT".into(),
            event_dt: "2026-11-23T10:00:00".into(),
            ..TrackingIn::default()
        };
        assert_eq!(validate_tracking(&t).unwrap_err()[0].field, "EventDT");
        let ok = TrackingIn {
            event_dt: "2026-11-23T10:00:00+10:00".into(),
            ..t
        };
        assert_eq!(
            validate_tracking(&ok).unwrap(),
            ("C1".into(), "2026-11-23T00:00:00.000Z".into())
        );
    }
}
