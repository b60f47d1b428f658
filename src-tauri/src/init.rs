//! `returnhub init`: first-start setup for scripted installs, the same as the setup screen
//! (`Hub::set_up`). Names and the badge come from flags; the PIN, and the device token when a
//! central store is named, are read from the terminal without echo, or from standard input
//! when it is not a terminal (first line the PIN, an optional second line the token). Never
//! from argv or the environment, where other users and logs can see them.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use returnhub_hub::{Hub, HubOptions, JoinInput, SetupInput};

pub const USAGE: &str = "\
Usage: returnhub init --hub-id ID --hub-name NAME --admin-badge BADGE --admin-name NAME
                      [--station NAME] [--central-url URL]
       returnhub init --join --central-url URL [--station NAME]

Sets up a new hub in RETURNHUB_DATA_DIR (as the setup screen does): writes hub.toml and
enrols the first admin. Refused once anyone is enrolled there.

The admin's PIN is asked on the terminal (twice, not echoed), or read from the first line of
standard input when that is not a terminal. With --central-url, this device's token (from
`returnhub-central add-device`) is asked next, or read from the second line; empty skips it.

With --join, this station becomes another station of the hub its device token is for (asked
on the terminal, or the first line of standard input): the hub's id and name come from the
central store, its people arrive when the app syncs.";

/// What `init` was asked to do.
enum Init {
    NewHub(SetupInput),
    Join(JoinInput),
}

/// `--join` and the flags, each at most once; anything else is a usage error (a mistyped flag
/// must not be ignored).
fn parse_init(args: &[String]) -> Result<Init, String> {
    let joining = args.iter().filter(|a| *a == "--join").count();
    if joining > 1 {
        return Err("--join is given twice".into());
    }
    if joining == 0 {
        return parse(args).map(Init::NewHub);
    }
    let rest: Vec<String> = args.iter().filter(|a| *a != "--join").cloned().collect();
    let mut input = JoinInput {
        central_url: String::new(),
        device_token: String::new(),
        station: None,
    };
    for (flag, value) in flag_values(&rest)? {
        match flag {
            "--central-url" => input.central_url = value,
            "--station" => input.station = Some(value),
            other => return Err(format!("unknown argument '{other}' (with --join)")),
        }
    }
    if input.central_url.is_empty() {
        return Err("--central-url is required with --join".into());
    }
    Ok(Init::Join(input))
}

/// `--flag value` pairs in order; a flag without its value or given twice is an error.
fn flag_values(args: &[String]) -> Result<Vec<(&str, String)>, String> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "--pin" {
            return Err(
                "the PIN is never taken on the command line: it is asked for, or read from standard input"
                    .into(),
            );
        }
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        if pairs.iter().any(|(seen, _)| seen == flag) {
            return Err(format!("{flag} is given twice"));
        }
        pairs.push((flag.as_str(), value));
    }
    Ok(pairs)
}

/// The flags of a new hub's setup.
fn parse(args: &[String]) -> Result<SetupInput, String> {
    let mut input = SetupInput {
        hub_id: String::new(),
        hub_name: String::new(),
        station: None,
        admin_badge: String::new(),
        admin_name: String::new(),
        pin: String::new(),
        pin_again: String::new(),
        central_url: None,
        device_token: None,
    };
    for (flag, value) in flag_values(args)? {
        match flag {
            "--hub-id" => input.hub_id = value,
            "--hub-name" => input.hub_name = value,
            "--station" => input.station = Some(value),
            "--admin-badge" => input.admin_badge = value,
            "--admin-name" => input.admin_name = value,
            "--central-url" => input.central_url = Some(value),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    for (flag, value) in [
        ("--hub-id", &input.hub_id),
        ("--hub-name", &input.hub_name),
        ("--admin-badge", &input.admin_badge),
        ("--admin-name", &input.admin_name),
    ] {
        if value.is_empty() {
            return Err(format!("{flag} is required"));
        }
    }
    Ok(input)
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

pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let mut input = match parse_init(args) {
        Ok(Init::NewHub(input)) => input,
        Ok(Init::Join(input)) => return join(input),
        Err(e) => {
            eprintln!("returnhub init: {e}\n\n{USAGE}");
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
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_are_strict() {
        let ok = parse(&args(&[
            "--hub-id",
            "WLG",
            "--hub-name",
            "Wellington",
            "--admin-badge",
            "AD-1",
            "--admin-name",
            "Mere",
        ]))
        .unwrap();
        assert_eq!(ok.hub_id, "WLG");
        assert!(ok.pin.is_empty(), "the PIN is not a flag");
        for (bad, says) in [
            (
                vec!["--hub-id", "A", "--hubname", "x"],
                "unknown argument '--hubname'",
            ),
            (vec!["--hub-id", "A", "--hub-id", "B"], "given twice"),
            (vec!["--hub-id"], "needs a value"),
            (vec!["--hub-id", "A"], "--hub-name is required"),
            (vec!["--pin", "1234"], "never taken on the command line"),
        ] {
            let e = parse(&args(&bad)).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let Ok(Init::Join(join)) = parse_init(&args(&[
            "--join",
            "--central-url",
            "http://c:8787",
            "--station",
            "b2",
        ])) else {
            panic!("a join");
        };
        assert_eq!(join.central_url, "http://c:8787");
        assert!(join.device_token.is_empty(), "the token is not a flag");
        for (bad, says) in [
            (vec!["--join"], "--central-url is required"),
            (
                vec!["--join", "--central-url", "x", "--hub-id", "A"],
                "unknown argument '--hub-id'",
            ),
            (
                vec!["--join", "--join", "--central-url", "x"],
                "given twice",
            ),
        ] {
            let e = parse_init(&args(&bad)).err().unwrap();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}
