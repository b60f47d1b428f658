//! Bodies at the edge: a request is authenticated from its headers before its body is read,
//! and no route reads more than its limit. A burst of large unauthenticated requests (16 at
//! once, each announcing 60 MiB) leaves the server's memory where it was, measured as the real
//! process's resident set; an authenticated body over its route's limit is refused with 413.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use returnhub_central::api::PULL_BODY_LIMIT;
use returnhub_protocol::wire;

const BIN: &str = env!("CARGO_BIN_EXE_returnhub-central");
const MIB: usize = 1024 * 1024;

/// The process's resident set in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Sends a request announcing `length` bytes and writes as much of it as the server takes;
/// the status it answered, if it answered.
fn send(addr: &str, path: &str, headers: &str, length: usize) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{headers}Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; MIB];
    let mut sent = 0;
    while sent < length {
        let n = chunk.len().min(length - sent);
        if stream.write_all(&chunk[..n]).is_err() {
            break; // the server answered and closed: it read no more
        }
        sent += n;
    }
    let mut line = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut line)
        .ok()?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn large_unauthenticated_bodies_are_not_read_and_limits_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("central");
    let token = String::from_utf8(
        Command::new(BIN)
            .args([
                "add-device",
                "--data-dir",
                data.to_str().unwrap(),
                "--hub",
                "h1",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(BIN)
        .args(["--data-dir", data.to_str().unwrap(), "--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = rss_kib(server.id());

    let answers: Vec<Option<u16>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let addr = &addr;
                let path = if i % 2 == 0 {
                    wire::PUSH_PATH
                } else {
                    wire::UPLOAD_PATH
                };
                s.spawn(move || send(addr, path, "", 60 * MIB))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let after = rss_kib(server.id());
    println!(
        "server RSS before {before} KiB, after 16 x 60 MiB unauthenticated: {after} KiB; answers {answers:?}"
    );
    assert!(
        answers.iter().all(|a| matches!(a, Some(401) | None)),
        "refused from the headers: {answers:?}"
    );
    assert!(answers.contains(&Some(401)), "{answers:?}");
    assert!(
        after.saturating_sub(before) < 64 * 1024,
        "the bodies were not held: {before} KiB -> {after} KiB"
    );

    // An authenticated body over its route's limit: 413, not read to its end.
    let auth = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(
        send(&addr, wire::PULL_PATH, &auth, PULL_BODY_LIMIT + MIB),
        Some(413)
    );
    let _ = server.kill();
    let _ = server.wait();
}
