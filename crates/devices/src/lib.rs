//! Returnhub's device layer, free of Tauri: scanners, barcode semantics, labels and printers.
//!
//! # Scanners → [`scan::Scan`]
//! * Keyboard wedge: the webview collects the keystrokes and calls
//!   [`scan::normalise_wedge`] (the timing heuristic lives in the UI, not here).
//! * Serial / USB-CDC: [`serial::SerialScanner::spawn`] with a [`serial::SerialScannerConfig`]
//!   (baud, parity, prefix, suffix, length cap, reconnect backoff). It reopens the port when it
//!   comes back after an unplug; use a `/dev/serial/by-id/…` path so it survives another port.
//! * USB HID POS: [`hidpos::HidPosScanner::spawn_usb`]; the protocol is
//!   [`hidpos::HidPosReassembler`] (multi-report codes, reports without the id byte).
//!
//! Every reader reports [`serial::ScannerEvent`]s (connected, disconnected, scan, discarded
//! noise) to a callback: forward them to the bench and to the settings screen's live "last
//! scan". [`devices::list_devices`] lists serial ports, HID (POS or not) and USB printers.
//!
//! # What a scan is → [`classify::Classification`]
//! [`classify::ConnoteRules`] (retailer patterns as data) classifies a scan: a carrier number
//! with a good check digit (UPS, USPS IMpb, FedEx, DHL Express, UPU S10), a GS1 SSCC, a retailer
//! pattern, an unrecognised but plausible string (still looked up), or a **misread** (a
//! recognised shape whose check digit fails: "scan again", never a lookup miss).
//!
//! # Labels and printers
//! A [`label::LabelTemplate`] is data (elements in dots at 203 dpi with `{field}` placeholders);
//! [`label::LabelTemplate::fill`] gives a [`label::Label`] (store it to reprint later with
//! [`label::Label::as_reprint`]) rendered by [`label::Label::to_zpl`] and
//! [`label::Label::to_pdf`] / [`pdf::labels_to_pdf`] (4×6 per page, or several on A4).
//! [`printer::PrinterTransport`]s: [`printer::TcpPrinter`] (9100), [`printer::SerialPrinter`],
//! [`printer::UsbPrinter`] (printer class, bulk OUT), [`printer::CupsPrinter`] (`lp`, raw or
//! not), [`printer::FilePrinter`]. [`printer::print_zpl`] asks `~HS` first where the link is
//! two-way; failures are a typed [`printer::PrintError`] for the app's job queue to keep.
//!
//! # Example: a serial scanner and a printed label
//! ```no_run
//! use returnhub_devices::classify::ConnoteRules;
//! use returnhub_devices::label::templates::{hub_item, hub_item_fields};
//! use returnhub_devices::printer::{print_zpl, TcpPrinter};
//! use returnhub_devices::serial::{ScannerEvent, SerialScanner, SerialScannerConfig};
//! use std::time::Duration;
//!
//! let (tx, rx) = std::sync::mpsc::channel();
//! let mut cfg = SerialScannerConfig::new("/dev/serial/by-id/usb-Honeywell_scanner-if00");
//! cfg.baud = 115_200;
//! let scanner = SerialScanner::spawn(cfg, move |e| { let _ = tx.send(e); })?;
//! let rules = ConnoteRules::default();
//! if let Ok(ScannerEvent::Scan { scan }) = rx.recv() {
//!     let class = rules.classify_scan(&scan);
//!     if class.is_misread() { /* red light, "misread — scan again" */ }
//!     else if let Some(connote) = class.lookup_key() {
//!         let label = hub_item().fill(&hub_item_fields(
//!             "R-1", connote, "Acme", "SKU-1", "A", "Back to stock", "B-07", "10:00", "rh:R-1",
//!         ))?;
//!         let mut printer = TcpPrinter::new("10.0.0.50:9100");
//!         // Err(PrintError::PaperOut | HeadOpen | Unreachable{..} | …): keep the job, retry.
//!         let _ = print_zpl(&mut printer, label.to_zpl().as_bytes(), Duration::from_secs(2));
//!     }
//! }
//! scanner.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Not built / not proven here
//! * The rusb code ([`usb::RusbInterface`], HID report descriptor reads) is not exercised by
//!   tests: USB cannot be emulated on the build machines. The protocol code above it is tested
//!   on byte fixtures laid out from the vendors' manuals (not captures from a real device).
//! * No udev hot-plug monitor: readers poll-reopen with backoff; the device list is refreshed
//!   by calling [`devices::list_devices`] again.
//! * No evdev grab of wedge scanners, no EPL/TSPL output, no status for CUPS or file targets.
//! * PDF text uses the builtin Helvetica (Latin-1; other characters print as `?`).
//! * The GS1 application-identifier table is the subset seen on parcels and cartons.

pub mod checkdigit;
pub mod classify;
pub mod code128;
pub mod devices;
pub mod hidpos;
pub mod label;
pub mod pdf;
pub mod printer;
pub mod scan;
pub mod serial;
pub mod usb;
pub mod zpl;
