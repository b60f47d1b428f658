//! Installing Returnhub's app on a merchant's shop: Shopify's authorization code grant, as the
//! central store runs it for shops outside its own organisation (where the client credentials
//! grant does not reach).
//!
//! 1. The central store sends the merchant to [`authorize_url`] with a `state` it keeps.
//! 2. Shopify sends the merchant back to the redirect URI with `code`, `shop`, `state`,
//!    `timestamp` and `hmac`: the hex HMAC-SHA256, under the app's client secret, of the other
//!    parameters sorted by name and form-encoded ([`verify_query`], constant time).
//! 3. The code is exchanged for an offline token at `/admin/oauth/access_token`
//!    ([`exchange_code`]), asking for an expiring one (`expiring=1`): an hour, with a refresh
//!    token that renews it ([`crate::credentials::RefreshGrant`]). Public apps must use them
//!    from 2027; a shop that answers with a non-expiring token is kept as a static token.

use std::time::Duration;

use hmac::{Hmac, Mac};
use returnhub_core::time::UnixMillis;
use serde_json::Value;
use sha2::Sha256;

use crate::credentials::{AppCredentials, RefreshGrant, ShopCredentials};

/// How long a merchant has between the install link and approving it.
pub const STATE_LIFETIME_MS: i64 = 60 * 60 * 1000;
/// How far a signed request's `timestamp` may be from this clock.
pub const TIMESTAMP_SKEW_MS: i64 = 60 * 60 * 1000;

/// The base URL of a shop: `https://{domain}`, or the `http(s)://` base it already is (a
/// simulator on this machine).
pub fn shop_base(shop_domain: &str) -> String {
    if shop_domain.starts_with("http://") || shop_domain.starts_with("https://") {
        shop_domain.trim_end_matches('/').to_owned()
    } else {
        format!("https://{shop_domain}")
    }
}

/// Whether `shop` is a shop's own hostname as Shopify sends it (`name.myshopify.com`): the
/// only hosts a token request goes to.
pub fn is_shop_hostname(shop: &str) -> bool {
    shop.strip_suffix(".myshopify.com").is_some_and(|name| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

/// Where the merchant approves the app: the scopes asked for, the redirect URI (listed in
/// the app's configuration) and the `state` the callback must bring back. No
/// `grant_options[]`: an offline token, not one tied to the person approving.
pub fn authorize_url(
    shop_domain: &str,
    client_id: &str,
    scopes: &[&str],
    redirect_uri: &str,
    state: &str,
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("scope", &scopes.join(","))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    format!("{}/admin/oauth/authorize?{query}", shop_base(shop_domain))
}

/// A query string's parameters, decoded, in their order.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `name` in `pairs`.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Why a request said to come from Shopify was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryRefusal {
    #[error("the request has no hmac parameter: it did not come from Shopify")]
    Missing,
    #[error("the hmac does not match the request: it did not come from Shopify, or was changed")]
    Bad,
    #[error("the request's timestamp is more than an hour from this clock: an old link")]
    Stale,
}

/// Checks a request Shopify signed (the install request, the callback): `hmac` is the hex
/// HMAC-SHA256 under `secret` of every other parameter but `signature`, sorted by name and
/// form-encoded; compared in constant time. The timestamp must be within
/// [`TIMESTAMP_SKEW_MS`] of `now`.
pub fn verify_query(
    pairs: &[(String, String)],
    secret: &[u8],
    now: UnixMillis,
) -> Result<(), QueryRefusal> {
    let given = param(pairs, "hmac").ok_or(QueryRefusal::Missing)?;
    let given = hex_decode(given).ok_or(QueryRefusal::Bad)?;
    let mut rest: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "hmac" && k != "signature")
        .collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    let mut message = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in rest {
        message.append_pair(k, v);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| QueryRefusal::Bad)?;
    mac.update(message.finish().as_bytes());
    mac.verify_slice(&given).map_err(|_| QueryRefusal::Bad)?;
    let at = param(pairs, "timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(QueryRefusal::Stale)?;
    if (now - at.saturating_mul(1000)).abs() > TIMESTAMP_SKEW_MS {
        return Err(QueryRefusal::Stale);
    }
    Ok(())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Exchanges an authorization code for the shop's offline token (asking for an expiring
/// one): the credentials to keep, with the scopes the shop granted. A code is good once and
/// for a short while; any failure means installing again.
pub async fn exchange_code(
    shop_domain: &str,
    app: &AppCredentials,
    code: &str,
    now: UnixMillis,
    timeout: Duration,
) -> Result<(ShopCredentials, Vec<String>), String> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let response = http
        .post(format!(
            "{}/admin/oauth/access_token",
            shop_base(shop_domain)
        ))
        .form(&[
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
            ("code", code),
            ("expiring", "1"),
        ])
        .send()
        .await
        .map_err(|e| format!("{shop_domain} could not be reached: {e}"))?;
    let status = response.status();
    let body: Value = response
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if !status.is_success() {
        let why = body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("no reason given");
        return Err(format!(
            "{shop_domain} refused the authorization code (HTTP {status}: {why}): install again"
        ));
    }
    let token = body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("{shop_domain} answered HTTP {status} without a token"))?;
    let scopes = scopes_of(&body);
    let refresh = match (body["refresh_token"].as_str(), body["expires_in"].as_i64()) {
        (Some(refresh_token), Some(expires_in)) => Some(RefreshGrant {
            refresh_token: refresh_token.to_owned(),
            expires_at: now + expires_in.max(1) * 1000,
            scopes: scopes.clone(),
        }),
        _ => None,
    };
    let credentials = ShopCredentials {
        shop_domain: shop_domain.to_owned(),
        access_token: token.to_owned(),
        app: refresh.as_ref().map(|_| app.clone()),
        refresh,
    };
    Ok((credentials, scopes))
}

/// The `scope` of a token answer: comma-separated handles.
pub(crate) fn scopes_of(body: &Value) -> Vec<String> {
    body["scope"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        parse_query(query)
    }

    /// Shopify's own example of a signed callback (secret "hush").
    const DOCUMENTED: &str = "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173";

    #[test]
    fn shopifys_documented_signature_verifies_and_any_change_does_not() {
        let now = 1_337_178_173_000;
        assert_eq!(verify_query(&pairs(DOCUMENTED), b"hush", now), Ok(()));
        assert_eq!(
            verify_query(&pairs(DOCUMENTED), b"hush!", now),
            Err(QueryRefusal::Bad)
        );
        let changed = DOCUMENTED.replace("some-shop", "other-shop");
        assert_eq!(
            verify_query(&pairs(&changed), b"hush", now),
            Err(QueryRefusal::Bad)
        );
        let unsigned = DOCUMENTED.replace("hmac=", "hmax=");
        assert_eq!(
            verify_query(&pairs(&unsigned), b"hush", now),
            Err(QueryRefusal::Missing)
        );
        // Parameter order does not matter: they are sorted before signing.
        let reordered = "timestamp=1337178173&state=0.6784241404160823&shop=some-shop.myshopify.com&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&code=0907a61c0c8d55e99db179b68161bc00";
        assert_eq!(verify_query(&pairs(reordered), b"hush", now), Ok(()));
        // A link replayed days later is refused even though it is signed.
        assert_eq!(
            verify_query(&pairs(DOCUMENTED), b"hush", now + 3 * 86_400_000),
            Err(QueryRefusal::Stale)
        );
    }

    #[test]
    fn only_shop_hostnames_are_shops() {
        assert!(is_shop_hostname("some-shop.myshopify.com"));
        assert!(is_shop_hostname("kowhai2.myshopify.com"));
        for not in [
            "myshopify.com",
            ".myshopify.com",
            "-x.myshopify.com",
            "evil.com",
            "evil.com/.myshopify.com",
            "a.b.myshopify.com",
            "Shop.myshopify.com",
            "shop.myshopify.com.evil.com",
            "shop.myshopify.com@evil.com",
        ] {
            assert!(!is_shop_hostname(not), "{not}");
        }
    }

    #[test]
    fn the_authorize_url_asks_for_an_offline_token_with_the_state() {
        let url = authorize_url(
            "kowhai.myshopify.com",
            "abc123",
            &["read_orders", "write_orders"],
            "https://central.example/v1/shopify/callback",
            "s t&ate",
        );
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://kowhai.myshopify.com/admin/oauth/authorize");
        let q = pairs(query);
        assert_eq!(param(&q, "client_id"), Some("abc123"));
        assert_eq!(param(&q, "scope"), Some("read_orders,write_orders"));
        assert_eq!(
            param(&q, "redirect_uri"),
            Some("https://central.example/v1/shopify/callback")
        );
        assert_eq!(param(&q, "state"), Some("s t&ate"));
        assert!(!query.contains("grant_options"));
    }
}
