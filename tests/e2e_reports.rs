//! A supervisor's reports in the real window (tauri-driver + WebKitWebDriver under Xvfb) after
//! two returns were received, inspected and processed at the bench: F9 shows today's figures
//! with charts drawn by the charting library, a table's CSV opens with the `csv` crate and its
//! totals equal a direct count in the store, and P writes the end-of-shift PDF; a return's
//! timeline (F8) shows its inspection's photo. An operator has no F9. With
//! RETURNHUB_SCREENSHOT_DIR set, the reports, search and timeline screens are saved there.

mod support;

use std::path::Path;

use returnhub_hub::{Hub, HubOptions, InspectRequest};
use support::{one, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const CONTROL: char = '\u{E009}';
const SHIFT: char = '\u{E008}';
const F8: char = '\u{E038}';
const F9: char = '\u{E039}';
const ENTER: char = '\u{E007}';

/// The returns processed today (UTC), by the event log.
const PROCESSED_TODAY: &str = "SELECT DISTINCT aggregate_id FROM events
    WHERE kind = 'return_status_changed' AND json_extract(payload, '$.to') = 'processed'
      AND substr(recorded_at, 1, 10) = strftime('%Y-%m-%d', 'now')";

/// Receives, passes and processes `n` one-item returns of Kōwhai whose reason needs no photo,
/// as Aroha at the bench, the first with a photo of its item; their ids and connotes.
fn process_some(dir: &Path, n: usize) -> Vec<(String, String)> {
    let hub = Hub::open(HubOptions::demo(dir)).unwrap();
    hub.sign_in("OP-1001", "1111").unwrap();
    let connotes: Vec<String> = hub.with_store(|s| {
        let conn = s.reader();
        let mut stmt = conn
            .prepare(
                "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE r.retailer_id = 'kowhai' AND r.hub_id = 'AKL' AND r.status = 'expected'
                   AND c.position = 0
                   AND (SELECT count(*) FROM return_items i WHERE i.return_id = r.id) = 1
                   AND NOT EXISTS (SELECT 1 FROM return_items i JOIN return_reasons rr
                       ON rr.retailer_id = r.retailer_id AND rr.code = i.reason_code
                       WHERE i.return_id = r.id AND rr.requires_evidence = 1)
                 ORDER BY c.connote LIMIT ?1",
            )
            .unwrap();
        stmt.query_map([n as i64], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<String>>>()
            .unwrap()
    });
    assert_eq!(connotes.len(), n);
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        64,
        48,
        image::Rgb([200, 120, 30]),
    ))
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    connotes
        .iter()
        .enumerate()
        .map(|(k, connote)| {
            let ret = hub.scan(connote).unwrap().ret.unwrap();
            let photos = if k == 0 {
                vec![hub.add_photo(&png).unwrap().hash]
            } else {
                vec![]
            };
            hub.inspect_item(InspectRequest {
                return_id: ret.id.clone(),
                item_id: ret.items[0].id.clone(),
                presence: returnhub_core::bench::Presence::Found,
                qc: Some(returnhub_core::rules::QcStatus::Pass),
                qc_reason: None,
                grade: Some(returnhub_core::rules::Grade::A),
                disposition: None,
                note: None,
                photos,
            })
            .unwrap();
            hub.process_return(&ret.id).unwrap();
            (ret.id, connote.clone())
        })
        .collect()
}

fn status_text(driver: &Driver) -> String {
    driver
        .execute("return document.getElementById('reports-status').textContent")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_supervisor_reads_todays_reports_with_charts_and_exports_them() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let processed = process_some(dir, 2);

    let driver = Driver::launch(Path::new(APP), dir);
    driver.sign_in("OP-1001", "1111");
    assert!(!driver.visible("nav-reports"));
    driver.keys(&F9.to_string(), 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !driver.visible("reports-screen"),
        "an operator has no reports"
    );

    driver.chord(&[CONTROL, SHIFT, 'l']);
    driver.sign_in("SV-2001", "2222");
    assert!(driver.visible("nav-reports"));
    driver.keys(&F9.to_string(), 0);
    let headline = driver.wait_for(20, "today's figures", |d| {
        d.execute("return document.getElementById('reports-headline').textContent")
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    });
    assert!(
        headline.contains("2 return(s) processed, 2 item(s)"),
        "{headline}"
    );

    // The charts are drawn: a canvas per charted table, with pixels on it.
    let charted: Vec<String> = serde_json::from_value(driver.execute(
        "return [...document.querySelectorAll('section.report')]
           .filter(s => { const c = s.querySelector('canvas');
                          return c && c.width > 0 && c.toDataURL().length > 2000; })
           .map(s => s.dataset.report)",
    ))
    .unwrap();
    for name in [
        "throughput_hour",
        "throughput_operator",
        "reasons",
        "qc",
        "grades",
    ] {
        assert!(
            charted.contains(&name.to_owned()),
            "{name} charted: {charted:?}"
        );
    }
    let tables: Vec<String> = serde_json::from_value(driver.execute(
        "return [...document.querySelectorAll('section.report')].map(s => s.dataset.report)",
    ))
    .unwrap();
    assert_eq!(tables, returnhub_hub::REPORT_NAMES);

    // The reasons table's CSV: its items add up to the processed returns' items.
    driver.execute("document.querySelector('[data-export=reasons]').click()");
    let said = driver.wait_for(10, "the export", |d| {
        Some(status_text(d)).filter(|t| t.starts_with("Exported"))
    });
    let path = said.split(" to ").nth(1).unwrap();
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let items_at = header.iter().position(|h| h == "items").unwrap();
    let csv_items: i64 = reader
        .records()
        .map(|r| r.unwrap()[items_at].parse::<i64>().unwrap())
        .sum();
    let items: i64 = one(
        dir,
        &format!("SELECT count(*) FROM return_items WHERE return_id IN ({PROCESSED_TODAY})"),
    );
    assert_eq!(items, processed.len() as i64);
    assert_eq!(csv_items, items);

    // Enter in the form shows the figures and hands the keys to the screen: P writes the
    // end-of-shift summary.
    driver.keys(&ENTER.to_string(), 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    driver.keys("p", 0);
    let said = driver.wait_for(10, "the summary", |d| {
        Some(status_text(d)).filter(|t| t.starts_with("End-of-shift summary written"))
    });
    let pdf = said.split(" to ").nth(1).unwrap();
    let bytes = std::fs::read(pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "{pdf}");
    let text = std::process::Command::new("pdftotext")
        .args([pdf, "-"])
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Returns processed: 2"), "{text}");

    let shots = std::env::var_os("RETURNHUB_SCREENSHOT_DIR").map(std::path::PathBuf::from);
    if let Some(shots) = &shots {
        std::fs::create_dir_all(shots).unwrap();
        std::fs::write(shots.join("reports.png"), driver.screenshot_png()).unwrap();
    }

    // The first return's timeline (F8) shows its inspection's photo.
    driver.keys(&F8.to_string(), 0);
    driver.wait_for(10, "the search screen", |d| {
        d.visible("search-screen").then_some(())
    });
    if let Some(shots) = &shots {
        std::thread::sleep(std::time::Duration::from_millis(600));
        std::fs::write(shots.join("search.png"), driver.screenshot_png()).unwrap();
    }
    let (photographed, connote) = &processed[0];
    driver.execute("const b = document.getElementById('search-key'); b.value = ''; b.focus();");
    driver.keys(&format!("{connote}{ENTER}"), 40);
    driver.wait_for(10, "the return found", |d| {
        d.execute("return document.querySelector('#search-table tbody tr')?.dataset.returnId")
            .as_str()
            .filter(|id| id == photographed)
            .map(|_| ())
    });
    driver.keys(&ENTER.to_string(), 0);
    let shown = driver.wait_for(10, "the photo in the timeline", |d| {
        d.execute(
            "const img = document.querySelector('#timeline-list li[data-kind=event] .thumbs img');
             return img && img.complete && img.naturalWidth > 0 ? img.src.slice(0, 23) : null",
        )
        .as_str()
        .map(str::to_owned)
    });
    assert_eq!(shown, "data:image/jpeg;base64,");
    if let Some(shots) = &shots {
        driver.execute("document.getElementById('search-timeline').scrollIntoView()");
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::write(shots.join("timeline.png"), driver.screenshot_png()).unwrap();
    }
}
