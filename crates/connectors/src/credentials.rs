//! A retailer's shop domain and Admin API access token: kept in the OS keyring (the Secret
//! Service on Linux) and, where no keyring service runs, in a file only the user can read
//! (0600), with a warning. Never logged: `Debug` is written by hand and redacts the token.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const SERVICE: &str = "returnhub-shopify";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopCredentials {
    /// `example.myshopify.com`.
    pub shop_domain: String,
    pub access_token: String,
}

impl fmt::Debug for ShopCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopCredentials")
            .field("shop_domain", &self.shop_domain)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no Shopify credentials are stored for retailer {0}")]
    Missing(String),
    #[error("the Shopify credentials of retailer {retailer} in {path} cannot be used: {message}")]
    File {
        retailer: String,
        path: PathBuf,
        message: String,
    },
    #[error("the keyring refused the Shopify credentials of retailer {retailer}: {message}")]
    Keyring { retailer: String, message: String },
}

/// Where credentials are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The OS keyring, falling back to the file when no keyring service answers.
    KeyringOrFile,
    /// Only the 0600 file (for machines known to have no keyring, and for tests).
    FileOnly,
}

/// Stores and loads credentials per retailer.
#[derive(Debug, Clone)]
pub struct CredentialVault {
    fallback_dir: PathBuf,
    backend: Backend,
}

impl CredentialVault {
    /// `fallback_dir` (e.g. `<data dir>/secrets`) holds the file fallback.
    pub fn new(fallback_dir: &Path, backend: Backend) -> CredentialVault {
        CredentialVault {
            fallback_dir: fallback_dir.to_path_buf(),
            backend,
        }
    }

    fn file(&self, retailer_id: &str) -> PathBuf {
        let safe: String = retailer_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.fallback_dir.join(format!("shopify-{safe}.json"))
    }

    pub fn save(
        &self,
        retailer_id: &str,
        credentials: &ShopCredentials,
    ) -> Result<(), CredentialError> {
        let secret = serde_json::to_string(credentials).map_err(|e| CredentialError::Keyring {
            retailer: retailer_id.into(),
            message: e.to_string(),
        })?;
        if self.backend == Backend::KeyringOrFile {
            match keyring::Entry::new(SERVICE, retailer_id).and_then(|e| e.set_password(&secret)) {
                Ok(()) => return Ok(()),
                Err(e) if no_keyring_service(&e) => tracing::warn!(
                    retailer = retailer_id,
                    reason = %e,
                    "no keyring service; keeping the Shopify credentials in a 0600 file instead"
                ),
                Err(e) => {
                    return Err(CredentialError::Keyring {
                        retailer: retailer_id.into(),
                        message: e.to_string(),
                    })
                }
            }
        }
        self.save_file(retailer_id, &secret)
    }

    fn save_file(&self, retailer_id: &str, secret: &str) -> Result<(), CredentialError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::fs::PermissionsExt;
        let path = self.file(retailer_id);
        let err = |message: String| CredentialError::File {
            retailer: retailer_id.into(),
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(&self.fallback_dir).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err(e.to_string()))?;
        // The mode above applies only to a new file; make sure of it for an old one too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(e.to_string()))?;
        file.write_all(secret.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))
    }

    pub fn load(&self, retailer_id: &str) -> Result<ShopCredentials, CredentialError> {
        if self.backend == Backend::KeyringOrFile {
            match keyring::Entry::new(SERVICE, retailer_id).and_then(|e| e.get_password()) {
                Ok(secret) => {
                    return serde_json::from_str(&secret).map_err(|e| CredentialError::Keyring {
                        retailer: retailer_id.into(),
                        message: format!("stored value is not valid: {e}"),
                    })
                }
                Err(keyring::Error::NoEntry) => {}
                Err(e) if no_keyring_service(&e) => {}
                Err(e) => {
                    return Err(CredentialError::Keyring {
                        retailer: retailer_id.into(),
                        message: e.to_string(),
                    })
                }
            }
        }
        let path = self.file(retailer_id);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CredentialError::Missing(retailer_id.into()))
            }
            Err(e) => {
                return Err(CredentialError::File {
                    retailer: retailer_id.into(),
                    path,
                    message: e.to_string(),
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| CredentialError::File {
            retailer: retailer_id.into(),
            path,
            message: format!("not valid: {e}"),
        })
    }
}

fn no_keyring_service(e: &keyring::Error) -> bool {
    matches!(
        e,
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds() -> ShopCredentials {
        ShopCredentials {
            shop_domain: "example.myshopify.com".into(),
            access_token: "shpat_secret_value".into(),
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", creds());
        assert!(!shown.contains("shpat_secret_value"), "{shown}");
        assert!(shown.contains("example.myshopify.com"));
    }

    #[test]
    fn file_fallback_round_trips_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let vault = CredentialVault::new(dir.path(), Backend::FileOnly);
        assert!(matches!(vault.load("r1"), Err(CredentialError::Missing(_))));
        vault.save("r1", &creds()).unwrap();
        assert_eq!(vault.load("r1").unwrap(), creds());
        let mode = std::fs::metadata(vault.file("r1"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn without_a_keyring_service_it_falls_back_to_the_file() {
        // On a machine with no Secret Service (CI), the keyring fails and the file is used;
        // where one runs, the keyring keeps it. Either way the credentials come back.
        let dir = tempfile::tempdir().unwrap();
        let vault = CredentialVault::new(dir.path(), Backend::KeyringOrFile);
        let id = format!("test-{}", std::process::id());
        vault.save(&id, &creds()).unwrap();
        assert_eq!(vault.load(&id).unwrap(), creds());
        if let Ok(entry) = keyring::Entry::new(SERVICE, &id) {
            let _ = entry.delete_credential();
        }
    }
}
