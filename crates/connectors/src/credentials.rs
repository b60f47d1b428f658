//! A retailer's shop domain and how the connector signs in: a custom app's static Admin API
//! access token (`shpat_…`, made in the Shopify admin before 2026), a Dev Dashboard app's
//! client ID and secret, with which the client asks for a token (the client credentials
//! grant; each lasts 24 hours), or an app installed on a merchant's shop through the
//! authorization code grant ([`crate::oauth`]): an expiring offline token (an hour) and the
//! refresh token that renews it, replaced at each renewal. Where they are kept is the hub's business (the OS keyring
//! through `returnhub-secrets`, a 0600 file only as the fallback); this type only checks them
//! and never shows a secret: `Debug` is written by hand.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopCredentials {
    /// `example.myshopify.com` (or, for a simulator on this machine, `http://127.0.0.1:port`).
    pub shop_domain: String,
    /// A custom app's static token; empty when `app` is set.
    #[serde(default)]
    pub access_token: String,
    /// A Dev Dashboard app's client credentials: tokens are asked for with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppCredentials>,
    /// With `app`: an install's expiring offline token. `access_token` is then the current
    /// token (until `expires_at`), and new ones are asked for with this refresh token instead
    /// of the client credentials grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<RefreshGrant>,
}

/// An expiring offline token's renewal: Shopify replaces the refresh token every time it is
/// used, so whoever keeps the credentials keeps the newest one (see
/// [`crate::ShopifyClient::on_renewed`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshGrant {
    pub refresh_token: String,
    /// When the current access token expires, Unix ms.
    pub expires_at: i64,
    /// The access scopes the shop granted, as the last token answer listed them.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl fmt::Debug for RefreshGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshGrant")
            .field("refresh_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A Dev Dashboard app's client ID and secret (the client credentials grant).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for ShopCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopCredentials")
            .field("shop_domain", &self.shop_domain)
            .field("access_token", &"<redacted>")
            .field("app", &self.app)
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

impl ShopCredentials {
    /// Checks what an admin typed: a `*.myshopify.com` domain (a pasted `https://…/admin` URL
    /// is cut down to it) or an `https://` base; plain `http://` only to this machine, so a
    /// token never crosses a network unencrypted. The token must look like one.
    pub fn new(shop_domain: &str, access_token: &str) -> Result<ShopCredentials, String> {
        let domain = shop_domain_of(shop_domain)?;
        let token = access_token.trim();
        if token.len() < 20 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                "that is not an Admin API access token (it starts shpat_ and is longer)".into(),
            );
        }
        Ok(ShopCredentials {
            shop_domain: domain,
            access_token: token.to_owned(),
            app: None,
            refresh: None,
        })
    }

    /// A Dev Dashboard app's client ID and secret for the shop (the domain checked as by
    /// [`ShopCredentials::new`]): the client asks Shopify for its tokens with them.
    pub fn for_app(
        shop_domain: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<ShopCredentials, String> {
        let domain = shop_domain_of(shop_domain)?;
        Ok(ShopCredentials {
            shop_domain: domain,
            access_token: String::new(),
            app: Some(AppCredentials::new(client_id, client_secret)?),
            refresh: None,
        })
    }
}

impl AppCredentials {
    /// An app's client ID and secret as an admin pasted them, checked for their shape.
    pub fn new(client_id: &str, client_secret: &str) -> Result<AppCredentials, String> {
        let plain = |s: &str| {
            (8..=200).contains(&s.len()) && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        let (id, secret) = (client_id.trim(), client_secret.trim());
        if !plain(id) {
            return Err("that is not an app's client ID (the Dev Dashboard shows it)".into());
        }
        if !plain(secret) {
            return Err("that is not an app's client secret (the Dev Dashboard shows it)".into());
        }
        Ok(AppCredentials {
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
        })
    }
}

/// What an admin typed as the shop, checked: see [`ShopCredentials::new`].
pub fn shop_domain_of(shop_domain: &str) -> Result<String, String> {
    let domain = shop_domain.trim().trim_end_matches('/');
    let domain = if domain.starts_with("http://") {
        // The same rule as every address a secret goes to; a shop has no "insecure" mark.
        if returnhub_core::partner::check_endpoint(domain, false).is_err() {
            return Err(format!(
                "{shop_domain} is not encrypted: use https:// (plain http only to this machine)"
            ));
        }
        domain.to_owned()
    } else if domain.starts_with("https://") && !domain.contains(".myshopify.com") {
        domain.to_owned()
    } else {
        let host = domain
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let shop = host.strip_suffix(".myshopify.com").unwrap_or(&host);
        if shop.is_empty() || !shop.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "{shop_domain:?} is not a shop domain: type it as name.myshopify.com"
            ));
        }
        format!("{shop}.myshopify.com")
    };
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "shpat_0123456789abcdef0123456789abcdef";

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", ShopCredentials::new("kowhai", TOKEN).unwrap());
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("kowhai.myshopify.com"));
    }

    #[test]
    fn domains_are_normalised_and_plain_http_stays_on_this_machine() {
        for typed in [
            "kowhai",
            "Kowhai.myshopify.com",
            "https://kowhai.myshopify.com/admin",
            " kowhai.myshopify.com/ ",
        ] {
            assert_eq!(
                ShopCredentials::new(typed, TOKEN).unwrap().shop_domain,
                "kowhai.myshopify.com",
                "{typed}"
            );
        }
        assert_eq!(
            ShopCredentials::new("http://127.0.0.1:8123", TOKEN)
                .unwrap()
                .shop_domain,
            "http://127.0.0.1:8123"
        );
        assert!(ShopCredentials::new("http://shop.example.com", TOKEN).is_err());
        assert!(ShopCredentials::new("kow hai", TOKEN).is_err());
        assert!(ShopCredentials::new("kowhai", "short").is_err());
        assert!(ShopCredentials::new("kowhai", "shpat_with a space in it 0123").is_err());
    }

    #[test]
    fn app_credentials_are_checked_and_their_secret_never_shown() {
        let app = ShopCredentials::for_app("kowhai", "0f1e2d3c4b5a69788796", "shpss_secret_0123")
            .unwrap();
        assert_eq!(app.shop_domain, "kowhai.myshopify.com");
        let shown = format!("{app:?}");
        assert!(!shown.contains("shpss_secret_0123"), "{shown}");
        assert!(shown.contains("0f1e2d3c4b5a69788796"));
        assert!(ShopCredentials::for_app("kowhai", "", "shpss_secret_0123").is_err());
        assert!(ShopCredentials::for_app("kowhai", "0f1e2d3c4b5a69788796", "a b").is_err());
        // Stored credentials of a static token (before app credentials existed) still read.
        let old: ShopCredentials = serde_json::from_str(
            r#"{"shop_domain":"kowhai.myshopify.com","access_token":"shpat_0123456789abcdef0123456789abcdef"}"#,
        )
        .unwrap();
        assert_eq!(old.app, None);
    }
}
