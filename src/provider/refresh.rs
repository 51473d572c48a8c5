//! Refreshing a session's tokens (OpenID Connect Core 1.0 section 12): the refresh token
//! grant, and what a refreshed ID token must keep of the login's.

use std::time::Duration;

use openidconnect::{OAuth2TokenResponse, RefreshToken, RequestTokenError};
use serde_json::{Map, Value};

use super::claims::TokenErrorResponse;
use super::http::HttpError;
use super::userinfo::UserInfoFailure;
use super::verify::{self, NonceRule};
use super::Provider;
use crate::client_key::JWT_BEARER;

/// OAuth error codes that say "not now" rather than "no" (RFC 6749 5.2 does not list them
/// for the token endpoint, but providers send them there).
const TRANSIENT_ERRORS: [&str; 2] = ["temporarily_unavailable", "server_error"];

/// What a refresh brought.
pub(crate) struct Refreshed {
    pub(crate) access_token: String,
    /// How long the new access token lives, when the provider said.
    pub(crate) expires_in: Option<Duration>,
    /// A new refresh token (the provider rotates them), or `None`: keep the old one.
    pub(crate) refresh_token: Option<String>,
    /// A new ID token, verified and naming the same user, when the provider sent one.
    pub(crate) id_token: Option<String>,
    /// The userinfo claims, with `fetch_userinfo`.
    pub(crate) userinfo: Option<Map<String, Value>>,
}

/// Why a refresh did not work.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefreshError {
    /// The provider refused (`invalid_grant`: revoked, expired, the user signed out or was
    /// disabled), or answered with a token that fails its checks: the session is over.
    #[error("{0}")]
    Refused(String),
    /// The provider cannot be reached or answered nonsense: the session survives.
    #[error("{0}")]
    Unavailable(String),
}

impl Provider {
    /// Redeems `refresh_token`. `login` is the claims of the session's ID token, which a
    /// new ID token must match (`iss`, `sub`, `aud`, `azp`, `auth_time`; `nonce` absent or
    /// the same).
    pub(crate) async fn refresh(
        &self,
        refresh_token: &str,
        login: &Map<String, Value>,
    ) -> Result<Refreshed, RefreshError> {
        let snapshot = self
            .snapshot()
            .await
            .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        let client = self.token_client(&snapshot.discovered);
        let assertion = self
            .client_assertion(&snapshot.discovered)
            .await
            .map_err(|e| RefreshError::Unavailable(e.log_detail().unwrap_or_default().to_owned()))?;
        let token = RefreshToken::new(refresh_token.to_owned());
        let mut request = client.exchange_refresh_token(&token);
        if let Some(assertion) = &assertion {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion);
        }
        let response = request
            .request_async(&self.http.token_endpoint())
            .await
            .map_err(|e| self.refresh_error(e, refresh_token))?;
        let access_token = response.access_token();
        let id_token = match response.extra_fields().id_token() {
            None => None,
            Some(id_token) => {
                let nonce = login.get("nonce").and_then(Value::as_str);
                self.verify(
                    id_token,
                    access_token,
                    NonceRule::AbsentOr(nonce),
                    &snapshot,
                )
                .await
                .map_err(|reason| {
                    RefreshError::Refused(format!("the refreshed ID token failed: {reason}"))
                })?;
                let jwt = id_token.to_string();
                let claims = verify::jwt_part(&jwt, 1).ok_or_else(|| {
                    RefreshError::Refused("the refreshed ID token cannot be read".to_owned())
                })?;
                same_login(login, &claims)?;
                Some(jwt)
            }
        };
        let userinfo = match self.fetches_userinfo() {
            false => None,
            true => {
                let sub = login.get("sub").and_then(Value::as_str).unwrap_or_default();
                let fields = self.userinfo(access_token.secret(), sub).await.map_err(
                    |failure| match failure {
                        UserInfoFailure::Rejected(reason) => RefreshError::Refused(reason),
                        UserInfoFailure::Failed(reason) => RefreshError::Unavailable(reason),
                    },
                )?;
                Some(fields)
            }
        };
        Ok(Refreshed {
            access_token: access_token.secret().clone(),
            expires_in: response.expires_in(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            id_token,
            userinfo,
        })
    }

    fn refresh_error(
        &self,
        error: RequestTokenError<HttpError, TokenErrorResponse>,
        refresh_token: &str,
    ) -> RefreshError {
        match error {
            RequestTokenError::ServerResponse(response) => {
                let code = self.scrub(response.error().as_ref(), &[refresh_token]);
                let message = match response.error_description() {
                    Some(description) => {
                        format!("{code} ({})", self.scrub(description, &[refresh_token]))
                    }
                    None => code.clone(),
                };
                match TRANSIENT_ERRORS.contains(&code.as_str()) {
                    true => RefreshError::Unavailable(message),
                    false => RefreshError::Refused(message),
                }
            }
            // The URL is discovery's choice, but this goes to the log only.
            RequestTokenError::Request(e) => RefreshError::Unavailable(e.to_string()),
            RequestTokenError::Parse(_, _) => {
                RefreshError::Unavailable("the token response is malformed".to_owned())
            }
            RequestTokenError::Other(message) => {
                RefreshError::Unavailable(self.scrub(&message, &[refresh_token]))
            }
        }
    }
}

/// OpenID Connect Core 1.0 section 12.2: a refreshed ID token names the same issuer,
/// subject, audience and authorized party as the login's, and the same authentication time.
fn same_login(
    login: &Map<String, Value>,
    refreshed: &Map<String, Value>,
) -> Result<(), RefreshError> {
    for claim in ["iss", "sub"] {
        if login.get(claim) != refreshed.get(claim) {
            return Err(RefreshError::Refused(format!(
                "the refreshed ID token names another {claim} than the login's"
            )));
        }
    }
    if audiences(login.get("aud")) != audiences(refreshed.get("aud")) {
        return Err(RefreshError::Refused(
            "the refreshed ID token names another aud than the login's".to_owned(),
        ));
    }
    for claim in ["azp", "auth_time"] {
        if let (Some(was), Some(now)) = (login.get(claim), refreshed.get(claim)) {
            if was != now {
                return Err(RefreshError::Refused(format!(
                    "the refreshed ID token names another {claim} than the login's"
                )));
            }
        }
    }
    Ok(())
}

/// `aud` as a sorted list: a single string and a one-item array say the same.
fn audiences(aud: Option<&Value>) -> Vec<&str> {
    let mut list: Vec<&str> = match aud {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    list.sort_unstable();
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_refreshed_token_must_name_the_same_login() {
        let login =
            claims(json!({"iss": "https://op", "sub": "u1", "aud": "app", "auth_time": 10}));
        let same =
            claims(json!({"iss": "https://op", "sub": "u1", "aud": ["app"], "auth_time": 10}));
        assert!(same_login(&login, &same).is_ok());
        for (claim, value) in [
            ("iss", json!("https://other")),
            ("sub", json!("u2")),
            ("aud", json!(["app", "other"])),
            ("auth_time", json!(11)),
        ] {
            let mut changed = same.clone();
            changed.insert(claim.to_owned(), value);
            let err = same_login(&login, &changed).unwrap_err().to_string();
            assert!(err.contains(claim), "{claim}: {err}");
        }
    }
}
