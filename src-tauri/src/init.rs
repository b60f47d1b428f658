//! `returnhub init`: first-start setup for scripted installs, the same as the setup screen
//! (`Hub::set_up`). Names and the badge come from flags; the PIN, and the device token when a
//! central store is named, are read from the terminal without echo, or from standard input
//! when it is not a terminal (first line the PIN, an optional second line the token). Never
//! from argv or the environment, where other users and logs can see them.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use returnhub_hub::{Hub, HubOptions, JoinInput, SetupInput};

/// `returnhub init`'s flags. The PIN and the device token are never among them.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
The admin's PIN is asked on the terminal (twice, not echoed), or read from the first line of
standard input when that is not a terminal. With --central-url, this device's token (from
`returnhub-central add-device`) is asked next, or read from the second line; empty skips it.

With --join, this station becomes another station of the hub its device token is for (asked
on the terminal, or the first line of standard input): the hub's id and name come from the
central store, its people arrive when the app syncs.

Sets up RETURNHUB_DATA_DIR; refused once anyone is enrolled there.")]
pub struct InitArgs {
    /// Join the hub of this station's device token instead of setting up a new hub.
    #[arg(long, conflicts_with_all = ["hub_id", "hub_name", "admin_badge", "admin_name"],
          requires = "central_url")]
    join: bool,
    /// The new hub's id (as the central store and partners know it).
    #[arg(long, value_name = "ID", required_unless_present = "join")]
    hub_id: Option<String>,
    /// The new hub's name.
    #[arg(long, value_name = "NAME", required_unless_present = "join")]
    hub_name: Option<String>,
    /// The first admin's badge.
    #[arg(long, value_name = "BADGE", required_unless_present = "join")]
    admin_badge: Option<String>,
    /// The first admin's name.
    #[arg(long, value_name = "NAME", required_unless_present = "join")]
    admin_name: Option<String>,
    /// This station's name.
    #[arg(long, value_name = "NAME")]
    station: Option<String>,
    /// The central store to sync with (https; plain http only to this machine, unless
    /// --insecure-central).
    #[arg(long, value_name = "URL")]
    central_url: Option<String>,
    /// Allow plain http to a central store off this machine: the device token crosses the
    /// network unencrypted.
    #[arg(long, requires = "central_url")]
    insecure_central: bool,
    /// Refused: a PIN on the command line is seen by other users and kept in shell history.
    #[arg(long, hide = true)]
    pin: Option<String>,
}

/// What `init` was asked to do.
enum Init {
    NewHub(SetupInput),
    Join(JoinInput),
}

impl InitArgs {
    fn into_init(self) -> Result<Init, String> {
        if self.pin.is_some() {
            return Err(
                "the PIN is never taken on the command line: it is asked for, or read from standard input"
                    .into(),
            );
        }
        if self.join {
            return Ok(Init::Join(JoinInput {
                central_url: self.central_url.unwrap_or_default(),
                central_insecure: self.insecure_central,
                device_token: String::new(),
                station: self.station,
            }));
        }
        Ok(Init::NewHub(SetupInput {
            hub_id: self.hub_id.unwrap_or_default(),
            hub_name: self.hub_name.unwrap_or_default(),
            station: self.station,
            admin_badge: self.admin_badge.unwrap_or_default(),
            admin_name: self.admin_name.unwrap_or_default(),
            pin: String::new(),
            pin_again: String::new(),
            central_url: self.central_url,
            central_insecure: self.insecure_central,
            device_token: None,
        }))
    }
}

/// The PIN (twice) and the optional token, from the terminal or standard input.
fn read_secrets(input: &mut SetupInput) -> Result<(), String> {
    let wants_token = input.central_url.is_some();
    if std::io::stdin().is_terminal() {
        let ask = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map_err(|e| format!("cannot read from the terminal: {e}"))
        };
        input.pin = ask(&format!("PIN for {} (not shown): ", input.admin_name))?;
        input.pin_again = ask("The same PIN again: ")?;
        if wants_token {
            let token = ask("This device's token (Enter to skip): ")?;
            input.device_token = Some(token).filter(|t| !t.trim().is_empty());
        }
    } else {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut line = || -> Result<Option<String>, String> {
            lines
                .next()
                .transpose()
                .map_err(|e| format!("cannot read standard input: {e}"))
                .map(|l| l.map(|l| l.trim_end_matches('\r').to_string()))
        };
        let pin = line()?.ok_or("no PIN on standard input (its first line)")?;
        input.pin_again.clone_from(&pin);
        input.pin = pin;
        if wants_token {
            input.device_token = line()?.filter(|t| !t.trim().is_empty());
        }
    }
    Ok(())
}

/// The device token for joining, from the terminal (not echoed) or standard input's first line.
fn read_token() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password("This station's device token (not shown): ")
            .map_err(|e| format!("cannot read from the terminal: {e}"))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        Ok(line.trim().to_string())
    }
}

pub fn run(args: InitArgs) -> ExitCode {
    let mut input = match args.into_init() {
        Ok(Init::NewHub(input)) => input,
        Ok(Init::Join(input)) => return join(input),
        Err(e) => {
            eprintln!("returnhub init: {e}");
            return ExitCode::from(2);
        }
    };
    let options = match fresh_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("returnhub init: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = read_secrets(&mut input) {
        eprintln!("returnhub init: {e}");
        return ExitCode::FAILURE;
    }
    let data_dir = options.data_dir.clone();
    let result = Hub::open(options).and_then(|hub| {
        hub.set_up(&input)?;
        Ok(hub.options())
    });
    match result {
        Ok(options) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "Set up hub {} ({}) in {}.\n{} ({}) can sign in as the first admin{}.",
                options.hub_id,
                options.hub_name,
                data_dir.display(),
                input.admin_name.trim(),
                input.admin_badge.trim(),
                match (&options.central_url, &input.device_token) {
                    (Some(url), Some(_)) => format!("; the hub syncs with {url}"),
                    (Some(url), None) => format!(
                        "; enter this device's token on the station screen (F4) to sync with {url}"
                    ),
                    _ => String::new(),
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("returnhub init: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The options of a data dir that is not set up yet, or the reason to stop.
fn fresh_options() -> Result<HubOptions, String> {
    match HubOptions::from_env() {
        Ok(o) if o.configured() => Err(format!(
            "{} exists already: this station is set up",
            o.config_path().display()
        )),
        Ok(o) => Ok(o),
        Err(e) => Err(e.to_string()),
    }
}

fn join(mut input: JoinInput) -> ExitCode {
    let result = fresh_options().and_then(|options| {
        input.device_token = read_token()?;
        let hub = Hub::open(options).map_err(|e| e.to_string())?;
        hub.join_hub(&input).map_err(|e| e.to_string())?;
        Ok(hub.options())
    });
    match result {
        Ok(options) => {
            println!(
                "This station ({}) joined hub {} ({}); its people arrive when the app syncs \
                 with {}.",
                options.station,
                options.hub_id,
                options.hub_name,
                options.central_url.as_deref().unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("returnhub init: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        init: InitArgs,
    }

    fn parse(list: &[&str]) -> Result<Init, String> {
        let cli = Cli::try_parse_from(std::iter::once("init").chain(list.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.init.into_init()
    }

    #[test]
    fn flags_are_strict() {
        let Ok(Init::NewHub(ok)) = parse(&[
            "--hub-id",
            "WLG",
            "--hub-name",
            "Wellington",
            "--admin-badge",
            "AD-1",
            "--admin-name",
            "Mere",
        ]) else {
            panic!("a new hub");
        };
        assert_eq!(ok.hub_id, "WLG");
        assert!(ok.pin.is_empty(), "the PIN is not a flag");
        let new_hub = [
            "--hub-id",
            "A",
            "--hub-name",
            "a",
            "--admin-badge",
            "b",
            "--admin-name",
            "c",
        ];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            new_hub
                .iter()
                .copied()
                .chain(extra.iter().copied())
                .collect()
        };
        for (bad, says) in [
            (with(&["--hubname", "x"]), "unexpected argument '--hubname'"),
            (with(&["--hub-id", "B"]), "cannot be used multiple times"),
            (vec!["--hub-id"], "a value is required"),
            (vec!["--hub-id", "A"], "--hub-name <NAME>"),
            (with(&["--pin", "1234"]), "never taken on the command line"),
        ] {
            let e = parse(&bad).err().unwrap();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let Ok(Init::Join(join)) = parse(&[
            "--join",
            "--central-url",
            "http://c:8787",
            "--station",
            "b2",
        ]) else {
            panic!("a join");
        };
        assert_eq!(join.central_url, "http://c:8787");
        assert!(join.device_token.is_empty(), "the token is not a flag");
        for (bad, says) in [
            (vec!["--join"], "--central-url <URL>"),
            (
                vec!["--join", "--central-url", "x", "--hub-id", "A"],
                "cannot be used with",
            ),
            (
                vec!["--join", "--join", "--central-url", "x"],
                "cannot be used multiple times",
            ),
        ] {
            let e = parse(&bad).err().unwrap();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}
