//! The fuzz targets' bodies. Each takes arbitrary bytes the way the product takes them from
//! outside (a scanner, a USB HID report, a partner's webhook, an upload, a peer's sync page, a
//! `hub.toml` an installer wrote) and checks that nothing panics and that what the product
//! promises of its answer holds: a signature is never accepted for other bytes, a stamp
//! re-encodes to the same fixed width, a decoded event reads back as itself, `hub.toml` as setup
//! writes it reads back as the same options.
//!
//! `fuzz/` (cargo-fuzz, nightly) drives these with libFuzzer; `tests/corpus.rs` replays
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` on stable in every test run.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use returnhub_central::upload::{validate_row, validate_tracking};
use returnhub_connectors::{increff_notify, loop_returns, webhook};
use returnhub_core::Currency;
use returnhub_devices::checkdigit::CheckScheme;
use returnhub_devices::classify::{ConnoteRules, RetailerPattern};
use returnhub_devices::hidpos::{parse_report, HidPosReassembler};
use returnhub_devices::scan::{normalise, parse_gs1, NormaliseOptions, Scan, ScanSource};
use returnhub_hub::HubOptions;
use returnhub_protocol::event::{Decoded, DomainEvent, KnownEvents};
use returnhub_protocol::hlc::{HlcClock, HlcStamp};
use returnhub_protocol::wire::{PullResponse, PushRequest, RemoteEvent, TrackingIn, UploadRow};

/// What a target does with one input (it panics on a failure).
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and its cargo-fuzz binary have.
pub const TARGETS: &[(&str, Target)] = &[
    ("barcode", barcode),
    ("hid_reports", hid_reports),
    ("webhook_bodies", webhook_bodies),
    ("upload_rows", upload_rows),
    ("sync_wire", sync_wire),
    ("hub_toml", hub_toml),
];

/// A scanner's bytes: normalised (AIM id, prefix, GS1 separators) and classified against
/// retailer patterns of the kinds the seeds describe, with and without a check digit.
pub fn barcode(data: &[u8]) {
    let (prefix, raw) = match data.split_first() {
        // A first byte below 8 says how many bytes of configured prefix follow.
        Some((&n, rest)) if n < 8 && rest.len() >= n as usize => rest.split_at(n as usize),
        _ => (&[][..], data),
    };
    let opts = NormaliseOptions {
        prefix: prefix.to_vec(),
    };
    let normalised = normalise(raw, &opts);
    let _ = parse_gs1(raw);
    let scan = Scan::from_raw(raw.to_vec(), ScanSource::KeyboardWedge, &opts);
    assert_eq!(
        scan.text, normalised.text,
        "a scan reads as its normalised text"
    );
    let classification = rules().classify_scan(&scan);
    if let Some(key) = classification.lookup_key() {
        assert!(!key.is_empty(), "an empty lookup key from {:?}", scan.text);
    }
}

fn rules() -> &'static ConnoteRules {
    static RULES: std::sync::OnceLock<ConnoteRules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        ConnoteRules::new(vec![
            RetailerPattern {
                name: "Domestic with check".into(),
                regex: r"(?P<connote>[A-Z]{3}(?P<serial>[0-9]{7})(?P<check>[0-9]))".into(),
                check: Some(CheckScheme::Luhn),
            },
            RetailerPattern {
                name: "NZ like".into(),
                regex: r"NZ[0-9]{10}".into(),
                check: None,
            },
        ])
        .expect("the fuzz patterns compile")
    })
}

/// USB HID POS input reports (64 bytes each) in any order and any content, through the
/// reassembler the scanner thread uses, then each report alone.
pub fn hid_reports(data: &[u8]) {
    let mut reassembler = HidPosReassembler::new(ScanSource::KeyboardWedge);
    for report in data.chunks(64) {
        let _ = parse_report(report);
        if reassembler.push(report).is_some() {
            assert!(
                !reassembler.pending(),
                "a scan given out with a part still held"
            );
        }
        if report.first() == Some(&0xff) {
            reassembler.discard_partial();
            assert!(!reassembler.pending());
        }
    }
}

const SECRET: &[u8] = b"fuzz-webhook-secret";

/// A partner's request body, signed as the partner would sign it, through the same reading
/// the central store does after the signature: Shopify's `orders/updated`, Loop's and
/// Increff's webhooks, and the tracking API. The same bytes under a signature of other bytes
/// are always refused.
pub fn webhook_bodies(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let signature = webhook::sign(SECRET, body);
    let forged = webhook::sign(SECRET, &[body, b" "].concat());
    match which % 4 {
        0 => {
            let shop = Some("fuzz.myshopify.com");
            let _ = webhook::orders_updated(SECRET, shop, Some("id"), Some(&signature), body);
            assert!(
                webhook::orders_updated(SECRET, shop, Some("id"), Some(&forged), body).is_err(),
                "a Shopify webhook taken under another body's signature"
            );
        }
        1 => {
            let _ = loop_returns::verify_webhook(SECRET, body, Some(&signature));
            assert!(
                loop_returns::verify_webhook(SECRET, body, Some(&forged)).is_err(),
                "a Loop webhook taken under another body's signature"
            );
        }
        2 => {
            let _ = increff_notify::verify(SECRET, body, Some(&signature));
            assert!(
                increff_notify::verify(SECRET, body, Some(&forged)).is_err(),
                "an Increff notification taken under another body's signature"
            );
        }
        _ => {
            if let Ok(events) = serde_json::from_slice::<Vec<TrackingIn>>(body) {
                for event in &events {
                    if let Ok((connote, _at)) = validate_tracking(event) {
                        assert_eq!(connote, connote.trim().to_uppercase());
                    }
                }
            }
        }
    }
}

/// An Upload API body, read and checked row by row as the central store does before it
/// takes its lock. The first byte picks the retailer's currency, whether it lists reasons and
/// whether it offers exchanges.
pub fn upload_rows(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let currency = ["AUD", "NZD", "JPY", "KWD"][usize::from(which % 4)];
    let currency = Currency::from_str(currency).expect("a listed currency");
    let reasons: Vec<String> = if which & 4 == 0 {
        Vec::new()
    } else {
        vec!["DAMAGED".into(), "WRONG_SIZE".into()]
    };
    let Ok(rows) = serde_json::from_slice::<Vec<UploadRow>>(body) else {
        return;
    };
    for row in &rows {
        if let Ok(valid) = validate_row(row, currency, &reasons, which & 8 != 0) {
            assert_eq!(valid.unit_price.currency, currency);
            assert!(valid.unit_price.minor >= 0, "a negative price accepted");
            assert!(valid.quantity > 0, "a row of no items accepted");
            assert!(!valid.consignment.is_empty());
        }
    }
}

/// A peer's sync page (a push to the central store, or a pull answer at a hub): every event's
/// stamp read, re-encoded to the same text and observed by a clock; every payload decoded as
/// this build would, and a decoded event encoded and decoded again to itself.
pub fn sync_wire(data: &[u8]) {
    let events = if let Ok(push) = serde_json::from_slice::<PushRequest>(data) {
        push.events
    } else if let Ok(pull) = serde_json::from_slice::<PullResponse>(data) {
        pull.events
    } else if let Ok(one) = serde_json::from_slice::<RemoteEvent>(data) {
        vec![one]
    } else {
        return;
    };
    let known = KnownEvents::this_build();
    let mut clock = HlcClock::new("fuzz-device");
    for event in &events {
        if let Ok(stamp) = HlcStamp::from_str(&event.hlc) {
            assert_eq!(stamp.encode(), event.hlc, "a stamp that does not re-encode");
            let _ = clock.observe(&stamp, 1_780_000_000_000);
            let _ = clock.catch_up(&stamp, 1_780_000_000_000);
        }
        if let Decoded::Event(decoded) = known.decode(&event.kind, event.version, &event.payload) {
            let text = serde_json::to_string(&decoded).expect("an event serialises");
            let again: DomainEvent = serde_json::from_str(&text).expect("an event reads back");
            assert_eq!(again, decoded, "an event that does not read back as itself");
        }
    }
    let stamp = clock.tick(1_780_000_000_000);
    assert_eq!(
        HlcStamp::from_str(&stamp.encode()).as_ref(),
        Ok(&stamp),
        "a clock's own stamp does not read back"
    );
}

/// `hub.toml` as an installer may have written it. Options that read are written back the
/// way setup writes the file, and that text reads as the same options.
pub fn hub_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("/nonexistent/returnhub-fuzz");
    let path = PathBuf::from("/nonexistent/returnhub-fuzz/hub.toml");
    let Ok(options) = HubOptions::from_config_text(dir, path.clone(), text) else {
        return;
    };
    let written = options.config_text();
    let read = HubOptions::from_config_text(dir, path, &written)
        .unwrap_or_else(|e| panic!("setup's own hub.toml does not read ({e}):\n{written}"));
    assert_eq!(
        read,
        HubOptions {
            demo: false,
            ..options
        },
        "hub.toml written by setup reads as other options:\n{written}"
    );
}
