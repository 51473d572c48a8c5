//! The quickstart's rule, for any app: the real configuration when there is one, else the
//! development provider.

use crate::config::{AuthConfig, ConfigError};

use super::dev_provider::DevProvider;

/// Why [`config_or_dev_provider`] could not produce a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FallbackError {
    /// A secrets file or `OIDC_AUTH__*` variable exists but is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The development provider could not start (no loopback port, for example).
    #[error("the development provider could not start: {0}")]
    DevProvider(#[from] std::io::Error),
}

/// The configuration from Streamlit's files and `OIDC_AUTH__*` variables
/// ([`AuthConfig::load_optional`]) or, when there is none at all, a freshly started
/// [`DevProvider`] as the only provider, with `redirect_uri =
/// "http://127.0.0.1:{port}/oauth2callback"` and a random `cookie_secret`.
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
    let dev = DevProvider::start().await?;
    tracing::info!(
        issuer = %dev.issuer(),
        "no .streamlit/secrets.toml and no OIDC_AUTH__ variables: using the embedded development provider"
    );
    // A fresh secret per run: development sessions do not need to survive a restart.
    let secret: [u8; 32] = rand::random();
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    // Development sessions need not survive a restart: memory, said explicitly.
    let config = AuthConfig::from_toml_str(&format!(
        "{}session_store = \"memory\"\n",
        dev.secrets_toml("http://127.0.0.1:{port}/oauth2callback", &secret)
    ))?;
    Ok((config, Some(dev)))
}
