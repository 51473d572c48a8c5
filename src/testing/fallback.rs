//! The quickstart's rule, for any app: the real configuration when there is one, else the
//! development provider — but only where a copy of the quickstart cannot have been
//! deployed by mistake.
//!
//! The development provider signs in anyone as anyone. An app built from the quickstart and
//! deployed without its secrets file (working directory `/`, a container without the file, a
//! typo in a variable name) must not quietly start one, so the fallback fails closed: it
//! happens in debug builds (`cargo run`), or in a release build only when
//! `OIDC_DEV_PROVIDER=1` says so; `OIDC_DEV_PROVIDER=0` refuses it everywhere. Deployed apps
//! call [`AuthConfig::load`], never this.

use crate::config::{AuthConfig, ConfigError};

use super::DevProvider;

/// The variable that allows (`1`) or refuses (`0`) the development provider fallback.
pub const DEV_PROVIDER_VAR: &str = "OIDC_DEV_PROVIDER";

/// Why [`config_or_dev_provider`] could not produce a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FallbackError {
    /// A secrets file or `OIDC_AUTH__*` variable exists but is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No configuration anywhere, and the development provider may not stand in for one
    /// (a release build without `OIDC_DEV_PROVIDER=1`, or `OIDC_DEV_PROVIDER=0`).
    #[error(
        "no login configuration was found: put an [auth] table in .streamlit/secrets.toml (in \
         the working directory or the home directory) or set OIDC_AUTH__* variables (see the \
         tower_oidc_login::config documentation). The development provider, which signs in \
         anyone as anyone, is only started without configuration in debug builds, or when \
         {DEV_PROVIDER_VAR}=1 is set; never set it where the app is reachable by others"
    )]
    NoConfiguration,
    /// The development provider could not start (no loopback port, for example).
    #[error("the development provider could not start: {0}")]
    DevProvider(#[from] std::io::Error),
}

/// Whether the development provider may stand in for a missing configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fallback {
    /// A debug build (`cargo run`, `cargo test`).
    DebugBuild,
    /// `OIDC_DEV_PROVIDER=1`.
    Requested,
    /// A release build without `OIDC_DEV_PROVIDER=1`, or `OIDC_DEV_PROVIDER=0`.
    Refused,
}

fn fallback(debug_build: bool, variable: Option<&str>) -> Fallback {
    match variable.map(str::trim) {
        Some("1") => Fallback::Requested,
        Some("0") => Fallback::Refused,
        _ if debug_build => Fallback::DebugBuild,
        _ => Fallback::Refused,
    }
}

/// The configuration from Streamlit's files and `OIDC_AUTH__*` variables
/// ([`AuthConfig::load_optional`]) or, when there is none at all and the build allows it
/// (see the module docs), a freshly started [`DevProvider`] as the only provider, with
/// `redirect_uri = "http://127.0.0.1:{port}/oauth2callback"` and a random `cookie_secret`.
///
/// Keep the returned provider alive as long as the app runs: dropping it stops it.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_oidc_login::{testing::config_or_dev_provider, AuthLayer};
///
/// let (config, _dev_provider) = config_or_dev_provider().await?;
/// let auth = AuthLayer::builder(config).port(8501).build()?;
/// # let _ = auth; Ok(()) }
/// ```
pub async fn config_or_dev_provider() -> Result<(AuthConfig, Option<DevProvider>), FallbackError> {
    if let Some(config) = AuthConfig::load_optional()? {
        return Ok((config, None));
    }
    let variable = std::env::var(DEV_PROVIDER_VAR).ok();
    let why = match fallback(cfg!(debug_assertions), variable.as_deref()) {
        Fallback::Refused => return Err(FallbackError::NoConfiguration),
        Fallback::DebugBuild => "this is a debug build",
        Fallback::Requested => "OIDC_DEV_PROVIDER=1 is set",
    };
    let dev = DevProvider::start().await?;
    tracing::warn!(
        issuer = %dev.issuer(),
        "no .streamlit/secrets.toml and no OIDC_AUTH__ variables, and {why}: using the \
         embedded development provider, which signs in anyone as anyone; never deploy this"
    );
    // A fresh secret per run: development sessions do not need to survive a restart, and
    // memory, said explicitly, keeps the layer from warning about it.
    let secret: [u8; 32] = rand::random();
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let config = AuthConfig::from_toml_str(&format!(
        "{}session_store = \"memory\"\n",
        dev.secrets_toml("http://127.0.0.1:{port}/oauth2callback", &secret)
    ))?;
    Ok((config, Some(dev)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_fails_closed_outside_debug_builds() {
        assert_eq!(fallback(true, None), Fallback::DebugBuild);
        assert_eq!(fallback(false, None), Fallback::Refused);
        assert_eq!(fallback(false, Some("1")), Fallback::Requested);
        assert_eq!(fallback(false, Some(" 1 ")), Fallback::Requested);
        assert_eq!(fallback(true, Some("0")), Fallback::Refused);
        assert_eq!(fallback(false, Some("0")), Fallback::Refused);
        // Anything else is not a request for the provider.
        assert_eq!(fallback(false, Some("yes")), Fallback::Refused);
        assert_eq!(fallback(false, Some("")), Fallback::Refused);
        assert_eq!(fallback(true, Some("yes")), Fallback::DebugBuild);
    }

    #[test]
    fn the_refusal_says_what_to_configure() {
        let message = FallbackError::NoConfiguration.to_string();
        for part in [
            ".streamlit/secrets.toml",
            "OIDC_AUTH__",
            "OIDC_DEV_PROVIDER=1",
        ] {
            assert!(message.contains(part), "{message}");
        }
    }
}
