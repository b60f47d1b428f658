//! Serial and USB-CDC scanners (`/dev/ttyACM*`, `/dev/ttyUSB*`, `/dev/serial/by-id/…`): a
//! thread that reads with a timeout, frames on the configured suffix, tolerates garbage, and
//! reopens the port with backoff when it vanishes (hot-plug), emitting [`ScannerEvent`]s.

use crate::scan::{NormaliseOptions, Scan, ScanSource};
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use ts_rs::TS;

/// What a scanner thread reports to the app (the settings screen shows the live last scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScannerEvent {
    Connected {
        device: String,
    },
    Disconnected {
        device: String,
        reason: String,
    },
    Scan {
        scan: Scan,
    },
    /// A frame that held nothing but noise, or an over-long run without a suffix (dropped).
    Discarded {
        device: String,
        #[ts(type = "number")]
        bytes: u64,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Odd,
    Even,
}

/// One serial scanner's station configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SerialScannerConfig {
    /// Prefer a stable `/dev/serial/by-id/…` path: it survives re-plugging into another port.
    pub path: String,
    pub baud: u32,
    pub parity: Parity,
    /// 7 or 8.
    pub data_bits: u8,
    /// 1 or 2.
    pub stop_bits: u8,
    /// Stripped from the start of each code (after any line noise).
    pub prefix: Vec<u8>,
    /// The frame terminator (CR by default). Empty: a code ends when the line goes idle for
    /// `idle_flush_ms`.
    pub suffix: Vec<u8>,
    /// A frame longer than this is garbage (wrong baud, a stuck key) and dropped.
    pub max_len: usize,
    #[ts(type = "number")]
    pub idle_flush_ms: u64,
    #[ts(type = "number")]
    pub reconnect_min_ms: u64,
    #[ts(type = "number")]
    pub reconnect_max_ms: u64,
}

impl SerialScannerConfig {
    pub fn new(path: impl Into<String>) -> Self {
        SerialScannerConfig {
            path: path.into(),
            baud: 9600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
            prefix: Vec::new(),
            suffix: b"\r".to_vec(),
            max_len: 512,
            idle_flush_ms: 100,
            reconnect_min_ms: 200,
            reconnect_max_ms: 5000,
        }
    }
}

/// What the framer makes of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One code's bytes, suffix included (the audit copy).
    Code(Vec<u8>),
    /// Bytes dropped (their suffix included) because no suffix came within `max_len`.
    Overflow(usize),
}

/// Splits a byte stream into codes on a suffix; pure, so it is tested byte by byte.
#[derive(Debug, Clone)]
pub struct Framer {
    suffix: Vec<u8>,
    max_len: usize,
    buf: Vec<u8>,
    /// Inside an over-long run: drop until the next suffix.
    skipping: usize,
}

impl Framer {
    pub fn new(suffix: &[u8], max_len: usize) -> Self {
        Framer {
            suffix: suffix.to_vec(),
            max_len: max_len.max(1),
            buf: Vec::new(),
            skipping: 0,
        }
    }

    /// Feeds bytes; returns the frames they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.skipping > 0 {
                self.buf.push(b);
                self.skipping += 1;
                if !self.suffix.is_empty() && self.buf.ends_with(&self.suffix) {
                    out.push(Frame::Overflow(self.skipping - 1));
                    self.skipping = 0;
                    self.buf.clear();
                } else if self.buf.len() > self.suffix.len() {
                    // Only the tail can still hold a suffix.
                    let keep = self.suffix.len();
                    self.buf.drain(..self.buf.len() - keep);
                }
                continue;
            }
            self.buf.push(b);
            if !self.suffix.is_empty() && self.buf.ends_with(&self.suffix) {
                out.push(Frame::Code(std::mem::take(&mut self.buf)));
            } else if self.buf.len() > self.max_len {
                if self.suffix.is_empty() {
                    out.push(Frame::Overflow(self.buf.len()));
                    self.buf.clear();
                } else {
                    self.skipping = self.buf.len() + 1;
                    let keep = self.suffix.len().min(self.buf.len());
                    self.buf.drain(..self.buf.len() - keep);
                }
            }
        }
        out
    }

    /// The line went idle: with no suffix configured, what is buffered is one code.
    pub fn flush_idle(&mut self) -> Option<Frame> {
        if self.suffix.is_empty() && !self.buf.is_empty() && self.skipping == 0 {
            Some(Frame::Code(std::mem::take(&mut self.buf)))
        } else {
            None
        }
    }

    /// Drops a partial frame (the port was lost mid-code).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.skipping = 0;
    }
}

/// Turns frames into events: a frame of pure noise is reported as discarded, not as a scan.
pub(crate) fn frame_to_event(
    frame: Frame,
    device: &str,
    source: &ScanSource,
    opts: &NormaliseOptions,
) -> ScannerEvent {
    match frame {
        Frame::Code(raw) => {
            let n = raw.len();
            let scan = Scan::from_raw(raw, source.clone(), opts);
            if scan.text.is_empty() {
                ScannerEvent::Discarded {
                    device: device.to_string(),
                    bytes: n as u64,
                    reason: "no printable data".into(),
                }
            } else {
                ScannerEvent::Scan { scan }
            }
        }
        Frame::Overflow(n) => ScannerEvent::Discarded {
            device: device.to_string(),
            bytes: n as u64,
            reason: "no suffix within the length cap".into(),
        },
    }
}

/// A running serial scanner thread. Dropping it stops the thread.
pub struct SerialScanner {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl SerialScanner {
    /// Starts reading `cfg.path`; events go to `sink` (forward them to the UI / bench).
    /// The thread keeps trying to (re)open the port until [`SerialScanner::stop`].
    pub fn spawn(
        cfg: SerialScannerConfig,
        sink: impl Fn(ScannerEvent) + Send + 'static,
    ) -> std::io::Result<SerialScanner> {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("scanner {}", cfg.path))
            .spawn(move || run(cfg, &s2, &sink))?;
        Ok(SerialScanner {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it (at most one read timeout or backoff step).
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

impl Drop for SerialScanner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const READ_TIMEOUT: Duration = Duration::from_millis(50);

/// An open port that gives up its exclusive lock when dropped. serialport sets TIOCEXCL on
/// open but only closes on drop; the flag lives on the tty, so a device that stays plugged in
/// (or a pty whose master lives on) could not be reopened by the next open.
pub(crate) struct ExclusivePort(pub(crate) serialport::TTYPort);

impl Drop for ExclusivePort {
    fn drop(&mut self) {
        let _ = self.0.set_exclusive(false);
    }
}

fn open(cfg: &SerialScannerConfig) -> serialport::Result<ExclusivePort> {
    use serialport::{DataBits, FlowControl, StopBits};
    serialport::new(&cfg.path, cfg.baud)
        .parity(match cfg.parity {
            Parity::None => serialport::Parity::None,
            Parity::Odd => serialport::Parity::Odd,
            Parity::Even => serialport::Parity::Even,
        })
        .data_bits(if cfg.data_bits == 7 {
            DataBits::Seven
        } else {
            DataBits::Eight
        })
        .stop_bits(if cfg.stop_bits == 2 {
            StopBits::Two
        } else {
            StopBits::One
        })
        .flow_control(FlowControl::None)
        .timeout(READ_TIMEOUT)
        .open_native()
        .map(ExclusivePort)
}

/// Sleeps `d` in small steps so that a stop request is honoured promptly.
fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) {
    let step = Duration::from_millis(20);
    let mut left = d;
    while !stop.load(Ordering::SeqCst) && !left.is_zero() {
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
}

fn run(cfg: SerialScannerConfig, stop: &AtomicBool, sink: &dyn Fn(ScannerEvent)) {
    let source = ScanSource::Serial {
        port: cfg.path.clone(),
    };
    let opts = NormaliseOptions {
        prefix: cfg.prefix.clone(),
    };
    let mut framer = Framer::new(&cfg.suffix, cfg.max_len);
    let min = Duration::from_millis(cfg.reconnect_min_ms.max(1));
    let max = Duration::from_millis(cfg.reconnect_max_ms.max(cfg.reconnect_min_ms.max(1)));
    let mut backoff = min;
    // Report a failing open once per outage, not at every retry.
    let mut reported_down = false;
    while !stop.load(Ordering::SeqCst) {
        let mut port = match open(&cfg) {
            Ok(p) => p,
            Err(e) => {
                if !reported_down {
                    sink(ScannerEvent::Disconnected {
                        device: cfg.path.clone(),
                        reason: e.to_string(),
                    });
                    reported_down = true;
                }
                sleep_unless_stopped(stop, backoff);
                backoff = (backoff * 2).min(max);
                continue;
            }
        };
        backoff = min;
        framer.reset();
        sink(ScannerEvent::Connected {
            device: cfg.path.clone(),
        });
        let mut buf = [0u8; 256];
        let mut idle = Duration::ZERO;
        let reason = loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match port.0.read(&mut buf) {
                // A hung-up tty reads 0 bytes forever: the device is gone.
                Ok(0) => break "end of stream".to_string(),
                Ok(n) => {
                    idle = Duration::ZERO;
                    for f in framer.push(&buf[..n]) {
                        sink(frame_to_event(f, &cfg.path, &source, &opts));
                    }
                }
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                    idle += READ_TIMEOUT;
                    if idle >= Duration::from_millis(cfg.idle_flush_ms) {
                        if let Some(f) = framer.flush_idle() {
                            sink(frame_to_event(f, &cfg.path, &source, &opts));
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break e.to_string(),
            }
        };
        sink(ScannerEvent::Disconnected {
            device: cfg.path.clone(),
            reason,
        });
        // Already reported: the reopen failures that follow stay quiet.
        reported_down = true;
        sleep_unless_stopped(stop, backoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codes(frames: Vec<Frame>) -> Vec<Vec<u8>> {
        frames
            .into_iter()
            .filter_map(|f| match f {
                Frame::Code(c) => Some(c),
                Frame::Overflow(_) => None,
            })
            .collect()
    }

    #[test]
    fn frames_on_suffix_across_reads() {
        let mut f = Framer::new(b"\r\n", 64);
        assert!(f.push(b"]C0ABC").is_empty());
        assert!(f.push(b"123\r").is_empty());
        assert_eq!(codes(f.push(b"\nXY")), vec![b"]C0ABC123\r\n".to_vec()]);
        assert_eq!(codes(f.push(b"Z\r\n")), vec![b"XYZ\r\n".to_vec()]);
    }

    #[test]
    fn overlong_run_is_dropped_then_framing_resumes() {
        let mut f = Framer::new(b"\r", 8);
        let mut frames = f.push(&[b'A'; 30]);
        frames.extend(f.push(b"\rGOOD1\r"));
        assert_eq!(
            frames,
            vec![Frame::Overflow(31), Frame::Code(b"GOOD1\r".to_vec())]
        );
    }

    #[test]
    fn idle_flush_only_without_suffix() {
        let mut f = Framer::new(b"", 64);
        assert!(f.push(b"ABC").is_empty());
        assert_eq!(f.flush_idle(), Some(Frame::Code(b"ABC".to_vec())));
        let mut g = Framer::new(b"\r", 64);
        g.push(b"ABC");
        assert_eq!(g.flush_idle(), None);
    }

    #[test]
    fn noise_frame_is_discarded_not_scanned() {
        let src = ScanSource::Serial { port: "p".into() };
        let ev = frame_to_event(
            Frame::Code(vec![0, 0xff, b'\r']),
            "p",
            &src,
            &NormaliseOptions::default(),
        );
        assert!(matches!(ev, ScannerEvent::Discarded { bytes: 3, .. }));
    }

    proptest! {
        // However the stream is chopped into reads, the same frames come out.
        #[test]
        fn chunking_does_not_change_frames(codes_in in proptest::collection::vec("[A-Z0-9]{1,20}", 1..6),
                                           cuts in proptest::collection::vec(0usize..200, 0..10)) {
            let stream: Vec<u8> = codes_in.iter().flat_map(|c| format!("{c}\r").into_bytes()).collect();
            let mut whole = Framer::new(b"\r", 64);
            let expect = whole.push(&stream);
            let mut f = Framer::new(b"\r", 64);
            let mut got = Vec::new();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort();
            let mut prev = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                got.extend(f.push(&stream[prev..c]));
                prev = c;
            }
            prop_assert_eq!(got, expect);
        }
    }
}
