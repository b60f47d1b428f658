//! Test support: a minimal W3C WebDriver client and a harness that starts tauri-driver (in
//! front of WebKitWebDriver) on a free port, launches the real app binary with its own data
//! dir, and tears both down when dropped.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C name for the element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The app's store in `data_dir`, read-only (a test reads what the window did).
pub fn store(data_dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        data_dir.join("returnhub.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

/// The one value `sql` selects from the app's store in `data_dir`.
pub fn one<T: rusqlite::types::FromSql>(data_dir: &Path, sql: &str) -> T {
    store(data_dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// One window at a time: the tests share one X display and one D-Bus session.
pub static ONE_WINDOW: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The wall clock in Unix milliseconds (the app under test runs on it too).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A time as Shopify writes it (`2026-12-07T01:25:03Z`).
pub fn shopify_time(ms: i64) -> String {
    returnhub_core::time::rfc3339(ms)[..19].to_owned() + "Z"
}

/// Waits (bounded) until `check` holds, outside the window (a simulator's ledger, the store).
pub fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub struct Driver {
    base: String,
    session: String,
    agent: ureq::Agent,
    tauri_driver: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_tauri_driver() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tauri-driver"))
            .find(|p| p.is_file())
    }) {
        return path;
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cached = Path::new(&home).join(".cache/returnhub/tools/bin/tauri-driver");
    assert!(
        cached.is_file(),
        "tauri-driver is not installed: run scripts/test (it installs it and starts Xvfb)"
    );
    cached
}

impl Driver {
    /// Starts tauri-driver and opens a session on the app binary with `data_dir`; a data dir
    /// with no hub.toml opens the demo hub (`RETURNHUB_DEMO=1`, as `scripts/demo` runs it).
    pub fn launch(app: &Path, data_dir: &Path) -> Driver {
        Driver::launch_with(app, data_dir, true)
    }

    /// As [`Driver::launch`]; with `demo` false a data dir with no hub.toml opens the setup
    /// screen, as a fresh install does.
    pub fn launch_with(app: &Path, data_dir: &Path, demo: bool) -> Driver {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "no DISPLAY: run the end-to-end tests through scripts/test, which starts Xvfb"
        );
        let port = free_port();
        let native_port = free_port();
        let tauri_driver = Command::new(find_tauri_driver())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
                "--native-driver",
                "/usr/bin/WebKitWebDriver",
            ])
            .env("RETURNHUB_DATA_DIR", data_dir)
            .env("RETURNHUB_DEMO", if demo { "1" } else { "0" })
            .env("NO_AT_BRIDGE", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tauri-driver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        // No browserName: WebKitWebDriver would refuse it for a Tauri app.
        let caps = json!({"capabilities": {"alwaysMatch": {
            "tauri:options": {"application": app.to_string_lossy()}
        }}});
        let mut driver = Driver {
            base,
            session: String::new(),
            agent,
            tauri_driver,
        };
        // tauri-driver listens before its WebKitWebDriver does: a session asked for too early
        // is dropped ("Peer disconnected"). Ask again a few times before calling it a failure.
        let deadline = Instant::now() + Duration::from_secs(30);
        let created = loop {
            match driver
                .agent
                .post(&format!("{}/session", driver.base))
                .send_json(caps.clone())
            {
                Ok(response) => {
                    let status = response.status();
                    let value: Value = response.into_body().read_json().unwrap();
                    let value = value.get("value").cloned().unwrap_or(Value::Null);
                    assert!(
                        status.is_success(),
                        "POST /session failed ({status}): {value}"
                    );
                    break value;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("POST /session: {e}; asking again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("POST /session: {e}"),
            }
        };
        driver.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        driver
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let value: Value = response.into_body().read_json().unwrap();
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{method} {path} failed ({status}): {value}"
        );
        value
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn title(&self) -> String {
        self.cmd("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let found = self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found.as_array()?.first()?[ELEMENT_KEY]
            .as_str()
            .map(String::from)
    }

    pub fn text(&self, element: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Whether the element with `id` is on the page and not hidden.
    pub fn visible(&self, id: &str) -> bool {
        self.execute(&format!(
            "const e = document.getElementById('{id}'); return !!e && !e.hidden"
        ))
        .as_bool()
        .unwrap_or(false)
    }

    /// The text of the first element matching `css`, read in one script: parts of the page
    /// are repainted whole, so a handle found a moment earlier may already be stale.
    pub fn text_of(&self, css: &str) -> Option<String> {
        let css = serde_json::to_string(css).unwrap();
        self.execute(&format!(
            "const e = document.querySelector({css}); return e ? e.innerText : null"
        ))
        .as_str()
        .map(String::from)
    }

    pub fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{element}/attribute/{name}"), None)
            .as_str()
            .map(String::from)
    }

    /// Types into an element as key events (a keyboard-wedge scanner types the same way).
    pub fn type_into(&self, element: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        );
    }

    /// Presses keys wherever the focus is (W3C actions), `gap_ms` apart: 0 is a keyboard-wedge
    /// scanner's burst, 150 a person typing.
    pub fn keys(&self, text: &str, gap_ms: u64) {
        let mut actions = Vec::new();
        for ch in text.chars() {
            if gap_ms > 0 && !actions.is_empty() {
                actions.push(json!({"type": "pause", "duration": gap_ms}));
            }
            actions.push(json!({"type": "keyDown", "value": ch.to_string()}));
            actions.push(json!({"type": "keyUp", "value": ch.to_string()}));
        }
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// Presses `keys` together (a chord such as Ctrl+Shift+L) and lets them go.
    pub fn chord(&self, keys: &[char]) {
        let mut actions: Vec<Value> = keys
            .iter()
            .map(|k| json!({"type": "keyDown", "value": k.to_string()}))
            .collect();
        actions.extend(
            keys.iter()
                .rev()
                .map(|k| json!({"type": "keyUp", "value": k.to_string()})),
        );
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    pub fn click(&self, element: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    pub fn execute(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Signs in at the sign-in screen (badge, Enter, PIN, Enter) and returns the header's
    /// "name (role)".
    pub fn sign_in(&self, badge: &str, pin: &str) -> String {
        const ENTER: char = '\u{E007}';
        self.wait_for(30, "the sign-in screen", |d| {
            let overlay = d.find("#sign-in")?;
            d.attribute(&overlay, "hidden").is_none().then_some(())
        });
        self.type_into(
            &self.find("#badge-input").unwrap(),
            &format!("{badge}{ENTER}"),
        );
        self.type_into(&self.find("#pin-input").unwrap(), &format!("{pin}{ENTER}"));
        self.wait_for(10, "the signed-in user", |d| {
            Some(d.text(&d.find("#user-name")?)).filter(|t| !t.is_empty())
        })
    }

    /// Waits until `probe` returns Some, or panics with `what` after `secs`.
    pub fn wait_for<T>(
        &self,
        secs: u64,
        what: &str,
        mut probe: impl FnMut(&Driver) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn screenshot_png(&self) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", None);
        decode_base64(b64.as_str().unwrap_or_default())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.agent.delete(&url).call();
        }
        let _ = self.tauri_driver.kill();
        let _ = self.tauri_driver.wait();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}
