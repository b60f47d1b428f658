//! The station's devices: its saved settings (scanner, printer, wedge timing), the detected
//! devices, and the label print queue.
//!
//! Labels are `label` outbox rows written with the events that made them (processing, a
//! reprint). The print worker takes the station's due rows, renders each through the devices
//! crate (ZPL for ZPL printers, PDF for CUPS and folders) and records the attempt on the row:
//! printed, or the printer's error and when to try again. A printer that is off, out of
//! labels or unreachable keeps its jobs; nothing is dropped.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use returnhub_core::auth::Role;
use returnhub_core::bench::LabelJob;
use returnhub_core::station::{unescape, PrinterSettings, StationConfig};
use returnhub_core::time::rfc3339;
use returnhub_devices::devices::DeviceInfo;
use returnhub_devices::label::{templates, Label};
use returnhub_devices::printer::{
    print_zpl, CupsPrinter, PrintError, PrinterTransport, SerialPrinter, TcpPrinter,
};
use returnhub_protocol::event::DomainEvent;
use serde::Serialize;
use ts_rs::TS;

use crate::{Hub, HubError, Result};

/// What the settings screen shows.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StationView {
    pub config: StationConfig,
    /// Serial ports and USB devices seen now (scanners and printers among them).
    pub devices: Vec<DeviceInfo>,
    pub printer: PrinterQueueView,
    /// The last code the station's serial scanner sent, for testing it.
    pub last_serial_scan: Option<String>,
}

/// The print queue as the bench's status line shows it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PrinterQueueView {
    /// "tcp 10.0.0.5:9100", "PDF folder …", or "no printer".
    pub printer: String,
    pub waiting: u32,
    /// The last failed attempt's reason while jobs still wait.
    pub last_error: Option<String>,
}

/// What one pass of the print worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintRound {
    pub printed: u32,
    pub failed: u32,
}

/// The station domain's own state: its printer's wake-up and its scanners' readers. Nothing
/// outside this module touches it.
#[derive(Default)]
pub(crate) struct StationDevices {
    print_signal: PrintSignal,
    serial: Mutex<SerialState>,
}

/// Wakes the print worker early (after processing or a reprint) instead of at its next tick.
#[derive(Default)]
struct PrintSignal {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Hub {
    /// The station's saved settings, or the defaults for a new station.
    pub(crate) fn station_config(&self) -> Result<StationConfig> {
        Ok(self
            .store()
            .station_config(&self.options().station)?
            .unwrap_or_else(|| StationConfig::default_for(&self.options().station)))
    }

    /// The settings screen: this station's settings, what is plugged in, the print queue.
    pub fn station_view(&self) -> Result<StationView> {
        self.authorize(Role::Operator)?;
        Ok(StationView {
            config: self.station_config()?,
            devices: returnhub_devices::devices::list_devices(),
            printer: self.printer_queue()?,
            last_serial_scan: self.last_serial_scan(),
        })
    }

    /// Saves the station's settings (admins only); refused whole, with every problem, if any
    /// setting is wrong.
    pub fn save_station(self: &Arc<Self>, config: StationConfig) -> Result<StationView> {
        let actor = self.authorize(Role::Admin)?;
        if config.station != self.options().station {
            return Err(HubError::Invalid(format!(
                "these are the settings of station {}, not of this one ({})",
                config.station,
                self.options().station
            )));
        }
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(HubError::Invalid(problems.join(" ")));
        }
        if let Some(s) = &config.serial_scanner {
            if unescape(&s.suffix).is_none() || unescape(&s.prefix).is_none() {
                return Err(HubError::Invalid(
                    "the scanner's prefix or suffix has an unknown escape (use \\r, \\n, \\t, \\xNN)"
                        .into(),
                ));
            }
        }
        self.store().write((self.clock)(), |tx| {
            tx.append(self.input(&actor, DomainEvent::StationConfigured(config)))
        })?;
        self.print_wakeup();
        self.restart_serial_scanner()?;
        self.station_view()
    }

    pub fn printer_queue(&self) -> Result<PrinterQueueView> {
        let config = self.station_config()?;
        let store = self.store();
        let waiting = store.labels_waiting(&self.options().station)?;
        let last_error = if waiting > 0 {
            store
                .labels_due(&self.options().station, "9999")?
                .into_iter()
                .find_map(|l| l.last_error)
        } else {
            None
        };
        Ok(PrinterQueueView {
            printer: describe_printer(&config.printer),
            waiting,
            last_error,
        })
    }

    /// Prints the station's due labels, oldest first, stopping at the first failure (the
    /// printer that failed one will fail the next). Run by the print worker; also callable
    /// directly (tests, a "print now" key).
    pub fn print_due_labels(&self) -> Result<PrintRound> {
        let config = self.station_config()?;
        let now = (self.clock)();
        let due = self
            .store()
            .labels_due(&self.options().station, &rfc3339(now))?;
        let mut round = PrintRound::default();
        for row in due {
            let result = print_job(&config.printer, &row.job);
            let mut store = self.store();
            match result {
                Ok(()) => {
                    store.label_attempted(row.outbox_id, &rfc3339((self.clock)()), Ok(()))?;
                    round.printed += 1;
                }
                Err(e) => {
                    // 5 s, 10 s, 20 s … capped at 5 minutes: a printer being refilled comes
                    // back within a minute; one that is off should not be hammered.
                    let backoff = (5_000i64 << row.attempts.min(6)).min(300_000);
                    let retry = rfc3339((self.clock)() + backoff);
                    tracing::warn!(job = %row.job.id, error = %e, "label not printed; will retry");
                    store.label_attempted(
                        row.outbox_id,
                        &rfc3339((self.clock)()),
                        Err((e.to_string(), retry)),
                    )?;
                    round.failed += 1;
                    break;
                }
            }
        }
        Ok(round)
    }

    /// Wakes the print worker now.
    pub(crate) fn print_wakeup(&self) {
        let mut pending = self
            .devices
            .print_signal
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *pending = true;
        self.devices.print_signal.cv.notify_all();
    }

    /// Runs the print worker on its own thread until the process ends: every few seconds,
    /// and at once after processing, it prints what is due.
    pub fn start_print_worker(hub: Arc<Hub>) -> std::thread::JoinHandle<()> {
        std::thread::Builder::new()
            .name("print-worker".into())
            .spawn(move || loop {
                if let Err(e) = hub.print_due_labels() {
                    tracing::error!(error = %e, "print worker");
                }
                let signal = &hub.devices.print_signal;
                let pending = signal.pending.lock().unwrap_or_else(|p| p.into_inner());
                let (mut pending, _) = signal
                    .cv
                    .wait_timeout_while(pending, Duration::from_secs(3), |p| !*p)
                    .unwrap_or_else(|p| p.into_inner());
                *pending = false;
            })
            .expect("spawning the print worker thread")
    }
}

fn describe_printer(p: &PrinterSettings) -> String {
    match p {
        PrinterSettings::None => "no printer".into(),
        PrinterSettings::Tcp { addr } => format!("network printer {addr}"),
        PrinterSettings::Serial { path, baud } => format!("serial printer {path} @ {baud}"),
        PrinterSettings::Cups { queue, .. } => format!("CUPS queue {queue}"),
        PrinterSettings::Usb { vid, pid } => format!("USB printer {vid:04x}:{pid:04x}"),
        PrinterSettings::PdfFolder { dir } => format!("PDF folder {dir}"),
    }
}

/// Renders the job's label (marked as a reprint when it is one).
pub fn render(job: &LabelJob) -> std::result::Result<Label, PrintError> {
    let template = match job.template.as_str() {
        "hub_item" => templates::hub_item(),
        "carton_sscc" => templates::carton_sscc(),
        "badge" => templates::badge(),
        other => return Err(PrintError::Io(format!("unknown label template {other}"))),
    };
    let label = template
        .fill(&job.fields)
        .map_err(|e| PrintError::Io(format!("label {}: {e}", job.id)))?;
    Ok(match (&job.reprint_of, job.fields.get("reprinted_at")) {
        (Some(_), Some(when)) => label.as_reprint(when),
        (Some(_), None) => label.as_reprint(""),
        _ => label,
    })
}

fn print_job(printer: &PrinterSettings, job: &LabelJob) -> std::result::Result<(), PrintError> {
    let label = render(job)?;
    let status_timeout = Duration::from_millis(800);
    match printer {
        PrinterSettings::None => Err(PrintError::Unreachable {
            target: "this station".into(),
            reason: "no printer is set up (Station screen, F4)".into(),
        }),
        PrinterSettings::Tcp { addr } => print_zpl(
            &mut TcpPrinter::new(addr.clone()),
            label.to_zpl().as_bytes(),
            status_timeout,
        ),
        PrinterSettings::Serial { path, baud } => print_zpl(
            &mut SerialPrinter::new(path.clone(), *baud),
            label.to_zpl().as_bytes(),
            status_timeout,
        ),
        PrinterSettings::Cups { queue, raw } => {
            let mut cups = CupsPrinter::new(queue.clone(), *raw);
            let bytes = if *raw {
                label.to_zpl().into_bytes()
            } else {
                label.to_pdf()
            };
            cups.send(&bytes)
        }
        PrinterSettings::Usb { vid, pid } => {
            let mut usb = returnhub_devices::printer::UsbPrinter::open_rusb(*vid, *pid)?;
            print_zpl(&mut usb, label.to_zpl().as_bytes(), status_timeout)
        }
        PrinterSettings::PdfFolder { dir } => {
            // The job id names the file. Jobs arrive by sync from the hub's other devices too,
            // so an id that is not a plain name (a "../" in it) is never a path.
            if !is_plain_file_name(&job.id) {
                return Err(PrintError::Io(format!(
                    "label job id {:?} cannot name a file",
                    job.id
                )));
            }
            let dir = std::path::Path::new(dir);
            std::fs::create_dir_all(dir).map_err(|e| PrintError::Unreachable {
                target: dir.display().to_string(),
                reason: e.to_string(),
            })?;
            let mut file = returnhub_devices::printer::FilePrinter {
                path: dir.join(format!("{}.pdf", job.id)),
            };
            file.send(&label.to_pdf())
        }
    }
}

/// Letters, digits, '-' and '_' only, 1 to 100 of them: a name that stays in its folder.
fn is_plain_file_name(id: &str) -> bool {
    (1..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Where serial-scanner events go: the window, in the app.
pub type ScannerSink = Arc<dyn Fn(returnhub_devices::serial::ScannerEvent) + Send + Sync>;

#[derive(Default)]
struct SerialState {
    running: Option<returnhub_devices::serial::SerialScanner>,
    hid: Option<returnhub_devices::hidpos::HidPosScanner>,
    sink: Option<ScannerSink>,
    last_scan: Option<String>,
}

impl Hub {
    /// Starts (or restarts, after the settings changed) the station's serial and HID POS
    /// scanners, if it has them. Their scans go to `sink` — in the app, to the window, which
    /// puts them through the same path as a keyboard-wedge scan — and the last one is kept
    /// for the settings screen. Both reader threads reopen their device by themselves after
    /// an unplug, so a scanner plugged back in resumes without a restart.
    pub fn start_serial_scanner(self: &Arc<Self>, sink: ScannerSink) -> Result<()> {
        self.serial().sink = Some(sink);
        self.restart_serial_scanner()
    }

    pub(crate) fn restart_serial_scanner(self: &Arc<Self>) -> Result<()> {
        let config = self.station_config()?;
        // Stop the old readers without holding the lock: a reader delivering a scan takes
        // it to record the last scan, and stopping waits for the reader.
        let (old_serial, old_hid, sink) = {
            let mut serial = self.serial();
            (
                serial.running.take(),
                serial.hid.take(),
                serial.sink.clone(),
            )
        };
        if let Some(old) = old_serial {
            old.stop();
        }
        if let Some(old) = old_hid {
            old.stop();
        }
        let Some(sink) = sink else {
            return Ok(());
        };
        let hub = Arc::downgrade(self);
        let forward = move |event: returnhub_devices::serial::ScannerEvent| {
            if let (Some(hub), returnhub_devices::serial::ScannerEvent::Scan { scan }) =
                (hub.upgrade(), &event)
            {
                hub.serial().last_scan = Some(scan.text.clone());
            }
            sink(event);
        };
        if let Some(usb) = config.hid_pos_scanner {
            let forward = forward.clone();
            let hid =
                returnhub_devices::hidpos::HidPosScanner::spawn_usb(usb.vid, usb.pid, forward)
                    .map_err(|e| {
                        HubError::Device(format!("cannot start the HID POS scanner: {e}"))
                    })?;
            self.serial().hid = Some(hid);
        }
        let Some(settings) = config.serial_scanner else {
            return Ok(());
        };
        let mut cfg = returnhub_devices::serial::SerialScannerConfig::new(settings.path.clone());
        cfg.baud = settings.baud;
        cfg.parity = match settings.parity.as_str() {
            "even" => returnhub_devices::serial::Parity::Even,
            "odd" => returnhub_devices::serial::Parity::Odd,
            _ => returnhub_devices::serial::Parity::None,
        };
        cfg.suffix = unescape(&settings.suffix).unwrap_or_else(|| b"\r".to_vec());
        cfg.prefix = unescape(&settings.prefix).unwrap_or_default();
        let scanner = returnhub_devices::serial::SerialScanner::spawn(cfg, forward)
            .map_err(|e| HubError::Device(format!("cannot start the serial scanner: {e}")))?;
        self.serial().running = Some(scanner);
        Ok(())
    }

    fn serial(&self) -> std::sync::MutexGuard<'_, SerialState> {
        self.devices
            .serial
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn last_serial_scan(&self) -> Option<String> {
        self.serial().last_scan.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label job pulled from another device of the hub with a crafted id is refused, not
    /// written outside the PDF folder.
    #[test]
    fn a_job_id_that_is_not_a_plain_name_never_becomes_a_path() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("labels");
        let printer = PrinterSettings::PdfFolder {
            dir: folder.display().to_string(),
        };
        let job = |id: &str| LabelJob {
            id: id.into(),
            return_id: "u-1".into(),
            station: "bench-1".into(),
            template: "badge".into(),
            fields: returnhub_devices::label::templates::badge_fields("A", "admin", "AD-1", "Hub"),
            reprint_of: None,
        };
        for bad in ["../escaped", "a/b", "..", "", "x\\y"] {
            assert!(print_job(&printer, &job(bad)).is_err(), "{bad:?}");
        }
        assert!(!root.path().join("escaped.pdf").exists());
        print_job(&printer, &job("01a24e2e-c139-74ed-8744-81f371343586")).unwrap();
        assert!(folder
            .join("01a24e2e-c139-74ed-8744-81f371343586.pdf")
            .is_file());
    }
}
