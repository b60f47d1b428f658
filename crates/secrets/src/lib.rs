//! Secrets the hub needs to talk to others — the central store's device token, a shop's
//! access token, a partner's API key — kept in the OS keyring (the Secret Service on Linux).
//! Where no keyring service runs (a kiosk without a desktop session, CI), they go to a file
//! only the user can read (0600), with a warning in the log. Values never reach a log or an
//! error message: only their names do.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no secret named {0} is stored")]
    Missing(String),
    #[error("the secret {name} in {path} cannot be used: {message}")]
    File {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error("the keyring refused the secret {name}: {message}")]
    Keyring { name: String, message: String },
}

/// Where secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The OS keyring, falling back to the file when no keyring service answers.
    KeyringOrFile,
    /// Only the 0600 files (machines known to have no keyring, and tests).
    FileOnly,
}

/// Named secrets under one keyring service name (e.g. "returnhub").
#[derive(Debug, Clone)]
pub struct SecretVault {
    service: String,
    fallback_dir: PathBuf,
    backend: Backend,
}

impl SecretVault {
    /// `fallback_dir` (e.g. `<data dir>/secrets`) holds the file fallback.
    pub fn new(service: &str, fallback_dir: &Path, backend: Backend) -> SecretVault {
        SecretVault {
            service: service.to_string(),
            fallback_dir: fallback_dir.to_path_buf(),
            backend,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        // Letters, digits, '-' and '_' stand for themselves; every other byte is `~XX`. One
        // name, one file: "a/b" and "a_b" must not share a secret.
        let mut safe = String::with_capacity(name.len());
        for byte in name.bytes() {
            if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
                safe.push(char::from(byte));
            } else {
                safe.push_str(&format!("~{byte:02X}"));
            }
        }
        self.fallback_dir
            .join(format!("{}-{safe}.secret", self.service))
    }

    /// The secret `name`, made (32 random bytes, as hex) and kept the first time it is asked
    /// for: a key only this device (or central store) knows, e.g. to derive gift card codes.
    pub fn load_or_create(&self, name: &str) -> Result<String, SecretError> {
        match self.load(name) {
            Err(SecretError::Missing(_)) => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| SecretError::Keyring {
                    name: name.to_owned(),
                    message: format!("no randomness to make it from: {e}"),
                })?;
                let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                self.save(name, &value)?;
                Ok(value)
            }
            found => found,
        }
    }

    pub fn save(&self, name: &str, value: &str) -> Result<(), SecretError> {
        if self.backend == Backend::KeyringOrFile {
            match keyring::Entry::new(&self.service, name).and_then(|e| e.set_password(value)) {
                Ok(()) => return Ok(()),
                Err(e) if no_keyring_service(&e) => tracing::warn!(
                    secret = name,
                    reason = %e,
                    "no keyring service; keeping the secret in a 0600 file instead"
                ),
                Err(e) => {
                    return Err(SecretError::Keyring {
                        name: name.into(),
                        message: e.to_string(),
                    })
                }
            }
        }
        self.save_file(name, value)
    }

    fn save_file(&self, name: &str, value: &str) -> Result<(), SecretError> {
        let path = self.file(name);
        let err = |message: String| SecretError::File {
            name: name.into(),
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(&self.fallback_dir).map_err(|e| err(e.to_string()))?;
        // Only this user may even list which secrets there are.
        std::fs::set_permissions(&self.fallback_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("tmp");
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
        file.write_all(value.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))
    }

    pub fn load(&self, name: &str) -> Result<String, SecretError> {
        if self.backend == Backend::KeyringOrFile {
            match keyring::Entry::new(&self.service, name).and_then(|e| e.get_password()) {
                Ok(value) => return Ok(value),
                Err(keyring::Error::NoEntry) => {}
                Err(e) if no_keyring_service(&e) => {}
                Err(e) => {
                    return Err(SecretError::Keyring {
                        name: name.into(),
                        message: e.to_string(),
                    })
                }
            }
        }
        let path = self.file(name);
        match std::fs::read_to_string(&path) {
            Ok(value) => Ok(value),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(SecretError::Missing(name.into()))
            }
            Err(e) => Err(SecretError::File {
                name: name.into(),
                path,
                message: e.to_string(),
            }),
        }
    }
}

impl SecretVault {
    /// Forgets the secret wherever it is kept (keyring and file); a missing one is fine.
    pub fn delete(&self, name: &str) -> Result<(), SecretError> {
        if self.backend == Backend::KeyringOrFile {
            match keyring::Entry::new(&self.service, name).and_then(|e| e.delete_credential()) {
                Ok(()) | Err(keyring::Error::NoEntry) => {}
                Err(e) if no_keyring_service(&e) => {}
                Err(e) => {
                    return Err(SecretError::Keyring {
                        name: name.into(),
                        message: e.to_string(),
                    })
                }
            }
        }
        let path = self.file(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SecretError::File {
                name: name.into(),
                path,
                message: e.to_string(),
            }),
        }
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

    #[test]
    fn names_that_differ_never_share_a_file_and_the_folder_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let vault = SecretVault::new("returnhub", dir.path(), Backend::FileOnly);
        for (name, value) in [
            ("a/b", "one"),
            ("a_b", "two"),
            ("a~2Fb", "three"),
            ("a.b", "four"),
        ] {
            vault.save(name, value).unwrap();
        }
        assert_eq!(vault.load("a/b").unwrap(), "one");
        assert_eq!(vault.load("a_b").unwrap(), "two");
        assert_eq!(vault.load("a~2Fb").unwrap(), "three");
        assert_eq!(vault.load("a.b").unwrap(), "four");
        assert_eq!(
            vault.file("partner-returns_prime-kowhai"),
            dir.path()
                .join("returnhub-partner-returns_prime-kowhai.secret"),
            "names of safe characters keep the files they always had"
        );
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn the_file_fallback_round_trips_readable_only_by_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let vault = SecretVault::new("returnhub-test", dir.path(), Backend::FileOnly);
        assert!(matches!(
            vault.load("central"),
            Err(SecretError::Missing(_))
        ));
        vault.save("central", "tok_secret_value").unwrap();
        assert_eq!(vault.load("central").unwrap(), "tok_secret_value");
        let path = vault.file("central");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        vault.save("central", "tok_other").unwrap();
        assert_eq!(vault.load("central").unwrap(), "tok_other");
        vault.delete("central").unwrap();
        assert!(matches!(
            vault.load("central"),
            Err(SecretError::Missing(_))
        ));
        vault.delete("central").unwrap();
    }

    #[test]
    fn errors_name_the_secret_never_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let vault = SecretVault::new("returnhub-test", dir.path(), Backend::FileOnly);
        vault.save("a/b", "tok_secret_value").unwrap();
        std::fs::set_permissions(vault.file("a/b"), std::fs::Permissions::from_mode(0o000)).ok();
        let shown = format!("{:?} {}", vault, SecretError::Missing("a/b".into()));
        assert!(!shown.contains("tok_secret_value"), "{shown}");
        assert!(vault
            .file("a/b")
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("a~2Fb.secret"));
    }

    #[test]
    fn with_a_keyring_backend_but_no_service_the_file_is_used() {
        // The test session has no Secret Service (a private D-Bus without a keyring daemon,
        // or none at all): saving falls back to the file, and loading finds it there.
        let dir = tempfile::tempdir().unwrap();
        let vault = SecretVault::new("returnhub-test", dir.path(), Backend::KeyringOrFile);
        match vault.save("fallback", "tok_x") {
            Ok(()) => assert_eq!(vault.load("fallback").unwrap(), "tok_x"),
            Err(e) => panic!("saving must fall back to the file: {e}"),
        }
    }
}
