//! The webview's TypeScript types are generated from the Rust types with ts-rs and committed
//! under ui/src/bindings. This test fails when they are stale; run it with
//! `RETURNHUB_BLESS=1 cargo test -p returnhub-hub --test bindings` to regenerate them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use returnhub_core::dryrun::DryRunReport;
use returnhub_core::model::{RetailerSummary, ScanResult};
use returnhub_core::rules::Outcome;
use returnhub_core::rules::RuleSet;
use returnhub_core::station::StationConfig;
use returnhub_devices::serial::ScannerEvent;
use returnhub_hub::{
    AppInfo, AuditEntry, BenchScan, DemoConnote, ErrorView, ExceptionView, HeldEventView,
    InspectRequest, ItemScan, OrderMatch, PartnerConnectionInput, PartnerConnectionView, PhotoRef,
    ProcessResult, ReturnsPrimeLookup, RouteView, RulesCheck, SessionView, ShopsView, StationView,
    SupervisorResult, SyncView, TrackingWebhookInput, TrackingWebhookView,
};
use ts_rs::TS;

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings")
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ts"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn typescript_bindings_are_current() {
    let fresh = tempfile::tempdir().unwrap();
    let config = ts_rs::Config::new().with_out_dir(fresh.path());
    ScanResult::export_all(&config).unwrap();
    AppInfo::export_all(&config).unwrap();
    DemoConnote::export_all(&config).unwrap();
    SessionView::export_all(&config).unwrap();
    ErrorView::export_all(&config).unwrap();
    HeldEventView::export_all(&config).unwrap();
    RulesCheck::export_all(&config).unwrap();
    RuleSet::export_all(&config).unwrap();
    DryRunReport::export_all(&config).unwrap();
    RetailerSummary::export_all(&config).unwrap();
    InspectRequest::export_all(&config).unwrap();
    BenchScan::export_all(&config).unwrap();
    ItemScan::export_all(&config).unwrap();
    ProcessResult::export_all(&config).unwrap();
    OrderMatch::export_all(&config).unwrap();
    ReturnsPrimeLookup::export_all(&config).unwrap();
    PhotoRef::export_all(&config).unwrap();
    StationView::export_all(&config).unwrap();
    StationConfig::export_all(&config).unwrap();
    ExceptionView::export_all(&config).unwrap();
    AuditEntry::export_all(&config).unwrap();
    SupervisorResult::export_all(&config).unwrap();
    SyncView::export_all(&config).unwrap();
    ShopsView::export_all(&config).unwrap();
    TrackingWebhookView::export_all(&config).unwrap();
    TrackingWebhookInput::export_all(&config).unwrap();
    PartnerConnectionInput::export_all(&config).unwrap();
    PartnerConnectionView::export_all(&config).unwrap();
    RouteView::export_all(&config).unwrap();
    returnhub_core::partner::PartnerPolicy::export_all(&config).unwrap();
    Outcome::export_all(&config).unwrap();
    ScannerEvent::export_all(&config).unwrap();
    returnhub_hub::SetupState::export_all(&config).unwrap();
    returnhub_hub::SetupInput::export_all(&config).unwrap();
    returnhub_hub::JoinInput::export_all(&config).unwrap();
    returnhub_hub::PersonView::export_all(&config).unwrap();
    returnhub_hub::PersonInput::export_all(&config).unwrap();
    returnhub_hub::IssuedPin::export_all(&config).unwrap();
    returnhub_hub::StaffImport::export_all(&config).unwrap();
    returnhub_hub::RetailerSaved::export_all(&config).unwrap();
    returnhub_core::retailer::RetailerForm::export_all(&config).unwrap();
    returnhub_hub::ReturnSearch::export_all(&config).unwrap();
    returnhub_hub::ReportFilter::export_all(&config).unwrap();
    returnhub_hub::ReportSet::export_all(&config).unwrap();
    returnhub_hub::SearchPage::export_all(&config).unwrap();
    returnhub_hub::TimelineEntry::export_all(&config).unwrap();
    returnhub_hub::HubChoiceView::export_all(&config).unwrap();
    returnhub_hub::ExportedFile::export_all(&config).unwrap();
    let generated = read_dir(fresh.path());
    assert!(generated.contains_key("ScanResult.ts") && generated.contains_key("Money.ts"));

    let dir = committed_dir();
    if std::env::var_os("RETURNHUB_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &generated {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let committed = read_dir(&dir);
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "ui/src/bindings has other files than the Rust types produce; regenerate with RETURNHUB_BLESS=1"
    );
    for (name, text) in &generated {
        assert_eq!(
            committed.get(name),
            Some(text),
            "ui/src/bindings/{name} is stale; regenerate with RETURNHUB_BLESS=1"
        );
    }
}
