//! Every event kind at every version has a golden payload in `tests/golden/events/`, written
//! once and never edited, and this build still reads each of them: events recorded by any
//! earlier build stay readable forever. A golden written by this build's encoder matches it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use returnhub_protocol::event::{Decoded, KnownEvents, EVENT_KINDS};

/// Found at run time (cargo sets the variable for tests too): a test binary that a shared
/// target dir kept from a build of the same sources at another path still reads these files.
fn golden_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests/golden/events")
}

#[test]
fn every_kind_at_every_version_has_a_golden_payload_and_nothing_else_does() {
    let expected: BTreeSet<String> = EVENT_KINDS
        .iter()
        .flat_map(|(kind, version)| (1..=*version).map(move |v| format!("{kind}.v{v}.json")))
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let missing: Vec<_> = expected.difference(&present).collect();
    let stray: Vec<_> = present.difference(&expected).collect();
    assert!(missing.is_empty(), "no golden payload for {missing:?}");
    assert!(
        stray.is_empty(),
        "golden payloads of no known kind: {stray:?}"
    );
}

#[test]
fn every_golden_payload_decodes_as_its_kind() {
    let known = KnownEvents::this_build();
    for (kind, current) in EVENT_KINDS {
        for version in 1..=*current {
            let path = golden_dir().join(format!("{kind}.v{version}.json"));
            let text = std::fs::read_to_string(&path).unwrap();
            let event = match known.decode(kind, version, &text) {
                Decoded::Event(event) => event,
                other => panic!("{}: {other:?}", path.display()),
            };
            assert_eq!(event.kind(), *kind, "{}", path.display());
            // Written at the lowest version that carries it whole (older devices apply it).
            assert!(
                (version..=*current).contains(&event.version()),
                "{}",
                path.display()
            );
            if version == *current {
                assert_eq!(event.version(), *current, "{}", path.display());
                // The current version is what this build writes: byte-for-byte the same JSON
                // value, so no field was renamed, dropped or re-typed without a new version.
                let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
                let written = serde_json::to_value(&event).unwrap();
                assert_eq!(
                    written,
                    golden,
                    "{} is no longer what we write",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_kind_or_version_this_build_does_not_know_needs_an_update_and_a_bad_payload_is_malformed() {
    let known = KnownEvents::this_build();
    let text = std::fs::read_to_string(golden_dir().join("return_noted.v1.json")).unwrap();
    assert!(matches!(
        known.decode("pallet_sealed", 1, r#"{"type":"pallet_sealed"}"#),
        Decoded::NeedsUpdate(m) if m.contains("pallet_sealed")
    ));
    assert!(matches!(
        known.decode("return_noted", 2, &text),
        Decoded::NeedsUpdate(m) if m.contains("version 2")
    ));
    assert!(matches!(
        known.decode("return_noted", 1, &text),
        Decoded::Event(_)
    ));
    // An older build that never heard of the kind parks what this build reads.
    let older = KnownEvents::this_build().without("return_noted");
    assert!(matches!(
        older.decode("return_noted", 1, &text),
        Decoded::NeedsUpdate(_)
    ));
    assert!(matches!(
        known.decode(
            "return_noted",
            1,
            r#"{"type":"return_noted","return_id":7}"#
        ),
        Decoded::Malformed(_)
    ));
    assert!(matches!(
        known.decode("signed_in", 1, &text),
        Decoded::Malformed(m) if m.contains("return_noted")
    ));
    assert!(matches!(
        known.decode("return_noted", 0, &text),
        Decoded::Malformed(_)
    ));
}

/// A confirmation without a currency of its own is still written as version 1: a station that
/// has not been updated yet applies it instead of waiting for its update.
#[test]
fn a_confirmation_in_the_actions_own_currency_stays_readable_by_older_stations() {
    let text = std::fs::read_to_string(golden_dir().join("action_confirmed.v1.json")).unwrap();
    let Decoded::Event(event) = KnownEvents::this_build().decode("action_confirmed", 1, &text)
    else {
        panic!("the v1 golden decodes");
    };
    assert_eq!(event.version(), 1);
    let text = std::fs::read_to_string(golden_dir().join("action_confirmed.v2.json")).unwrap();
    let Decoded::Event(event) = KnownEvents::this_build().decode("action_confirmed", 2, &text)
    else {
        panic!("the v2 golden decodes");
    };
    assert_eq!(event.version(), 2);
}
