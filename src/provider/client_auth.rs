//! How token requests authenticate the app: `client_secret` (Basic or in the body), or a
//! client assertion (RFC 7523) signed with the app's key or handed out by the platform
//! (an Azure managed identity, a Kubernetes workload identity token file).
//!
//! A platform assertion is fetched when first needed and kept until shortly before it
//! expires; a token file is read again whenever it changes on disk (Kubernetes rotates it).
//! Failing to get one fails that login with a plain 503; the reason goes to the log.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::http::HttpClient;
use super::verify::jwt_part;
use crate::client_key::ClientKey;
use crate::config::{
    AssertionSource, ClientCredential, Platform, Secret, AZURE_FEDERATED_TOKEN_FILE,
    IDENTITY_ENDPOINT, IDENTITY_HEADER,
};

/// The audience Microsoft Entra ID's federated credentials expect.
const TOKEN_EXCHANGE_RESOURCE: &str = "api://AzureADTokenExchange";

/// The App Service managed identity endpoint's API version with `X-IDENTITY-HEADER`.
const IDENTITY_API_VERSION: &str = "2019-08-01";

/// A cached platform assertion is used until this many seconds before it expires.
const REFRESH_MARGIN: i64 = 5 * 60;

/// Where the app's client assertion comes from, ready to use.
pub(crate) enum ClientAuth {
    /// `client_secret`: openidconnect sends it.
    Secret(Secret),
    /// The app signs its own assertion for each token request.
    Key(ClientKey),
    /// The platform issues it.
    Platform(PlatformAssertion),
}

/// Why there is no assertion right now.
#[derive(Debug)]
pub(crate) struct AssertionFailure {
    /// For the page: no internal address.
    pub(crate) public: String,
    /// For the log.
    pub(crate) detail: String,
}

/// A platform's assertion and what it is cached as.
pub(crate) struct PlatformAssertion {
    source: PlatformSource,
    cache: Mutex<Option<Cached>>,
}

enum PlatformSource {
    ManagedIdentity {
        endpoint: Url,
        header: Secret,
        /// A user-assigned identity's client id; `None`: the system-assigned identity.
        client_id: Option<String>,
    },
    TokenFile(PathBuf),
}

struct Cached {
    assertion: String,
    expires_at: i64,
    /// For a token file: when it was last changed.
    modified: Option<SystemTime>,
}

impl ClientAuth {
    /// The client authentication `credential` needs, on `platform`. `Err` names what the
    /// platform lacks (the layer refuses to start).
    pub(crate) fn new(credential: &ClientCredential, platform: &Platform) -> Result<Self, String> {
        Ok(match credential {
            ClientCredential::Secret(secret) => ClientAuth::Secret(secret.clone()),
            ClientCredential::PrivateKey(key) => ClientAuth::Key(key.clone()),
            ClientCredential::Assertion(AssertionSource::AzureManagedIdentity { client_id }) => {
                let (Some(endpoint), Some(header)) =
                    (platform.get(IDENTITY_ENDPOINT), platform.get(IDENTITY_HEADER))
                else {
                    return Err(format!(
                        "{IDENTITY_ENDPOINT} and {IDENTITY_HEADER} are not set: the app is not \
                         running with a managed identity (turn one on for the App Service, \
                         Functions or Container App, or use another credential)"
                    ));
                };
                let endpoint = Url::parse(endpoint)
                    .map_err(|e| format!("{IDENTITY_ENDPOINT} is not a URL ({e})"))?;
                ClientAuth::Platform(PlatformAssertion::new(PlatformSource::ManagedIdentity {
                    endpoint,
                    header: Secret::new(header),
                    client_id: client_id.clone(),
                }))
            }
            ClientCredential::Assertion(AssertionSource::AzureWorkloadIdentity) => {
                let Some(path) = platform.get(AZURE_FEDERATED_TOKEN_FILE) else {
                    return Err(format!(
                        "{AZURE_FEDERATED_TOKEN_FILE} is not set: the pod does not use Azure \
                         workload identity (label it azure.workload.identity/use: \"true\" and \
                         give it a service account with a federated credential)"
                    ));
                };
                ClientAuth::Platform(PlatformAssertion::new(PlatformSource::TokenFile(
                    PathBuf::from(path),
                )))
            }
            // `ClientCredential` is non-exhaustive for users, not for this crate.
            #[allow(unreachable_patterns)]
            _ => return Err("this kind of client credential is not supported".to_owned()),
        })
    }

    /// The secret, when the app authenticates with one.
    pub(crate) fn secret(&self) -> Option<&Secret> {
        match self {
            ClientAuth::Secret(secret) => Some(secret),
            _ => None,
        }
    }

    /// The client assertion for a token request at `token_endpoint`, or `None` with a
    /// secret.
    pub(crate) async fn assertion(
        &self,
        http: &HttpClient,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Option<String>, AssertionFailure> {
        let now = crate::pending::now_unix();
        match self {
            ClientAuth::Secret(_) => Ok(None),
            ClientAuth::Key(key) => key
                .client_assertion(client_id, token_endpoint, now)
                .map(Some)
                .map_err(|e| AssertionFailure {
                    public: "this app's client key could not sign".to_owned(),
                    detail: e.to_string(),
                }),
            ClientAuth::Platform(platform) => platform.get(http, now).await.map(Some),
        }
    }
}

impl PlatformAssertion {
    fn new(source: PlatformSource) -> Self {
        PlatformAssertion {
            source,
            cache: Mutex::new(None),
        }
    }

    async fn get(&self, http: &HttpClient, now: i64) -> Result<String, AssertionFailure> {
        let modified = match &self.source {
            PlatformSource::TokenFile(path) => std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok(),
            PlatformSource::ManagedIdentity { .. } => None,
        };
        if let Some(cached) = self.cached(now, modified) {
            return Ok(cached);
        }
        let (assertion, expires_at) = match &self.source {
            PlatformSource::ManagedIdentity {
                endpoint,
                header,
                client_id,
            } => managed_identity(http, endpoint, header, client_id.as_deref()).await?,
            PlatformSource::TokenFile(path) => token_file(path)?,
        };
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(Cached {
                assertion: assertion.clone(),
                expires_at,
                modified,
            });
        }
        Ok(assertion)
    }

    fn cached(&self, now: i64, modified: Option<SystemTime>) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let cached = cache.as_ref()?;
        (cached.expires_at - REFRESH_MARGIN > now && cached.modified == modified)
            .then(|| cached.assertion.clone())
    }
}

/// The App Service managed identity endpoint's answer.
#[derive(Deserialize)]
struct IdentityToken {
    access_token: String,
    /// Unix seconds, a string in App Service's answers (a number is accepted too).
    expires_on: Value,
}

async fn managed_identity(
    http: &HttpClient,
    endpoint: &Url,
    header: &Secret,
    client_id: Option<&str>,
) -> Result<(String, i64), AssertionFailure> {
    let failed = |detail: String| AssertionFailure {
        public: "this app's managed identity did not give it a credential for the login \
                 provider"
            .to_owned(),
        detail,
    };
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("api-version", IDENTITY_API_VERSION)
        .append_pair("resource", TOKEN_EXCHANGE_RESOURCE);
    if let Some(client_id) = client_id {
        url.query_pairs_mut().append_pair("client_id", client_id);
    }
    let body = http
        .get_json_with(&url, &[("X-IDENTITY-HEADER", header.expose())])
        .await
        .map_err(|e| failed(format!("managed identity endpoint: {e}")))?;
    let token: IdentityToken = serde_json::from_slice(&body)
        .map_err(|_| failed("the managed identity endpoint's answer has no access_token".into()))?;
    let expires_at = match &token.expires_on {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .or_else(|| expiry_of(&token.access_token))
    .ok_or_else(|| failed("the managed identity endpoint's answer has no expires_on".into()))?;
    Ok((token.access_token, expires_at))
}

fn token_file(path: &std::path::Path) -> Result<(String, i64), AssertionFailure> {
    let failed = |detail: String| AssertionFailure {
        public: "this app's workload identity token could not be read".to_owned(),
        detail,
    };
    let token = std::fs::read_to_string(path)
        .map_err(|e| failed(format!("{}: {e}", path.display())))?
        .trim()
        .to_owned();
    let expires_at = expiry_of(&token)
        .ok_or_else(|| failed(format!("{} does not hold a JWT with an exp", path.display())))?;
    Ok((token, expires_at))
}

/// The `exp` of a JWT we pass on unverified (the provider verifies it).
fn expiry_of(jwt: &str) -> Option<i64> {
    jwt_part(jwt, 1)?.get("exp")?.as_i64()
}
