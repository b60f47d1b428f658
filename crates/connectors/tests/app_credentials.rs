//! Signing in as Shopify allows in 2026: a Dev Dashboard app's client ID and secret get a
//! token with the client credentials grant (24 hours each, asked for again before it expires
//! and when the shop refuses it), beside a custom app's static token; and the access scopes
//! the retailer's settings need are checked on connect, each missing one named.

use returnhub_simulators as support;

use std::sync::Arc;
use std::time::Duration;

use returnhub_connectors::graphql::GraphqlError;
use returnhub_connectors::{
    scopes_needed, verify_credentials, ClientOptions, ShopCredentials, ShopifyClient, SystemClock,
};
use returnhub_core::trigger::{CreditNoteVia, ExchangeVia, ShopifyPolicy};
use support::rt;
use support::simulator::{Simulator, CLIENT_ID, CLIENT_SECRET, TOKEN};

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        max_retries: 0,
        ..ClientOptions::default()
    }
}

fn app(sim: &Simulator) -> ShopCredentials {
    ShopCredentials::for_app(&sim.base(), CLIENT_ID, CLIENT_SECRET).unwrap()
}

#[test]
fn an_apps_token_is_asked_for_once_then_again_before_it_expires_and_after_a_refusal() {
    let sim = Simulator::start("Kōwhai");
    sim.ledger().app_token_lifetime = Duration::from_secs(2);
    let client = ShopifyClient::new(&app(&sim), Arc::new(SystemClock), options()).unwrap();
    let issued = || sim.ledger().app_tokens.len();
    assert_eq!(rt().block_on(client.shop_name()).unwrap(), "Kōwhai");
    assert_eq!(rt().block_on(client.shop_name()).unwrap(), "Kōwhai");
    assert_eq!(issued(), 1, "one token while it is fresh");
    // Half its life gone: a new one before it runs out.
    std::thread::sleep(Duration::from_millis(1_200));
    rt().block_on(client.shop_name()).unwrap();
    assert_eq!(issued(), 2);
    // The shop stops taking it (a rotated secret, an early expiry): a 401, a new token, and
    // the same request again, once.
    sim.revoke_app_tokens();
    rt().block_on(client.shop_name()).unwrap();
    assert_eq!(issued(), 1, "the new one");
    assert_eq!(sim.ledger().invalid_documents, 0);
}

#[test]
fn a_wrong_client_secret_is_refused_with_the_reason() {
    let sim = Simulator::start("Kōwhai");
    let wrong = ShopCredentials::for_app(&sim.base(), CLIENT_ID, "shpss_not_the_secret").unwrap();
    let client = ShopifyClient::new(&wrong, Arc::new(SystemClock), options()).unwrap();
    match rt().block_on(client.shop_name()) {
        Err(GraphqlError::Refused { message, .. }) => {
            assert!(
                message.contains("refused the app's client ID and secret"),
                "{message}"
            );
            assert!(
                message.contains("Client authentication failed"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(sim.ledger().app_tokens.is_empty());
}

#[test]
fn every_scope_the_retailers_settings_need_is_checked_and_each_missing_one_named() {
    let sim = Simulator::start("Kōwhai");
    let verify = |credentials: &ShopCredentials, policy: &ShopifyPolicy| {
        rt().block_on(verify_credentials(
            credentials,
            Arc::new(SystemClock),
            options(),
            &scopes_needed(policy),
        ))
    };
    let static_token = ShopCredentials::new(&sim.base(), TOKEN).unwrap();
    let default = ShopifyPolicy::default();
    assert_eq!(verify(&static_token, &default).unwrap(), "Kōwhai");
    assert_eq!(verify(&app(&sim), &default).unwrap(), "Kōwhai");
    // A shop that granted orders only (write_orders includes read_orders).
    sim.ledger().granted_scopes = vec!["write_orders".into()];
    sim.revoke_app_tokens();
    for credentials in [&static_token, &app(&sim)] {
        let message = match verify(credentials, &default) {
            Err(GraphqlError::Refused { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert!(!message.contains("read_orders"), "{message}");
        for missing in [
            "write_gift_cards (credit notes as gift cards)",
            "write_customers",
            "write_merchant_managed_fulfillment_orders (releasing an exchange's hold)",
        ] {
            assert!(message.contains(missing), "{missing} in {message}");
        }
    }
    // A retailer that credits to store credit and exchanges through returns needs other ones.
    let other = ShopifyPolicy {
        credit_note: CreditNoteVia::StoreCredit,
        exchange: ExchangeVia::ReturnProcess,
        ..ShopifyPolicy::default()
    };
    sim.ledger().granted_scopes = vec!["write_orders".into(), "write_returns".into()];
    assert_eq!(verify(&static_token, &other).unwrap(), "Kōwhai");
}

/// An install's code, as Shopify's authorize page hands it to the redirect URI.
fn installed(sim: &Simulator) -> ShopCredentials {
    use returnhub_connectors::{oauth, Clock};
    let redirect = "http://127.0.0.1:9/v1/shopify/callback";
    sim.allow_redirect(redirect);
    let link = oauth::authorize_url(
        &sim.base(),
        CLIENT_ID,
        &["read_orders", "write_orders"],
        redirect,
        "st4te",
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = rt().block_on(async {
        let answer = browser.get(&link).send().await.unwrap();
        answer.headers()["location"].to_str().unwrap().to_owned()
    });
    let query = oauth::parse_query(back.split_once('?').unwrap().1);
    let now = SystemClock.now_ms();
    assert_eq!(
        oauth::verify_query(&query, CLIENT_SECRET.as_bytes(), now),
        Ok(())
    );
    assert_eq!(oauth::param(&query, "state"), Some("st4te"));
    let code = oauth::param(&query, "code").unwrap();
    let app = returnhub_connectors::AppCredentials::new(CLIENT_ID, CLIENT_SECRET).unwrap();
    let (credentials, scopes) = rt()
        .block_on(oauth::exchange_code(
            &sim.base(),
            &app,
            code,
            now,
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(scopes, ["read_orders", "write_orders"]);
    // A code is good once.
    let again = rt().block_on(oauth::exchange_code(
        &sim.base(),
        &app,
        code,
        now,
        Duration::from_secs(5),
    ));
    assert!(again.unwrap_err().contains("already used"));
    credentials
}

#[test]
fn an_installs_expired_token_is_renewed_before_the_request_and_the_new_pair_handed_over() {
    use returnhub_connectors::Clock;
    let sim = Simulator::start("Kōwhai");
    let mut credentials = installed(&sim);
    let grant = credentials.refresh.clone().unwrap();
    assert!(credentials.app.is_some());
    // Kept an hour ago: the token it holds has expired, so the client renews first rather
    // than spend a request on a 401.
    credentials.refresh.as_mut().unwrap().expires_at = SystemClock.now_ms() - 1;
    let handed: Arc<std::sync::Mutex<Vec<ShopCredentials>>> = Arc::default();
    let keep = handed.clone();
    let client = ShopifyClient::new(&credentials, Arc::new(SystemClock), options())
        .unwrap()
        .on_renewed(Arc::new(move |c: &ShopCredentials| {
            keep.lock().unwrap().push(c.clone())
        }));
    let before = sim.ledger().operations.len();
    assert_eq!(rt().block_on(client.shop_name()).unwrap(), "Kōwhai");
    assert_eq!(sim.ledger().refreshes, 1);
    assert_eq!(
        sim.ledger().operations.len(),
        before + 1,
        "one GraphQL request"
    );
    let handed = handed.lock().unwrap();
    assert_eq!(handed.len(), 1);
    let renewed = handed[0].refresh.as_ref().unwrap();
    assert_ne!(renewed.refresh_token, grant.refresh_token);
    assert_eq!(renewed.scopes, ["read_orders", "write_orders"]);
    // The scopes the install granted are what a connect checks.
    assert_eq!(
        rt().block_on(client.granted_scopes()).unwrap(),
        ["read_orders", "write_orders"]
    );
}
