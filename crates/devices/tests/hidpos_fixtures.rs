//! HID POS protocol code on byte fixtures, and the reader thread's reconnect loop over a fake
//! transport (USB itself cannot be emulated here). The hex fixtures follow the 64-byte
//! Scanned Data Report layout of the Honeywell / Access-IS manuals; they are laid out by hand
//! from that layout, not captured from a device on this machine.

use returnhub_devices::hidpos::{parse_report, HidPosReassembler, HidPosScanner, Layout};
use returnhub_devices::scan::{ScanSource, Symbology};
use returnhub_devices::serial::ScannerEvent;
use returnhub_devices::usb::{HidReportSource, UsbError};
use std::collections::VecDeque;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A 64-byte report, standard layout (id 2 at byte 0), or without the id byte (63 bytes).
fn report(aim: &[u8; 3], data: &[u8], more: bool, with_id: bool) -> Vec<u8> {
    let mut r = vec![0u8; 64];
    r[0] = 0x02;
    r[1] = data.len() as u8;
    r[2..5].copy_from_slice(aim);
    r[5..5 + data.len()].copy_from_slice(data);
    r[61] = 0x0B; // vendor symbology id
    r[63] = u8::from(more);
    if with_id {
        r
    } else {
        r[1..].to_vec()
    }
}

fn src() -> ScanSource {
    ScanSource::HidPos {
        vendor_id: 0x0c2e,
        product_id: 0x0b61,
    }
}

// "]C0" + "1Z5R89390357567127" in one standard report.
const SINGLE_STD: &str = "02 12 5d 43 30 31 5a 35 52 38 39 33 39 30 33 35 37 35 36 37 31 32 37
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 0b 00 00";
// The same code from a device that drops the report id byte (`]` at byte 1).
const SINGLE_SHIFTED: &str = "12 5d 43 30 31 5a 35 52 38 39 33 39 30 33 35 37 35 36 37 31 32 37
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 0b 00 00";

#[test]
fn single_report_standard_and_off_by_one() {
    for (fixture, layout) in [
        (SINGLE_STD, Layout::Standard),
        (SINGLE_SHIFTED, Layout::NoReportId),
    ] {
        let bytes = hex(fixture);
        let p = parse_report(&bytes).unwrap();
        assert_eq!(p.layout, layout);
        assert_eq!(p.aim, Some(*b"]C0"));
        assert!(!p.more);
        assert_eq!(p.vendor_symbology, 0x0b);
        let mut re = HidPosReassembler::new(src());
        let scan = re.push(&bytes).unwrap();
        assert_eq!(scan.text, "1Z5R89390357567127");
        assert_eq!(scan.symbology, Symbology::Code128);
        assert_eq!(scan.raw, bytes, "audit copy is the report as received");
    }
}

#[test]
fn long_code_spans_reports_and_is_reassembled() {
    // A 120-character QR payload: 56 + 56 + 8 bytes over three reports.
    let payload: Vec<u8> = (0..120).map(|i| b'A' + (i % 26) as u8).collect();
    for with_id in [true, false] {
        let reports = [
            report(b"]Q1", &payload[..56], true, with_id),
            report(b"]Q1", &payload[56..112], true, with_id),
            report(b"]Q1", &payload[112..], false, with_id),
        ];
        let mut re = HidPosReassembler::new(src());
        assert!(re.push(&reports[0]).is_none());
        assert!(re.pending());
        assert!(re.push(&reports[1]).is_none());
        let scan = re.push(&reports[2]).unwrap();
        assert_eq!(scan.text.as_bytes(), &payload[..]);
        assert_eq!(scan.symbology, Symbology::QrCode);
        assert_eq!(scan.raw.len(), reports.iter().map(Vec::len).sum::<usize>());
        assert!(!re.pending());
    }
}

#[test]
fn gs1_sscc_with_fnc1_as_gs() {
    let mut re = HidPosReassembler::new(src());
    let scan = re
        .push(&report(b"]C1", b"00000123450000000027", false, true))
        .unwrap();
    assert_eq!(scan.symbology, Symbology::Gs1_128);
    assert_eq!(scan.text, "000123450000000027");
    let scan = re
        .push(&report(b"]C1", b"0109312345678907\x1d10LOT7", false, true))
        .unwrap();
    assert_eq!(scan.gs1.len(), 2);
    assert_eq!(scan.gs1[1].value, "LOT7");
}

#[test]
fn other_reports_and_overstated_length_are_handled() {
    // A report with another id (e.g. a status report) is not scan data.
    let mut other = report(b"]C0", b"X", false, true);
    other[0] = 0x04;
    other[2] = 0; // no AIM either
    assert!(parse_report(&other).is_none());
    // A length byte larger than the data area is clamped to 56.
    let mut r = report(b"]C0", &[b'9'; 56], false, true);
    r[1] = 200;
    assert_eq!(parse_report(&r).unwrap().data.len(), 56);
    // A truncated report does not panic.
    assert!(parse_report(&[0x02]).is_none());
    let mut re = HidPosReassembler::new(src());
    assert!(re.push(&[0x02, 0x05, b']']).is_none());
}

/// A scripted device: each open() yields the next session's reports, then "unplugged".
struct FakeHid {
    reports: VecDeque<Vec<u8>>,
}

impl HidReportSource for FakeHid {
    fn read_report(&mut self, buf: &mut [u8], _timeout: Duration) -> Result<usize, UsbError> {
        match self.reports.pop_front() {
            Some(r) => {
                buf[..r.len()].copy_from_slice(&r);
                Ok(r.len())
            }
            None => Err(UsbError::Disconnected),
        }
    }
}

#[test]
fn reader_reconnects_after_unplug() {
    // Session 1: one code, then unplugged. Two failed opens (device absent). Session 2: the
    // first half of a code is lost with the unplug; a new full code follows.
    let sessions = Arc::new(Mutex::new(VecDeque::from(vec![
        Ok(vec![report(b"]C0", b"FIRST01", false, true)]),
        Err(UsbError::Disconnected),
        Err(UsbError::Disconnected),
        Ok(vec![report(b"]C0", b"HALF", true, true)]),
        Ok(vec![report(b"]C0", b"SECOND02", false, true)]),
    ])));
    let s2 = sessions.clone();
    let (tx, rx) = channel();
    let scanner = HidPosScanner::spawn_with(
        "fake".into(),
        src(),
        move || match s2.lock().unwrap().pop_front() {
            Some(Ok(reports)) => Ok(FakeHid {
                reports: reports.into(),
            }),
            Some(Err(e)) => Err(e),
            None => Err(UsbError::Disconnected),
        },
        move |e| {
            let _ = tx.send(e);
        },
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut scans = Vec::new();
    let mut connects = 0;
    while scans.len() < 2 && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ScannerEvent::Scan { scan }) => scans.push(scan.text),
            Ok(ScannerEvent::Connected { .. }) => connects += 1,
            _ => {}
        }
    }
    scanner.stop();
    assert_eq!(scans, vec!["FIRST01".to_string(), "SECOND02".to_string()]);
    assert_eq!(connects, 3);
}

/// Yields its reports, then times out forever (the device stays plugged in but goes quiet).
struct QuietHid {
    reports: VecDeque<Vec<u8>>,
}

impl HidReportSource for QuietHid {
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
        match self.reports.pop_front() {
            Some(r) => {
                buf[..r.len()].copy_from_slice(&r);
                Ok(r.len())
            }
            None => {
                std::thread::sleep(timeout.min(Duration::from_millis(20)));
                Err(UsbError::Timeout)
            }
        }
    }
}

#[test]
fn incomplete_multi_report_code_is_dropped_after_a_pause() {
    let mut once = Some(vec![report(b"]Q1", &[b'X'; 56], true, true)]);
    let (tx, rx) = channel();
    let scanner = HidPosScanner::spawn_with(
        "quiet".into(),
        src(),
        move || match once.take() {
            Some(r) => Ok(QuietHid { reports: r.into() }),
            None => Err(UsbError::Disconnected),
        },
        move |e| {
            let _ = tx.send(e);
        },
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut discarded = false;
    while !discarded && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ScannerEvent::Discarded { reason, .. }) => {
                assert!(reason.contains("incomplete"));
                discarded = true;
            }
            Ok(ScannerEvent::Scan { scan }) => panic!("half a code became a scan: {scan:?}"),
            _ => {}
        }
    }
    scanner.stop();
    assert!(discarded);
}
