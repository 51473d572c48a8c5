//! How the development provider behaves when it builds responses, and the ways it can be
//! told to misbehave.
//!
//! Handlers take a snapshot of [`Behaviour`] per request and build every response from it,
//! never from hard-coded values, so a [`Misbehaviour`] set between two requests applies from
//! the next request on.

use std::mem::discriminant;
#[cfg(test)]
use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
use serde_json::{Map, Value};

/// A way a broken or hostile OpenID provider misbehaves, reproduced on demand by the
/// [`DevProvider`](super::DevProvider) so tests can prove that a client refuses what it must
/// refuse (and accepts what it must accept).
///
/// Switch one on with [`DevProvider::misbehave`](super::DevProvider::misbehave); it applies
/// to every response from the next request on, until
/// [`DevProvider::behave`](super::DevProvider::behave) switches all of them off. Several can
/// be on at once; switching on one that is already on (with other data) replaces it.
///
/// Most variants reproduce a case of the OpenID Foundation's RP certification (the old
/// `rp-*` test ids, kept by the current conformance suite); their documentation names it and
/// says what a conforming client does. "Refuse" means the login fails and no session is
/// created; "accept" means the login succeeds.
///
/// ```
/// use tower_oidc_login::testing::{DevProvider, Misbehaviour};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = DevProvider::start().await?;
/// provider.misbehave(Misbehaviour::AnnounceIssuer("https://accounts.example".into()));
/// let discovery: serde_json::Value =
///     serde_json::from_str(&reqwest::get(provider.server_metadata_url()).await?.text().await?)?;
/// assert_eq!(discovery["issuer"], "https://accounts.example");
///
/// provider.behave();
/// let discovery: serde_json::Value =
///     serde_json::from_str(&reqwest::get(provider.server_metadata_url()).await?.text().await?)?;
/// assert_eq!(discovery["issuer"], provider.issuer());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    // ---------------------------------------------------------------------------------
    // ID token claims
    /// `iss` in ID tokens is the issuer with `1` appended to its path (`/1` when it has
    /// none: `http://127.0.0.1:PORT/1`); discovery and the authorization response keep the
    /// real issuer. `rp-id_token-issuer-mismatch`: refuse.
    WrongIssuer,
    /// ID tokens have no `sub`. `rp-id_token-sub`: refuse.
    NoSubject,
    /// ID tokens carry `"sub": ""`. Refuse: `sub` identifies the user and must not be empty
    /// (OpenID Connect Core 1.0 section 2).
    EmptySubject,
    /// ID tokens carry a 256-character `sub`. Refuse: `sub` must not exceed 255 ASCII
    /// characters (OpenID Connect Core 1.0 section 2).
    LongSubject,
    /// `aud` is the client id with `1` appended. `rp-id_token-aud`: refuse.
    WrongAudience,
    /// ID tokens have no `aud`. `rp-id_token-aud` (conformance suite `missing-aud`): refuse.
    NoAudience,
    /// `aud` is a one-element array `[client_id]` instead of the string `client_id` (both are
    /// valid JSON shapes for `aud`). Conformance suite `valid-aud-as-array`: accept.
    AudienceArray,
    /// `aud` is `[client_id, client_id + "1"]` and there is no `azp`. Conformance suite
    /// `invalid-secondary-aud`: refuse, the other audience is not trusted (OpenID Connect
    /// Core 1.0 section 3.1.3.7 step 3).
    ExtraAudience,
    /// ID tokens carry `azp` = the client id with `1` appended. Refuse: the token was
    /// issued to another party.
    WrongAuthorizedParty,
    /// ID tokens have no `iat`. `rp-id_token-iat`: refuse.
    NoIssuedAt,
    /// ID tokens expired six minutes ago (`exp` = now − 6 min, `iat` = now − 7 min).
    /// Conformance suite `invalid-expired-exp`: refuse.
    Expired,
    /// ID tokens are issued ten minutes in the future (`iat` = now + 10 min). Refuse.
    IssuedInFuture,
    /// ID tokens are not valid for another ten minutes (`nbf` = now + 10 min; `iat` and
    /// `exp` normal). Refuse: RFC 7519 section 4.1.5.
    NotYetValid,
    /// ID tokens were issued a week ago (`iat` = now − 7 days; `exp` still in the future).
    /// Conformance suite `iat-is-week-in-past`: refuse, a token that old is a replay.
    IssuedLongAgo,
    /// `nonce` is the one the client sent with `1` appended. `rp-nonce-invalid`: refuse.
    WrongNonce,
    /// ID tokens have no `nonce`, although the authorization request sent one. Refuse: a
    /// client that sent a nonce must find it in the token (OpenID Connect Core 1.0 section
    /// 3.1.3.7 step 11).
    NoNonce,
    /// `at_hash` is the hash of another access token. Refuse (OpenID Connect Core 1.0
    /// section 3.1.3.8 lets the client check it; this crate does).
    WrongAtHash,
    /// The token endpoint answers with the last ID token it issued (for an earlier login)
    /// instead of a new one; the first token issued is a normal one. Refuse: its `nonce` is
    /// the earlier login's.
    ReplayIdToken,
    /// ID tokens are signed with the real key but carry only `sub` of the user's claims: the
    /// profile claims (`name`, `email`, …) are available from userinfo only.
    /// `rp-scope-userinfo-claims`: a client that reads claims from userinfo gets them; a
    /// client that never calls userinfo (as this crate's, like Streamlit's) logs the user in
    /// without them.
    ClaimsOnlyFromUserinfo,

    // ---------------------------------------------------------------------------------
    // ID token header and signature
    /// ID tokens carry no `kid`; the key set holds one key. `rp-id_token-kid-absent-single-jwks`:
    /// accept, with the only key.
    NoKeyId,
    /// ID tokens carry no `kid`, and the key set publishes a second RSA key (the other
    /// embedded key) next to the signing one. `rp-id_token-kid-absent-multiple-jwks`: a
    /// client may refuse (the key is ambiguous) or try each key.
    NoKeyIdSeveralKeys,
    /// ID tokens are unsigned: `"alg": "none"` and an empty signature; discovery lists
    /// `none` among the signing algorithms. `rp-id_token-sig-none`: refuse (the certification
    /// allows accepting, but an unsigned token proves nothing).
    AlgNone,
    /// ID tokens carry a corrupted RS256 signature. `rp-id_token-bad-sig-rs256`: refuse.
    BadSignature,
    /// ID tokens are HS256 tokens keyed with the client secret; discovery lists `HS256`.
    /// Refuse if the client accepts asymmetric signatures only (as this crate does).
    Hs256WithClientSecret,
    /// ID tokens are HS256 tokens keyed with the signing key's public key as PEM text
    /// (`-----BEGIN PUBLIC KEY-----…`), the algorithm-confusion attack on verifiers that
    /// feed the "key" to whatever algorithm the token names; discovery lists `HS256`. Refuse.
    Hs256WithPublicKeyPem,
    /// Like [`Misbehaviour::Hs256WithPublicKeyPem`], keyed with the raw RSA modulus bytes.
    /// Refuse.
    Hs256WithPublicKeyModulus,
    /// ID tokens are signed with a key the key set does not publish (the embedded key that
    /// is not signing now), under `kid` `attacker-key`, and their header carries `jku`
    /// pointing at a key set with that key (served at `/attacker/jwks`). Refuse: only the key
    /// set named by discovery is trusted. [`RequestCounts::attacker_keys`] shows whether the
    /// client fetched the attacker's key set.
    ///
    /// [`RequestCounts::attacker_keys`]: super::RequestCounts::attacker_keys
    ForeignKeyInJku,
    /// Like [`Misbehaviour::ForeignKeyInJku`], with the attacker's public key embedded in the
    /// header as `jwk`. Refuse.
    ForeignKeyInJwk,
    /// Like [`Misbehaviour::ForeignKeyInJku`], with `x5u` pointing at a certificate URL
    /// (`/attacker/cert.pem`). Refuse.
    ForeignKeyInX5u,
    /// The "ID token" is a JWT access token (`"typ": "at+jwt"`, RFC 9068, with `client_id`
    /// and `jti`), otherwise valid. Refuse: a token of another type must not be taken for an
    /// ID token.
    AccessTokenType,
    /// Rotates the signing key (as [`DevProvider::rotate_signing_key`] does) just before
    /// signing each ID token, so every token names a key the client has not seen yet.
    /// `rp-key-rotation-op-sign-key-native`: accept, after fetching the key set again.
    ///
    /// [`DevProvider::rotate_signing_key`]: super::DevProvider::rotate_signing_key
    RotateKeyBeforeSigning,

    // ---------------------------------------------------------------------------------
    // Authorization response
    /// The authorization response's `iss` parameter (RFC 9207) is the issuer with `1`
    /// appended to its path (as for [`Misbehaviour::WrongIssuer`]). Conformance suite `invalid-authorization-response-iss`: refuse before
    /// redeeming the code.
    WrongAuthorizationResponseIss,
    /// The authorization response has no `iss` parameter although discovery advertises
    /// `authorization_response_iss_parameter_supported`. Conformance suite
    /// `remove-authorization-response-iss`: refuse before redeeming the code.
    NoAuthorizationResponseIss,
    /// Discovery does not advertise `authorization_response_iss_parameter_supported` and the
    /// authorization response has no `iss`, as many providers do. Accept.
    IssParameterNotAdvertised,

    // ---------------------------------------------------------------------------------
    // Discovery and key set
    /// The provider names itself with this issuer everywhere (discovery, ID tokens, the
    /// authorization response's `iss`) while it is still served from its own address, so the
    /// discovery document's `issuer` differs from the URL it was fetched from.
    /// `rp-discovery-issuer-not-matching-config`: refuse the configuration (OpenID Connect
    /// Discovery 1.0 section 4.3). The same issuer with a trailing `/` still maps to the same
    /// discovery URL (section 4.1), so that one is accepted.
    AnnounceIssuer(String),
    /// Discovery's `id_token_signing_alg_values_supported` is exactly this list (for example
    /// `["none"]` or `["HS256"]`). Refuse when it names no algorithm the client accepts.
    SigningAlgs(Vec<String>),
    /// Discovery's `jwks_uri` gets a random suffix (`/jwks/<random>`) and the usual `/jwks`
    /// answers 404. `rp-discovery-jwks_uri-keys`: accept, using the `jwks_uri` from discovery.
    RandomJwksUri,
    /// The key set answers `503 Service Unavailable`. Refuse (the provider is unavailable).
    JwksUnavailable,
    /// The key set holds keys no client can use next to the real key: an unknown `kty`, no
    /// `kty`, an RSA modulus that is not base64url, an unknown curve, a number, a string.
    /// Conformance suite `ignores-unparseable-key-in-jwks`: accept, using the real key.
    UnparseableKeys,
    /// The key set holds only the unusable keys of [`Misbehaviour::UnparseableKeys`]. Refuse
    /// (there is no key to verify with).
    OnlyUnparseableKeys,
    /// This endpoint answers every request with a `307 Temporary Redirect` to the same
    /// endpoint with `?moved=1`, where it answers normally. Refuse: a client must not follow
    /// redirects from provider endpoints. [`RequestCounts::redirect_targets`] shows whether
    /// the client followed.
    ///
    /// [`RequestCounts::redirect_targets`]: super::RequestCounts::redirect_targets
    Redirect(Endpoint),

    // ---------------------------------------------------------------------------------
    // Token endpoint (code redemption and refresh alike)
    /// The token endpoint waits this long before answering (normally). Refuse when it is
    /// longer than the client's timeout.
    SlowTokenEndpoint(Duration),
    /// The token endpoint answers `500 Internal Server Error` with an HTML page. Refuse.
    TokenEndpointError,
    /// The token endpoint answers `503 Service Unavailable` (with `Retry-After: 1` and an
    /// OAuth `temporarily_unavailable` error), as a provider that is down for a moment does.
    /// Refuse the login; a client refreshing a token keeps the session and answers 503.
    TokenEndpointUnavailable,
    /// The token endpoint answers `200 OK` with an HTML page. Refuse.
    TokenResponseHtml,
    /// The token endpoint answers `200 OK`, `application/json`, with truncated JSON. Refuse.
    TokenResponseBadJson,
    /// The token response has an access token but no `id_token`. Refuse.
    TokenResponseWithoutIdToken,
    /// The token response has an `id_token` but no `access_token`. Refuse: every successful
    /// token response carries one (RFC 6749 section 5.1).
    TokenResponseWithoutAccessToken,
    /// The token response is a 2 MiB JSON document, sent in chunks without
    /// `Content-Length`. Refuse (a client must bound what it reads).
    HugeTokenResponse,

    // ---------------------------------------------------------------------------------
    // Userinfo
    /// Userinfo answers with `"sub": "foobar"`, not the ID token's subject.
    /// `rp-userinfo-bad-sub-claim`: a client that calls userinfo refuses its answer
    /// (OpenID Connect Core 1.0 section 5.3.2).
    UserinfoWrongSubject,

    // ---------------------------------------------------------------------------------
    // Refresh (`grant_type=refresh_token`)
    //
    // Every ID-token misbehaviour above applies to refreshed ID tokens too, so switched on
    // after the login it breaks the refreshed token only: `WrongIssuer` changes its `iss`,
    // `WrongAudience` its `aud`, `AlgNone` leaves it unsigned, `BadSignature` corrupts it,
    // `Expired` makes it stale (refuse each: OpenID Connect Core 1.0 section 12.2).
    // `TokenResponseWithoutIdToken` makes a refresh answer without an ID token, which is
    // valid (accept, keeping the claims). The token endpoint's failures
    // (`TokenEndpointUnavailable`, `TokenEndpointError`, `SlowTokenEndpoint`, `Redirect`)
    // hit refresh requests as well.
    /// Refreshed ID tokens carry another `sub` (the user's with `-other` appended).
    /// Refuse: a refreshed ID token keeps the original `sub` (OpenID Connect Core 1.0
    /// section 12.2).
    RefreshedIdTokenOtherSubject,
    /// Refreshed ID tokens carry a `nonce` the client never sent. Refuse: if a refreshed ID
    /// token has a nonce at all, it is the original one (OpenID Connect Core 1.0 section
    /// 12.2, errata set 2).
    RefreshedIdTokenOtherNonce,
    /// Refreshed ID tokens carry the original login's `nonce` again. Accept: a refreshed ID
    /// token should not have one, but when it has, it must be the original (OpenID Connect
    /// Core 1.0 section 12.2, errata set 2).
    RefreshedIdTokenOriginalNonce,

    // ---------------------------------------------------------------------------------
    // Microsoft Entra multi-tenant
    /// On a provider built with
    /// [`entra_multi_tenant`](super::DevProviderBuilder::entra_multi_tenant), ID tokens name
    /// the issuer of another tenant than their `tid` (`<tid>-other`). Refuse: the templated
    /// issuer must be filled with the token's own `tid`.
    TenantIssuerMismatch,

    // ---------------------------------------------------------------------------------
    // Logout tokens (OpenID Connect Back-Channel Logout 1.0), sent by
    // `DevProvider::backchannel_logout`. Each reproduces a case of the OpenID Foundation's
    // back-channel RP tests (`oidcc-client-test-rp-backchannel-rpinitlogout-*`); "refuse"
    // means the RP answers 400 and ends no session.
    /// The logout token is unsigned (`"alg": "none"`). `…-alg-none`: refuse.
    LogoutTokenAlgNone,
    /// The logout token carries a corrupted RS256 signature. Refuse.
    LogoutTokenBadSignature,
    /// The logout token is an HS256 token keyed with the client secret. `…-wrong-alg`:
    /// refuse.
    LogoutTokenWrongAlg,
    /// `aud` is the client id with `1` appended. `…-wrong-aud`: refuse.
    LogoutTokenWrongAudience,
    /// `iss` is the issuer with `1` appended to its path. `…-wrong-iss`: refuse.
    LogoutTokenWrongIssuer,
    /// The logout token has no `events` claim. `…-no-event`: refuse.
    LogoutTokenNoEvents,
    /// `events` holds another event (`http://schemas.openid.net/event/other`) instead of
    /// the back-channel logout one. `…-wrong-event`: refuse.
    LogoutTokenWrongEvent,
    /// The logout token carries a `nonce`. `…-with-nonce`: refuse (Back-Channel Logout 1.0
    /// section 2.4 prohibits it, so a logout token cannot pass for an ID token).
    LogoutTokenWithNonce,
    /// The logout token has neither `sid` nor `sub`. Refuse (section 2.4: at least one).
    LogoutTokenNoSidNoSub,
    /// The logout token expired two minutes ago (`iat` = now − 4 min, `exp` = now − 2 min).
    /// Refuse.
    LogoutTokenExpired,
    /// The logout token reuses the `jti` of the previous logout token this provider sent
    /// (with its own target and a fresh `iat`). Refuse: a `jti` is accepted once (section
    /// 2.6). To send a token byte for byte again, see
    /// [`DevProvider::send_logout_token`](super::DevProvider::send_logout_token).
    LogoutTokenRepeatedJti,
}

/// The endpoint a [`Misbehaviour::Redirect`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/.well-known/openid-configuration`.
    Discovery,
    /// The key set (`jwks_uri`).
    Jwks,
    /// The token endpoint.
    Token,
}

/// The default lifetime of access tokens and ID tokens: an hour, as most providers.
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Response-shaping settings, read under a lock and cloned once per request.
#[derive(Clone, Debug)]
pub(crate) struct Behaviour {
    /// How long an authorization code can be redeemed.
    pub(crate) code_lifetime: Duration,
    /// `expires_in` of access tokens, and how long userinfo accepts them.
    pub(crate) access_token_lifetime: Duration,
    /// The lifetime (`exp - iat`) of ID tokens.
    pub(crate) id_token_lifetime: Duration,
    /// What is switched on, at most one of each variant (one redirect per endpoint).
    pub(crate) misbehaviours: Vec<Misbehaviour>,
    /// What this crate's own tests switched on.
    #[cfg(test)]
    pub(crate) hooks: TestHooks,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            code_lifetime: Duration::from_secs(60),
            access_token_lifetime: DEFAULT_TOKEN_LIFETIME,
            id_token_lifetime: DEFAULT_TOKEN_LIFETIME,
            misbehaviours: Vec::new(),
            #[cfg(test)]
            hooks: TestHooks::default(),
        }
    }
}

impl Behaviour {
    /// Switches `misbehaviour` on, replacing one of the same variant (redirects of
    /// different endpoints are kept side by side).
    pub(crate) fn add(&mut self, misbehaviour: Misbehaviour) {
        let same = |m: &Misbehaviour| match (m, &misbehaviour) {
            (Misbehaviour::Redirect(a), Misbehaviour::Redirect(b)) => a == b,
            (m, new) => discriminant(m) == discriminant(new),
        };
        self.misbehaviours.retain(|m| !same(m));
        self.misbehaviours.push(misbehaviour);
    }

    /// Switches every misbehaviour off (and, in this crate's tests, every test switch).
    pub(crate) fn behave(&mut self) {
        self.misbehaviours.clear();
        #[cfg(test)]
        {
            self.hooks = TestHooks::default();
        }
    }

    /// Whether `misbehaviour` (a data-less variant) is on.
    pub(crate) fn has(&self, misbehaviour: &Misbehaviour) -> bool {
        self.misbehaviours.contains(misbehaviour)
    }

    /// Whether any of `misbehaviours` is on.
    pub(crate) fn any(&self, misbehaviours: &[Misbehaviour]) -> bool {
        misbehaviours.iter().any(|m| self.has(m))
    }

    /// The issuer announced with [`Misbehaviour::AnnounceIssuer`], if any.
    pub(crate) fn announced_issuer(&self) -> Option<&str> {
        self.misbehaviours.iter().find_map(|m| match m {
            Misbehaviour::AnnounceIssuer(issuer) => Some(issuer.as_str()),
            _ => None,
        })
    }

    /// The algorithm list set with [`Misbehaviour::SigningAlgs`], if any.
    pub(crate) fn signing_algs(&self) -> Option<&[String]> {
        self.misbehaviours.iter().find_map(|m| match m {
            Misbehaviour::SigningAlgs(algs) => Some(algs.as_slice()),
            _ => None,
        })
    }

    /// Whether `endpoint` answers with a redirect.
    pub(crate) fn redirects(&self, endpoint: Endpoint) -> bool {
        self.has(&Misbehaviour::Redirect(endpoint))
    }

    /// The token endpoint's delay, if any.
    pub(crate) fn token_delay(&self) -> Option<Duration> {
        self.misbehaviours.iter().find_map(|m| match m {
            Misbehaviour::SlowTokenEndpoint(delay) => Some(*delay),
            _ => None,
        })
    }
}

/// Rewrites an ID token's header and claims just before it is signed.
#[cfg(test)]
pub(crate) type IdTokenEdit =
    Arc<dyn Fn(&mut Map<String, Value>, &mut Map<String, Value>) + Send + Sync>;

/// Crate-internal switches for this crate's tests of its own OpenID client: exact values and
/// broken answers that no [`Misbehaviour`] describes (a claim just past a leeway, a discovery
/// document without some field, an answer byte for byte). Set through `DevProvider`'s
/// test-only methods; [`Behaviour::behave`] switches them off with the misbehaviours.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct TestHooks {
    /// Applied to every ID token after the misbehaviours, before signing.
    pub(crate) id_token_edit: Option<IdTokenEdit>,
    /// Set in the discovery document after the misbehaviours; `null` removes the field.
    pub(crate) discovery_fields: Map<String, Value>,
    /// Endpoints that answer every request with a fixed answer instead of their own.
    pub(crate) answers: Vec<(Endpoint, Canned)>,
}

#[cfg(test)]
impl TestHooks {
    /// The fixed answer of `endpoint`, if it has one.
    pub(crate) fn answer(&self, endpoint: Endpoint) -> Option<&Canned> {
        self.answers
            .iter()
            .find(|(e, _)| *e == endpoint)
            .map(|(_, canned)| canned)
    }

    /// Writes [`TestHooks::discovery_fields`] into a discovery document.
    pub(crate) fn edit_discovery(&self, fields: &mut Map<String, Value>) {
        for (name, value) in &self.discovery_fields {
            if value.is_null() {
                fields.remove(name);
            } else {
                fields.insert(name.clone(), value.clone());
            }
        }
    }

    /// The header and claims after [`TestHooks::id_token_edit`].
    pub(crate) fn edit_id_token(
        &self,
        mut header: Map<String, Value>,
        mut claims: Map<String, Value>,
    ) -> (Map<String, Value>, Map<String, Value>) {
        if let Some(edit) = &self.id_token_edit {
            edit(&mut header, &mut claims);
        }
        (header, claims)
    }
}

#[cfg(test)]
impl std::fmt::Debug for TestHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHooks")
            .field("id_token_edit", &self.id_token_edit.is_some())
            .field("discovery_fields", &self.discovery_fields)
            .field("answers", &self.answers)
            .finish()
    }
}

/// A fixed answer: status, `Content-Type` and body.
#[cfg(test)]
#[derive(Clone, Debug)]
pub(crate) struct Canned {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
    /// Sent in 64 KiB chunks without `Content-Length`, rather than in one piece with it.
    pub(crate) chunked: bool,
}

#[cfg(test)]
impl Canned {
    /// `body` as `application/json`.
    pub(crate) fn json(status: u16, body: &Value) -> Canned {
        Canned::raw(status, "application/json", body.to_string())
    }

    /// `body` as `content_type`.
    pub(crate) fn raw(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Canned {
        Canned {
            status,
            content_type,
            body: body.into(),
            chunked: false,
        }
    }

    /// The same answer, sent in chunks without `Content-Length`.
    pub(crate) fn chunked(self) -> Canned {
        Canned {
            chunked: true,
            ..self
        }
    }
}
