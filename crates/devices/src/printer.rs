//! Getting print jobs to printers: one [`PrinterTransport`] trait with TCP 9100, serial, USB
//! printer class (bulk OUT), CUPS `lp` and file implementations; the ZPL `~HS` host status
//! query and its parser; and a typed [`PrintError`] so that the app's job queue can tell "off
//! or unreachable" from "out of paper" from "head open" and keep the job for a retry.

use crate::serial::ExclusivePort;
use crate::usb::{BulkPipe, RusbInterface, UsbError, CLASS_PRINTER};
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use ts_rs::TS;

/// Why a job did not print. Every variant leaves the job to the caller's queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrintError {
    /// Nothing answers at the address / device path (off, unplugged, wrong address).
    #[error("printer {target} unreachable: {reason}")]
    Unreachable { target: String, reason: String },
    /// Connected, but no answer to `~HS` in time. Zebra printers stay silent with the head
    /// open or media out, so this is "check the printer", not "unreachable".
    #[error("printer {target} does not answer status requests")]
    NoStatusAnswer { target: String },
    #[error("printer is out of paper / labels")]
    PaperOut,
    #[error("printer head is open")]
    HeadOpen,
    #[error("printer is paused")]
    Paused,
    #[error("printer is out of ribbon")]
    RibbonOut,
    /// The printer stopped taking data (USB or TCP write timed out).
    #[error("printer {target} stopped accepting data")]
    Stalled { target: String },
    /// The CUPS spooler refused the job.
    #[error("lp failed ({code:?}): {message}")]
    Spooler { code: Option<i32>, message: String },
    /// This transport cannot ask for status (CUPS, file).
    #[error("status not supported by this transport")]
    StatusUnsupported,
    #[error("unreadable status answer: {0}")]
    BadStatus(String),
    #[error("io: {0}")]
    Io(String),
}

/// The printer's state from `~HS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PrinterStatus {
    pub paper_out: bool,
    pub paused: bool,
    pub head_open: bool,
    pub ribbon_out: bool,
    pub buffer_full: bool,
    pub under_temperature: bool,
    pub over_temperature: bool,
    pub corrupt_ram: bool,
    pub label_length_dots: u32,
    pub formats_in_buffer: u32,
    pub labels_remaining: u32,
}

impl PrinterStatus {
    /// The condition that stops printing, most actionable first.
    pub fn blocking_error(&self) -> Option<PrintError> {
        if self.head_open {
            Some(PrintError::HeadOpen)
        } else if self.paper_out {
            Some(PrintError::PaperOut)
        } else if self.ribbon_out {
            Some(PrintError::RibbonOut)
        } else if self.paused {
            Some(PrintError::Paused)
        } else {
            None
        }
    }
}

const STX: u8 = 0x02;
const ETX: u8 = 0x03;

/// Parses the three `<STX>…<ETX>` strings of a `~HS` answer (ZPL II programming guide):
/// 1: `aaa,b,c,dddd,eee,f,g,h,iii,j,k,l` — b paper out, c pause, dddd label length,
///    eee formats in buffer, f buffer full, j corrupt RAM, k under temp, l over temp;
/// 2: `mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www` — o head up (open), p ribbon out,
///    uuuuuuuu labels remaining; 3: `xxxx,y` (password, static RAM) is not needed.
pub fn parse_hs(bytes: &[u8]) -> Result<PrinterStatus, PrintError> {
    let mut strings = Vec::new();
    let mut rest = bytes;
    while let Some(s) = rest.iter().position(|&b| b == STX) {
        let after = &rest[s + 1..];
        let Some(e) = after.iter().position(|&b| b == ETX) else {
            break;
        };
        strings.push(String::from_utf8_lossy(&after[..e]).into_owned());
        rest = &after[e + 1..];
    }
    if strings.len() < 2 {
        return Err(PrintError::BadStatus(format!(
            "{} status strings in {:?}",
            strings.len(),
            String::from_utf8_lossy(bytes)
        )));
    }
    let f1: Vec<&str> = strings[0].split(',').map(str::trim).collect();
    let f2: Vec<&str> = strings[1].split(',').map(str::trim).collect();
    if f1.len() < 12 || f2.len() < 9 {
        return Err(PrintError::BadStatus(format!(
            "short status strings {:?} / {:?}",
            strings[0], strings[1]
        )));
    }
    let flag = |s: &str| s == "1";
    let num = |s: &str| s.parse::<u32>().unwrap_or(0);
    Ok(PrinterStatus {
        paper_out: flag(f1[1]),
        paused: flag(f1[2]),
        label_length_dots: num(f1[3]),
        formats_in_buffer: num(f1[4]),
        buffer_full: flag(f1[5]),
        corrupt_ram: flag(f1[9]),
        under_temperature: flag(f1[10]),
        over_temperature: flag(f1[11]),
        head_open: flag(f2[2]),
        ribbon_out: flag(f2[3]),
        labels_remaining: num(f2[8]),
    })
}

/// True once `buf` holds three complete status strings.
fn hs_complete(buf: &[u8]) -> bool {
    buf.iter().filter(|&&b| b == ETX).count() >= 3
}

/// A way to get bytes to a printer (and, where the link is two-way, answers back).
pub trait PrinterTransport: Send {
    /// For messages and logs ("tcp 10.1.2.3:9100").
    fn describe(&self) -> String;
    /// Sends one job (ZPL or PDF, as the transport expects).
    fn send(&mut self, job: &[u8]) -> Result<(), PrintError>;
    /// Sends `~HS` and returns the raw answer. Default: not supported.
    fn query_status_raw(&mut self, _timeout: Duration) -> Result<Vec<u8>, PrintError> {
        Err(PrintError::StatusUnsupported)
    }
}

/// Asks the printer for its status (`~HS`).
pub fn printer_status(
    t: &mut dyn PrinterTransport,
    timeout: Duration,
) -> Result<PrinterStatus, PrintError> {
    let raw = t.query_status_raw(timeout)?;
    parse_hs(&raw)
}

/// Prints a ZPL job, first asking for status where the transport can (a printer that is out
/// of paper, paused or open gets a typed error and no data). Transports without status just
/// send.
pub fn print_zpl(
    t: &mut dyn PrinterTransport,
    zpl: &[u8],
    status_timeout: Duration,
) -> Result<(), PrintError> {
    match printer_status(t, status_timeout) {
        Ok(s) => {
            if let Some(e) = s.blocking_error() {
                return Err(e);
            }
        }
        Err(PrintError::StatusUnsupported) => {}
        Err(e) => return Err(e),
    }
    t.send(zpl)
}

/// Reads until three ETX arrive or `deadline`; for transports exposing `Read` with timeouts.
fn read_status<R: Read>(r: &mut R, deadline: Instant, target: &str) -> Result<Vec<u8>, PrintError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    while !hs_complete(&buf) && Instant::now() < deadline {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(PrintError::Io(e.to_string())),
        }
    }
    if buf.is_empty() {
        return Err(PrintError::NoStatusAnswer {
            target: target.to_string(),
        });
    }
    Ok(buf)
}

/// A network printer on raw TCP (port 9100).
#[derive(Debug, Clone)]
pub struct TcpPrinter {
    /// "host:port".
    pub addr: String,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
}

impl TcpPrinter {
    pub fn new(addr: impl Into<String>) -> Self {
        TcpPrinter {
            addr: addr.into(),
            connect_timeout: Duration::from_secs(3),
            io_timeout: Duration::from_secs(10),
        }
    }

    fn connect(&self) -> Result<TcpStream, PrintError> {
        let unreachable = |reason: String| PrintError::Unreachable {
            target: self.describe(),
            reason,
        };
        let addrs = self
            .addr
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?;
        let mut last = "no address".to_string();
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.connect_timeout) {
                Ok(s) => {
                    s.set_write_timeout(Some(self.io_timeout))
                        .and_then(|_| s.set_read_timeout(Some(Duration::from_millis(100))))
                        .map_err(|e| PrintError::Io(e.to_string()))?;
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(unreachable(last))
    }
}

fn write_err(e: std::io::Error, target: String) -> PrintError {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => PrintError::Stalled { target },
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
            PrintError::Unreachable {
                target,
                reason: e.to_string(),
            }
        }
        _ => PrintError::Io(e.to_string()),
    }
}

impl PrinterTransport for TcpPrinter {
    fn describe(&self) -> String {
        format!("tcp {}", self.addr)
    }

    fn send(&mut self, job: &[u8]) -> Result<(), PrintError> {
        let mut s = self.connect()?;
        s.write_all(job)
            .and_then(|_| s.flush())
            .map_err(|e| write_err(e, self.describe()))?;
        // Half-close so the printer sees the end of the job, then let it go.
        let _ = s.shutdown(Shutdown::Write);
        Ok(())
    }

    fn query_status_raw(&mut self, timeout: Duration) -> Result<Vec<u8>, PrintError> {
        let mut s = self.connect()?;
        s.write_all(b"~HS")
            .map_err(|e| write_err(e, self.describe()))?;
        read_status(&mut s, Instant::now() + timeout, &self.describe())
    }
}

/// A printer on a serial port (or USB-CDC). The port is kept open between jobs and reopened
/// after an error.
pub struct SerialPrinter {
    pub path: String,
    pub baud: u32,
    pub timeout: Duration,
    port: Option<ExclusivePort>,
}

impl SerialPrinter {
    pub fn new(path: impl Into<String>, baud: u32) -> Self {
        SerialPrinter {
            path: path.into(),
            baud,
            timeout: Duration::from_secs(10),
            port: None,
        }
    }

    fn port(&mut self) -> Result<&mut serialport::TTYPort, PrintError> {
        if self.port.is_none() {
            let p = serialport::new(&self.path, self.baud)
                .timeout(Duration::from_millis(100))
                .open_native()
                .map_err(|e| PrintError::Unreachable {
                    target: self.describe(),
                    reason: e.to_string(),
                })?;
            self.port = Some(ExclusivePort(p));
        }
        match self.port.as_mut() {
            Some(p) => Ok(&mut p.0),
            None => Err(PrintError::Io("serial port not open".into())),
        }
    }

    /// Runs `f` on the open port; an error closes it so the next call reopens.
    fn with_port<T>(
        &mut self,
        f: impl FnOnce(&mut serialport::TTYPort, &str) -> Result<T, PrintError>,
    ) -> Result<T, PrintError> {
        let target = self.describe();
        let r = f(self.port()?, &target);
        if r.is_err() {
            self.port = None;
        }
        r
    }
}

impl PrinterTransport for SerialPrinter {
    fn describe(&self) -> String {
        format!("serial {}", self.path)
    }

    fn send(&mut self, job: &[u8]) -> Result<(), PrintError> {
        let deadline = Instant::now() + self.timeout;
        self.with_port(|p, target| {
            let mut sent = 0;
            while sent < job.len() {
                match p.write(&job[sent..]) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == ErrorKind::TimedOut && Instant::now() < deadline => {}
                    Err(e) => return Err(write_err(e, target.to_string())),
                }
            }
            p.flush().map_err(|e| write_err(e, target.to_string()))
        })
    }

    fn query_status_raw(&mut self, timeout: Duration) -> Result<Vec<u8>, PrintError> {
        self.with_port(|p, target| {
            // Drop a stale answer a previous timed-out query may have left behind.
            let _ = serialport::SerialPort::clear(p, serialport::ClearBuffer::Input);
            p.write_all(b"~HS")
                .map_err(|e| write_err(e, target.to_string()))?;
            read_status(p, Instant::now() + timeout, target)
        })
    }
}

/// A USB printer-class device through any [`BulkPipe`] (rusb in production, a fake in tests).
pub struct UsbPrinter<P: BulkPipe> {
    pub pipe: P,
    pub name: String,
    /// Per bulk transfer: a printer that is paused or out of media stops taking data.
    pub timeout: Duration,
}

impl UsbPrinter<RusbInterface> {
    /// Claims the printer-class interface of `vid:pid` (detaching usblp). Not exercised by tests.
    pub fn open_rusb(vid: u16, pid: u16) -> Result<Self, PrintError> {
        let name = format!("usb {vid:04x}:{pid:04x}");
        let pipe = RusbInterface::open(vid, pid, CLASS_PRINTER).map_err(|e| usb_err(e, &name))?;
        Ok(UsbPrinter {
            pipe,
            name,
            timeout: Duration::from_secs(5),
        })
    }
}

fn usb_err(e: UsbError, target: &str) -> PrintError {
    match e {
        UsbError::Timeout => PrintError::Stalled {
            target: target.to_string(),
        },
        UsbError::Disconnected | UsbError::Access => PrintError::Unreachable {
            target: target.to_string(),
            reason: e.to_string(),
        },
        UsbError::Other(m) => PrintError::Io(m),
    }
}

impl<P: BulkPipe + Send> PrinterTransport for UsbPrinter<P> {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn send(&mut self, job: &[u8]) -> Result<(), PrintError> {
        // Whole packets per transfer; a short write is resumed where it stopped.
        let chunk = self.pipe.max_packet_size() * 64;
        let mut sent = 0;
        while sent < job.len() {
            let end = (sent + chunk).min(job.len());
            match self.pipe.write_bulk(&job[sent..end], self.timeout) {
                Ok(0) => {
                    return Err(PrintError::Stalled {
                        target: self.name.clone(),
                    })
                }
                Ok(n) => sent += n,
                Err(e) => return Err(usb_err(e, &self.name)),
            }
        }
        Ok(())
    }

    fn query_status_raw(&mut self, timeout: Duration) -> Result<Vec<u8>, PrintError> {
        self.pipe
            .write_bulk(b"~HS", self.timeout)
            .map_err(|e| usb_err(e, &self.name))?;
        let deadline = Instant::now() + timeout;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        while !hs_complete(&buf) && Instant::now() < deadline {
            match self.pipe.read_bulk(&mut chunk, Duration::from_millis(200)) {
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(UsbError::Timeout) => {}
                Err(e) => return Err(usb_err(e, &self.name)),
            }
        }
        if buf.is_empty() {
            return Err(PrintError::NoStatusAnswer {
                target: self.name.clone(),
            });
        }
        Ok(buf)
    }
}

/// A CUPS queue through `lp`: raw (`-o raw`) for ZPL to a raw queue, plain for PDF.
#[derive(Debug, Clone)]
pub struct CupsPrinter {
    pub queue: String,
    pub raw: bool,
    /// The `lp` program (overridable for tests and odd installs).
    pub program: PathBuf,
    pub title: String,
}

impl CupsPrinter {
    pub fn new(queue: impl Into<String>, raw: bool) -> Self {
        CupsPrinter {
            queue: queue.into(),
            raw,
            program: PathBuf::from("lp"),
            title: "returnhub".into(),
        }
    }
}

impl PrinterTransport for CupsPrinter {
    fn describe(&self) -> String {
        format!("cups {}", self.queue)
    }

    fn send(&mut self, job: &[u8]) -> Result<(), PrintError> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-d").arg(&self.queue).arg("-t").arg(&self.title);
        if self.raw {
            cmd.arg("-o").arg("raw");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PrintError::Spooler {
                code: None,
                message: format!("cannot run {}: {e}", self.program.display()),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A spooler that exits early closes the pipe; its exit status says why.
            let _ = stdin.write_all(job);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| PrintError::Io(e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(PrintError::Spooler {
                code: out.status.code(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

/// Writes the job to a file: "save as PDF", or a printer device node such as `/dev/usb/lp0`.
#[derive(Debug, Clone)]
pub struct FilePrinter {
    pub path: PathBuf,
}

impl PrinterTransport for FilePrinter {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn send(&mut self, job: &[u8]) -> Result<(), PrintError> {
        let mut f = std::fs::File::create(&self.path).map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::PermissionDenied => PrintError::Unreachable {
                target: self.describe(),
                reason: e.to_string(),
            },
            _ => PrintError::Io(e.to_string()),
        })?;
        f.write_all(job)
            .and_then(|_| f.flush())
            .map_err(|e| PrintError::Io(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `~HS` answer as the ZPL II guide prints it, with the flags we care about settable.
    pub(crate) fn hs(paper_out: bool, paused: bool, head_open: bool) -> Vec<u8> {
        format!(
            "\x02030,{},{},1218,002,0,0,0,000,0,0,0\x03\r\n\x02001,0,{},0,1,2,4,0,00000003,1,000\x03\r\n\x021234,0\x03\r\n",
            u8::from(paper_out),
            u8::from(paused),
            u8::from(head_open)
        )
        .into_bytes()
    }

    #[test]
    fn parses_ready_printer() {
        let s = parse_hs(&hs(false, false, false)).unwrap();
        assert_eq!(s.blocking_error(), None);
        assert_eq!(s.label_length_dots, 1218);
        assert_eq!(s.formats_in_buffer, 2);
        assert_eq!(s.labels_remaining, 3);
    }

    #[test]
    fn flags_map_to_typed_errors() {
        assert_eq!(
            parse_hs(&hs(true, false, false)).unwrap().blocking_error(),
            Some(PrintError::PaperOut)
        );
        assert_eq!(
            parse_hs(&hs(false, true, false)).unwrap().blocking_error(),
            Some(PrintError::Paused)
        );
        assert_eq!(
            parse_hs(&hs(false, false, true)).unwrap().blocking_error(),
            Some(PrintError::HeadOpen)
        );
        // Head open wins over paper out: it is what the operator must fix first.
        assert_eq!(
            parse_hs(&hs(true, true, true)).unwrap().blocking_error(),
            Some(PrintError::HeadOpen)
        );
    }

    #[test]
    fn garbage_status_is_an_error_not_ready() {
        assert!(matches!(parse_hs(b"hello"), Err(PrintError::BadStatus(_))));
        assert!(matches!(
            parse_hs(b"\x021,2\x03\x023,4\x03"),
            Err(PrintError::BadStatus(_))
        ));
        assert!(hs_complete(&hs(false, false, false)));
        assert!(!hs_complete(&hs(false, false, false)[..40]));
    }
}
