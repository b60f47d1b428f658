//! Where the hub keeps its data and who it is. The data dir comes from `RETURNHUB_DATA_DIR`
//! (tests and second instances set it so nothing is shared) or the platform's data dir. Its
//! `hub.toml` names the hub and station. Without one the hub is not set up yet: the window
//! opens the setup screen (or `returnhub init` writes it), unless `RETURNHUB_DEMO=1` (what
//! `scripts/demo` sets) asks for the embedded demo hub.

use std::time::Duration;

use returnhub_connectors::dispatch::DispatchOptions;
use returnhub_connectors::tracking_out::RetrySchedule;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::demo::{DEMO_HUB_ID, DEMO_HUB_NAME};

pub const DATA_DIR_ENV: &str = "RETURNHUB_DATA_DIR";
/// `1` opens the embedded demo hub in a data dir that has no `hub.toml`.
pub const DEMO_ENV: &str = "RETURNHUB_DEMO";
pub const CONFIG_FILE: &str = "hub.toml";
const STORE_FILE: &str = "returnhub.db";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    pub data_dir: PathBuf,
    pub hub_id: String,
    pub hub_name: String,
    pub station: String,
    /// Seed the demo hub into an empty store.
    pub demo: bool,
    /// Minutes without a command before the station locks.
    pub lock_after_minutes: u32,
    /// The central return store's base URL (`[central] url`); none: the hub works standalone.
    pub central_url: Option<String>,
    /// Plain http to a central store off this machine was allowed (`[central] insecure`):
    /// the device token crosses the network unencrypted. Shown in red on F4.
    pub central_insecure: bool,
    /// How undelivered tracking webhook batches are retried (`[webhooks]`).
    pub webhook_schedule: RetrySchedule,
    /// How a standalone hub's dispatcher retries an action (`[dispatch]`).
    pub dispatch_schedule: DispatchSchedule,
}

/// The action dispatcher's retries: the backoff after a send that did not take effect (or
/// whose outcome is unknown) starts at `backoff_base` and doubles up to `backoff_max`; after
/// `max_attempts` sends an action is marked failed for a supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchSchedule {
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_attempts: u32,
}

impl Default for DispatchSchedule {
    /// The dispatcher's own defaults (2 s doubling to 15 min, 8 sends).
    fn default() -> Self {
        let d = DispatchOptions::default();
        DispatchSchedule {
            backoff_base: d.backoff_base,
            backoff_max: d.backoff_max,
            max_attempts: d.max_attempts,
        }
    }
}

impl DispatchSchedule {
    /// The dispatcher's options with this schedule.
    pub fn options(&self) -> DispatchOptions {
        DispatchOptions {
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            max_attempts: self.max_attempts,
            ..DispatchOptions::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("no data directory: set {DATA_DIR_ENV} or HOME")]
    NoDataDir,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The `hub.toml` file. Unknown keys are refused so a typo is not silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    hub: HubSection,
    central: Option<CentralSection>,
    webhooks: Option<WebhooksSection>,
    dispatch: Option<DispatchSection>,
}

/// `[dispatch]`: a standalone hub's action dispatcher retries (a hub with `[central]` sends
/// nothing; the central store has its own).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DispatchSection {
    backoff_base_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
    max_attempts: Option<u32>,
}

/// The longest backoff either schedule accepts: a week.
const MAX_BACKOFF: Duration = Duration::from_secs(7 * 24 * 3600);

/// `[webhooks]`: the tracking webhook's retries. After `retry_budget` failed attempts the
/// supervisor is alerted; the batch is still retried every `retry_max_seconds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksSection {
    retry_base_seconds: Option<u64>,
    retry_max_seconds: Option<u64>,
    retry_budget: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CentralSection {
    /// e.g. "https://central.example:8787". The device token is not here: it is a secret,
    /// entered on the station screen and kept in the keyring.
    url: String,
    /// Allow plain http to a central store that is not on this machine.
    #[serde(default)]
    insecure: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HubSection {
    id: String,
    name: String,
    #[serde(default = "default_station")]
    station: String,
    #[serde(default)]
    demo: bool,
    #[serde(default = "default_lock_after_minutes")]
    lock_after_minutes: u32,
}

fn default_lock_after_minutes() -> u32 {
    10
}

/// A TOML basic string: quoted, with quotes, backslashes and control characters escaped.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn default_station() -> String {
    "bench-1".to_string()
}

impl HubOptions {
    /// The options for the data dir named by the environment.
    pub fn from_env() -> Result<HubOptions, OptionsError> {
        let data_dir = match std::env::var_os(DATA_DIR_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => default_data_dir().ok_or(OptionsError::NoDataDir)?,
        };
        let options = HubOptions::in_dir(&data_dir)?;
        let demo_asked = std::env::var(DEMO_ENV).is_ok_and(|v| v == "1" || v == "true");
        Ok(if !options.configured() && demo_asked {
            HubOptions::demo(&data_dir)
        } else {
            options
        })
    }

    /// The options for `data_dir`: its `hub.toml` if there is one, else a hub still to be set
    /// up ([`HubOptions::unconfigured`]).
    pub fn in_dir(data_dir: &Path) -> Result<HubOptions, OptionsError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(HubOptions::unconfigured(data_dir));
            }
            Err(source) => return Err(OptionsError::Read { path, source }),
        };
        HubOptions::from_config_text(data_dir, path, &text)
    }

    /// Reads `hub.toml`'s text (`path` only names the file in errors): every key checked,
    /// unknown ones refused. Pure, so the fuzz target reads it as the hub does.
    pub fn from_config_text(
        data_dir: &Path,
        path: PathBuf,
        text: &str,
    ) -> Result<HubOptions, OptionsError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| OptionsError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let h = file.hub;
        if h.lock_after_minutes == 0 || h.lock_after_minutes > 24 * 60 {
            return Err(OptionsError::Invalid {
                path,
                message: "[hub] lock_after_minutes must be between 1 and 1440".into(),
            });
        }
        for (key, value) in [("id", &h.id), ("name", &h.name), ("station", &h.station)] {
            if value.trim().is_empty() {
                return Err(OptionsError::Invalid {
                    path,
                    message: format!("[hub] {key} is empty"),
                });
            }
        }
        let (central_url, central_insecure) = match file.central {
            Some(c) => {
                let url = c.url.trim().trim_end_matches('/').to_string();
                if let Err(why) = returnhub_core::partner::check_endpoint(&url, c.insecure) {
                    return Err(OptionsError::Invalid {
                        path,
                        message: format!(
                            "[central] url: {why} (set insecure = true under [central] to allow it)"
                        ),
                    });
                }
                (Some(url), c.insecure)
            }
            None => (None, false),
        };
        let mut webhook_schedule = RetrySchedule::default();
        if let Some(w) = file.webhooks {
            if let Some(s) = w.retry_base_seconds {
                webhook_schedule.base = Duration::from_secs(s);
            }
            if let Some(s) = w.retry_max_seconds {
                webhook_schedule.max = Duration::from_secs(s);
            }
            if let Some(n) = w.retry_budget {
                webhook_schedule.budget = n;
            }
            if webhook_schedule.base.is_zero()
                || webhook_schedule.max < webhook_schedule.base
                || webhook_schedule.max > MAX_BACKOFF
                || webhook_schedule.budget == 0
            {
                return Err(OptionsError::Invalid {
                    path,
                    message: "[webhooks] needs retry_base_seconds >= 1, retry_max_seconds \
                              between it and 604800, and retry_budget >= 1"
                        .into(),
                });
            }
        }
        let dispatch_schedule = match file.dispatch {
            Some(d) => dispatch_schedule(d).map_err(|message| OptionsError::Invalid {
                path: path.clone(),
                message,
            })?,
            None => DispatchSchedule::default(),
        };
        Ok(HubOptions {
            webhook_schedule,
            dispatch_schedule,
            data_dir: data_dir.to_path_buf(),
            hub_id: h.id,
            hub_name: h.name,
            station: h.station,
            demo: h.demo,
            lock_after_minutes: h.lock_after_minutes,
            central_url,
            central_insecure,
        })
    }

    pub fn demo(data_dir: &Path) -> HubOptions {
        HubOptions {
            data_dir: data_dir.to_path_buf(),
            hub_id: DEMO_HUB_ID.to_string(),
            hub_name: DEMO_HUB_NAME.to_string(),
            station: default_station(),
            demo: true,
            lock_after_minutes: default_lock_after_minutes(),
            central_url: None,
            central_insecure: false,
            webhook_schedule: RetrySchedule::default(),
            dispatch_schedule: DispatchSchedule::default(),
        }
    }

    /// A data dir with no `hub.toml`: nothing is known of the hub until setup names it.
    pub fn unconfigured(data_dir: &Path) -> HubOptions {
        HubOptions {
            hub_id: String::new(),
            hub_name: String::new(),
            demo: false,
            ..HubOptions::demo(data_dir)
        }
    }

    /// `hub.toml` as setup writes it: what the setup screen (or `returnhub init`) asked.
    pub fn config_text(&self) -> String {
        let mut text = format!(
            "# Written by Returnhub's setup. Edit with care: unknown keys are refused.\n\
             [hub]\nid = {}\nname = {}\nstation = {}\nlock_after_minutes = {}\n",
            toml_string(&self.hub_id),
            toml_string(&self.hub_name),
            toml_string(&self.station),
            self.lock_after_minutes
        );
        if let Some(url) = &self.central_url {
            text.push_str(&format!("\n[central]\nurl = {}\n", toml_string(url)));
            if self.central_insecure {
                text.push_str("insecure = true\n");
            }
        }
        // Retry settings an installer's hub.toml set survive setup rewriting the file.
        let webhooks = &self.webhook_schedule;
        if *webhooks != RetrySchedule::default() {
            text.push_str(&format!(
                "\n[webhooks]\nretry_base_seconds = {}\nretry_max_seconds = {}\nretry_budget = {}\n",
                webhooks.base.as_secs(),
                webhooks.max.as_secs(),
                webhooks.budget
            ));
        }
        let dispatch = &self.dispatch_schedule;
        if *dispatch != DispatchSchedule::default() {
            text.push_str(&format!(
                "\n[dispatch]\nbackoff_base_ms = {}\nbackoff_max_ms = {}\nmax_attempts = {}\n",
                dispatch.backoff_base.as_millis(),
                dispatch.backoff_max.as_millis(),
                dispatch.max_attempts
            ));
        }
        text
    }

    pub fn config_path(&self) -> PathBuf {
        self.data_dir.join(CONFIG_FILE)
    }

    /// A `hub.toml` names this hub (or the demo runs): only a hub not set up yet has no id.
    pub fn configured(&self) -> bool {
        !self.hub_id.is_empty()
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join(STORE_FILE)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
}

/// `[dispatch]` over the defaults; each bad value is named with what it must be.
fn dispatch_schedule(d: DispatchSection) -> Result<DispatchSchedule, String> {
    let mut schedule = DispatchSchedule::default();
    if let Some(ms) = d.backoff_base_ms {
        schedule.backoff_base = Duration::from_millis(ms);
    }
    if let Some(ms) = d.backoff_max_ms {
        schedule.backoff_max = Duration::from_millis(ms);
    }
    if let Some(n) = d.max_attempts {
        schedule.max_attempts = n;
    }
    let max_ms = MAX_BACKOFF.as_millis();
    if schedule.backoff_base.is_zero() || schedule.backoff_base > MAX_BACKOFF {
        return Err(format!(
            "[dispatch] backoff_base_ms is {}: it must be between 1 and {max_ms}",
            schedule.backoff_base.as_millis()
        ));
    }
    if schedule.backoff_max < schedule.backoff_base || schedule.backoff_max > MAX_BACKOFF {
        return Err(format!(
            "[dispatch] backoff_max_ms is {}: it must be between backoff_base_ms ({}) and {max_ms}",
            schedule.backoff_max.as_millis(),
            schedule.backoff_base.as_millis()
        ));
    }
    if schedule.max_attempts == 0 {
        return Err("[dispatch] max_attempts is 0: it must be at least 1".into());
    }
    Ok(schedule)
}

fn default_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("returnhub"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_config_file_means_a_hub_still_to_set_up() {
        let dir = tempfile::tempdir().unwrap();
        let o = HubOptions::in_dir(dir.path()).unwrap();
        assert!(!o.demo && !o.configured());
        assert_eq!(o.hub_id, "");
        assert_eq!(o.store_path(), dir.path().join("returnhub.db"));
        assert!(HubOptions::demo(dir.path()).demo);
        assert_eq!(HubOptions::demo(dir.path()).hub_id, DEMO_HUB_ID);
    }

    #[test]
    fn the_config_setup_writes_reads_back_whatever_the_names_hold() {
        let dir = tempfile::tempdir().unwrap();
        let written = HubOptions {
            hub_id: "WLG".into(),
            hub_name: "Wellington \"north\" \\ hub\u{7}".into(),
            station: "bench 2".into(),
            central_url: Some("https://central.example:8787".into()),
            webhook_schedule: RetrySchedule {
                base: Duration::from_secs(5),
                max: Duration::from_secs(600),
                budget: 3,
            },
            dispatch_schedule: DispatchSchedule {
                backoff_base: Duration::from_millis(250),
                backoff_max: Duration::from_secs(60),
                max_attempts: 4,
            },
            ..HubOptions::unconfigured(dir.path())
        };
        std::fs::write(dir.path().join(CONFIG_FILE), written.config_text()).unwrap();
        let read = HubOptions::in_dir(dir.path()).unwrap();
        assert_eq!(read, written);

        // Plain http to a central store elsewhere only when allowed, and kept so.
        let plain = HubOptions {
            central_url: Some("http://10.0.0.5:8787".into()),
            central_insecure: true,
            ..written
        };
        std::fs::write(dir.path().join(CONFIG_FILE), plain.config_text()).unwrap();
        assert_eq!(HubOptions::in_dir(dir.path()).unwrap(), plain);
    }

    #[test]
    fn reads_a_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[hub]\nid = \"CHC\"\nname = \"Christchurch\"\nstation = \"bench-4\"\n",
        )
        .unwrap();
        let o = HubOptions::in_dir(dir.path()).unwrap();
        assert_eq!(
            (o.hub_id.as_str(), o.station.as_str(), o.demo),
            ("CHC", "bench-4", false)
        );
    }

    #[test]
    fn a_bad_config_file_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        for (text, expect) in [
            ("[hub]\nid = \"CHC\"\n", "missing field `name`"),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\nstaton = \"typo\"\n",
                "unknown field `staton`",
            ),
            ("[hub\n", "hub.toml"),
            ("[hub]\nid = \" \"\nname = \"x\"\n", "[hub] id is empty"),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[central]\nurl = \"central:8787\"\n",
                "must start with https://",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[central]\nurl = \"http://10.0.0.5:8787\"\n",
                "is not encrypted",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[dispatch]\nbackoff_base_ms = 0\n",
                "[dispatch] backoff_base_ms is 0: it must be between 1 and 604800000",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[dispatch]\nbackoff_base_ms = 5000\nbackoff_max_ms = 1000\n",
                "[dispatch] backoff_max_ms is 1000: it must be between backoff_base_ms (5000) and 604800000",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[dispatch]\nbackoff_max_ms = 604800001\n",
                "[dispatch] backoff_max_ms is 604800001",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[dispatch]\nmax_attempts = 0\n",
                "[dispatch] max_attempts is 0: it must be at least 1",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[dispatch]\nmax_attempts = -1\n",
                "max_attempts",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[dispatch]\nbackoff_base_ms = \"2s\"\n",
                "backoff_base_ms",
            ),
            (
                "[hub]\nid = \"CHC\"\nname = \"x\"\n[dispatch]\nbackoff_ms = 10\n",
                "unknown field `backoff_ms`",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = HubOptions::in_dir(dir.path()).unwrap_err().to_string();
            assert!(err.contains("hub.toml"), "{err}");
            assert!(err.contains(expect), "{err} should mention {expect}");
        }
    }

    #[test]
    fn dispatch_schedule_defaults_to_the_dispatchers_and_reads_dispatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let hub = "[hub]\nid = \"CHC\"\nname = \"x\"\n";
        std::fs::write(&path, hub).unwrap();
        let o = HubOptions::in_dir(dir.path()).unwrap();
        assert_eq!(
            o.dispatch_schedule,
            DispatchSchedule {
                backoff_base: Duration::from_secs(2),
                backoff_max: Duration::from_secs(15 * 60),
                max_attempts: 8,
            }
        );
        assert_eq!(
            HubOptions::demo(dir.path()).dispatch_schedule,
            o.dispatch_schedule
        );

        std::fs::write(
            &path,
            format!(
                "{hub}[dispatch]\nbackoff_base_ms = 250\nbackoff_max_ms = 4000\nmax_attempts = 3\n"
            ),
        )
        .unwrap();
        let o = HubOptions::in_dir(dir.path()).unwrap();
        assert_eq!(
            o.dispatch_schedule,
            DispatchSchedule {
                backoff_base: Duration::from_millis(250),
                backoff_max: Duration::from_millis(4000),
                max_attempts: 3,
            }
        );
        let d = o.dispatch_schedule.options();
        assert_eq!(
            (d.backoff_base, d.backoff_max, d.max_attempts, d.batch),
            (
                Duration::from_millis(250),
                Duration::from_millis(4000),
                3,
                DispatchOptions::default().batch
            )
        );

        // Only the keys given change; an empty table is the defaults.
        std::fs::write(&path, format!("{hub}[dispatch]\nmax_attempts = 20\n")).unwrap();
        let o = HubOptions::in_dir(dir.path()).unwrap();
        assert_eq!(
            o.dispatch_schedule,
            DispatchSchedule {
                max_attempts: 20,
                ..DispatchSchedule::default()
            }
        );
        std::fs::write(&path, format!("{hub}[dispatch]\n")).unwrap();
        let o = HubOptions::in_dir(dir.path()).unwrap();
        assert_eq!(o.dispatch_schedule, DispatchSchedule::default());
    }
}
