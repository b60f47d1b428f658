//! A webhook receiver on loopback (test code only): a keep-alive HTTP/1.1 server that takes
//! POSTed JSON arrays, counts their events, keeps the headers of each request, and answers
//! 200 — or, on request, a 5xx or a dropped connection for the next requests. Also what every
//! simulator shares: the serve loop, the request reader and the fault plan ([`Faults`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
/// A request as a simulator reads it.
pub struct SimRequest {
    /// "POST /usp/return HTTP/1.1".
    pub line: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// [`read_request`], its head split into the request line and the headers.
pub async fn read_sim_request(stream: &mut TcpStream) -> Option<SimRequest> {
    let (head, body) = read_request(stream).await?;
    let mut lines = head.lines();
    let line = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(SimRequest {
        line,
        headers,
        body,
    })
}

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

/// A simulator's fault plan, shared by its clones: the forced faults first, in order (`None`:
/// a clean request), then a seeded share of requests at random, drawn from `all`; it counts
/// what it injected. `hold` is how long an answer is held (past the client's timeout) and how
/// late a late effect lands; `slow` how long a slow answer waits.
#[derive(Clone)]
pub struct Faults<F: 'static> {
    all: &'static [F],
    plan: Arc<Mutex<Plan<F>>>,
}

struct Plan<F> {
    rate: f64,
    rng: u64,
    forced: VecDeque<Option<F>>,
    injected: BTreeMap<F, u64>,
    hold: Duration,
    slow: Duration,
}

impl<F: Copy + Ord + 'static> Faults<F> {
    pub fn new(all: &'static [F]) -> Faults<F> {
        Faults {
            all,
            plan: Arc::new(Mutex::new(Plan {
                rate: 0.0,
                rng: 1,
                forced: VecDeque::new(),
                injected: BTreeMap::new(),
                hold: Duration::from_secs(3),
                slow: Duration::from_millis(100),
            })),
        }
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan<F>> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Faults on a `rate` share of requests, drawn from `seed`.
    pub fn inject(&self, rate: f64, seed: u64, hold: Duration, slow: Duration) {
        let mut plan = self.plan();
        plan.rate = rate;
        plan.rng = seed;
        plan.hold = hold;
        plan.slow = slow;
    }

    /// The next requests get these faults, in order.
    pub fn force(&self, faults: &[F]) {
        self.plan().forced.extend(faults.iter().copied().map(Some));
    }

    /// The next requests, in order, get these faults or (`None`) none.
    pub fn force_sequence(&self, faults: &[Option<F>]) {
        self.plan().forced.extend(faults.iter().copied());
    }

    pub fn injected(&self) -> BTreeMap<F, u64> {
        self.plan().injected.clone()
    }

    pub fn hold(&self) -> Duration {
        self.plan().hold
    }

    pub fn slow(&self) -> Duration {
        self.plan().slow
    }

    /// The fault of the next request, if any (counted).
    pub fn next(&self) -> Option<F> {
        let mut plan = self.plan();
        let fault = if let Some(forced) = plan.forced.pop_front() {
            forced
        } else if plan.rate > 0.0 {
            let draw = (splitmix(&mut plan.rng) >> 11) as f64 / (1u64 << 53) as f64;
            let pick = splitmix(&mut plan.rng) % self.all.len() as u64;
            (draw < plan.rate).then(|| self.all[pick as usize])
        } else {
            None
        };
        if let Some(fault) = fault {
            *plan.injected.entry(fault).or_default() += 1;
        }
        fault
    }
}

/// SplitMix64: a small, seeded, repeatable generator.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
