//! `returnhub-central`: the central return store. `returnhub-central --help` lists the
//! commands; each says what it takes with `--help` after its name. Without a command it
//! serves (the same as `serve`). Secrets (shop tokens, partner and webhook secrets) are read
//! from standard input, never from the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use returnhub_central::{AppState, CentralStorage, SqliteStorage};
use returnhub_core::retailer::RetailerForm;
use returnhub_core::trigger::Trigger;

#[derive(Parser)]
#[command(
    name = "returnhub-central",
    version,
    about = "The central return store: hubs sync with it, partners upload returns and tracking \
             events to it, and it sends every return action once.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// The store's directory (central.sqlite3 and the secrets file).
    #[arg(long, value_name = "DIR", required = true)]
    data_dir: Option<PathBuf>,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    listen: String,
}

/// The store every command but `serve` works on.
#[derive(Args)]
struct DataDir {
    /// The store's directory (central.sqlite3 and the secrets file).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default when no command is given).
    Serve(ServeArgs),
    /// Register a device of a hub and print its token once (give it to that device only).
    AddDevice {
        #[command(flatten)]
        store: DataDir,
        /// The hub the device belongs to.
        #[arg(long)]
        hub: String,
        /// A name for the device (the hub's id when absent).
        #[arg(long)]
        name: Option<String>,
    },
    /// Every device token: id, hub, name, the store it is bound to, created, revoked.
    DeviceList {
        #[command(flatten)]
        store: DataDir,
    },
    /// The rows the Upload API refused, newest first, with what the uploader was told:
    /// time, retailer, key, source, row, consignment, order, hub, field: reason; ….
    UploadRefusals {
        #[command(flatten)]
        store: DataDir,
        /// Only those received at or after this time (RFC 3339, e.g. 2026-11-23T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Stop a device token authenticating at once, for good (a stolen or retired PC).
    DeviceRevoke {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        device: String,
    },
    /// Print a new token for the same device; the old one stops working.
    DeviceRotate {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        device: String,
    },
    /// Create a partner API key for the retailer named exactly so and print it once.
    AddApiKey {
        #[command(flatten)]
        store: DataDir,
        /// The retailer's name, exactly as the partner sends it.
        #[arg(long, value_name = "NAME")]
        retailer: String,
        /// Whose uploads these are: `partner_upload` (a portal or carrier: the retailer's
        /// routes action its returns), or `loop_upload` (Loop, which credits the customer
        /// itself when the hub's tracking events reach it: nothing else is sent for them).
        #[arg(long, default_value = "partner_upload", value_parser = returnhub_central::storage::UPLOAD_SOURCES)]
        source: String,
    },
    /// Connect a retailer to its Shopify shop: a custom app's Admin API access token, or with
    /// `--client-id` a Dev Dashboard app's client secret, is read from standard input and
    /// checked with Shopify (with the access scopes the retailer's settings need) before it
    /// is kept.
    ConnectShop {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        retailer: String,
        /// NAME.myshopify.com
        #[arg(long, value_name = "DOMAIN")]
        shop: String,
        /// A Dev Dashboard app's client ID: standard input is then its client secret, and
        /// tokens are asked for with both (the client credentials grant, 24 hours each).
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
    },
    /// Set the Shopify app this store installs on merchants' shops (the authorization code
    /// grant): its client ID, and its client secret read from standard input. The redirect
    /// URL is this store's callback as Shopify reaches it, and must be listed in the app's
    /// configuration in the Dev Dashboard; point the app's URL at /v1/shopify/install.
    ShopifyApp {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        client_id: String,
        /// https://CENTRAL/v1/shopify/callback
        #[arg(long, value_name = "URL")]
        redirect_url: String,
    },
    /// Start installing the app (set with shopify-app) on a retailer's shop: prints the link
    /// the shop's owner opens to approve it (good once, for an hour). On approval the store
    /// keeps the shop's expiring offline token, renews it by itself, and sends the
    /// retailer's actions to that shop.
    ShopInstall {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        retailer: String,
        /// NAME.myshopify.com
        #[arg(long, value_name = "DOMAIN")]
        shop: String,
    },
    /// Keep the secret Shopify signs the shop's webhooks with (read from standard input);
    /// orders/updated webhooks are then taken at POST /v1/shopify/orders-updated.
    ShopifyWebhookSecret {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        retailer: String,
    },
    /// Keep a partner's API key, password or token (read from standard input) after testing
    /// the retailer's connection as a hub admin set it on F5; this store then sends that
    /// retailer's partner actions.
    PartnerSecret {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        retailer: String,
        #[arg(long, value_parser = ["loop", "increff", "returns_prime"])]
        partner: String,
    },
    /// Keep the secret Loop signs the retailer's webhooks with (read from standard input);
    /// they are then taken, signature checked, at POST /v1/loop/webhook/ID.
    LoopWebhookSecret {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        retailer: String,
    },
    /// Keep the secret the retailer's Increff notifications are signed with (read from
    /// standard input); they are then taken at POST /v1/increff/webhook/ID.
    IncreffWebhookSecret {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        retailer: String,
    },
    /// Every retailer: id, name, currency, country, trigger.
    RetailerList {
        #[command(flatten)]
        store: DataDir,
    },
    /// A new retailer with the usual defaults; every hub gets it when it syncs.
    RetailerCreate {
        #[command(flatten)]
        store: DataDir,
        /// The retailer's id: lower-case letters, digits and dashes; fixed once it exists.
        #[arg(long)]
        id: String,
        /// The retailer's name, as partners send it.
        #[arg(long)]
        name: String,
        /// ISO 4217, as a code or a name ("NZD").
        #[arg(long)]
        currency: String,
        /// ISO 3166, as a code or a name ("New Zealand", "NZ").
        #[arg(long)]
        country: String,
        /// When the retailer's return actions fire.
        #[arg(long, value_enum, default_value_t = TriggerArg::Processing)]
        trigger: TriggerArg,
        /// A hub that serves the retailer (repeat for more): its admins may change it.
        #[arg(long = "hub", value_name = "HUB")]
        hubs: Vec<String>,
    },
    /// The hubs that serve a retailer: only their admins may change its configuration (a hub
    /// that creates a retailer serves it). With --hub, sets the list; without, prints it.
    RetailerHubs {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "ID")]
        retailer: String,
        #[arg(long = "hub", value_name = "HUB")]
        hubs: Vec<String>,
    },
    /// Create or edit a retailer from its whole form as JSON (the hub's retailer form's
    /// fields); rules, Shopify and partner settings are kept.
    RetailerSave {
        #[command(flatten)]
        store: DataDir,
        #[arg(long, value_name = "FORM.json")]
        file: PathBuf,
    },
    /// Pushed events this store keeps without applying them: from a newer Returnhub
    /// (needs_update: relayed, applied after this store's update), malformed, refused (the
    /// device may not do it) or unapplied (it breaks a rule of the stored data); the last
    /// three are kept here only. Id, device, hub, kind, version, state, held at, reason.
    HeldEvents {
        #[command(flatten)]
        store: DataDir,
        /// Judge the refused and unapplied ones again after a fix (a hub added with
        /// `retailer-hubs`, say) and take those that now apply; prints each one's outcome.
        #[arg(long)]
        retry: bool,
    },
    /// Print the code of the gift card a credit note action is issued as, for a supervisor
    /// whose customer calls: made from the action's key with this central store's own key
    /// (the key alone does not give it).
    GiftCardCode {
        #[command(flatten)]
        store: DataDir,
        /// The action's idempotency key (rh1-…, as F5 and the logs show it).
        #[arg(long, value_name = "KEY")]
        action: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum TriggerArg {
    FirstScan,
    Processing,
    Manual,
}

impl From<TriggerArg> for Trigger {
    fn from(t: TriggerArg) -> Trigger {
        match t {
            TriggerArg::FirstScan => Trigger::FirstScan,
            TriggerArg::Processing => Trigger::Processing,
            TriggerArg::Manual => Trigger::Manual,
        }
    }
}

/// Loop credits the returns it uploads only when the hub's tracking events reach it: says so
/// when the retailer sends none to Loop (an admin adds the URL on a hub's F5).
fn warn_without_loop_webhook(storage: &SqliteStorage, retailer: &str) -> Result<(), String> {
    let retailers = storage.retailers().map_err(|e| e.to_string())?;
    let Some(record) = retailers.iter().find(|r| r.name == retailer) else {
        eprintln!("note: no retailer is named '{retailer}' here yet (a hub syncs it)");
        return Ok(());
    };
    let to_loop = record
        .policy
        .partners
        .tracking_webhooks
        .iter()
        .any(|w| w.url.starts_with("https://api.loopreturns.com/"));
    if !to_loop {
        eprintln!(
            "warning: retailer '{retailer}' sends no tracking events to Loop: Loop issues no \
             credit for the returns it uploads until an admin adds \
             https://api.loopreturns.com/hook/v1/seko/update as a tracking webhook (F5)"
        );
    }
    Ok(())
}

fn now_ms() -> i64 {
    returnhub_sync::unix_now_ms()
}

fn main() -> ExitCode {
    // Usage errors, --help and --version exit here, before any logging.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RETURNHUB_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("returnhub-central: {message}");
            ExitCode::FAILURE
        }
    }
}

fn open(store: &DataDir) -> Result<SqliteStorage, String> {
    SqliteStorage::open(&store.data_dir).map_err(|e| e.to_string())
}

/// One line of standard input (a secret), without its line end.
fn secret_from_stdin(what: &str) -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the {what} from stdin: {e}"))?;
    Ok(line)
}

fn run(cli: Cli) -> Result<(), String> {
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    match command {
        Command::AddDevice { store, hub, name } => {
            let storage = open(&store)?;
            let name = name.unwrap_or_else(|| hub.clone());
            let token = storage
                .create_device(&hub, &name, now_ms())
                .map_err(|e| e.to_string())?;
            println!("{token}");
            eprintln!("device '{name}' of hub '{hub}' registered; give the token above to that device only (it is not shown again)");
            Ok(())
        }
        Command::DeviceList { store } => {
            for d in open(&store)?.devices().map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    d.id,
                    d.hub_id,
                    d.name,
                    d.bound_device_id.as_deref().unwrap_or("-"),
                    d.created_at,
                    d.revoked_at
                        .as_deref()
                        .map_or("active".to_string(), |at| format!("revoked {at}"))
                );
            }
            Ok(())
        }
        Command::UploadRefusals {
            store,
            since,
            limit,
        } => {
            let since = since
                .map(|t| {
                    returnhub_core::time::parse_rfc3339(&t)
                        .map(returnhub_core::time::rfc3339)
                        .ok_or_else(|| format!("--since {t:?} is not a time: give RFC 3339"))
                })
                .transpose()?;
            let refused = open(&store)?
                .upload_refusals(since.as_deref(), limit)
                .map_err(|e| e.to_string())?;
            for r in &refused {
                let errors: Vec<String> = r
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.received_at,
                    r.retailer_id,
                    r.key_id,
                    r.source,
                    r.row,
                    r.consignment_no,
                    r.order_number,
                    r.hub_id,
                    errors.join("; ")
                );
            }
            eprintln!("{} refused row(s)", refused.len());
            Ok(())
        }
        Command::DeviceRevoke { store, device } => {
            open(&store)?
                .revoke_device(&device, now_ms())
                .map_err(|e| e.to_string())?;
            eprintln!("device token {device} revoked: it is refused from now on");
            Ok(())
        }
        Command::DeviceRotate { store, device } => {
            let token = open(&store)?
                .rotate_device(&device)
                .map_err(|e| e.to_string())?;
            println!("{token}");
            eprintln!("device token {device} rotated: enter the token above on that device (F4); the old one is refused");
            Ok(())
        }
        Command::RetailerList { store } => {
            for r in open(&store)?.retailers().map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.name,
                    r.currency.code(),
                    r.country.as_deref().unwrap_or("-"),
                    r.policy.trigger.as_str()
                );
            }
            Ok(())
        }
        Command::GiftCardCode { store, action } => {
            let key = returnhub_core::trigger::IdempotencyKey::parse(action.trim())
                .ok_or_else(|| format!("{action:?} is not an action key (rh1-…)"))?;
            let secret = returnhub_central::shopify::vault(&store.data_dir)
                .load_or_create("gift-card-codes")
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                returnhub_connectors::shopify::gift_card_code(secret.as_bytes(), &key)
            );
            Ok(())
        }
        Command::HeldEvents { store, retry: true } => {
            let outcomes = open(&store)?
                .retry_held(now_ms())
                .map_err(|e| e.to_string())?;
            let taken = outcomes.iter().filter(|o| o.taken).count();
            for o in &outcomes {
                match &o.reason {
                    None => println!("{}\t{}\ttaken", o.id, o.kind),
                    Some(reason) => println!("{}\t{}\tstill held\t{reason}", o.id, o.kind),
                }
            }
            eprintln!("{taken} of {} held events taken", outcomes.len());
            Ok(())
        }
        Command::HeldEvents {
            store,
            retry: false,
        } => {
            for h in open(&store)?.held_events().map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}\tv{}\t{}\t{}\t{}",
                    h.id, h.device_id, h.hub_id, h.kind, h.version, h.state, h.held_at, h.reason
                );
            }
            Ok(())
        }
        Command::RetailerCreate {
            store,
            id,
            name,
            currency,
            country,
            trigger,
            hubs,
        } => {
            let form = RetailerForm {
                id,
                name,
                currency,
                country,
                trigger: trigger.into(),
                ..RetailerForm::blank()
            };
            let storage = open(&store)?;
            let id = form.id.trim().to_string();
            save_retailer(&storage, form, true)?;
            if !hubs.is_empty() {
                storage
                    .set_retailer_hubs(&id, &hubs)
                    .map_err(|e| e.to_string())?;
                eprintln!("served by {}", hubs.join(", "));
            }
            Ok(())
        }
        Command::RetailerHubs {
            store,
            retailer,
            hubs,
        } => {
            let storage = open(&store)?;
            if !hubs.is_empty() {
                storage
                    .set_retailer_hubs(&retailer, &hubs)
                    .map_err(|e| e.to_string())?;
            }
            for hub in storage
                .retailer_hubs(&retailer)
                .map_err(|e| e.to_string())?
            {
                println!("{hub}");
            }
            Ok(())
        }
        Command::RetailerSave { store, file } => {
            let path = file.display();
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {path}: {e}"))?;
            let form: RetailerForm = serde_json::from_str(&text)
                .map_err(|e| format!("{path} is not a retailer form: {e}"))?;
            save_retailer(&open(&store)?, form, false)
        }
        Command::AddApiKey {
            store,
            retailer,
            source,
        } => {
            let storage = open(&store)?;
            let key = storage
                .create_api_key_for(&retailer, &source, now_ms())
                .map_err(|e| e.to_string())?;
            println!("{key}");
            eprintln!("API key for retailer '{retailer}' created (it is not shown again)");
            if source == returnhub_core::partner::LOOP_UPLOAD {
                warn_without_loop_webhook(&storage, &retailer)?;
            }
            Ok(())
        }
        Command::ConnectShop {
            store,
            retailer,
            shop,
            client_id,
        } => {
            let storage = open(&store)?;
            let credentials = match client_id {
                Some(id) => returnhub_connectors::ShopCredentials::for_app(
                    &shop,
                    &id,
                    &secret_from_stdin("client secret")?,
                )?,
                None => returnhub_connectors::ShopCredentials::new(
                    &shop,
                    &secret_from_stdin("access token")?,
                )?,
            };
            let connection = returnhub_central::shopify::connect_shop(
                &storage,
                &returnhub_central::shopify::vault(&store.data_dir),
                &retailer,
                &credentials,
                now_ms(),
            )
            .map_err(|e| e.to_string())?;
            eprintln!(
                "retailer '{retailer}' connected to {} ({}); its actions are sent from this central store",
                connection.shop_name, connection.shop_domain
            );
            Ok(())
        }
        Command::ShopifyApp {
            store,
            client_id,
            redirect_url,
        } => {
            open(&store)?;
            let secret = secret_from_stdin("client secret")?;
            let app = returnhub_central::shopify::set_shopify_app(
                &returnhub_central::shopify::vault(&store.data_dir),
                &client_id,
                &secret,
                &redirect_url,
            )
            .map_err(|e| e.to_string())?;
            eprintln!(
                "Shopify app {} kept; Shopify sends merchants back to {}",
                app.client_id, app.redirect_url
            );
            Ok(())
        }
        Command::ShopInstall {
            store,
            retailer,
            shop,
        } => {
            let storage = open(&store)?;
            let link = returnhub_central::shopify::begin_install(
                &storage,
                &returnhub_central::shopify::vault(&store.data_dir),
                &retailer,
                &shop,
                now_ms(),
            )
            .map_err(|e| e.to_string())?;
            println!("{link}");
            eprintln!(
                "the shop's owner opens this link within an hour and approves Returnhub; \
                 retailer '{retailer}' is then connected"
            );
            Ok(())
        }
        Command::PartnerSecret {
            store,
            retailer,
            partner,
        } => {
            let storage = open(&store)?;
            let secret = secret_from_stdin("partner secret")?;
            let base_url = returnhub_central::shopify::set_partner_secret(
                &storage,
                &returnhub_central::shopify::vault(&store.data_dir),
                &retailer,
                &partner,
                secret.trim(),
            )?;
            eprintln!("{partner} answered at {base_url}: secret kept for retailer '{retailer}'");
            Ok(())
        }
        Command::LoopWebhookSecret { store, retailer } => {
            // Creates the directory, and refuses one that is not a central store's.
            open(&store)?;
            let secret = secret_from_stdin("webhook secret")?;
            returnhub_central::shopify::set_loop_webhook_secret(
                &returnhub_central::shopify::vault(&store.data_dir),
                &retailer,
                &secret,
            )
            .map_err(|e| e.to_string())?;
            eprintln!("Loop webhook secret kept for retailer '{retailer}'; point Loop's webhooks at /v1/loop/webhook/{retailer}");
            Ok(())
        }
        Command::IncreffWebhookSecret { store, retailer } => {
            // Creates the directory, and refuses one that is not a central store's.
            open(&store)?;
            let secret = secret_from_stdin("webhook secret")?;
            returnhub_central::increff::set_webhook_secret(
                &returnhub_central::shopify::vault(&store.data_dir),
                &retailer,
                &secret,
            )
            .map_err(|e| e.to_string())?;
            eprintln!("Increff webhook secret kept for retailer '{retailer}'; point Increff's notifications at /v1/increff/webhook/{retailer}");
            Ok(())
        }
        Command::ShopifyWebhookSecret { store, retailer } => {
            let storage = open(&store)?;
            let secret = secret_from_stdin("webhook secret")?;
            returnhub_central::shopify::set_webhook_secret(
                &storage,
                &returnhub_central::shopify::vault(&store.data_dir),
                &retailer,
                &secret,
            )
            .map_err(|e| e.to_string())?;
            eprintln!(
                "webhook secret kept for retailer '{retailer}'; point its shop's orders/updated webhook at {}",
                returnhub_central::api::SHOPIFY_ORDERS_UPDATED_PATH
            );
            Ok(())
        }
        Command::Serve(args) => serve(args),
    }
}

/// Creates (`create`) or saves a retailer from its form, checked against the others.
fn save_retailer(storage: &SqliteStorage, form: RetailerForm, create: bool) -> Result<(), String> {
    let all = storage.retailers().map_err(|e| e.to_string())?;
    let existing = all.iter().find(|r| r.id == form.id.trim());
    if create && existing.is_some() {
        return Err(format!(
            "there is already a retailer {} (use retailer-save to edit it)",
            form.id.trim()
        ));
    }
    let others: Vec<_> = all
        .iter()
        .filter(|r| Some(*r) != existing)
        .cloned()
        .collect();
    let record =
        returnhub_core::retailer::build_record(&form, existing, &others).map_err(|issues| {
            let lines: Vec<String> = issues.iter().map(|i| format!("  {i}")).collect();
            format!("the retailer was not saved:\n{}", lines.join("\n"))
        })?;
    storage
        .configure_retailer(&record, now_ms())
        .map_err(|e| e.to_string())?;
    eprintln!(
        "retailer '{}' ({}) {}; every hub gets it when it syncs",
        record.id,
        record.name,
        if existing.is_some() {
            "saved"
        } else {
            "created"
        }
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let data_dir = args
        .data_dir
        .ok_or("--data-dir is required: the store's directory")?;
    let storage = SqliteStorage::open(&data_dir).map_err(|e| e.to_string())?;
    let listen = args.listen;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        tracing::info!(listen = %listen, data = %storage.path().display(), "central store serving");
        let storage: Arc<dyn CentralStorage> = Arc::new(storage);
        // The one dispatcher of every action: claims go to the retailers' shops.
        let _dispatch = returnhub_central::shopify::start(
            storage.clone(),
            returnhub_central::shopify::vault(&data_dir),
            Arc::new(now_ms),
            returnhub_connectors::ClientOptions::default(),
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
        let state = AppState {
            storage,
            clock: Arc::new(now_ms),
            shop_secrets: Some(Arc::new(returnhub_central::shopify::vault(&data_dir))),
            shopify_client: returnhub_connectors::ClientOptions::default(),
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        returnhub_central::serve(listener, state, shutdown)
            .await
            .map_err(|e| e.to_string())
    })
}
