//! The binary: `add-device` and `add-api-key` print credentials once, and
//! `returnhub-central --data-dir DIR --listen ADDR` serves on that address.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_returnhub-central");

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn one_command_starts_the_central_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let dir = dir.to_str().unwrap();
    let token = run(&["add-device", "--data-dir", dir, "--hub", "syd"]);
    assert!(token.starts_with("rhd_"));
    let key = run(&[
        "add-api-key",
        "--data-dir",
        dir,
        "--retailer",
        "Acme Apparel",
    ]);
    assert!(key.starts_with("rhk_"));
    let bad = Command::new(BIN).args(["--data-dir"]).output().unwrap();
    assert!(!bad.status.success());

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut server = Command::new(BIN)
        .args(["--data-dir", dir, "--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Ok(r) = http_get(&format!("http://{listen}/v1/health")) {
            break r;
        }
        assert!(Instant::now() < deadline, "the server never answered");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health, "ok");
    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains(&token) && !log.contains(&key),
        "a secret was logged"
    );
}

/// A minimal HTTP/1.1 GET over a plain socket (no client needed for one probe).
fn http_get(url: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host)?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}
