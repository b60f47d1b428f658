//! A bench station's device settings: how the window tells a keyboard-wedge scanner from
//! typing, which serial scanner it reads, and where its labels print. Kept in the store per
//! station (one `StationConfigured` event, whole) and edited on the settings screen.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StationConfig {
    pub station: String,
    pub wedge: WedgeSettings,
    /// A serial / USB-CDC scanner, if the station has one (besides any keyboard wedge).
    pub serial_scanner: Option<SerialScannerSettings>,
    /// A USB HID POS scanner (usage page 0x8C), by vendor and product id.
    #[serde(default)]
    pub hid_pos_scanner: Option<UsbId>,
    pub printer: PrinterSettings,
}

/// A USB device's vendor and product id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UsbId {
    pub vid: u16,
    pub pid: u16,
}

/// Keystrokes closer together than `max_gap_ms`, at least `min_length` of them, ended by the
/// suffix: a scanner, not a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WedgeSettings {
    pub max_gap_ms: u32,
    pub min_length: u32,
    pub suffix: WedgeSuffix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum WedgeSuffix {
    Enter,
    Tab,
    /// No suffix: a burst ends when the keys stop for `max_gap_ms`.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SerialScannerSettings {
    /// Prefer `/dev/serial/by-id/…`: it survives re-plugging into another port.
    pub path: String,
    pub baud: u32,
    /// "none", "even" or "odd".
    pub parity: String,
    /// The frame terminator as text with escapes, e.g. "\r" or "\r\n".
    pub suffix: String,
    /// Stripped from the start of each code, e.g. an AIM id the scanner adds ("" for none).
    pub prefix: String,
}

/// Where the station's labels go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrinterSettings {
    /// No printer: labels stay queued and the bench says so.
    None,
    /// A network ZPL printer ("host:9100").
    Tcp { addr: String },
    /// A ZPL printer on a serial line.
    Serial { path: String, baud: u32 },
    /// A CUPS queue, fed PDF (or raw ZPL when `raw`).
    Cups { queue: String, raw: bool },
    /// A USB printer-class device (bulk out), by vendor and product id.
    Usb { vid: u16, pid: u16 },
    /// PDF files written to a folder (a "printer" for sites without one, and for tests).
    PdfFolder { dir: String },
}

impl StationConfig {
    /// What a new station starts with: typical wedge timing, no serial scanner, no printer.
    pub fn default_for(station: &str) -> StationConfig {
        StationConfig {
            station: station.to_string(),
            wedge: WedgeSettings {
                max_gap_ms: 35,
                min_length: 6,
                suffix: WedgeSuffix::Enter,
            },
            serial_scanner: None,
            hid_pos_scanner: None,
            printer: PrinterSettings::None,
        }
    }

    /// Every problem with the settings, each as one sentence; empty when they can be saved.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.station.trim().is_empty() {
            out.push("The station needs a name.".to_string());
        }
        if !(5..=200).contains(&self.wedge.max_gap_ms) {
            out.push("The wedge's key gap must be between 5 and 200 ms.".to_string());
        }
        if !(2..=64).contains(&self.wedge.min_length) {
            out.push("The wedge's minimum length must be between 2 and 64 characters.".into());
        }
        if let Some(s) = &self.serial_scanner {
            if s.path.trim().is_empty() {
                out.push("The serial scanner needs a device path.".into());
            }
            if !(1200..=921_600).contains(&s.baud) {
                out.push(format!("{} baud is not a serial scanner speed.", s.baud));
            }
            if !["none", "even", "odd"].contains(&s.parity.as_str()) {
                out.push("Parity must be none, even or odd.".into());
            }
        }
        match &self.printer {
            PrinterSettings::Tcp { addr } => {
                let port_ok = addr
                    .rsplit_once(':')
                    .and_then(|(host, port)| (!host.is_empty()).then_some(port))
                    .and_then(|p| p.parse::<u16>().ok())
                    .is_some_and(|p| p > 0);
                if !port_ok {
                    out.push(format!(
                        "'{addr}' is not host:port (a ZPL printer listens on 9100)."
                    ));
                }
            }
            PrinterSettings::Serial { path, baud } => {
                if path.trim().is_empty() {
                    out.push("The serial printer needs a device path.".into());
                }
                if !(1200..=921_600).contains(baud) {
                    out.push(format!("{baud} baud is not a printer speed."));
                }
            }
            PrinterSettings::Cups { queue, .. } if queue.trim().is_empty() => {
                out.push("The CUPS printer needs a queue name.".into());
            }
            PrinterSettings::PdfFolder { dir } if dir.trim().is_empty() => {
                out.push("The PDF folder needs a path.".into());
            }
            _ => {}
        }
        out
    }
}

/// Turns "\r\n"-style escapes into bytes; `None` for an unknown escape.
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next()? {
            'r' => out.push(b'\r'),
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            '\\' => out.push(b'\\'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_bad_settings_say_why() {
        assert!(StationConfig::default_for("bench-1").problems().is_empty());
        let mut c = StationConfig::default_for("bench-1");
        c.printer = PrinterSettings::Tcp {
            addr: "printer".into(),
        };
        c.wedge.max_gap_ms = 1;
        let problems = c.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].contains("host:port"));
    }

    #[test]
    fn escapes_turn_into_bytes() {
        assert_eq!(unescape("\\r\\n").unwrap(), b"\r\n");
        assert_eq!(unescape("]C1\\x1d").unwrap(), b"]C1\x1d");
        assert_eq!(unescape("\\q"), None);
    }
}
