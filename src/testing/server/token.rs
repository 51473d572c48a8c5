//! The token endpoint (`POST /token`): authenticates the client, redeems a code once (with
//! its PKCE verifier and redirect URI), and answers with an access token and a signed ID
//! token, unless a token-endpoint misbehaviour answers first.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{self, HeaderMap};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::client_auth::authenticate_client;
use super::params::Params;
use super::respond::{json_response, misbehaving_redirect, no_store, set_header, TokenError};
use super::state::{bump, is_pkce_value, lock, AccessGrant, Shared};
use crate::testing::behaviour::{Behaviour, Endpoint, Misbehaviour};
use crate::testing::records::TokenCall;
use crate::testing::tokens::{sign_id_token, IdTokenInput};
use crate::util::random_token;

/// `POST /token`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bump(&shared.counters.token);
    lock(&shared.token_calls).push(TokenCall {
        authorization: headers
            .get(header::AUTHORIZATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        params: Params::parse(&body).0,
    });
    let behaviour = shared.behaviour();
    #[cfg(test)]
    if let Some(response) = super::respond::canned(&behaviour, Endpoint::Token) {
        return response;
    }
    if let Some(response) =
        misbehaving_redirect(&shared, &behaviour, Endpoint::Token, &uri, query.as_deref())
    {
        return response;
    }
    if let Some(delay) = behaviour.token_delay() {
        tracing::debug!(
            ?delay,
            "development provider: token endpoint misbehaving with a delay"
        );
        tokio::time::sleep(delay).await;
    }
    if let Some(response) = broken_token_answer(&behaviour) {
        return response;
    }
    match redeem(&shared, &behaviour, &headers, &body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The answers of a broken token endpoint, given before the request is even read.
fn broken_token_answer(behaviour: &Behaviour) -> Option<Response> {
    const PAGE: &str = "<!doctype html><html><body><h1>Something went wrong</h1></body></html>";
    let raw = |status: StatusCode, content_type: &'static str, body: Body| {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        set_header(&mut response, header::CONTENT_TYPE, content_type);
        response
    };
    let response = if behaviour.has(&Misbehaviour::TokenEndpointError) {
        raw(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html; charset=utf-8",
            Body::from(PAGE),
        )
    } else if behaviour.has(&Misbehaviour::TokenResponseHtml) {
        raw(StatusCode::OK, "text/html; charset=utf-8", Body::from(PAGE))
    } else if behaviour.has(&Misbehaviour::TokenResponseBadJson) {
        raw(
            StatusCode::OK,
            "application/json",
            Body::from(r#"{"access_token": "abc", "token_type": "Bearer", "id_token": "#),
        )
    } else if behaviour.has(&Misbehaviour::HugeTokenResponse) {
        raw(StatusCode::OK, "application/json", huge_json_body())
    } else {
        return None;
    };
    tracing::debug!("development provider: token endpoint misbehaving with a broken answer");
    Some(response)
}

/// 2 MiB of valid JSON in 64 KiB chunks, without `Content-Length`.
fn huge_json_body() -> Body {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 32;
    let head =
        Bytes::from_static(br#"{"access_token": "abc", "token_type": "Bearer", "padding": ""#);
    let filler = Bytes::from(vec![b'a'; CHUNK]);
    let tail = Bytes::from_static(br#""}"#);
    let chunks = std::iter::once(head)
        .chain(std::iter::repeat_n(filler, CHUNKS))
        .chain(std::iter::once(tail))
        .map(Ok::<_, std::io::Error>);
    Body::from_stream(futures_util::stream::iter(chunks))
}

/// Authenticates the client and redeems the code: the token response, or why there is none.
fn redeem(
    shared: &Shared,
    behaviour: &Behaviour,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, TokenError> {
    let params = Params::parse(body);
    let single = |name: &str| {
        params
            .get(name)
            .map_err(|e| TokenError::bad_request("invalid_request", e))
    };
    authenticate_client(shared, headers, &params)?;

    match single("grant_type")? {
        Some("authorization_code") => {}
        Some(other) => {
            return Err(TokenError::bad_request(
                "unsupported_grant_type",
                format!("grant_type \"{other}\" is not supported"),
            ))
        }
        None => {
            return Err(TokenError::bad_request(
                "invalid_request",
                "grant_type is required",
            ))
        }
    }
    let code = single("code")?
        .ok_or_else(|| TokenError::bad_request("invalid_request", "code is required"))?;
    let redirect_uri = single("redirect_uri")?;
    let code_verifier = single("code_verifier")?;
    let invalid_grant = |description: &str| TokenError::bad_request("invalid_grant", description);

    let access_token = random_token();
    let grant = {
        let mut codes = lock(&shared.codes);
        let Some(grant) = codes.get_mut(code) else {
            return Err(invalid_grant("the code is unknown or expired"));
        };
        if grant.used {
            if let Some(issued) = grant.issued_token.take() {
                lock(&shared.access_tokens).remove(&issued);
            }
            return Err(invalid_grant(
                "the code was already used; any token issued for it is revoked",
            ));
        }
        grant.used = true;
        if grant.expires <= Instant::now() {
            return Err(invalid_grant("the code is unknown or expired"));
        }
        if grant.client_id != shared.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        let verifier = code_verifier.ok_or_else(|| invalid_grant("code_verifier is required"))?;
        if !is_pkce_value(verifier) {
            return Err(invalid_grant(
                "code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !bool::from(challenge.as_bytes().ct_eq(grant.code_challenge.as_bytes())) {
            return Err(invalid_grant("code_verifier does not match code_challenge"));
        }
        grant.issued_token = Some(access_token.clone());
        (
            grant.nonce.clone(),
            grant.scope.clone(),
            grant.claims.clone(),
            grant.auth_time,
        )
    };
    let (nonce, scope, claims, auth_time) = grant;

    let replayed = if behaviour.has(&Misbehaviour::ReplayIdToken) {
        lock(&shared.last_id_token).clone()
    } else {
        None
    };
    let id_token = match replayed {
        Some(earlier) => {
            tracing::debug!("development provider: misbehaving with a replayed ID token");
            Ok(earlier)
        }
        None => {
            let mut keys = lock(&shared.keys);
            if behaviour.has(&Misbehaviour::RotateKeyBeforeSigning) {
                keys.rotate();
            }
            sign_id_token(
                IdTokenInput {
                    issuer: shared.issuer_for(behaviour),
                    served_at: &shared.issuer,
                    client_id: &shared.client_id,
                    client_secret: &shared.client_secret,
                    nonce: nonce.as_deref(),
                    auth_time,
                    lifetime: behaviour.token_lifetime,
                    claims: claims.clone(),
                    access_token: &access_token,
                },
                &keys,
                behaviour,
            )
        }
    };
    let id_token = match id_token {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "development provider: signing the ID token failed");
            return Err(TokenError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: "server_error",
                description: "signing the ID token failed".to_owned(),
                basic_challenge: false,
            });
        }
    };
    {
        let now = Instant::now();
        let mut tokens = lock(&shared.access_tokens);
        tokens.retain(|_, grant| grant.expires > now);
        tokens.insert(
            access_token.clone(),
            AccessGrant {
                claims,
                expires: now + behaviour.token_lifetime,
            },
        );
    }
    *lock(&shared.last_id_token) = Some(id_token.clone());
    tracing::debug!("development provider: code redeemed, tokens issued");
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": behaviour.token_lifetime.as_secs(),
        "id_token": id_token,
        "scope": scope,
    });
    if let Value::Object(fields) = &mut answer {
        if behaviour.has(&Misbehaviour::TokenResponseWithoutIdToken) {
            fields.remove("id_token");
        }
        if behaviour.has(&Misbehaviour::TokenResponseWithoutAccessToken) {
            fields.remove("access_token");
        }
    }
    Ok(no_store(json_response(StatusCode::OK, &answer)))
}
