//! The discovery document and key set of one provider, fetched lazily and cached.
//!
//! Login requests all go through [`Cache::snapshot`], so this is where a slow or dead provider
//! must not pile up work: one fetch at a time (later callers wait for it and reuse its result),
//! a failure is remembered for a short back-off so every page view does not re-hit a dead host,
//! and the first call after the back-off tries again, so a provider that was down at start-up
//! comes back by itself.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, IssuerUrl, JsonWebKeySetUrl, LogoutProviderMetadata,
    ProviderMetadata, TokenUrl,
};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::Mutex;
use url::Url;

use super::http::{display_url, HttpClient, HttpError};
use crate::config::ADMITS_EVERY_TENANT;
use crate::util::bounded;

/// The most of a provider's text (an issuer, a parser's message) quoted in a page or log.
pub(crate) const MAX_SHOWN: usize = 200;

/// The only ID token algorithms accepted: asymmetric ones. `none` would accept forged tokens,
/// and HS* would make the client secret a signing key that anyone holding it could mint
/// tokens with.
pub(crate) const ASYMMETRIC_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Discovery fields openidconnect does not model.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct ExtraMetadata {
    /// RFC 9207. Anything but a JSON `true` counts as not advertised, so a provider that writes
    /// `"true"` or `1` does not break discovery.
    #[serde(default, deserialize_with = "only_true")]
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

fn only_true<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(matches!(
        serde_json::Value::deserialize(deserializer)?,
        serde_json::Value::Bool(true)
    ))
}

type Metadata = ProviderMetadata<
    LogoutProviderMetadata<ExtraMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// How ID tokens' `iss` is checked against the discovered issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IssuerKind {
    /// `iss` equals the issuer exactly (OpenID Connect Core 3.1.3.7 step 2).
    Exact,
    /// Microsoft Entra ID's multi-tenant document (`/common`, `/organizations`,
    /// `/consumers`): the issuer is the template `…/{tenantid}/v2.0`, and each token's `iss`
    /// must equal it with the token's own `tid` put in.
    TenantTemplate,
}

/// The placeholder of Microsoft Entra ID's multi-tenant issuer.
pub(crate) const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The tenant segments of Microsoft Entra ID's multi-tenant discovery documents.
pub(crate) const MULTI_TENANT_SEGMENTS: [&str; 3] = ["common", "organizations", "consumers"];

/// What one discovery fetch established.
#[derive(Debug)]
pub(crate) struct Discovered {
    pub(crate) issuer: IssuerUrl,
    pub(crate) issuer_kind: IssuerKind,
    pub(crate) authorization_endpoint: Url,
    pub(crate) token_endpoint: TokenUrl,
    pub(crate) jwks_uri: JsonWebKeySetUrl,
    pub(crate) end_session_endpoint: Option<Url>,
    /// For `fetch_userinfo`.
    pub(crate) userinfo_endpoint: Option<openidconnect::UserInfoUrl>,
    pub(crate) iss_parameter_supported: bool,
    /// [`ASYMMETRIC_ALGS`] intersected with `id_token_signing_alg_values_supported`.
    pub(crate) signing_algs: Vec<CoreJwsSigningAlgorithm>,
    /// `token_endpoint_auth_methods_supported` lists `client_secret_post` but not
    /// `client_secret_basic`.
    pub(crate) post_only: bool,
    fetched_at: Instant,
}

/// Metadata plus the key set in use with it. Replaced as a whole, never mutated, so a login in
/// flight keeps a consistent view while another request refreshes.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) discovered: Arc<Discovered>,
    pub(crate) keys: Arc<CoreJsonWebKeySet>,
}

/// How long things are trusted; a struct so tests can shorten them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) metadata_max_age: Duration,
    pub(crate) failure_backoff: Duration,
    pub(crate) key_refetch_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            metadata_max_age: Duration::from_secs(24 * 60 * 60),
            failure_backoff: Duration::from_secs(5),
            key_refetch_interval: Duration::from_secs(10),
        }
    }
}

/// Why the provider's metadata or keys are not usable: words for a visitor's page, and the
/// whole story (with the URLs discovery chose) for the log.
#[derive(Clone, Debug)]
pub(crate) struct Unavailable {
    pub(crate) public: String,
    pub(crate) detail: String,
}

impl Unavailable {
    /// A failure whose words quote only the configuration and bounded provider text.
    fn plain(reason: String) -> Self {
        Unavailable {
            public: reason.clone(),
            detail: reason,
        }
    }

    fn http(error: &HttpError, what: &str) -> Self {
        Unavailable {
            public: error.public(what),
            detail: error.to_string(),
        }
    }

    fn with_detail(public: String, detail: String) -> Self {
        Unavailable { public, detail }
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

#[derive(Default)]
struct FetchState {
    last_failure: Option<(Instant, Unavailable)>,
    last_key_fetch: Option<Instant>,
}

/// The per-provider cache.
pub(crate) struct Cache {
    /// The provider's name, for logs.
    name: String,
    metadata_url: Url,
    /// `server_metadata_url` as configured, before URL normalisation: what the discovery
    /// document's `issuer` is compared with.
    configured_url: String,
    /// Whether the provider's rules say which tenants may log in (`allowed_tenants` or
    /// `allow_any_tenant`), which a document admitting every Entra tenant needs.
    tenant_rule: bool,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held for the whole of a fetch, which is what makes concurrent callers share one.
    fetch: Mutex<FetchState>,
    pub(crate) timing: Timing,
}

impl Cache {
    /// `configured_url` is `server_metadata_url` as written, `metadata_url` the same URL
    /// parsed; `tenant_rule`: whether the provider's rules limit or explicitly open the
    /// tenants.
    pub(crate) fn new(
        name: &str,
        metadata_url: Url,
        configured_url: &str,
        tenant_rule: bool,
    ) -> Cache {
        Cache {
            name: name.to_owned(),
            metadata_url,
            configured_url: configured_url.to_owned(),
            tenant_rule,
            current: RwLock::new(None),
            fetch: Mutex::new(FetchState::default()),
            timing: Timing::default(),
        }
    }

    /// The snapshot in use, if discovery has ever succeeded (possibly stale).
    pub(crate) fn current(&self) -> Option<Arc<Snapshot>> {
        // A panic elsewhere while holding the lock cannot leave a half-written Arc behind.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
    }

    fn is_fresh(&self, snapshot: &Snapshot) -> bool {
        snapshot.discovered.fetched_at.elapsed() < self.timing.metadata_max_age
    }

    /// Fresh metadata and keys, fetching them if needed. The error is a plain reason.
    pub(crate) async fn snapshot(&self, http: &HttpClient) -> Result<Arc<Snapshot>, Unavailable> {
        let stale = match self.current() {
            Some(s) if self.is_fresh(&s) => return Ok(s),
            other => other,
        };
        let mut state = match &stale {
            // With a usable (if old) snapshot, nobody should queue behind a slow refresh.
            Some(s) => match self.fetch.try_lock() {
                Ok(state) => state,
                Err(_) => return Ok(s.clone()),
            },
            None => self.fetch.lock().await,
        };
        // Whoever held the lock before us may have just finished the fetch.
        let stale = match self.current() {
            Some(s) if self.is_fresh(&s) => return Ok(s),
            other => other.or(stale),
        };
        if let Some((at, reason)) = &state.last_failure {
            if at.elapsed() < self.timing.failure_backoff {
                return stale.ok_or_else(|| reason.clone());
            }
        }
        match self.fetch_all(http).await {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                self.store(snapshot.clone());
                state.last_failure = None;
                // Discovery does not count against the refetch limit: a key rotated just
                // after start-up must still be picked up by the first token that uses it.
                Ok(snapshot)
            }
            Err(reason) => {
                state.last_failure = Some((Instant::now(), reason.clone()));
                match stale {
                    Some(s) => {
                        tracing::warn!(
                            provider = %self.name,
                            reason = %reason,
                            "refreshing the provider's discovery document failed; still using the previous one"
                        );
                        Ok(s)
                    }
                    None => {
                        tracing::warn!(
                            provider = %self.name,
                            reason = %reason,
                            retry_after = ?self.timing.failure_backoff,
                            "login provider unavailable"
                        );
                        Err(reason)
                    }
                }
            }
        }
    }

    /// After a token named a key we do not have: fetch the key set again, unless another
    /// request already did since `seen` was taken or one was fetched very recently. `None`
    /// means there is nothing newer to try.
    pub(crate) async fn refetch_keys(
        &self,
        http: &HttpClient,
        seen: &Snapshot,
    ) -> Option<Arc<Snapshot>> {
        let mut state = self.fetch.lock().await;
        let current = self.current()?;
        if !Arc::ptr_eq(&current.keys, &seen.keys) {
            return Some(current);
        }
        if let Some(at) = state.last_key_fetch {
            if at.elapsed() < self.timing.key_refetch_interval {
                tracing::debug!(provider = %self.name, "not refetching the key set: it was fetched moments ago");
                return None;
            }
        }
        state.last_key_fetch = Some(Instant::now());
        tracing::debug!(provider = %self.name, "the ID token names an unknown key; refetching the key set");
        match fetch_keys(http, &current.discovered.jwks_uri).await {
            Ok(keys) => {
                let snapshot = Arc::new(Snapshot {
                    discovered: current.discovered.clone(),
                    keys: Arc::new(keys),
                });
                self.store(snapshot.clone());
                Some(snapshot)
            }
            Err(reason) => {
                tracing::warn!(provider = %self.name, reason = %reason, "refetching the provider's key set failed");
                None
            }
        }
    }

    async fn fetch_all(&self, http: &HttpClient) -> Result<Snapshot, Unavailable> {
        tracing::debug!(provider = %self.name, url = %display_url(&self.metadata_url), "fetching the discovery document");
        let discovered = self.fetch_metadata(http).await?;
        let keys = fetch_keys(http, &discovered.jwks_uri).await?;
        Ok(Snapshot {
            discovered: Arc::new(discovered),
            keys: Arc::new(keys),
        })
    }

    async fn fetch_metadata(&self, http: &HttpClient) -> Result<Discovered, Unavailable> {
        let shown = display_url(&self.metadata_url);
        let body = http
            .get_json(&self.metadata_url)
            .await
            .map_err(|e| Unavailable::http(&e, "its discovery document"))?;
        let metadata: Metadata = serde_json::from_slice(&body).map_err(|e| {
            Unavailable::plain(format!(
                "the discovery document at {shown} is not a valid OpenID configuration ({})",
                bounded(&e.to_string(), MAX_SHOWN)
            ))
        })?;

        let issuer_kind = check_issuer(&self.configured_url, &shown, metadata.issuer().as_str())
            .map_err(Unavailable::plain)?;
        // The configuration refuses Entra's own /common and /organizations without a tenant
        // rule; this is the same rule for any document that turns out to admit every tenant
        // (a proxy or custom host in front of Entra), decided by what the document says.
        if issuer_kind == IssuerKind::TenantTemplate
            && !self.tenant_rule
            && template_segment(&self.configured_url, metadata.issuer().as_str())
                .is_some_and(|segment| ADMITS_EVERY_TENANT.contains(&segment))
        {
            return Err(Unavailable::plain(format!(
                "the discovery document at {shown} admits users of every Microsoft Entra \
                 tenant, and no tenant rule limits who may log in; set `allowed_tenants` \
                 (or `allow_any_tenant = true` if every tenant is really welcome)"
            )));
        }

        let token_endpoint = metadata.token_endpoint().cloned().ok_or_else(|| {
            Unavailable::plain(format!(
                "the discovery document at {shown} has no token_endpoint"
            ))
        })?;
        // Plain http for any endpoint would undo the TLS the document itself was fetched
        // with: the token endpoint carries the client secret, the key set the signing keys,
        // the authorization endpoint the login and the end-session endpoint the ID token.
        let extra = metadata.additional_metadata();
        if self.metadata_url.scheme() == "https" {
            let endpoints = [
                (
                    "authorization_endpoint",
                    Some(metadata.authorization_endpoint().url()),
                ),
                ("token_endpoint", Some(token_endpoint.url())),
                ("jwks_uri", Some(metadata.jwks_uri().url())),
                (
                    "userinfo_endpoint",
                    metadata.userinfo_endpoint().map(|u| u.url()),
                ),
                (
                    "end_session_endpoint",
                    extra.end_session_endpoint.as_ref().map(|u| u.url()),
                ),
            ];
            if let Some(field) = plain_http_endpoint(&endpoints) {
                return Err(Unavailable::plain(format!(
                    "the discovery document at {shown} gives a plain http {field}"
                )));
            }
        }

        let advertised = metadata.id_token_signing_alg_values_supported();
        let signing_algs: Vec<_> = ASYMMETRIC_ALGS
            .iter()
            .filter(|alg| advertised.contains(alg))
            .cloned()
            .collect();
        if signing_algs.is_empty() {
            // Its ID tokens could never be verified: better a clear page at the login than a
            // round trip through the provider ending in a refused token.
            let listed: Vec<String> = advertised
                .iter()
                .map(|alg| match serde_json::to_value(alg) {
                    Ok(serde_json::Value::String(name)) => name,
                    _ => "?".to_owned(),
                })
                .collect();
            return Err(Unavailable::plain(format!(
                "the discovery document at {shown} lists only ID token signing algorithms this \
                 library refuses ({}); it accepts the asymmetric ones (RS256, RS384, RS512, \
                 PS256, PS384, PS512, ES256, ES384, EdDSA), never none or HS256/HS384/HS512",
                bounded(&listed.join(", "), MAX_SHOWN)
            )));
        }

        let post_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|methods| {
                methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                    && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
            });

        Ok(Discovered {
            issuer: metadata.issuer().clone(),
            issuer_kind,
            authorization_endpoint: metadata.authorization_endpoint().url().clone(),
            token_endpoint,
            jwks_uri: metadata.jwks_uri().clone(),
            end_session_endpoint: extra.end_session_endpoint.as_ref().map(|u| u.url().clone()),
            userinfo_endpoint: metadata.userinfo_endpoint().cloned(),
            iss_parameter_supported: extra
                .additional_metadata
                .authorization_response_iss_parameter_supported,
            signing_algs,
            post_only,
            fetched_at: Instant::now(),
        })
    }
}

/// The first of `endpoints` (name, URL if the document gives one) that is not https.
pub(crate) fn plain_http_endpoint<'a>(endpoints: &[(&'a str, Option<&Url>)]) -> Option<&'a str> {
    endpoints
        .iter()
        .find(|(_, url)| url.is_some_and(|url| url.scheme() != "https"))
        .map(|(field, _)| *field)
}

/// The well-known suffix of an OpenID Connect discovery document.
const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// The well-known suffix of an RFC 8414 authorization server metadata document.
const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";

/// The multi-tenant segment (`common`, …) that, put into the templated `issuer`, gives the
/// document `configured_url` was fetched from; `None` for any other document.
pub(crate) fn template_segment(configured_url: &str, issuer: &str) -> Option<&'static str> {
    let fetched_from = configured_url
        .split(['?', '#'])
        .next()
        .unwrap_or(configured_url);
    MULTI_TENANT_SEGMENTS.into_iter().find(|segment| {
        metadata_urls_of(&issuer.replace(TENANT_PLACEHOLDER, segment))
            .iter()
            .any(|url| url == fetched_from)
    })
}

/// OpenID Connect Discovery 1.0 section 4.3: the `issuer` a discovery document names must be
/// the one whose URL the document was fetched from, exactly (string comparison: no case
/// folding, no default-port or percent-encoding normalisation). Otherwise whoever serves the
/// document could have us accept ID tokens in the name of any other provider.
///
/// The URL of an issuer's document is the issuer, any terminating `/` removed, plus
/// `/.well-known/openid-configuration` (section 4.1), so `https://tenant.example/` (Auth0) is
/// the issuer of `https://tenant.example/.well-known/openid-configuration`. The RFC 8414
/// form, with the well-known segment between host and path, is accepted too. The query of
/// `configured_url` (Azure AD B2C's `?p=policy`) is not part of the comparison.
///
/// Microsoft Entra ID's multi-tenant documents (`/common`, `/organizations`) name the
/// template `https://login.microsoftonline.com/{tenantid}/v2.0`: accepted only when the
/// template with the document's own segment put in is where it was fetched from
/// ([`IssuerKind::TenantTemplate`]); each ID token's `iss` is then checked against the
/// template with the token's own `tid`. Any other templated issuer is refused.
pub(crate) fn check_issuer(
    configured_url: &str,
    shown: &str,
    issuer: &str,
) -> Result<IssuerKind, String> {
    let fetched_from = configured_url
        .split(['?', '#'])
        .next()
        .unwrap_or(configured_url);
    let candidates = metadata_urls_of(issuer);
    if candidates.iter().any(|url| url == fetched_from) {
        return Ok(IssuerKind::Exact);
    }
    let issuer_shown = bounded(issuer, MAX_SHOWN);
    if issuer.to_ascii_lowercase().contains(TENANT_PLACEHOLDER) {
        // The template, with the document's own tenant segment put in, must be the issuer
        // of the document: the multi-tenant documents of the same provider, and no other.
        if template_segment(configured_url, issuer).is_some()
            && issuer.matches(TENANT_PLACEHOLDER).count() == 1
        {
            return Ok(IssuerKind::TenantTemplate);
        }
        return Err(format!(
            "the discovery document at {shown} names a templated issuer \"{issuer_shown}\": \
             only Microsoft Entra ID's multi-tenant one (/common, /organizations or /consumers) \
             may, since no token's issuer can be checked against any other template; set \
             server_metadata_url to your tenant's document, with {{tenantid}} replaced by your \
             directory (tenant) ID: \
             https://login.microsoftonline.com/<tenant ID>/v2.0/.well-known/openid-configuration"
        ));
    }
    let expected = candidates
        .first()
        .map(|url| bounded(url, MAX_SHOWN))
        .unwrap_or_default();
    Err(format!(
        "the discovery document at {shown} names the issuer \"{issuer_shown}\", whose document \
         is at {expected}, not there (OpenID Connect Discovery 4.3 requires the issuer to match \
         the URL it is discovered from); if that issuer is the right provider, set \
         server_metadata_url to {expected}"
    ))
}

/// The issuer a token of tenant `tid` must name, for a multi-tenant provider's `template`.
/// `None` when `tid` is not a tenant id (a GUID), so nothing odd can land in a URL.
pub(crate) fn tenant_issuer(template: &str, tid: &str) -> Option<String> {
    let groups: Vec<&str> = tid.split('-').collect();
    let is_guid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    is_guid.then(|| template.replace(TENANT_PLACEHOLDER, tid))
}

/// Where `issuer`'s metadata document may be: OpenID Connect Discovery's form first, then the
/// RFC 8414 forms.
fn metadata_urls_of(issuer: &str) -> Vec<String> {
    let trimmed = issuer.strip_suffix('/').unwrap_or(issuer);
    let mut urls = vec![format!("{trimmed}{OPENID_CONFIGURATION}")];
    let path_start = trimmed
        .find("://")
        .and_then(|scheme_end| {
            let authority = scheme_end + 3;
            trimmed[authority..].find('/').map(|i| authority + i)
        })
        .unwrap_or(trimmed.len());
    let (origin, path) = trimmed.split_at(path_start);
    if !path.is_empty() {
        urls.push(format!("{origin}{OPENID_CONFIGURATION}{path}"));
    }
    urls.push(format!("{origin}{OAUTH_AUTHORIZATION_SERVER}{path}"));
    urls
}

async fn fetch_keys(
    http: &HttpClient,
    jwks_uri: &JsonWebKeySetUrl,
) -> Result<CoreJsonWebKeySet, Unavailable> {
    let shown = display_url(jwks_uri.url());
    let body = http
        .get_json(jwks_uri.url())
        .await
        .map_err(|e| Unavailable::http(&e, "its key set"))?;
    // Keys that cannot be used are skipped rather than failing the whole set (conformance
    // suite `ignores-unparseable-key-in-jwks`); only a set with nothing usable left is an
    // error.
    let keys: CoreJsonWebKeySet = serde_json::from_slice(&body).map_err(|e| {
        let parser = bounded(&e.to_string(), MAX_SHOWN);
        Unavailable::with_detail(
            format!("its key set is not a valid JWK set ({parser})"),
            format!("the key set at {shown} is not a valid JWK set ({parser})"),
        )
    })?;
    let parsed = keys.keys().len();
    let usable: Vec<CoreJsonWebKey> = keys
        .keys()
        .iter()
        .filter(|k| is_usable(k))
        .cloned()
        .collect();
    if usable.len() < parsed {
        tracing::debug!(
            url = %shown,
            skipped = parsed - usable.len(),
            "ignoring keys of the key set that cannot verify a signature"
        );
    }
    if usable.is_empty() {
        return Err(Unavailable::with_detail(
            "its key set has no usable keys".to_owned(),
            format!("the key set at {shown} has no usable keys"),
        ));
    }
    Ok(CoreJsonWebKeySet::new(usable))
}

/// Whether a key openidconnect parsed can verify an asymmetric signature. openidconnect
/// drops an unknown `kty` itself, but keeps a key whose key material it could not read
/// (broken base64, an unknown curve) with that material missing; such a key would only ever
/// fail, or make a token without `kid` look ambiguous. Symmetric (`oct`) keys are never
/// used: only asymmetric algorithms are accepted.
fn is_usable(key: &CoreJsonWebKey) -> bool {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(key) else {
        return false;
    };
    let text = |name: &str| fields.get(name).and_then(|v| v.as_str());
    let present = |name: &str| text(name).is_some_and(|v| !v.is_empty());
    match text("kty") {
        Some("RSA") => present("n") && present("e"),
        Some("EC") => {
            matches!(text("crv"), Some("P-256" | "P-384")) && present("x") && present("y")
        }
        Some("OKP") => text("crv") == Some("Ed25519") && present("x"),
        _ => false,
    }
}
