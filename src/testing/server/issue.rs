//! The token endpoint's successful answer, for a redeemed code and for a refresh alike: a new
//! access token, a signed ID token (its claims bent by the misbehaviours), the refresh token
//! if there is one.

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::respond::{json_response, no_store, TokenError};
use super::state::{lock, AccessGrant, Login, Shared};
use crate::testing::behaviour::{Behaviour, Misbehaviour};
use crate::testing::tokens::{sign_id_token, IdTokenInput};
use crate::util::random_token;

/// Why tokens are issued: it decides the ID token's `nonce` (OpenID Connect Core 1.0 section
/// 12.2: a refreshed ID token has none) and which misbehaviours apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A code was redeemed: the login's first tokens.
    Login,
    /// A refresh token was used.
    Refresh,
}

/// What one token response carries besides what `login` says.
pub(crate) struct Issue<'a> {
    pub(crate) purpose: Purpose,
    /// The new access token (made by the caller so that a code can remember it).
    pub(crate) access_token: String,
    /// The refresh token to hand out, if any.
    pub(crate) refresh_token: Option<&'a str>,
    /// The granted scope.
    pub(crate) scope: &'a str,
}

/// Signs the ID token, records the access token for userinfo, and answers.
pub(crate) fn issue_tokens(
    shared: &Shared,
    behaviour: &Behaviour,
    login: &Login,
    issue: Issue<'_>,
) -> Result<Response, TokenError> {
    let Issue {
        purpose,
        access_token,
        refresh_token,
        scope,
    } = issue;
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
        None => sign(shared, behaviour, login, purpose, &access_token),
    };
    let id_token = id_token.map_err(|e| {
        tracing::error!(error = %e, "development provider: signing the ID token failed");
        TokenError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "signing the ID token failed".to_owned(),
            basic_challenge: false,
        }
    })?;
    {
        let now = Instant::now();
        let mut claims = login.claims.clone();
        for (name, value) in &login.userinfo_claims {
            claims.insert(name.clone(), value.clone());
        }
        let mut tokens = lock(&shared.access_tokens);
        tokens.retain(|_, grant| grant.expires > now);
        tokens.insert(
            access_token.clone(),
            AccessGrant {
                claims,
                expires: now + behaviour.access_token_lifetime,
            },
        );
    }
    *lock(&shared.last_id_token) = Some(id_token.clone());
    tracing::debug!(?purpose, "development provider: tokens issued");
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": behaviour.access_token_lifetime.as_secs(),
        "id_token": id_token,
        "scope": scope,
    });
    if let Value::Object(fields) = &mut answer {
        if let Some(refresh_token) = refresh_token {
            fields.insert("refresh_token".to_owned(), json!(refresh_token));
        }
        if behaviour.has(&Misbehaviour::TokenResponseWithoutIdToken) {
            fields.remove("id_token");
        }
        if behaviour.has(&Misbehaviour::TokenResponseWithoutAccessToken) {
            fields.remove("access_token");
        }
    }
    Ok(no_store(json_response(StatusCode::OK, &answer)))
}

/// The ID token for `login`.
fn sign(
    shared: &Shared,
    behaviour: &Behaviour,
    login: &Login,
    purpose: Purpose,
    access_token: &str,
) -> Result<String, String> {
    let mut claims = login.claims.clone();
    let other_nonce;
    let nonce = match purpose {
        Purpose::Login => login.nonce.as_deref(),
        Purpose::Refresh => {
            if behaviour.has(&Misbehaviour::RefreshedIdTokenOtherSubject) {
                let sub = login.sub().unwrap_or_default();
                claims.insert("sub".to_owned(), Value::String(format!("{sub}-other")));
            }
            if behaviour.has(&Misbehaviour::RefreshedIdTokenOtherNonce) {
                other_nonce = random_token();
                Some(other_nonce.as_str())
            } else if behaviour.has(&Misbehaviour::RefreshedIdTokenOriginalNonce) {
                login.nonce.as_deref()
            } else {
                None
            }
        }
    };
    let mut keys = lock(&shared.keys);
    if behaviour.has(&Misbehaviour::RotateKeyBeforeSigning) {
        keys.rotate();
    }
    sign_id_token(
        IdTokenInput {
            issuer: shared.id_token_issuer(behaviour, &login.claims),
            served_at: &shared.base,
            client_id: &shared.client_id,
            client_secret: &shared.client_secret,
            nonce,
            sid: Some(&login.sid),
            auth_time: login.auth_time,
            lifetime: behaviour.id_token_lifetime,
            claims,
            access_token,
        },
        &keys,
        behaviour,
    )
}
