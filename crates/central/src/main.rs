//! `returnhub-central`: the central return store.
//!
//! ```text
//! returnhub-central --data-dir DIR --listen 127.0.0.1:8787      serve (same as `serve ...`)
//! returnhub-central add-device --data-dir DIR --hub HUB [--name NAME]   print a device token
//! returnhub-central add-api-key --data-dir DIR --retailer NAME          print a partner key
//! returnhub-central connect-shop --data-dir DIR --retailer ID --shop DOMAIN   token on stdin
//! returnhub-central shopify-webhook-secret --data-dir DIR --retailer ID     secret on stdin
//! returnhub-central partner-secret --data-dir DIR --retailer ID --partner P  secret on stdin
//! returnhub-central loop-webhook-secret --data-dir DIR --retailer ID        secret on stdin
//! returnhub-central increff-webhook-secret --data-dir DIR --retailer ID     secret on stdin
//! returnhub-central device-list --data-dir DIR                              list device tokens
//! returnhub-central device-revoke --data-dir DIR --device ID                stop a token
//! returnhub-central device-rotate --data-dir DIR --device ID                print a new one
//! returnhub-central retailer-list --data-dir DIR                            list retailers
//! returnhub-central retailer-create --data-dir DIR --id ID --name NAME --currency C --country X
//! returnhub-central retailer-save --data-dir DIR --file FORM.json           create or edit
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use returnhub_central::{AppState, CentralStorage, SqliteStorage};
use returnhub_core::retailer::RetailerForm;
use returnhub_core::trigger::Trigger;

const USAGE: &str = "usage:
  returnhub-central [serve] --data-dir DIR [--listen ADDR]   (ADDR defaults to 127.0.0.1:8787)
  returnhub-central add-device --data-dir DIR --hub HUB [--name NAME]
  returnhub-central add-api-key --data-dir DIR --retailer NAME
  returnhub-central connect-shop --data-dir DIR --retailer ID --shop NAME.myshopify.com
      (reads the Admin API access token from stdin; checks it with Shopify before keeping it)
  returnhub-central shopify-webhook-secret --data-dir DIR --retailer ID
      (reads the secret Shopify signs the shop's webhooks with from stdin; orders/updated
       webhooks are then taken at POST /v1/shopify/orders-updated)
  returnhub-central partner-secret --data-dir DIR --retailer ID --partner loop|increff|returns_prime
      (reads the partner's API key / password / token from stdin and tests the retailer's
       connection, as a hub admin set it on F5, before keeping it; the central store then
       sends that retailer's partner actions)
  returnhub-central loop-webhook-secret --data-dir DIR --retailer ID
      (reads the secret Loop signs the retailer's webhooks with from stdin; Loop's
       return.closed / return.processing.failed webhooks are then taken, signature checked,
       at POST /v1/loop/webhook/ID)
  returnhub-central increff-webhook-secret --data-dir DIR --retailer ID
      (reads the secret the retailer's Increff notifications are signed with from stdin;
       RETURN_PICKED_UP / RTO are then taken, signature checked, at POST /v1/increff/webhook/ID,
       and forwarded by the return's hub to the retailer's tracking webhook URLs)
  returnhub-central device-list --data-dir DIR
      (every device token: id, hub, name, the store it is bound to, created, revoked)
  returnhub-central device-revoke --data-dir DIR --device ID
      (the token stops authenticating at once, for good: a stolen or retired PC)
  returnhub-central device-rotate --data-dir DIR --device ID
      (prints a new token for the same device; the old one stops working)
  returnhub-central retailer-list --data-dir DIR
  returnhub-central retailer-create --data-dir DIR --id ID --name NAME --currency CODE
      --country COUNTRY [--trigger first_scan|processing|manual]
      (a new retailer with the usual defaults; every hub gets it when it syncs)
  returnhub-central retailer-save --data-dir DIR --file FORM.json
      (a retailer's whole form as JSON, the hub's retailer form's fields: creates it, or edits
       the retailer with that id; rules, Shopify and partner settings are kept)";

/// The flags each command takes; any other is refused (a mistyped flag must not be ignored).
fn allowed_flags(command: &str) -> &'static [&'static str] {
    match command {
        "add-device" => &["data-dir", "hub", "name"],
        "add-api-key" => &["data-dir", "retailer"],
        "connect-shop" => &["data-dir", "retailer", "shop"],
        "partner-secret" => &["data-dir", "retailer", "partner"],
        "shopify-webhook-secret" | "loop-webhook-secret" | "increff-webhook-secret" => {
            &["data-dir", "retailer"]
        }
        "retailer-list" | "device-list" => &["data-dir"],
        "device-revoke" | "device-rotate" => &["data-dir", "device"],
        "retailer-create" => &["data-dir", "id", "name", "currency", "country", "trigger"],
        "retailer-save" => &["data-dir", "file"],
        _ => &["data-dir", "listen"],
    }
}

fn now_ms() -> i64 {
    returnhub_sync::unix_now_ms()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RETURNHUB_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("returnhub-central: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (command, rest) = match args.first().map(String::as_str) {
        Some(
            "serve"
            | "add-device"
            | "add-api-key"
            | "connect-shop"
            | "shopify-webhook-secret"
            | "partner-secret"
            | "loop-webhook-secret"
            | "increff-webhook-secret"
            | "retailer-list"
            | "device-list"
            | "device-revoke"
            | "device-rotate"
            | "retailer-create"
            | "retailer-save",
        ) => (args[0].clone(), &args[1..]),
        Some("--help" | "-h") => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => ("serve".to_string(), &args[..]),
    };
    let mut opts = std::collections::HashMap::new();
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument '{flag}'\n{USAGE}"))?;
        if !allowed_flags(&command).contains(&name) {
            return Err(format!("{command} takes no --{name}\n{USAGE}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
        if opts.insert(name.to_string(), value.clone()).is_some() {
            return Err(format!("--{name} is given twice"));
        }
    }
    let need = |k: &str| {
        opts.get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required\n{USAGE}"))
    };
    let data_dir = PathBuf::from(need("data-dir")?);
    let storage = SqliteStorage::open(&data_dir).map_err(|e| e.to_string())?;
    match command.as_str() {
        "add-device" => {
            let hub = need("hub")?;
            let name = opts.get("name").cloned().unwrap_or_else(|| hub.clone());
            let token = storage
                .create_device(&hub, &name, now_ms())
                .map_err(|e| e.to_string())?;
            println!("{token}");
            eprintln!("device '{name}' of hub '{hub}' registered; give the token above to that device only (it is not shown again)");
            Ok(())
        }
        "device-list" => {
            for d in storage.devices().map_err(|e| e.to_string())? {
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
        "device-revoke" => {
            let id = need("device")?;
            storage
                .revoke_device(&id, now_ms())
                .map_err(|e| e.to_string())?;
            eprintln!("device token {id} revoked: it is refused from now on");
            Ok(())
        }
        "device-rotate" => {
            let id = need("device")?;
            let token = storage.rotate_device(&id).map_err(|e| e.to_string())?;
            println!("{token}");
            eprintln!("device token {id} rotated: enter the token above on that device (F4); the old one is refused");
            Ok(())
        }
        "retailer-list" => {
            for r in storage.retailers().map_err(|e| e.to_string())? {
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
        "retailer-create" | "retailer-save" => {
            let (form, create) = if command == "retailer-save" {
                let path = need("file")?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                let form: RetailerForm = serde_json::from_str(&text)
                    .map_err(|e| format!("{path} is not a retailer form: {e}"))?;
                (form, false)
            } else {
                let trigger = match opts.get("trigger").map(String::as_str) {
                    None | Some("processing") => Trigger::Processing,
                    Some("first_scan") => Trigger::FirstScan,
                    Some("manual") => Trigger::Manual,
                    Some(other) => {
                        return Err(format!(
                            "'{other}' is not a trigger: first_scan, processing or manual"
                        ))
                    }
                };
                let form = RetailerForm {
                    id: need("id")?,
                    name: need("name")?,
                    currency: need("currency")?,
                    country: need("country")?,
                    trigger,
                    ..RetailerForm::blank()
                };
                (form, true)
            };
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
            let record = returnhub_core::retailer::build_record(&form, existing, &others).map_err(
                |issues| {
                    let lines: Vec<String> = issues.iter().map(|i| format!("  {i}")).collect();
                    format!("the retailer was not saved:\n{}", lines.join("\n"))
                },
            )?;
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
        "add-api-key" => {
            let retailer = need("retailer")?;
            let key = storage
                .create_api_key(&retailer, now_ms())
                .map_err(|e| e.to_string())?;
            println!("{key}");
            eprintln!("API key for retailer '{retailer}' created (it is not shown again)");
            Ok(())
        }
        "connect-shop" => {
            let retailer = need("retailer")?;
            let shop = need("shop")?;
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .map_err(|e| format!("cannot read the access token from stdin: {e}"))?;
            let credentials = returnhub_connectors::ShopCredentials::new(&shop, &token)?;
            let connection = returnhub_central::shopify::connect_shop(
                &storage,
                &returnhub_central::shopify::vault(&data_dir),
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
        "partner-secret" => {
            let retailer = need("retailer")?;
            let partner = need("partner")?;
            let mut secret = String::new();
            std::io::stdin()
                .read_line(&mut secret)
                .map_err(|e| format!("cannot read the partner secret from stdin: {e}"))?;
            let base_url = returnhub_central::shopify::set_partner_secret(
                &storage,
                &returnhub_central::shopify::vault(&data_dir),
                &retailer,
                &partner,
                secret.trim(),
            )?;
            eprintln!("{partner} answered at {base_url}: secret kept for retailer '{retailer}'");
            Ok(())
        }
        "loop-webhook-secret" => {
            let retailer = need("retailer")?;
            let mut secret = String::new();
            std::io::stdin()
                .read_line(&mut secret)
                .map_err(|e| format!("cannot read the webhook secret from stdin: {e}"))?;
            returnhub_central::shopify::set_loop_webhook_secret(
                &returnhub_central::shopify::vault(&data_dir),
                &retailer,
                &secret,
            )
            .map_err(|e| e.to_string())?;
            eprintln!("Loop webhook secret kept for retailer '{retailer}'; point Loop's webhooks at /v1/loop/webhook/{retailer}");
            Ok(())
        }
        "increff-webhook-secret" => {
            let retailer = need("retailer")?;
            let mut secret = String::new();
            std::io::stdin()
                .read_line(&mut secret)
                .map_err(|e| format!("cannot read the webhook secret from stdin: {e}"))?;
            returnhub_central::increff::set_webhook_secret(
                &returnhub_central::shopify::vault(&data_dir),
                &retailer,
                &secret,
            )
            .map_err(|e| e.to_string())?;
            eprintln!("Increff webhook secret kept for retailer '{retailer}'; point Increff's notifications at /v1/increff/webhook/{retailer}");
            Ok(())
        }
        "shopify-webhook-secret" => {
            let retailer = need("retailer")?;
            let mut secret = String::new();
            std::io::stdin()
                .read_line(&mut secret)
                .map_err(|e| format!("cannot read the webhook secret from stdin: {e}"))?;
            returnhub_central::shopify::set_webhook_secret(
                &storage,
                &returnhub_central::shopify::vault(&data_dir),
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
        _ => {
            let listen = opts
                .get("listen")
                .cloned()
                .unwrap_or_else(|| "127.0.0.1:8787".into());
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
    }
}
