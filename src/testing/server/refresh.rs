//! `grant_type=refresh_token` (RFC 6749 section 6, OpenID Connect Core 1.0 section 12): a new
//! access token and ID token for the login the refresh token was issued for, and, with
//! rotation, a new refresh token that retires the one presented (RFC 9700 section 4.14.2).

use axum::response::Response;

use super::issue::{issue_tokens, Issue, Purpose};
use super::params::Params;
use super::respond::TokenError;
use super::state::{lock, RefreshGrant, RefreshState, Shared};
use crate::testing::behaviour::Behaviour;
use crate::testing::registration::RefreshTokenRotation;
use crate::util::random_token;

/// Refreshes for an authenticated client.
pub(crate) fn refresh(
    shared: &Shared,
    behaviour: &Behaviour,
    params: &Params,
) -> Result<Response, TokenError> {
    let single = |name: &str| TokenError::param(params, name);
    let presented = single("refresh_token")?
        .ok_or_else(|| TokenError::bad_request("invalid_request", "refresh_token is required"))?;
    let requested_scope = single("scope")?;
    let invalid_grant = |description: &str| TokenError::bad_request("invalid_grant", description);

    let (login, scope, rotated) = {
        let mut tokens = lock(&shared.refresh_tokens);
        let Some(grant) = tokens.get_mut(presented) else {
            return Err(invalid_grant("the refresh token is unknown or was revoked"));
        };
        if grant.state == RefreshState::Rotated {
            // A retired token comes back: either the client lost the rotated one or an
            // attacker holds a copy. Ending the whole family stops the attacker either way.
            let family = grant.family.clone();
            tokens.retain(|_, g| g.family != family);
            tracing::debug!(
                "development provider: a rotated refresh token was reused; its family is revoked"
            );
            return Err(invalid_grant(
                "the refresh token was already used and replaced; every refresh token of its family is now revoked (RFC 9700 section 4.14.2)",
            ));
        }
        if grant.login.client_id != shared.client_id {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let granted: Vec<&str> = grant.login.scope.split_ascii_whitespace().collect();
        let scope = match requested_scope {
            None => grant.login.scope.clone(),
            Some(requested) => {
                if let Some(extra) = requested
                    .split_ascii_whitespace()
                    .find(|s| !granted.contains(s))
                {
                    return Err(TokenError::bad_request(
                        "invalid_scope",
                        format!("scope \"{extra}\" was not granted to this refresh token"),
                    ));
                }
                requested.to_owned()
            }
        };
        let login = grant.login.clone();
        let family = grant.family.clone();
        let rotated = match shared.refresh_rotation {
            RefreshTokenRotation::Rotate => {
                grant.state = RefreshState::Rotated;
                let next = random_token();
                tokens.insert(
                    next.clone(),
                    RefreshGrant {
                        login: login.clone(),
                        family,
                        state: RefreshState::Active,
                    },
                );
                Some(next)
            }
            RefreshTokenRotation::Keep => None,
        };
        (login, scope, rotated)
    };
    issue_tokens(
        shared,
        behaviour,
        &login,
        Issue {
            purpose: Purpose::Refresh,
            access_token: random_token(),
            refresh_token: rotated.as_deref(),
            scope: &scope,
        },
    )
}
