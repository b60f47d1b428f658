//! A webhook receiver on loopback (test code only): a keep-alive HTTP/1.1 server that takes
//! POSTed JSON arrays, counts their events, keeps the headers of each request, and answers
//! 200 — or, on request, a 5xx or a dropped connection for the next requests.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves `listener` on a thread and runtime of its own (`workers` threads, or the current
/// thread) until the process ends, each connection on a task of its own.
pub fn serve_forever<F, Fut>(
    name: &str,
    listener: std::net::TcpListener,
    workers: Option<usize>,
    serve: F,
) where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let rt = match workers {
                Some(n) => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(n)
                    .enable_all()
                    .build(),
                None => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build(),
            }
            .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(serve(stream));
                }
            });
        })
        .unwrap();
}

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Status(u16),
    /// Reads the request, then closes the connection without an answer.
    Drop,
}

#[derive(Debug, Clone)]
pub struct Received {
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub events: usize,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub addr: Option<SocketAddr>,
    /// Events in requests answered 200.
    pub accepted: Arc<AtomicU64>,
    /// Answers for the next requests, in order; then 200.
    script: Arc<Mutex<VecDeque<Answer>>>,
    /// Every request that was answered 200 (only when `keep` is set: the benchmark counts).
    log: Arc<Mutex<Vec<Received>>>,
    keep: bool,
}

impl Receiver {
    /// Serves on its own thread and runtime until the process ends.
    pub fn start(keep: bool) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let receiver = Receiver {
            addr: Some(listener.local_addr().unwrap()),
            keep,
            ..Receiver::default()
        };
        let server = receiver.clone();
        serve_forever("webhook-receiver", listener, None, move |stream| {
            let server = server.clone();
            async move { server.serve(stream).await }
        });
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook/v1/seko/update", self.addr.unwrap())
    }

    pub fn script(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buf = Vec::with_capacity(64 << 10);
        loop {
            // The head.
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 16 << 10];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + length {
                let mut chunk = [0u8; 64 << 10];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = buf[head_end..head_end + length].to_vec();
            buf.drain(..head_end + length);
            let answer = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Answer::Ok);
            match answer {
                Answer::Drop => return,
                Answer::Status(code) => {
                    let reply = format!(
                        "HTTP/1.1 {code} Oops\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nnot this one"
                    );
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Answer::Ok => {
                    let events = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&body)
                        .map(|v| v.len())
                        .unwrap_or(0);
                    self.accepted.fetch_add(events as u64, Ordering::Relaxed);
                    if self.keep {
                        self.log.lock().unwrap().push(Received { headers, events });
                    }
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// Reads one HTTP/1.1 request (head and a `Content-Length` body) from `stream`; `None` when
/// the peer closes first. Shared by the simulators.
pub async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}
