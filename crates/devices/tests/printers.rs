//! Printer transports against stand-ins on this machine: a Zebra-like TCP listener on
//! 127.0.0.1 that records jobs and answers `~HS` (ready, paper out, head open, silent), a
//! listener that is not there, a serial printer on a pty, the USB printer protocol over a fake
//! bulk pipe, a fake `lp` for CUPS, and a file.

use returnhub_devices::label::templates::*;
use returnhub_devices::printer::*;
use returnhub_devices::usb::{BulkPipe, UsbError};
use serialport::{SerialPort, TTYPort};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn hs(paper_out: bool, paused: bool, head_open: bool) -> Vec<u8> {
    format!(
        "\x02030,{},{},1218,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,{},0,1,2,4,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n",
        u8::from(paper_out),
        u8::from(paused),
        u8::from(head_open)
    )
    .into_bytes()
}

#[derive(Clone, Copy)]
enum Mode {
    Ready,
    PaperOut,
    HeadOpen,
    /// Accepts connections but never answers `~HS`.
    Silent,
}

/// A fake network printer; returns its address and the jobs (non-status connections) it got.
fn fake_printer(mode: Mode) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let jobs = Arc::new(Mutex::new(Vec::new()));
    let j2 = jobs.clone();
    std::thread::spawn(move || {
        // Bounded: a test makes at most a few connections.
        for conn in l.incoming().take(8) {
            let Ok(mut c) = conn else { break };
            c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                if got == b"~HS" {
                    match mode {
                        Mode::Ready => c.write_all(&hs(false, false, false)).unwrap(),
                        Mode::PaperOut => c.write_all(&hs(true, false, false)).unwrap(),
                        Mode::HeadOpen => c.write_all(&hs(false, false, true)).unwrap(),
                        Mode::Silent => {}
                    }
                }
            }
            if got != b"~HS" {
                j2.lock().unwrap().push(got);
            }
        }
    });
    (addr, jobs)
}

fn label_zpl() -> Vec<u8> {
    hub_item()
        .fill(&hub_item_fields(
            "R-1",
            "1Z5R89390357567127",
            "Acme",
            "S",
            "A",
            "Back to stock",
            "B-1",
            "t",
            "rh:R-1",
        ))
        .unwrap()
        .to_zpl()
        .into_bytes()
}

fn wait_jobs(jobs: &Arc<Mutex<Vec<Vec<u8>>>>, n: usize) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        if jobs.lock().unwrap().len() >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    jobs.lock().unwrap().clone()
}

#[test]
fn tcp_ready_printer_receives_the_zpl() {
    let (addr, jobs) = fake_printer(Mode::Ready);
    let mut p = TcpPrinter::new(&addr);
    let st = printer_status(&mut p, Duration::from_secs(2)).unwrap();
    assert_eq!(st.blocking_error(), None);
    let zpl = label_zpl();
    print_zpl(&mut p, &zpl, Duration::from_secs(2)).unwrap();
    assert_eq!(wait_jobs(&jobs, 1), vec![zpl]);
}

#[test]
fn tcp_paper_out_and_head_open_are_typed_and_nothing_prints() {
    for (mode, want) in [
        (Mode::PaperOut, PrintError::PaperOut),
        (Mode::HeadOpen, PrintError::HeadOpen),
    ] {
        let (addr, jobs) = fake_printer(mode);
        let mut p = TcpPrinter::new(&addr);
        assert_eq!(
            print_zpl(&mut p, &label_zpl(), Duration::from_secs(2)),
            Err(want)
        );
        std::thread::sleep(Duration::from_millis(100));
        assert!(jobs.lock().unwrap().is_empty());
    }
}

#[test]
fn tcp_silent_printer_is_no_status_answer() {
    let (addr, _jobs) = fake_printer(Mode::Silent);
    let mut p = TcpPrinter::new(&addr);
    let e = print_zpl(&mut p, &label_zpl(), Duration::from_millis(300)).unwrap_err();
    assert!(matches!(e, PrintError::NoStatusAnswer { .. }), "{e:?}");
}

#[test]
fn tcp_listener_not_there_is_unreachable() {
    // Port 1 (tcpmux): nothing listens there, and unlike a port bound then dropped, no other
    // test's listener can take it meanwhile (they all bind ephemeral ports).
    let addr = "127.0.0.1:1".to_string();
    let mut p = TcpPrinter::new(&addr);
    p.connect_timeout = Duration::from_millis(300);
    assert!(matches!(
        p.send(b"^XA^XZ"),
        Err(PrintError::Unreachable { .. })
    ));
    assert!(matches!(
        printer_status(&mut p, Duration::from_millis(200)),
        Err(PrintError::Unreachable { .. })
    ));
    let mut bad = TcpPrinter::new("no-such-host.invalid:9100");
    bad.connect_timeout = Duration::from_millis(300);
    assert!(matches!(
        bad.send(b"x"),
        Err(PrintError::Unreachable { .. })
    ));
}

#[test]
fn serial_printer_over_pty_gets_job_and_answers_status() {
    // Keep the pair's own slave fd open: with no slave open, reads on the master fail at once
    // (EIO) and the fake printer would give up before the printer under test opens the port.
    let (mut master, _slave) = TTYPort::pair().unwrap();
    let path = _slave.name().unwrap();
    master.set_timeout(Duration::from_millis(100)).unwrap();
    let zpl = label_zpl();
    let want = zpl.len() + 3;
    // The "printer": answer ~HS, collect everything else.
    let h = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let mut answered = false;
        // Time-bounded (not count-bounded): a loaded machine may open the port late.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            match master.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
            if !answered && got.starts_with(b"~HS") {
                master.write_all(&hs(false, false, false)).unwrap();
                answered = true;
            }
            if got.len() >= want {
                break;
            }
        }
        // Hand the master back instead of dropping it here: a real printer does not hang up
        // the line, and a hung-up pty fails the sender's final drain (tcdrain → EIO).
        (got, master)
    });
    let mut p = SerialPrinter::new(&path, 9600);
    print_zpl(&mut p, &zpl, Duration::from_secs(2)).unwrap();
    let (got, _master) = h.join().unwrap();
    assert_eq!(&got[..3], b"~HS");
    assert_eq!(&got[3..], &zpl[..]);
    let mut gone = SerialPrinter::new("/dev/does-not-exist-rh", 9600);
    assert!(matches!(
        gone.send(b"x"),
        Err(PrintError::Unreachable { .. })
    ));
}

/// A printer-class bulk pipe that takes at most `per_write` bytes per transfer, can stall,
/// and answers status reads from a script.
struct FakePipe {
    written: Arc<Mutex<Vec<u8>>>,
    per_write: usize,
    stall_after: Option<usize>,
    answers: VecDeque<Result<Vec<u8>, UsbError>>,
}

impl BulkPipe for FakePipe {
    fn write_bulk(&mut self, data: &[u8], _t: Duration) -> Result<usize, UsbError> {
        let mut w = self.written.lock().unwrap();
        if self.stall_after.is_some_and(|s| w.len() >= s) {
            return Err(UsbError::Timeout);
        }
        let n = data.len().min(self.per_write);
        w.extend_from_slice(&data[..n]);
        Ok(n)
    }
    fn read_bulk(&mut self, buf: &mut [u8], _t: Duration) -> Result<usize, UsbError> {
        match self.answers.pop_front() {
            Some(Ok(b)) => {
                buf[..b.len()].copy_from_slice(&b);
                Ok(b.len())
            }
            Some(Err(e)) => Err(e),
            None => Err(UsbError::Timeout),
        }
    }
    fn max_packet_size(&self) -> usize {
        64
    }
}

fn usb(
    per_write: usize,
    stall_after: Option<usize>,
    answers: Vec<Result<Vec<u8>, UsbError>>,
) -> (UsbPrinter<FakePipe>, Arc<Mutex<Vec<u8>>>) {
    let written = Arc::new(Mutex::new(Vec::new()));
    let pipe = FakePipe {
        written: written.clone(),
        per_write,
        stall_after,
        answers: answers.into(),
    };
    (
        UsbPrinter {
            pipe,
            name: "usb 0a5f:00d1".into(),
            timeout: Duration::from_millis(100),
        },
        written,
    )
}

#[test]
fn usb_printer_short_writes_are_resumed() {
    let job: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let (mut p, written) = usb(37, None, vec![]);
    p.send(&job).unwrap();
    assert_eq!(*written.lock().unwrap(), job);
}

#[test]
fn usb_printer_stall_and_unplug_are_typed() {
    let (mut p, _) = usb(512, Some(1024), vec![]);
    assert!(matches!(
        p.send(&[0u8; 5000]),
        Err(PrintError::Stalled { .. })
    ));
    let (mut p, _) = usb(512, None, vec![Err(UsbError::Disconnected)]);
    assert!(matches!(
        printer_status(&mut p, Duration::from_millis(300)),
        Err(PrintError::Unreachable { .. })
    ));
}

#[test]
fn usb_printer_status_over_bulk_in_in_pieces() {
    let answer = hs(false, false, true);
    let (a, b) = answer.split_at(30);
    let (mut p, written) = usb(
        512,
        None,
        vec![Err(UsbError::Timeout), Ok(a.to_vec()), Ok(b.to_vec())],
    );
    assert_eq!(
        print_zpl(&mut p, &label_zpl(), Duration::from_secs(2)),
        Err(PrintError::HeadOpen)
    );
    assert_eq!(
        *written.lock().unwrap(),
        b"~HS",
        "no label data after a head-open status"
    );
    let (mut silent, _) = usb(512, None, vec![]);
    assert!(matches!(
        printer_status(&mut silent, Duration::from_millis(300)),
        Err(PrintError::NoStatusAnswer { .. })
    ));
}

fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn cups_lp_raw_and_plain_and_failure() {
    let dir = std::env::temp_dir().join(format!("rh-lp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lp = script(
        &dir,
        "lp",
        &format!(
            "#!/bin/sh\necho \"$@\" > {0}/args\ncat > {0}/job\n",
            dir.display()
        ),
    );
    let mut p = CupsPrinter::new("zebra_raw", true);
    p.program = lp.clone();
    let zpl = label_zpl();
    p.send(&zpl).unwrap();
    assert_eq!(std::fs::read(dir.join("job")).unwrap(), zpl);
    assert_eq!(
        std::fs::read_to_string(dir.join("args")).unwrap().trim(),
        "-d zebra_raw -t returnhub -o raw"
    );
    let mut plain = CupsPrinter::new("office", false);
    plain.program = lp;
    plain.send(b"%PDF-1.7").unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("args")).unwrap().trim(),
        "-d office -t returnhub"
    );
    assert_eq!(
        plain.query_status_raw(Duration::from_millis(10)),
        Err(PrintError::StatusUnsupported)
    );

    let failing = script(
        &dir,
        "lp-fail",
        "#!/bin/sh\ncat >/dev/null\necho 'lp: The printer or class does not exist.' >&2\nexit 1\n",
    );
    let mut f = CupsPrinter::new("nope", true);
    f.program = failing;
    assert_eq!(
        f.send(b"^XA^XZ"),
        Err(PrintError::Spooler {
            code: Some(1),
            message: "lp: The printer or class does not exist.".into()
        })
    );
    let mut missing = CupsPrinter::new("x", true);
    missing.program = dir.join("not-installed");
    assert!(matches!(
        missing.send(b"x"),
        Err(PrintError::Spooler { code: None, .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn file_printer_saves_pdf_and_reports_bad_path() {
    let dir = std::env::temp_dir().join(format!("rh-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = carton_sscc()
        .fill(&carton_fields(
            "000123450000000027",
            "H",
            "D",
            "RTV",
            1,
            "t",
        ))
        .unwrap()
        .to_pdf();
    let mut p = FilePrinter {
        path: dir.join("carton.pdf"),
    };
    // File printing never asks for status, so print_zpl just sends.
    print_zpl(&mut p, &pdf, Duration::from_millis(10)).unwrap();
    assert_eq!(std::fs::read(dir.join("carton.pdf")).unwrap(), pdf);
    let mut bad = FilePrinter {
        path: dir.join("no/such/dir/x.pdf"),
    };
    assert!(matches!(
        bad.send(b"x"),
        Err(PrintError::Unreachable { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
