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

use crate::config::TokenEndpointAuth;
use crate::testing::behaviour::{Behaviour, Misbehaviour};
use crate::testing::keys::SigningKeys;
use crate::testing::records::{EndSessionCall, RequestCounts, TokenCall};
use crate::testing::user::DevUser;
use crate::util::random_token;

pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS_PATH: &str = "/jwks";
pub(crate) const AUTHORIZE_PATH: &str = "/authorize";
pub(crate) const TOKEN_PATH: &str = "/token";
pub(crate) const USERINFO_PATH: &str = "/userinfo";
pub(crate) const END_SESSION_PATH: &str = "/logout";

/// Which client authentication the token endpoint accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcceptedAuth {
    Both,
    Only(TokenEndpointAuth),
}

impl AcceptedAuth {
    pub(crate) fn accepts(self, method: TokenEndpointAuth) -> bool {
        match self {
            AcceptedAuth::Both => true,
            AcceptedAuth::Only(only) => only == method,
        }
    }

    pub(crate) fn advertised(self) -> Vec<CoreClientAuthMethod> {
        let all = [
            (
                TokenEndpointAuth::ClientSecretBasic,
                CoreClientAuthMethod::ClientSecretBasic,
            ),
            (
                TokenEndpointAuth::ClientSecretPost,
                CoreClientAuthMethod::ClientSecretPost,
            ),
        ];
        all.into_iter()
            .filter(|(ours, _)| self.accepts(*ours))
            .map(|(_, core)| core)
            .collect()
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

/// What a code was issued for; checked again when it is redeemed.
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) scope: String,
    pub(crate) claims: Map<String, Value>,
    pub(crate) auth_time: SystemTime,
    pub(crate) expires: Instant,
    /// Set by the first redemption attempt, successful or not: a code is presented once.
    pub(crate) used: bool,
    /// The access token issued for this code, revoked if the code is replayed (RFC 6749
    /// section 4.1.2).
    pub(crate) issued_token: Option<String>,
}

/// What an access token gives access to at userinfo, and until when.
pub(crate) struct AccessGrant {
    pub(crate) claims: Map<String, Value>,
    pub(crate) expires: Instant,
}

/// State shared by the handlers and the [`DevProvider`](crate::testing::DevProvider) handle.
pub(crate) struct Shared {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) accepted_auth: AcceptedAuth,
    pub(crate) keys: Mutex<SigningKeys>,
    pub(crate) default_user: Mutex<DevUser>,
    pub(crate) behaviour: Mutex<Behaviour>,
    pub(crate) counters: Counters,
    pub(crate) end_session_calls: Mutex<Vec<EndSessionCall>>,
    pub(crate) token_calls: Mutex<Vec<TokenCall>>,
    pub(crate) codes: Mutex<HashMap<String, CodeGrant>>,
    pub(crate) access_tokens: Mutex<HashMap<String, AccessGrant>>,
    /// The last ID token issued, for [`Misbehaviour::ReplayIdToken`].
    pub(crate) last_id_token: Mutex<Option<String>>,
    /// The random suffix of [`Misbehaviour::RandomJwksUri`], fixed per provider.
    pub(crate) jwks_suffix: String,
}

/// Handlers never panic while holding a lock, so a poisoned lock still holds consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct SharedConfig {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) accepted_auth: AcceptedAuth,
    pub(crate) keys: SigningKeys,
    pub(crate) default_user: DevUser,
}

impl Shared {
    pub(crate) fn new(config: SharedConfig) -> Shared {
        Shared {
            issuer: config.issuer,
            client_id: config.client_id,
            client_secret: config.client_secret,
            redirect_uris: config.redirect_uris,
            post_logout_redirect_uris: config.post_logout_redirect_uris,
            accepted_auth: config.accepted_auth,
            keys: Mutex::new(config.keys),
            default_user: Mutex::new(config.default_user),
            behaviour: Mutex::new(Behaviour::default()),
            counters: Counters::default(),
            end_session_calls: Mutex::new(Vec::new()),
            token_calls: Mutex::new(Vec::new()),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            last_id_token: Mutex::new(None),
            jwks_suffix: random_token(),
        }
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// The behaviour for one request: a snapshot, so a change applies from the next request.
    pub(crate) fn behaviour(&self) -> Behaviour {
        lock(&self.behaviour).clone()
    }

    /// The issuer the provider calls itself: its own, or the announced one.
    pub(crate) fn issuer_for<'a>(&'a self, behaviour: &'a Behaviour) -> &'a str {
        behaviour.announced_issuer().unwrap_or(&self.issuer)
    }

    /// The key set's URL as discovery publishes it.
    pub(crate) fn jwks_uri(&self, behaviour: &Behaviour) -> String {
        if behaviour.has(&Misbehaviour::RandomJwksUri) {
            format!("{}{JWKS_PATH}/{}", self.issuer, self.jwks_suffix)
        } else {
            self.endpoint(JWKS_PATH)
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
