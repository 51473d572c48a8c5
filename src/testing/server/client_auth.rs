//! Client authentication at the token endpoint: `client_secret_basic` (RFC 6749 section
//! 2.3.1, id and secret form-encoded before Base64), `client_secret_post`, or a client
//! assertion (see [`super::client_assertion`]); exactly one per request, and only the methods
//! the provider accepts.

use axum::http::header::{self, HeaderMap, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::client_assertion::{assertion_kind, verify_assertion, TokenRequestTarget};
use super::params::Params;
use super::respond::TokenError;
use super::state::Shared;
use crate::testing::jwt;
use crate::testing::registration::ClientAuthMethod;

/// The method a request uses, from its shape alone (for the record of what a client sent):
/// `None` when it carries no credentials or several kinds.
pub(crate) fn recognised_method(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Option<ClientAuthMethod> {
    let mut found = Vec::new();
    if headers.contains_key(header::AUTHORIZATION) {
        found.push(ClientAuthMethod::ClientSecretBasic);
    }
    if params.first("client_secret").is_some() {
        found.push(ClientAuthMethod::ClientSecretPost);
    }
    if let Some(assertion) = params.first("client_assertion") {
        found.push(
            jwt::decode(assertion)
                .map(|decoded| assertion_kind(shared, &decoded.claims))
                .unwrap_or(ClientAuthMethod::PrivateKeyJwt),
        );
    }
    match found.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// Checks the client's credentials in the `Authorization` header or the form body; the
/// method it authenticated with.
pub(crate) fn authenticate_client(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
    target: &TokenRequestTarget,
) -> Result<ClientAuthMethod, TokenError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            parse_basic(value).ok_or_else(|| {
                TokenError::invalid_client("the Authorization header is not valid HTTP Basic client authentication (RFC 6749 section 2.3.1: form-encode the id and secret, then base64)", true)
            })?,
        ),
    };
    let single = |name: &str| TokenError::param(params, name);
    let body_id = single("client_id")?;
    let body_secret = single("client_secret")?;
    let assertion =
        single("client_assertion")?.is_some() || single("client_assertion_type")?.is_some();

    let (method, id, secret) = match (basic, body_secret, assertion) {
        (Some(_), Some(_), _) | (Some(_), _, true) | (_, Some(_), true) => {
            return Err(TokenError::bad_request(
                "invalid_request",
                "use one client authentication method, not several (Basic, client_secret, client_assertion)",
            ))
        }
        (None, None, true) => return verify_assertion(shared, params, target),
        (Some((id, secret)), None, false) => {
            if body_id.is_some_and(|body_id| body_id != id) {
                return Err(TokenError::invalid_client(
                    "client_id in the body differs from the one in the Authorization header",
                    true,
                ));
            }
            (ClientAuthMethod::ClientSecretBasic, id, secret)
        }
        (None, Some(secret), false) => {
            let id = body_id.ok_or_else(|| {
                TokenError::invalid_client("client_secret without client_id", false)
            })?;
            (
                ClientAuthMethod::ClientSecretPost,
                id.to_owned(),
                secret.to_owned(),
            )
        }
        (None, None, false) => {
            return Err(TokenError::invalid_client(
                "client authentication is required",
                shared
                    .accepted_auth
                    .accepts(ClientAuthMethod::ClientSecretBasic),
            ))
        }
    };
    let basic_used = method == ClientAuthMethod::ClientSecretBasic;
    if !shared.accepted_auth.accepts(method) {
        return Err(TokenError::invalid_client(
            format!("{} is not accepted by this provider", method.as_str()),
            basic_used,
        ));
    }
    let id_ok = id.as_bytes().ct_eq(shared.client_id.as_bytes());
    let secret_ok = secret.as_bytes().ct_eq(shared.client_secret.as_bytes());
    if !bool::from(id_ok & secret_ok) {
        return Err(TokenError::invalid_client(
            "unknown client or wrong client secret",
            basic_used,
        ));
    }
    Ok(method)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, decoded (RFC 6749 section 2.3.1).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
/// A `%` without two hex digits stays literal, as in `form_urlencoded`.
fn form_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}
