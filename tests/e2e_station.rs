//! The station's devices end to end in the real window: an admin sets a serial scanner (a real
//! pseudo-terminal pair) and a printer (a PDF folder) on the station screen; a code written to
//! the serial line arrives on the bench by the same path as a wedge scan; processing the
//! return prints its label through the print worker, and the printed PDF's barcode decodes
//! (pdftoppm + zbarimg) to the parcel's connote.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use returnhub_hub::{Hub, HubOptions};
use rusqlite::{Connection, OpenFlags};
use serialport::{SerialPort, TTYPort};
use support::Driver;

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const CONTROL: char = '\u{E009}';
const F1: char = '\u{E031}';
const F4: char = '\u{E034}';

fn decode_pdf(pdf: &Path, scratch: &Path) -> Vec<String> {
    let prefix = scratch.join("page");
    let ok = Command::new("pdftoppm")
        .args(["-r", "203", "-png"])
        .arg(pdf)
        .arg(&prefix)
        .status()
        .expect("pdftoppm (poppler-utils) is installed by scripts/test");
    assert!(ok.success());
    let pages: Vec<_> = std::fs::read_dir(scratch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .args(&pages)
        .output()
        .expect("zbarimg (zbar-tools) is installed by scripts/test");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_serial_scanner_and_a_printer_set_on_the_station_screen_work_at_the_bench() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    drop(Hub::open(HubOptions::demo(data.path())).unwrap());
    let db = Connection::open_with_flags(
        data.path().join("returnhub.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let connote: String = db
        .query_row(
            "SELECT min(c.connote) FROM connotes c JOIN returns r ON r.id = c.return_id
             WHERE r.retailer_id = 'kowhai' AND r.hub_id = 'AKL' AND r.status = 'expected'
               AND (SELECT count(*) FROM return_items i WHERE i.return_id = r.id) = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    let slave_path = slave.name().unwrap();
    drop(slave);
    let labels = data.path().join("printed");

    let driver = Driver::launch(Path::new(APP), data.path());
    driver.wait_for(30, "the sign-in screen", |d| {
        let overlay = d.find("#sign-in")?;
        d.attribute(&overlay, "hidden").is_none().then_some(())
    });
    driver.type_into(
        &driver.find("#badge-input").unwrap(),
        &format!("AD-3001{ENTER}"),
    );
    driver.type_into(&driver.find("#pin-input").unwrap(), &format!("3333{ENTER}"));
    driver.wait_for(10, "the admin", |d| {
        Some(d.text(&d.find("#user-name")?)).filter(|t| !t.is_empty())
    });

    // The station screen: a serial scanner on the pty, labels to a PDF folder.
    driver.keys(&F4.to_string(), 0);
    driver.wait_for(10, "the station form", |d| {
        Some(d.text(&d.find("#station-name")?)).filter(|t| !t.is_empty())
    });
    driver.type_into(&driver.find("#serial-path").unwrap(), &slave_path);
    driver.execute(
        "const k = document.getElementById('printer-kind'); k.value = 'pdf_folder'; k.dispatchEvent(new Event('change'));",
    );
    driver.type_into(
        &driver.find("#printer-target").unwrap(),
        &labels.display().to_string(),
    );
    driver.type_into(
        &driver.find("#printer-target").unwrap(),
        &format!("{CONTROL}s{CONTROL}"),
    );
    let saved = driver.wait_for(10, "the save", |d| {
        Some(d.text(&d.find("#station-status")?)).filter(|t| !t.is_empty())
    });
    assert_eq!(saved, "Saved.");
    let stored: String = db
        .query_row("SELECT config_json FROM stations", [], |r| r.get(0))
        .unwrap();
    assert!(
        stored.contains(&slave_path) && stored.contains("pdf_folder"),
        "{stored}"
    );

    // The serial scanner sends a connote (CR-terminated): the bench shows the return.
    driver.keys(&F1.to_string(), 0);
    std::thread::sleep(std::time::Duration::from_millis(500)); // the scanner thread opens the port
    master.write_all(format!("{connote}\r").as_bytes()).unwrap();
    master.flush().unwrap();
    driver.wait_for(10, "the serial scan on the bench", |d| {
        let banner = d.find("#verdict")?;
        (d.attribute(&banner, "data-verdict")? == "expected").then_some(())
    });
    assert!(driver
        .text(&driver.find("#verdict").unwrap())
        .contains(&connote));

    // Pass and process: the label prints to the folder, and its barcode is the connote.
    driver.keys("p", 0);
    driver.wait_for(10, "the pass", |d| {
        // Read in one script: the list is repainted whole, so element handles go stale.
        let state = d.execute("const li = document.querySelector('#ret-items li'); return li && li.dataset.inspection");
        (state.as_str() == Some("found:pass")).then_some(())
    });
    driver.keys(&ENTER.to_string(), 0);
    let pdf = driver.wait_for(15, "the printed label", |_| {
        std::fs::read_dir(&labels)
            .ok()?
            .next()?
            .ok()
            .map(|e| e.path())
    });
    let scratch = tempfile::tempdir().unwrap();
    let codes = decode_pdf(&pdf, scratch.path());
    assert!(
        codes.iter().any(|c| c == &connote),
        "decoded {codes:?}, want {connote}"
    );
    driver.wait_for(10, "the queue to show it printed", |_| {
        let printed: i64 = db
            .query_row(
                "SELECT count(*) FROM outbox WHERE topic = 'label' AND state = 'confirmed'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (printed == 1).then_some(())
    });

    // The station screen shows the serial scanner's last code.
    driver.keys(&F4.to_string(), 0);
    driver.wait_for(10, "the live last scan", |d| {
        (d.text(&d.find("#last-serial-scan")?) == connote).then_some(())
    });
}
