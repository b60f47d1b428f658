//! Installing Returnhub's app on a merchant's shop (Shopify's authorization code grant) through
//! the central store's install and callback endpoints, against the Shopify simulator's
//! authorize page and token endpoint as Shopify documents them: the callback's signature and
//! state are checked, a link works once and for an hour, the shop must be the one the install
//! was made for, the scopes the retailer needs must be granted, and the expiring offline token
//! is renewed with its refresh token and the new one kept.

mod support;

use returnhub_simulators as shopify;

use std::sync::Arc;

use returnhub_central::api::{SHOPIFY_CALLBACK_PATH, SHOPIFY_INSTALL_PATH};
use returnhub_central::shopify::{begin_install, set_shopify_app, shop_client, vault};
use returnhub_central::storage::CentralStorage;
use returnhub_connectors::{ClientOptions, ShopCredentials};
use returnhub_core::trigger::Trigger;
use returnhub_secrets::SecretVault;
use shopify::simulator::{Simulator, CLIENT_ID, CLIENT_SECRET};
use support::*;

struct World {
    _tmp: tempfile::TempDir,
    central: Central,
    clock: SimClock,
    sim: Simulator,
    vault: SecretVault,
    browser: reqwest::Client,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A central store (its clock at wall time: Shopify's signed timestamps are) that knows the
/// retailer `bolt`, with the simulator's app set for installs.
async fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    clock
        .0
        .store(wall_ms(), std::sync::atomic::Ordering::SeqCst);
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    central
        .storage
        .configure_retailer(
            &retailer("bolt", "Bolt Outdoor", Trigger::Processing),
            clock.now(),
        )
        .unwrap();
    let sim = Simulator::start("Bolt Outdoor");
    let callback = format!("{}{SHOPIFY_CALLBACK_PATH}", central.url());
    sim.allow_redirect(&callback);
    let vault = vault(&central.dir);
    set_shopify_app(&vault, CLIENT_ID, CLIENT_SECRET, &callback).unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    World {
        _tmp: tmp,
        central,
        clock,
        sim,
        vault,
        browser,
    }
}

impl World {
    /// The link the hub's admin gives the shop's owner.
    fn link(&self, now: i64) -> String {
        begin_install(
            self.central.storage.as_ref(),
            &self.vault,
            "bolt",
            &self.sim.base(),
            now,
        )
        .unwrap()
    }

    /// The owner approves at Shopify: where Shopify sends the browser back to.
    async fn approve(&self, link: &str) -> String {
        let answer = self.browser.get(link).send().await.unwrap();
        assert_eq!(answer.status(), 302, "{:?}", answer.text().await);
        answer.headers()["location"].to_str().unwrap().to_owned()
    }

    /// The browser arrives at `url`: (status, page text).
    async fn open(&self, url: &str) -> (u16, String) {
        let answer = self.browser.get(url).send().await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    fn kept(&self) -> ShopCredentials {
        serde_json::from_str(&self.vault.load("shopify-bolt").unwrap()).unwrap()
    }
}

/// The query of a callback URL with `name` set to `value`, its hmac left as it was.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let pairs: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k == name => format!("{k}={value}"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_install_connects_the_shop_once_and_its_token_renews_itself() {
    let w = world().await;
    let link = w.link(w.clock.now());
    let back = w.approve(&link).await;
    assert!(back.starts_with(&format!("{}{SHOPIFY_CALLBACK_PATH}?", w.central.url())));

    let (status, page) = w.open(&back).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("connected to Bolt Outdoor"), "{page}");
    let connections = w.central.storage.shop_connections().unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].retailer_id, "bolt");
    assert_eq!(connections[0].shop_domain, w.sim.base());

    // An expiring offline token with its refresh token, kept as a secret (never in a table).
    let kept = w.kept();
    let first = kept.refresh.clone().expect("an expiring offline token");
    assert!(first.expires_at > w.clock.now() + 50 * 60 * 1000);
    assert!(first.scopes.iter().any(|s| s == "write_orders"));
    assert_eq!(w.sim.ledger().codes_exchanged, 1);

    // The same callback again (a reload, or someone replaying it): refused, nothing changes.
    let (status, page) = w.open(&back).await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("used already"), "{page}");
    assert_eq!(w.sim.ledger().codes_exchanged, 1);
    assert_eq!(w.kept(), kept);

    // The dispatcher's client uses the token it was given until Shopify refuses it, then
    // renews it with the refresh token and keeps the new pair.
    let client = shop_client(&w.vault, "bolt", &kept, ClientOptions::default()).unwrap();
    assert_eq!(client.shop_name().await.unwrap(), "Bolt Outdoor");
    assert_eq!(w.sim.ledger().refreshes, 0);
    w.sim.revoke_app_tokens();
    assert_eq!(client.shop_name().await.unwrap(), "Bolt Outdoor");
    assert_eq!(w.sim.ledger().refreshes, 1);
    let renewed = w.kept();
    let second = renewed.refresh.clone().unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(renewed.access_token, kept.access_token);

    // The next pass builds its client from what was kept and shares the install's renewal
    // state with the clients before it: one renewal, with the newest refresh token.
    w.sim.revoke_app_tokens();
    let next = shop_client(&w.vault, "bolt", &renewed, ClientOptions::default()).unwrap();
    assert_eq!(next.shop_name().await.unwrap(), "Bolt Outdoor");
    assert_eq!(w.sim.ledger().refreshes, 2);
    // Even a client made from credentials kept before the renewals (a vault write that
    // failed, say) renews with the newest refresh token, never spends a retired one.
    w.sim.revoke_app_tokens();
    let stale_vault = SecretVault::new(
        "returnhub-central-stale",
        &w.central.dir.join("stale"),
        returnhub_secrets::Backend::FileOnly,
    );
    let stale = shop_client(&stale_vault, "bolt", &kept, ClientOptions::default()).unwrap();
    assert_eq!(stale.shop_name().await.unwrap(), "Bolt Outdoor");
    assert_eq!(w.sim.ledger().refreshes, 3);
    // The merchant uninstalls the app: renewing is refused with what to do.
    w.sim.uninstall();
    let refused = stale.shop_name().await.unwrap_err();
    assert!(
        refused.message().contains("install it on the shop again"),
        "{refused}"
    );

    // The dispatcher serves the retailer through the installed shop.
    let storage: Arc<dyn CentralStorage> = w.central.storage.clone();
    let vault = w.vault.clone();
    let dispatcher = tokio::task::spawn_blocking(move || {
        returnhub_central::shopify::ShopifyDispatcher::new(
            storage,
            &vault,
            ClientOptions::default(),
        )
        .unwrap()
        .is_empty()
    })
    .await
    .unwrap();
    assert!(!dispatcher, "the installed shop is a target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_changed_old_and_foreign_callbacks_connect_nothing() {
    let w = world().await;
    let callback = format!("{}{SHOPIFY_CALLBACK_PATH}", w.central.url());

    // Changed on the way: the signature no longer matches.
    let back = w.approve(&w.link(w.clock.now())).await;
    for changed in [
        with_param(&back, "shop", "other.myshopify.com"),
        with_param(&back, "code", "0000"),
        with_param(&back, "hmac", &"0".repeat(64)),
    ] {
        let (status, page) = w.open(&changed).await;
        assert_eq!(status, 401, "{changed}: {page}");
        assert!(page.contains("did not come from Shopify"), "{page}");
    }
    // Unsigned.
    let (status, _) = w.open(&format!("{callback}?code=1&shop=x&state=y")).await;
    assert_eq!(status, 401);
    // Signed by Shopify but with a state this store never made (another install's callback
    // pointed here, or a state guessed).
    let forged = Simulator::signed_query(&[
        ("code".into(), "c0de".into()),
        ("shop".into(), w.sim.base()),
        ("state".into(), "0".repeat(64)),
        ("timestamp".into(), (wall_ms() / 1000).to_string()),
    ]);
    let (status, page) = w.open(&format!("{callback}?{forged}")).await;
    assert_eq!(status, 401, "{page}");
    // The genuine callback still works after all that: each refusal took nothing.
    let (status, page) = w.open(&back).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(w.sim.ledger().codes_exchanged, 1);

    // A link made more than an hour ago: refused even though Shopify signs the callback.
    let w = world().await;
    let old = w.link(w.clock.now() - 61 * 60 * 1000);
    let back = w.approve(&old).await;
    let (status, page) = w.open(&back).await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("more than an hour old"), "{page}");
    assert_eq!(w.sim.ledger().codes_exchanged, 0);
    assert!(w.central.storage.shop_connections().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_that_grants_too_few_scopes_is_not_connected_and_the_scope_is_named() {
    let w = world().await;
    w.sim.ledger().install_grants = Some(vec!["read_orders".into()]);
    let back = w.approve(&w.link(w.clock.now())).await;
    let (status, page) = w.open(&back).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("write_orders"), "{page}");
    assert!(w.central.storage.shop_connections().unwrap().is_empty());
    assert!(w.vault.load("shopify-bolt").is_err(), "no token kept");
}

/// The app's URL: Shopify sends a signed install request when the owner installs from a link
/// Shopify made; it continues the install the hub's admin started for that shop, and only
/// that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopifys_install_request_continues_the_install_under_way_for_that_shop() {
    let w = world().await;
    let install = format!("{}{SHOPIFY_INSTALL_PATH}", w.central.url());
    let signed = |shop: &str| {
        Simulator::signed_query(&[
            (
                "host".into(),
                "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUva293aGFp".into(),
            ),
            ("shop".into(), shop.to_owned()),
            ("timestamp".into(), (wall_ms() / 1000).to_string()),
        ])
    };
    // No install under way for the shop: a retailer is never tied to a shop by a request.
    let (status, page) = w
        .open(&format!("{install}?{}", signed(&w.sim.base())))
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("shop-install"), "{page}");

    w.link(w.clock.now());
    // Unsigned, or for another shop: refused.
    let (status, _) = w
        .open(&format!("{install}?shop={}&timestamp=1", w.sim.base()))
        .await;
    assert_eq!(status, 401);
    let (status, _) = w
        .open(&format!("{install}?{}", signed("other.myshopify.com")))
        .await;
    assert_eq!(status, 422);

    let answer = w
        .browser
        .get(format!("{install}?{}", signed(&w.sim.base())))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let authorize = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(&format!("{}/admin/oauth/authorize?", w.sim.base())));
    let back = w.approve(&authorize).await;
    let (status, page) = w.open(&back).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(w.central.storage.shop_connections().unwrap().len(), 1);
}

/// The CLI: the app is set with its secret on standard input, a redirect URL that is not this
/// store's callback is refused, and shop-install prints the link for a known retailer only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_the_app_and_prints_an_install_link() {
    let w = world().await;
    let run = |args: &[&str], stdin: &str| cli_with_stdin(&w.central.dir, args, stdin);
    let wrong = run(
        &[
            "shopify-app",
            "--client-id",
            CLIENT_ID,
            "--redirect-url",
            "https://central.example/elsewhere",
        ],
        CLIENT_SECRET,
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("/v1/shopify/callback"));
    let plain = run(
        &[
            "shopify-app",
            "--client-id",
            CLIENT_ID,
            "--redirect-url",
            "http://central.example/v1/shopify/callback",
        ],
        CLIENT_SECRET,
    );
    assert!(!plain.status.success(), "plain http off this machine");
    let set = run(
        &[
            "shopify-app",
            "--client-id",
            CLIENT_ID,
            "--redirect-url",
            "https://central.example/v1/shopify/callback",
        ],
        CLIENT_SECRET,
    );
    assert!(set.status.success(), "{set:?}");
    let unknown = run(
        &["shop-install", "--retailer", "nobody", "--shop", "bolt"],
        "",
    );
    assert!(!unknown.status.success());
    // A custom domain is not where Shopify says the shop is: the install could never end.
    let custom = run(
        &[
            "shop-install",
            "--retailer",
            "bolt",
            "--shop",
            "https://shop.bolt.example",
        ],
        "",
    );
    assert!(!custom.status.success());
    assert!(String::from_utf8_lossy(&custom.stderr).contains("myshopify.com"));
    let link = run(
        &["shop-install", "--retailer", "bolt", "--shop", "bolt"],
        "",
    );
    assert!(link.status.success(), "{link:?}");
    let link = String::from_utf8(link.stdout).unwrap();
    let (base, query) = link.trim().split_once('?').unwrap();
    assert_eq!(base, "https://bolt.myshopify.com/admin/oauth/authorize");
    let query = returnhub_connectors::oauth::parse_query(query);
    let param = |n| {
        returnhub_connectors::oauth::param(&query, n)
            .unwrap()
            .to_owned()
    };
    assert_eq!(param("client_id"), CLIENT_ID);
    assert_eq!(
        param("redirect_uri"),
        "https://central.example/v1/shopify/callback"
    );
    assert!(param("scope").contains("write_orders"));
    assert_eq!(param("state").len(), 64);
    // The secret went to the vault, not to the command line or the output.
    assert!(!String::from_utf8_lossy(&set.stderr).contains(CLIENT_SECRET));
}
