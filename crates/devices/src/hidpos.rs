//! USB HID POS scanners (usage page 0x8C, "HID Point of Sale Usage Tables" v1.02): a pure
//! report parser and reassembler for codes spanning several reports, and a reader thread over
//! any [`HidReportSource`] that reopens the device when it is unplugged.
//!
//! Report layout (Honeywell / Access-IS manuals), 64 bytes: byte 0 report id (2), byte 1 data
//! length, bytes 2–4 AIM id, bytes 5–60 data (≤ 56), byte 61 vendor symbology id, byte 63
//! bit 0 "more data follows". Some devices deliver the report without its id byte, shifting
//! everything one to the left (the `]` at byte 1): detected per report.

use crate::scan::{normalise, NormaliseOptions, Scan, ScanSource};
use crate::serial::ScannerEvent;
use crate::usb::{HidReportSource, RusbInterface, UsbError, CLASS_HID};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The Scanned Data Report's id.
pub const SCANNED_DATA_REPORT_ID: u8 = 0x02;
const DATA_MAX: usize = 56;

/// Which layout a report uses (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Report id at byte 0.
    Standard,
    /// No report id: every field one byte earlier.
    NoReportId,
}

/// One parsed Scanned Data Report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosReport {
    pub layout: Layout,
    /// The three AIM bytes (`]C1`), when the device sent them.
    pub aim: Option<[u8; 3]>,
    pub data: Vec<u8>,
    pub vendor_symbology: u8,
    pub more: bool,
}

/// Parses one input report; `None` for reports that are not scanned data (other report ids,
/// too short).
pub fn parse_report(r: &[u8]) -> Option<PosReport> {
    let layout = if r.len() > 2 && r[2] == b']' {
        Layout::Standard
    } else if r.len() > 1 && r[1] == b']' {
        Layout::NoReportId
    } else if r.first() == Some(&SCANNED_DATA_REPORT_ID) {
        Layout::Standard
    } else {
        return None;
    };
    let o = match layout {
        Layout::Standard => {
            if r[0] != SCANNED_DATA_REPORT_ID {
                return None;
            }
            1
        }
        Layout::NoReportId => 0,
    };
    let len = usize::from(*r.get(o)?);
    let aim_bytes = r.get(o + 1..o + 4)?;
    let aim = if aim_bytes[0] == b']' {
        Some([aim_bytes[0], aim_bytes[1], aim_bytes[2]])
    } else {
        None
    };
    let data_start = o + 4;
    let avail = r.len().saturating_sub(data_start).min(DATA_MAX);
    let n = len.min(avail);
    let data = r[data_start..data_start + n].to_vec();
    let vendor_symbology = r.get(o + 60).copied().unwrap_or(0);
    let more = r.get(o + 62).is_some_and(|b| b & 0x01 != 0);
    Some(PosReport {
        layout,
        aim,
        data,
        vendor_symbology,
        more,
    })
}

/// Joins the reports of one code and yields the scan when the last one arrives.
#[derive(Debug, Clone)]
pub struct HidPosReassembler {
    source: ScanSource,
    raw: Vec<u8>,
    data: Vec<u8>,
    aim: Option<[u8; 3]>,
    /// A code this long without a final report is garbage: dropped.
    max_len: usize,
}

impl HidPosReassembler {
    pub fn new(source: ScanSource) -> Self {
        HidPosReassembler {
            source,
            raw: Vec::new(),
            data: Vec::new(),
            aim: None,
            max_len: 4096,
        }
    }

    /// True while a multi-report code is incomplete.
    pub fn pending(&self) -> bool {
        !self.raw.is_empty()
    }

    /// Drops an incomplete code (the device went quiet or away mid-code).
    pub fn discard_partial(&mut self) {
        self.raw.clear();
        self.data.clear();
        self.aim = None;
    }

    /// Feeds one input report; returns the scan it completes.
    pub fn push(&mut self, report: &[u8]) -> Option<Scan> {
        let r = parse_report(report)?;
        // The first report's AIM id names the symbology; continuations may repeat or omit it.
        if self.aim.is_none() {
            self.aim = r.aim;
        }
        self.raw.extend_from_slice(report);
        self.data.extend_from_slice(&r.data);
        if self.data.len() > self.max_len {
            self.discard_partial();
            return None;
        }
        if r.more {
            return None;
        }
        let mut wire = Vec::with_capacity(self.data.len() + 3);
        if let Some(a) = self.aim {
            wire.extend_from_slice(&a);
        }
        wire.extend_from_slice(&self.data);
        let n = normalise(&wire, &NormaliseOptions::default());
        let scan = Scan {
            raw: std::mem::take(&mut self.raw),
            text: n.text,
            symbology: n.symbology,
            aim: n.aim,
            gs1: n.gs1,
            source: self.source.clone(),
            received_unix_ms: crate::scan::now_ms(),
        };
        self.discard_partial();
        if scan.text.is_empty() {
            None
        } else {
            Some(scan)
        }
    }
}

/// A running HID POS reader thread. Dropping it stops the thread.
pub struct HidPosScanner {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// How long a multi-report code may wait for its next report before it is dropped.
const PARTIAL_TIMEOUT: Duration = Duration::from_millis(500);
const READ_TIMEOUT: Duration = Duration::from_millis(100);

impl HidPosScanner {
    /// Reads the HID POS scanner `vid:pid` through rusb (claiming its HID interface, which
    /// detaches usbhid from it while we run).
    pub fn spawn_usb(
        vid: u16,
        pid: u16,
        sink: impl Fn(ScannerEvent) + Send + 'static,
    ) -> std::io::Result<HidPosScanner> {
        Self::spawn_with(
            format!("usb {vid:04x}:{pid:04x}"),
            ScanSource::HidPos {
                vendor_id: vid,
                product_id: pid,
            },
            move || RusbInterface::open(vid, pid, CLASS_HID),
            sink,
        )
    }

    /// The reader loop over any transport; `open` is retried with backoff while it fails.
    pub fn spawn_with<T, O>(
        device: String,
        source: ScanSource,
        mut open: O,
        sink: impl Fn(ScannerEvent) + Send + 'static,
    ) -> std::io::Result<HidPosScanner>
    where
        T: HidReportSource,
        O: FnMut() -> Result<T, UsbError> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("hidpos {device}"))
            .spawn(move || {
                let mut backoff = Duration::from_millis(100);
                let mut reported_down = false;
                let mut re = HidPosReassembler::new(source);
                while !s2.load(Ordering::SeqCst) {
                    let mut t = match open() {
                        Ok(t) => t,
                        Err(e) => {
                            if !reported_down {
                                sink(ScannerEvent::Disconnected {
                                    device: device.clone(),
                                    reason: e.to_string(),
                                });
                                reported_down = true;
                            }
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(3));
                            continue;
                        }
                    };
                    backoff = Duration::from_millis(100);
                    sink(ScannerEvent::Connected {
                        device: device.clone(),
                    });
                    re.discard_partial();
                    let mut buf = [0u8; 64];
                    let mut waited = Duration::ZERO;
                    let reason = loop {
                        if s2.load(Ordering::SeqCst) {
                            return;
                        }
                        match t.read_report(&mut buf, READ_TIMEOUT) {
                            Ok(n) => {
                                waited = Duration::ZERO;
                                if let Some(scan) = re.push(&buf[..n]) {
                                    sink(ScannerEvent::Scan { scan });
                                }
                            }
                            Err(UsbError::Timeout) => {
                                waited += READ_TIMEOUT;
                                if re.pending() && waited >= PARTIAL_TIMEOUT {
                                    re.discard_partial();
                                    sink(ScannerEvent::Discarded {
                                        device: device.clone(),
                                        bytes: 0,
                                        reason: "incomplete multi-report code".into(),
                                    });
                                }
                            }
                            Err(e) => break e.to_string(),
                        }
                    };
                    sink(ScannerEvent::Disconnected {
                        device: device.clone(),
                        reason,
                    });
                    reported_down = true;
                }
            })?;
        Ok(HidPosScanner {
            stop,
            handle: Some(handle),
        })
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for HidPosScanner {
    fn drop(&mut self) {
        self.shutdown();
    }
}
