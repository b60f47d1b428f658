//! Serial scanners over real pseudo-terminal pairs: the test writes what a scanner would on
//! the master side; the scanner thread reads the slave by path. Ptys are a shared resource,
//! so the tests take a lock and run one at a time.

use returnhub_devices::scan::{ScanSource, Symbology};
use returnhub_devices::serial::{Parity, ScannerEvent, SerialScanner, SerialScannerConfig};
use serialport::{SerialPort, TTYPort};
use std::io::Write;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static PTY: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    PTY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh pty pair; returns the master and the slave's path (the slave fd is closed so the
/// scanner thread opens it like a real device node).
fn pty() -> (TTYPort, String) {
    let (master, slave) = TTYPort::pair().expect("pty pair");
    let name = slave.name().expect("slave name");
    drop(slave);
    (master, name)
}

fn next(
    rx: &Receiver<ScannerEvent>,
    what: &str,
    pred: impl Fn(&ScannerEvent) -> bool,
) -> ScannerEvent {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) if pred(&ev) => return ev,
            Ok(ev) => seen.push(ev),
            Err(_) => break,
        }
    }
    panic!("no {what} within 5 s; saw {seen:?}");
}

fn scan_text(ev: &ScannerEvent) -> Option<&str> {
    match ev {
        ScannerEvent::Scan { scan } => Some(&scan.text),
        _ => None,
    }
}

fn start(cfg: SerialScannerConfig) -> (SerialScanner, Receiver<ScannerEvent>) {
    let (tx, rx) = channel();
    let s = SerialScanner::spawn(cfg, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    next(&rx, "Connected", |e| {
        matches!(e, ScannerEvent::Connected { .. })
    });
    (s, rx)
}

#[test]
fn aim_prefixed_code_with_cr_suffix_at_configured_baud() {
    let _g = lock();
    let (mut master, path) = pty();
    let mut cfg = SerialScannerConfig::new(&path);
    cfg.baud = 115_200;
    cfg.parity = Parity::Even;
    cfg.data_bits = 7;
    let (s, rx) = start(cfg);
    master.write_all(b"]C01Z5R89390357567127\r").unwrap();
    let ev = next(&rx, "scan", |e| scan_text(e).is_some());
    let ScannerEvent::Scan { scan } = ev else {
        unreachable!()
    };
    assert_eq!(scan.text, "1Z5R89390357567127");
    assert_eq!(scan.raw, b"]C01Z5R89390357567127\r");
    assert_eq!(scan.symbology, Symbology::Code128);
    assert_eq!(scan.source, ScanSource::Serial { port: path.clone() });
    s.stop();
}

#[test]
fn garbage_bytes_are_discarded_and_codes_survive() {
    let _g = lock();
    let (mut master, path) = pty();
    let (s, rx) = start(SerialScannerConfig::new(&path));
    // Line noise alone, then noise glued to the front of a GS1 code.
    master.write_all(b"\x00\xfe\x01\r").unwrap();
    next(&rx, "discarded noise", |e| {
        matches!(e, ScannerEvent::Discarded { bytes: 4, .. })
    });
    master
        .write_all(b"\xff\x00]C100000123450000000027\r")
        .unwrap();
    let ev = next(&rx, "scan", |e| scan_text(e).is_some());
    let ScannerEvent::Scan { scan } = ev else {
        unreachable!()
    };
    assert_eq!(scan.text, "000123450000000027");
    assert_eq!(scan.symbology, Symbology::Gs1_128);
    assert_eq!(scan.raw[..2], [0xff, 0x00]);
    s.stop();
}

#[test]
fn line_split_across_reads_and_custom_prefix_suffix() {
    let _g = lock();
    let (mut master, path) = pty();
    let mut cfg = SerialScannerConfig::new(&path);
    cfg.prefix = vec![0x02];
    cfg.suffix = b"\t".to_vec();
    let (s, rx) = start(cfg);
    master.write_all(b"\x02rb1234").unwrap();
    master.flush().unwrap();
    // Longer than the reader's 50 ms timeout: the halves arrive in separate reads.
    std::thread::sleep(Duration::from_millis(150));
    master.write_all(b"56785gb\t\x02AB").unwrap();
    master.flush().unwrap();
    std::thread::sleep(Duration::from_millis(120));
    master.write_all(b"CD12\t").unwrap();
    let first = next(&rx, "first scan", |e| scan_text(e).is_some());
    assert_eq!(scan_text(&first), Some("RB123456785GB"));
    let second = next(&rx, "second scan", |e| scan_text(e).is_some());
    assert_eq!(scan_text(&second), Some("ABCD12"));
    s.stop();
}

#[test]
fn overlong_garbage_without_suffix_is_capped() {
    let _g = lock();
    let (mut master, path) = pty();
    let mut cfg = SerialScannerConfig::new(&path);
    cfg.max_len = 32;
    let (s, rx) = start(cfg);
    master.write_all(&[b'7'; 100]).unwrap();
    master.write_all(b"\rOK1234\r").unwrap();
    next(&rx, "overflow", |e| {
        matches!(e, ScannerEvent::Discarded { bytes: 101, .. })
    });
    let ev = next(&rx, "scan", |e| scan_text(e).is_some());
    assert_eq!(scan_text(&ev), Some("OK1234"));
    s.stop();
}

#[test]
fn unplug_and_replug_resumes_without_restart() {
    let _g = lock();
    // A stable symlink stands in for /dev/serial/by-id/…, which udev re-points on re-plug.
    let dir = std::env::temp_dir().join(format!("rh-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("scanner");
    let _ = std::fs::remove_file(&link);
    let (mut master, path) = pty();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let mut cfg = SerialScannerConfig::new(link.to_str().unwrap());
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    let (s, rx) = start(cfg);
    master.write_all(b"BEFORE1\r").unwrap();
    assert_eq!(
        scan_text(&next(&rx, "scan", |e| scan_text(e).is_some())),
        Some("BEFORE1")
    );

    // Unplug: the master goes away and the device node with it.
    drop(master);
    std::fs::remove_file(&link).unwrap();
    next(&rx, "Disconnected", |e| {
        matches!(e, ScannerEvent::Disconnected { .. })
    });
    std::thread::sleep(Duration::from_millis(300)); // a few failed reopen attempts

    // Plug back in (a new pty, the same stable path).
    let (mut master2, path2) = pty();
    std::os::unix::fs::symlink(&path2, &link).unwrap();
    next(&rx, "Connected again", |e| {
        matches!(e, ScannerEvent::Connected { .. })
    });
    master2.write_all(b"AFTER2\r").unwrap();
    assert_eq!(
        scan_text(&next(&rx, "scan", |e| scan_text(e).is_some())),
        Some("AFTER2")
    );
    s.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scanner_restarted_on_a_port_that_stayed_plugged_in_reconnects() {
    let _g = lock();
    // serialport locks the tty exclusively; the lock must be given back on stop, or a
    // settings change (stop + start) on a device that stays plugged in could not reopen it.
    let (mut master, path) = pty();
    let (s, _rx) = start(SerialScannerConfig::new(&path));
    s.stop();
    let (s2, rx2) = start(SerialScannerConfig::new(&path));
    master.write_all(b"AGAIN42\r").unwrap();
    assert_eq!(
        scan_text(&next(&rx2, "scan", |e| scan_text(e).is_some())),
        Some("AGAIN42")
    );
    s2.stop();
}
