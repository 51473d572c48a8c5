//! Trusted identity headers: the user comes from a front end that has already logged them
//! in (Azure App Service Easy Auth, oauth2-proxy, an identity-aware proxy), like Streamlit's
//! `trustedUserHeaders`.
//!
//! [`TrustedHeadersLayer`] reads the headers such a front end sets and puts the same
//! [`User`](crate::User) into the request as [`AuthLayer`](crate::AuthLayer) does, so
//! [`CurrentUser`](crate::CurrentUser), `Option<CurrentUser>`,
//! [`Authorized`](crate::extract::Authorized) and [`RequireLoginLayer`](crate::RequireLoginLayer)
//! with its rules work unchanged. The claims have the names an ID token uses (`sub`, `oid`,
//! `tid`, `name`, `email`, `preferred_username`, `roles`, `groups`), so
//! [`User::name`](crate::User::name), [`User::has_role`](crate::User::has_role),
//! [`User::claim`](crate::User::claim) and [`User::to_json`](crate::User::to_json) read the
//! same as after an OpenID Connect login. There are no tokens: [`User::tokens`](crate::User::tokens)
//! is empty and [`User::access_token`](crate::User::access_token) answers
//! [`TokenError::FrontEndLogin`](crate::TokenError::FrontEndLogin).
//!
//! # Only behind that front end
//!
//! Anyone who can reach the app without going through the front end can send these headers
//! and be whoever they like. Turn this on only when the front end is the app's **only**
//! ingress and removes or overwrites the headers on every request (Easy Auth does; on App
//! Service, also keep the app off any other route in: access restrictions, no public
//! private-endpoint bypass, no second front door). There is no configuration key for it:
//! it is code, and the constructors take [`Ingress::OnlyThroughFrontEnd`] so that the
//! promise is written where the layer is made.
//!
//! # Easy Auth
//!
//! ```
//! use axum::{routing::get, Json, Router};
//! use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
//! use tower_oidc_login::{CurrentUser, RequireLoginLayer, User};
//!
//! # fn app() -> Result<Router, tower_oidc_login::headers::TrustedHeadersError> {
//! let admin = Router::new()
//!     .route("/admin", get(|CurrentUser(user): CurrentUser| async move {
//!         format!("hello {}", user.name().unwrap_or("admin"))
//!     }))
//!     .route_layer(RequireLoginLayer::new().require_roles(["Admin"]));
//!
//! let app = Router::new()
//!     .route("/me", get(|user: User| async move { Json(user.to_json()) }))
//!     .merge(admin)
//!     .layer(TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd).build()?);
//! # Ok(app) }
//! ```
//!
//! `X-MS-CLIENT-PRINCIPAL` (base64 of `{"auth_typ", "claims": [{"typ", "val"}…], "name_typ",
//! "role_typ"}`) is the login. Claim types are mapped to ID-token names: the long URIs
//! (`…/identity/claims/objectidentifier` → `oid`, `…/tenantid` → `tid`,
//! `…/claims/emailaddress` → `email`, `…/claims/nameidentifier` → `sub`, `…/claims/role` →
//! `roles`, and others listed in the source); short types (`name`, `preferred_username`,
//! `roles`, `groups`, `oid`, `tid`, `email`) stay as they are; a type seen several times
//! becomes a list (`roles` and `groups` are always lists). Claims of type `role_typ` are
//! roles. `name` is the `name` claim, else the claim of type `name_typ`, else
//! `X-MS-CLIENT-PRINCIPAL-NAME`; `sub` is the name identifier, else `sub`, else
//! `X-MS-CLIENT-PRINCIPAL-ID`; [`User::provider`](crate::User::provider) is `auth_typ`
//! (`aad`), else `X-MS-CLIENT-PRINCIPAL-IDP`. Easy Auth's token store and its refresh
//! (`/.auth/refresh`, `X-MS-TOKEN-*`) are not used.
//!
//! # Other front ends (oauth2-proxy)
//!
//! ```
//! use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
//!
//! // oauth2-proxy's X-Forwarded-User / -Email / -Preferred-Username / -Groups:
//! let proxy = TrustedHeadersLayer::oauth2_proxy(Ingress::OnlyThroughFrontEnd).build()?;
//!
//! // Or any mapping: the user header is `sub`, others are claims of your choice.
//! let custom = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Auth-Request-User")
//!     .claim("X-Auth-Request-Email", "email")
//!     .claim("X-Auth-Request-User", "name")
//!     .list_claim("X-Auth-Request-Groups", "groups")
//!     .login_page("/oauth2/start", "rd")
//!     .build()?;
//! # let _ = (proxy, custom);
//! # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
//! ```
//!
//! # Anonymous requests
//!
//! A request without the headers (or with broken ones) is anonymous. Extractors and
//! guards answer it as usual: a browser is sent to the front end's login page when one is
//! known (Easy Auth: `/.auth/login/aad?post_login_redirect_uri=<the page>`; set another with
//! `login_page`), everything else gets `401` with JSON.
//!
//! # Untrusted input all the same
//!
//! A header larger than [`DEFAULT_MAX_HEADER_BYTES`] (see `max_header_bytes`), repeated, not
//! text, not base64 or not the expected JSON, or a principal with no user id, makes the
//! request anonymous, never an error page: the first time each kind of problem is seen, one
//! `warn` line names the header and the problem (never its value); later ones log at
//! `debug`.
//!
//! # With `AuthLayer`
//!
//! Put `TrustedHeadersLayer` **outside** [`AuthLayer`](crate::AuthLayer) (with axum's
//! `Router::layer`, add it after). A request whose headers carry a user is that user (the
//! headers win, and the session cookie is not read); any other request gets the session's
//! user as usual, and the layer's `/auth/login` stays available. Without a
//! `TrustedHeadersLayer` outside it, `AuthLayer` ignores these headers and logs one `warn`
//! line saying so when requests carry `X-MS-CLIENT-PRINCIPAL`, `X-Forwarded-User` or
//! `X-Forwarded-Email` (it looks at each thread's first 1,024 requests, then at one in 64).
//!
//! `AuthLayer`'s login rules (`allowed_emails`, `allowed_groups`, `allowed_roles`,
//! `allowed_tenants`) apply to logins through its `/auth/login`, not to users these headers
//! name: who may enter is then the front end's decision, or a route's, with
//! [`Policy`](crate::extract::Policy) and [`Authorized`](crate::extract::Authorized).

mod easy_auth;
mod future;
mod layer;
mod mapped;
mod service;
mod source;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use http::header::{HeaderMap, HeaderName};

pub use self::future::TrustedHeadersFuture;
pub use self::layer::{EasyAuthBuilder, MappedHeadersBuilder, TrustedHeadersLayer};
pub use self::service::TrustedHeaders;

/// The promise that the app is reachable only through the front end that sets the identity
/// headers: what every [`TrustedHeadersLayer`] constructor takes, so that the promise is
/// written in the code that turns the mode on.
///
/// ```
/// use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
///
/// let layer = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd).build()?;
/// # let _ = layer;
/// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// Every request reaches the app through the front end, which removes or overwrites the
    /// identity headers on every request: nobody can send them to the app directly.
    OnlyThroughFrontEnd,
}

/// The largest identity header read by default (32 KiB): an Easy Auth principal of a user
/// with Entra ID's 200 groups is about 20 KiB of base64.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;

/// The range `max_header_bytes` accepts.
pub(crate) const HEADER_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=1024 * 1024;

pub(crate) use crate::user::RESERVED_CLAIMS;

pub(crate) const X_MS_CLIENT_PRINCIPAL: HeaderName =
    HeaderName::from_static("x-ms-client-principal");
pub(crate) const X_MS_CLIENT_PRINCIPAL_NAME: HeaderName =
    HeaderName::from_static("x-ms-client-principal-name");
pub(crate) const X_MS_CLIENT_PRINCIPAL_ID: HeaderName =
    HeaderName::from_static("x-ms-client-principal-id");
pub(crate) const X_MS_CLIENT_PRINCIPAL_IDP: HeaderName =
    HeaderName::from_static("x-ms-client-principal-idp");
pub(crate) const X_FORWARDED_USER: HeaderName = HeaderName::from_static("x-forwarded-user");
pub(crate) const X_FORWARDED_EMAIL: HeaderName = HeaderName::from_static("x-forwarded-email");

/// A mistake in building a [`TrustedHeadersLayer`], found by `build`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedHeadersError {
    /// A header name that is not one.
    #[error("\"{header}\" is not a valid HTTP header name")]
    InvalidHeaderName {
        /// The name as given.
        header: String,
    },
    /// A claim name that cannot be used.
    #[error("claim \"{claim}\" cannot be mapped from a header: {reason}")]
    InvalidClaim {
        /// The claim as given.
        claim: String,
        /// Why.
        reason: &'static str,
    },
    /// A login page that is not a path of this site, or an empty return parameter.
    #[error("login page \"{path}\" (return parameter \"{return_param}\"): {reason}")]
    InvalidLoginPage {
        /// The path as given.
        path: String,
        /// The return parameter as given.
        return_param: String,
        /// Why.
        reason: &'static str,
    },
    /// `max_header_bytes` out of range.
    #[error("max_header_bytes = {0} is out of range; it must be between 1024 and 1048576")]
    MaxHeaderBytes(usize),
}

/// What can be wrong with the identity headers of one request (it is then anonymous).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Longer than `max_header_bytes`.
    TooLarge,
    /// Sent more than once.
    Repeated,
    /// Not UTF-8.
    NotText,
    /// `X-MS-CLIENT-PRINCIPAL` is not base64.
    NotBase64,
    /// `X-MS-CLIENT-PRINCIPAL` is not the JSON object Easy Auth sends.
    NotJson,
    /// `X-MS-CLIENT-PRINCIPAL` has no `claims` list.
    NoClaims,
    /// The headers name no user id (no `sub`).
    NoSubject,
}

impl Problem {
    #[cfg(test)]
    const ALL: [Problem; 7] = [
        Problem::TooLarge,
        Problem::Repeated,
        Problem::NotText,
        Problem::NotBase64,
        Problem::NotJson,
        Problem::NoClaims,
        Problem::NoSubject,
    ];

    /// This kind's bit in the set of kinds already warned about (seven kinds, eight bits).
    fn bit(self) -> u8 {
        1 << self as u8
    }

    fn describe(self) -> &'static str {
        match self {
            Problem::TooLarge => "is larger than max_header_bytes",
            Problem::Repeated => "was sent more than once",
            Problem::NotText => "is not UTF-8 text",
            Problem::NotBase64 => "is not base64",
            Problem::NotJson => "is not the JSON object Easy Auth sends",
            Problem::NoClaims => "has no `claims` list",
            Problem::NoSubject => "names no user id (no sub, name identifier or principal id)",
        }
    }
}

/// A problem with one request's headers: which header and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flaw {
    pub(crate) header: HeaderName,
    pub(crate) problem: Problem,
}

/// Logs each kind of [`Problem`] once at `warn` (per layer), later ones at `debug`: a
/// broken front end or a hostile client cannot flood the log.
#[derive(Debug, Default)]
pub(crate) struct Problems(AtomicU8);

impl Problems {
    pub(crate) fn report(&self, flaw: &Flaw) {
        let bit = flaw.problem.bit();
        let first = self.0.fetch_or(bit, Ordering::Relaxed) & bit == 0;
        // The header's value may be anything, personal data included: never logged.
        if first {
            tracing::warn!(
                header = flaw.header.as_str(),
                "a trusted identity header {}; the request is anonymous (later ones are logged \
                 at debug)",
                flaw.problem.describe()
            );
        } else {
            tracing::debug!(
                header = flaw.header.as_str(),
                "a trusted identity header {}; the request is anonymous",
                flaw.problem.describe()
            );
        }
    }
}

/// The one value of header `name` in `headers`, as text: `Ok(None)` when absent, a
/// [`Flaw`] when repeated, longer than `max` bytes or not UTF-8.
pub(crate) fn one_value<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    max: usize,
) -> Result<Option<&'h str>, Flaw> {
    let flaw = |problem| Flaw {
        header: name.clone(),
        problem,
    };
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(flaw(Problem::Repeated));
    }
    if value.len() > max {
        return Err(flaw(Problem::TooLarge));
    }
    std::str::from_utf8(value.as_bytes())
        .map(|text| Some(text.trim()))
        .map_err(|_| flaw(Problem::NotText))
}

/// For [`AuthLayer`](crate::AuthLayer) without the mode on: warns once (per layer) that a
/// request carried identity headers, which are ignored. Until then each thread looks at
/// its first [`CHECK_FIRST`] requests' header names, then at every [`THEN_EVERY`]th;
/// after the warning, one atomic load.
#[derive(Debug, Default)]
pub(crate) struct IgnoredHeaders(AtomicBool);

/// Requests each thread checks in full before it samples.
const CHECK_FIRST: u32 = 1024;
/// Past those, the share of requests checked. A front end puts its headers on every
/// request, so a sample finds them within moments; the headers are ignored whether or not
/// this sees them: it only warns. Checking every request cost a pass over every header
/// name, the longer the more headers a browser sends.
const THEN_EVERY: u32 = 64;

thread_local! {
    /// Requests this thread has looked at (wrapping), for sampling.
    static SEEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this request's header names are to be checked.
fn check_due() -> bool {
    SEEN.with(|seen| {
        let n = seen.get();
        seen.set(n.wrapping_add(1));
        n < CHECK_FIRST || n % THEN_EVERY == 0
    })
}

impl IgnoredHeaders {
    pub(crate) fn notice(&self, headers: &HeaderMap) {
        if self.0.load(Ordering::Relaxed) || !check_due() {
            return;
        }
        // One pass over the request's header names (a handful) instead of three map
        // lookups, each of which hashes its name: this runs on every request until the
        // first such header arrives.
        let watched = [X_MS_CLIENT_PRINCIPAL, X_FORWARDED_USER, X_FORWARDED_EMAIL];
        let carried = headers.keys().find_map(|name| {
            watched
                .iter()
                .find(|w| w.as_str().len() == name.as_str().len() && *w == name)
                .cloned()
        });
        if let Some(header) = carried {
            if !self.0.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    header = header.as_str(),
                    "a request carried a front end's identity header; AuthLayer ignores it (the \
                     visitor is whoever their session cookie says). If a front end (App Service \
                     Easy Auth, oauth2-proxy) logs users in, put \
                     tower_oidc_login::headers::TrustedHeadersLayer outside AuthLayer, and only \
                     when the app is reachable solely through that front end. Logged once."
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn identity_headers_are_noticed_at_first_then_within_a_sample() {
        // As on a thread that has served nothing yet, whatever ran on this one before.
        SEEN.with(|seen| seen.set(0));
        let plain = HeaderMap::new();
        let mut carried = HeaderMap::new();
        carried.insert(X_FORWARDED_USER, HeaderValue::from_static("admin"));

        let early = IgnoredHeaders::default();
        early.notice(&carried);
        assert!(
            early.0.load(Ordering::Relaxed),
            "the first request is checked"
        );

        // The rest of the first ones and the first sampled one carry nothing.
        let late = IgnoredHeaders::default();
        for _ in 1..=CHECK_FIRST {
            late.notice(&plain);
        }
        assert!(!late.0.load(Ordering::Relaxed));
        // Past the first ones, a front end's headers on every request are seen within one
        // sampling period.
        let mut requests = 0;
        while !late.0.load(Ordering::Relaxed) && requests <= THEN_EVERY {
            late.notice(&carried);
            requests += 1;
        }
        assert!(
            late.0.load(Ordering::Relaxed),
            "noticed within {THEN_EVERY} requests"
        );
        assert!(
            requests > 1,
            "not every request is checked any more: {requests}"
        );
    }

    #[test]
    fn one_value_refuses_repeated_oversized_and_binary_values() {
        let name = X_FORWARDED_USER;
        let mut headers = HeaderMap::new();
        assert_eq!(one_value(&headers, &name, 1024), Ok(None));
        headers.insert(&name, HeaderValue::from_static(" alice "));
        assert_eq!(one_value(&headers, &name, 1024), Ok(Some("alice")));
        headers.append(&name, HeaderValue::from_static("mallory"));
        assert_eq!(
            one_value(&headers, &name, 1024).unwrap_err().problem,
            Problem::Repeated
        );
        headers.insert(&name, HeaderValue::from_str(&"a".repeat(2000)).unwrap());
        assert_eq!(
            one_value(&headers, &name, 1024).unwrap_err().problem,
            Problem::TooLarge
        );
        headers.insert(&name, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(
            one_value(&headers, &name, 1024).unwrap_err().problem,
            Problem::NotText
        );
    }

    #[test]
    fn each_problem_has_its_own_bit() {
        let bits: u8 = Problem::ALL.iter().map(|p| p.bit()).fold(0, |a, b| {
            assert_eq!(a & b, 0);
            a | b
        });
        assert_eq!(bits.count_ones() as usize, Problem::ALL.len());
    }
}
