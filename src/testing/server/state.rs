//! What the development provider knows between requests: its registration (client, redirect
//! URIs, accepted client authentication), its keys and behaviour, the codes and access tokens
//! it issued, and what it has counted and recorded.
//!
//! Every endpoint reads and writes this state; nothing here depends on an endpoint.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use openidconnect::core::CoreClientAuthMethod;
use serde_json::{Map, Value};
use url::{Host, Url};

use super::jwk_set::JwkSet;
use super::realm::{Realm, Tenancy, TENANT_PLACEHOLDER};
use crate::testing::behaviour::{Behaviour, Misbehaviour};
use crate::testing::keys::SigningKeys;
use crate::testing::records::{DevSession, EndSessionCall, RequestCounts, TokenCall};
use crate::testing::registration::{ClientAuthMethod, RefreshTokenIssue, RefreshTokenRotation};
use crate::testing::user::DevUser;
use crate::util::random_token;

pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS_PATH: &str = "/jwks";
pub(crate) const AUTHORIZE_PATH: &str = "/authorize";
pub(crate) const TOKEN_PATH: &str = "/token";
pub(crate) const USERINFO_PATH: &str = "/userinfo";
pub(crate) const END_SESSION_PATH: &str = "/logout";

/// The client authentication methods the token endpoint accepts, never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AcceptedAuth(Vec<ClientAuthMethod>);

impl AcceptedAuth {
    /// `methods` without repeats, in order; `None` when there are none.
    pub(crate) fn new(methods: impl IntoIterator<Item = ClientAuthMethod>) -> Option<AcceptedAuth> {
        let mut unique = Vec::new();
        for method in methods {
            if !unique.contains(&method) {
                unique.push(method);
            }
        }
        (!unique.is_empty()).then_some(AcceptedAuth(unique))
    }

    pub(crate) fn accepts(&self, method: ClientAuthMethod) -> bool {
        self.0.contains(&method)
    }

    /// `token_endpoint_auth_methods_supported`: both assertion methods are `private_key_jwt`.
    pub(crate) fn advertised(&self) -> Vec<CoreClientAuthMethod> {
        let mut advertised = Vec::new();
        for method in &self.0 {
            let core = match method {
                ClientAuthMethod::ClientSecretBasic => CoreClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::ClientSecretPost => CoreClientAuthMethod::ClientSecretPost,
                ClientAuthMethod::PrivateKeyJwt | ClientAuthMethod::FederatedCredential => {
                    CoreClientAuthMethod::PrivateKeyJwt
                }
            };
            if !advertised.contains(&core) {
                advertised.push(core);
            }
        }
        advertised
    }

    /// Whether a client assertion method is accepted.
    pub(crate) fn any_assertion(&self) -> bool {
        self.0.iter().any(|m| m.is_assertion())
    }
}

/// Per-endpoint request counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) discovery: AtomicU64,
    pub(crate) jwks: AtomicU64,
    pub(crate) authorize: AtomicU64,
    pub(crate) sign_in: AtomicU64,
    pub(crate) token: AtomicU64,
    pub(crate) refresh: AtomicU64,
    pub(crate) userinfo: AtomicU64,
    pub(crate) end_session: AtomicU64,
    pub(crate) redirect_targets: AtomicU64,
    pub(crate) attacker_keys: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RequestCounts {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            discovery: read(&self.discovery),
            jwks: read(&self.jwks),
            authorize: read(&self.authorize),
            sign_in: read(&self.sign_in),
            token: read(&self.token),
            refresh: read(&self.refresh),
            userinfo: read(&self.userinfo),
            end_session: read(&self.end_session),
            redirect_targets: read(&self.redirect_targets),
            attacker_keys: read(&self.attacker_keys),
        }
    }
}

/// Counts one request.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One sign-in: who, for which client and scope, in which provider-side session. Codes carry
/// it to the token endpoint, refresh tokens keep it for later ID tokens.
#[derive(Clone, Debug)]
pub(crate) struct Login {
    pub(crate) client_id: String,
    pub(crate) scope: String,
    /// The authorization request's nonce.
    pub(crate) nonce: Option<String>,
    /// Claims of the ID token and of userinfo, `sub` included.
    pub(crate) claims: Map<String, Value>,
    /// Claims of userinfo only.
    pub(crate) userinfo_claims: Map<String, Value>,
    pub(crate) auth_time: SystemTime,
    /// The provider-side session.
    pub(crate) sid: String,
}

impl Login {
    pub(crate) fn sub(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }
}

/// What a code was issued for; checked again when it is redeemed.
pub(crate) struct CodeGrant {
    pub(crate) login: Login,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) expires: Instant,
    /// Set by the first redemption attempt, successful or not: a code is presented once.
    pub(crate) used: bool,
    /// The access token issued for this code, revoked if the code is replayed (RFC 6749
    /// section 4.1.2).
    pub(crate) issued_token: Option<String>,
}

/// What an access token gives access to at userinfo, and until when.
pub(crate) struct AccessGrant {
    /// Everything userinfo answers, `sub` included.
    pub(crate) claims: Map<String, Value>,
    pub(crate) expires: Instant,
}

/// Whether a refresh token can still be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshState {
    Active,
    /// Replaced by a rotation: presenting it again revokes its family.
    Rotated,
}

/// What a refresh token was issued for.
pub(crate) struct RefreshGrant {
    pub(crate) login: Login,
    /// Every refresh token descending from one code exchange shares it (RFC 9700 4.14.2).
    pub(crate) family: String,
    pub(crate) state: RefreshState,
}

/// A third party trusted for client assertions, with its keys parsed.
pub(crate) struct Federated {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audience: String,
    pub(crate) keys: JwkSet,
}

/// State shared by the handlers and the [`DevProvider`](crate::testing::DevProvider) handle.
pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT`.
    pub(crate) origin: String,
    /// Where the endpoints are: the issuer for a single-tenant provider, `…/common/v2.0` for
    /// a multi-tenant one.
    pub(crate) base: String,
    /// The issuer: for a multi-tenant provider the template `…/{tenantid}/v2.0`.
    pub(crate) issuer: String,
    pub(crate) tenancy: Tenancy,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) backchannel_logout_uri: Option<String>,
    pub(crate) frontchannel_logout_uri: Option<String>,
    pub(crate) accepted_auth: AcceptedAuth,
    /// The client's public keys, for `private_key_jwt`.
    pub(crate) client_keys: JwkSet,
    pub(crate) federated: Vec<Federated>,
    pub(crate) refresh_issue: RefreshTokenIssue,
    pub(crate) refresh_rotation: RefreshTokenRotation,
    pub(crate) keys: Mutex<SigningKeys>,
    pub(crate) default_user: Mutex<DevUser>,
    pub(crate) behaviour: Mutex<Behaviour>,
    pub(crate) counters: Counters,
    pub(crate) end_session_calls: Mutex<Vec<EndSessionCall>>,
    pub(crate) token_calls: Mutex<Vec<TokenCall>>,
    pub(crate) codes: Mutex<HashMap<String, CodeGrant>>,
    pub(crate) access_tokens: Mutex<HashMap<String, AccessGrant>>,
    pub(crate) refresh_tokens: Mutex<HashMap<String, RefreshGrant>>,
    /// `iss` + ` ` + `jti` of accepted client assertions, with their `exp`: each is accepted
    /// once (RFC 7523 section 3).
    pub(crate) assertion_jtis: Mutex<HashMap<String, i64>>,
    /// Every sign-in, oldest first.
    pub(crate) sessions: Mutex<Vec<DevSession>>,
    /// The last ID token issued, for [`Misbehaviour::ReplayIdToken`].
    pub(crate) last_id_token: Mutex<Option<String>>,
    /// The `jti` of the last logout token sent, for [`Misbehaviour::LogoutTokenRepeatedJti`].
    pub(crate) last_logout_jti: Mutex<Option<String>>,
    /// The random suffix of [`Misbehaviour::RandomJwksUri`], fixed per provider.
    pub(crate) jwks_suffix: String,
}

/// Handlers never panic while holding a lock, so a poisoned lock still holds consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct SharedConfig {
    pub(crate) origin: String,
    pub(crate) base: String,
    pub(crate) issuer: String,
    pub(crate) tenancy: Tenancy,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) backchannel_logout_uri: Option<String>,
    pub(crate) frontchannel_logout_uri: Option<String>,
    pub(crate) accepted_auth: AcceptedAuth,
    pub(crate) client_keys: JwkSet,
    pub(crate) federated: Vec<Federated>,
    pub(crate) refresh_issue: RefreshTokenIssue,
    pub(crate) refresh_rotation: RefreshTokenRotation,
    pub(crate) keys: SigningKeys,
    pub(crate) default_user: DevUser,
    pub(crate) behaviour: Behaviour,
}

impl Shared {
    pub(crate) fn new(config: SharedConfig) -> Shared {
        Shared {
            origin: config.origin,
            base: config.base,
            issuer: config.issuer,
            tenancy: config.tenancy,
            client_id: config.client_id,
            client_secret: config.client_secret,
            redirect_uris: config.redirect_uris,
            post_logout_redirect_uris: config.post_logout_redirect_uris,
            backchannel_logout_uri: config.backchannel_logout_uri,
            frontchannel_logout_uri: config.frontchannel_logout_uri,
            accepted_auth: config.accepted_auth,
            client_keys: config.client_keys,
            federated: config.federated,
            refresh_issue: config.refresh_issue,
            refresh_rotation: config.refresh_rotation,
            keys: Mutex::new(config.keys),
            default_user: Mutex::new(config.default_user),
            behaviour: Mutex::new(config.behaviour),
            counters: Counters::default(),
            end_session_calls: Mutex::new(Vec::new()),
            token_calls: Mutex::new(Vec::new()),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            assertion_jtis: Mutex::new(HashMap::new()),
            sessions: Mutex::new(Vec::new()),
            last_id_token: Mutex::new(None),
            last_logout_jti: Mutex::new(None),
            jwks_suffix: random_token(),
        }
    }

    /// An endpoint under the default base (`common` for a multi-tenant provider).
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Where the endpoints of `realm` are.
    pub(crate) fn base_of(&self, realm: &Realm) -> String {
        match realm.segment() {
            None => self.base.clone(),
            Some(segment) => format!("{}/{segment}/v2.0", self.origin),
        }
    }

    /// An endpoint under `realm`'s base.
    pub(crate) fn endpoint_in(&self, realm: &Realm, path: &str) -> String {
        format!("{}{path}", self.base_of(realm))
    }

    /// The issuer `realm`'s discovery document names.
    pub(crate) fn issuer_of(&self, realm: &Realm) -> String {
        match realm {
            Realm::Single | Realm::Template(_) => self.issuer.clone(),
            Realm::Tenant(tid) => self.tenant_issuer(tid),
        }
    }

    /// The issuer of one tenant of a multi-tenant provider: the template with `tid` in it.
    pub(crate) fn tenant_issuer(&self, tid: &str) -> String {
        self.issuer.replace(TENANT_PLACEHOLDER, tid)
    }

    /// The behaviour for one request: a snapshot, so a change applies from the next request.
    pub(crate) fn behaviour(&self) -> Behaviour {
        lock(&self.behaviour).clone()
    }

    /// The issuer the provider calls itself: its own, or the announced one.
    pub(crate) fn issuer_for<'a>(&'a self, behaviour: &'a Behaviour) -> &'a str {
        behaviour.announced_issuer().unwrap_or(&self.issuer)
    }

    /// The `iss` of an ID token with these claims: the issuer (or the announced one), and for
    /// a multi-tenant provider the issuer of the token's `tid`, or of another tenant under
    /// [`Misbehaviour::TenantIssuerMismatch`].
    pub(crate) fn id_token_issuer(
        &self,
        behaviour: &Behaviour,
        claims: &Map<String, Value>,
    ) -> String {
        if let Some(announced) = behaviour.announced_issuer() {
            return announced.to_owned();
        }
        match self.tenancy {
            Tenancy::Single => self.issuer.clone(),
            Tenancy::EntraMultiTenant => {
                let tid = claims
                    .get("tid")
                    .and_then(Value::as_str)
                    .unwrap_or(DevUser::DEFAULT_TENANT);
                if behaviour.has(&Misbehaviour::TenantIssuerMismatch) {
                    self.tenant_issuer(&format!("{tid}-other"))
                } else {
                    self.tenant_issuer(tid)
                }
            }
        }
    }

    /// The key set's URL as `realm`'s discovery publishes it.
    pub(crate) fn jwks_uri(&self, behaviour: &Behaviour, realm: &Realm) -> String {
        if behaviour.has(&Misbehaviour::RandomJwksUri) {
            format!("{}{JWKS_PATH}/{}", self.base_of(realm), self.jwks_suffix)
        } else {
            self.endpoint_in(realm, JWKS_PATH)
        }
    }

    pub(crate) fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.is_empty() {
            is_loopback_http(uri)
        } else {
            self.redirect_uris.iter().any(|r| r == uri)
        }
    }

    /// Streamlit registers only `redirect_uri` with the provider and logs out back to it, so
    /// registered redirect URIs are valid logout targets too.
    pub(crate) fn post_logout_redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.is_empty() && self.post_logout_redirect_uris.is_empty() {
            is_loopback_http(uri)
        } else {
            self.redirect_uris
                .iter()
                .chain(&self.post_logout_redirect_uris)
                .any(|r| r == uri)
        }
    }

    /// Ends every refresh token and access token of `sub`; how many refresh tokens ended.
    pub(crate) fn revoke_grants(&self, sub: &str) -> usize {
        let mut refresh = lock(&self.refresh_tokens);
        let before = refresh.len();
        refresh.retain(|_, grant| grant.login.sub() != Some(sub));
        let ended = before - refresh.len();
        drop(refresh);
        lock(&self.access_tokens)
            .retain(|_, grant| grant.claims.get("sub").and_then(Value::as_str) != Some(sub));
        ended
    }
}

/// `http` on exactly 127.0.0.1, localhost or [::1], any port and path, no fragment or user
/// info. Stricter than the crate's own loopback rule (all of 127.0.0.0/8): the development
/// provider only ever redirects to the machine's own default address.
pub(crate) fn is_loopback_http(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    let loopback_host = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    };
    url.scheme() == "http"
        && loopback_host
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
}

/// RFC 7636 section 4.1: the verifier (and an S256 challenge) use only unreserved characters.
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}
