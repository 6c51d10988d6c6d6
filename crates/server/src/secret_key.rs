//! The key that encrypts secrets at rest: from `secret_key`, else read from (or created in) the key file.

use std::io::Write;
use std::path::Path;

use forage_store::SecretCipher;

use crate::config::{Config, ConfigError};

/// The cipher for this server's stored secrets.
pub fn load_cipher(config: &Config) -> Result<SecretCipher, ConfigError> {
    if let Some(key) = &config.secret_key {
        return SecretCipher::from_base64(key.expose())
            .map_err(|e| ConfigError::invalid("secret_key", e.to_string()));
    }
    let path = config.secret_key_path();
    if !path.exists() {
        create_key_file(&path)?;
        tracing::info!(path = %path.display(), "created a new secret key file");
    }
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError::invalid(
            "secret_key_file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    SecretCipher::from_base64(&text)
        .map_err(|e| ConfigError::invalid("secret_key_file", format!("{}: {e}", path.display())))
}

/// Writes a fresh key, readable by this user only.
fn create_key_file(path: &Path) -> Result<(), ConfigError> {
    let fail = |e: std::io::Error| {
        ConfigError::invalid(
            "secret_key_file",
            format!("cannot create {}: {e}", path.display()),
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(SecretCipher::generate_key_base64().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_key_file_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data: dir.path().to_owned(),
            ..Config::default()
        };
        load_cipher(&config).unwrap();
        let path = config.secret_key_path();
        let first = std::fs::read_to_string(&path).unwrap();
        load_cipher(&config).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_bad_key_names_the_setting() {
        let config = Config {
            secret_key: Some("not-base64!".into()),
            ..Config::default()
        };
        let err = load_cipher(&config).unwrap_err().to_string();
        assert!(err.contains("FORAGE_SECRET_KEY"), "{err}");
    }
}
