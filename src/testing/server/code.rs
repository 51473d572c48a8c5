//! `grant_type=authorization_code`: redeems a code once, with its PKCE verifier and redirect
//! URI, and issues the login's tokens (with a refresh token when the provider issues one).

use std::time::Instant;

use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::issue::{issue_tokens, Issue, Purpose};
use super::params::Params;
use super::respond::TokenError;
use super::state::{is_pkce_value, lock, RefreshGrant, RefreshState, Shared};
use crate::testing::behaviour::Behaviour;
use crate::testing::registration::RefreshTokenIssue;
use crate::util::random_token;

/// Redeems the code of an authenticated client.
pub(crate) fn redeem(
    shared: &Shared,
    behaviour: &Behaviour,
    params: &Params,
) -> Result<Response, TokenError> {
    let single = |name: &str| TokenError::param(params, name);
    let code = single("code")?
        .ok_or_else(|| TokenError::bad_request("invalid_request", "code is required"))?;
    let redirect_uri = single("redirect_uri")?;
    let code_verifier = single("code_verifier")?;
    let invalid_grant = |description: &str| TokenError::bad_request("invalid_grant", description);

    let access_token = random_token();
    let login = {
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
        if grant.login.client_id != shared.client_id {
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
        grant.login.clone()
    };

    let offline = login
        .scope
        .split_ascii_whitespace()
        .any(|s| s == "offline_access");
    let refresh_token = match shared.refresh_issue {
        RefreshTokenIssue::WithOfflineAccess if offline => Some(random_token()),
        RefreshTokenIssue::Always => Some(random_token()),
        RefreshTokenIssue::WithOfflineAccess | RefreshTokenIssue::Never => None,
    };
    if let Some(token) = &refresh_token {
        lock(&shared.refresh_tokens).insert(
            token.clone(),
            RefreshGrant {
                login: login.clone(),
                family: random_token(),
                state: RefreshState::Active,
            },
        );
    }
    issue_tokens(
        shared,
        behaviour,
        &login,
        Issue {
            purpose: Purpose::Login,
            access_token,
            refresh_token: refresh_token.as_deref(),
            scope: &login.scope,
        },
    )
}
