//! The userinfo endpoint (`fetch_userinfo`): claims the ID token does not carry, merged into
//! the user's at login and at each refresh. Its `sub` must be the ID token's (OpenID
//! Connect Core 1.0 section 5.3.2): a response about anyone else is a substitution.

use openidconnect::{AccessToken, SubjectIdentifier, UserInfoError};
use serde_json::{Map, Value};

use super::claims::ExtraClaims;
use super::Provider;
use crate::util::bounded;

/// The claims a userinfo response may not change: they describe the ID token and the
/// login, not the user.
const PROTOCOL_CLAIMS: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "auth_time",
    "sid",
];

/// Why the userinfo claims could not be had.
#[derive(Debug)]
pub(crate) enum UserInfoFailure {
    /// The response is about another user, or failed a check: never use it.
    Rejected(String),
    /// The endpoint could not be reached or answered an error.
    Failed(String),
}

impl Provider {
    /// The userinfo claims for `access_token`, which must be about `sub`, without the
    /// protocol claims.
    pub(crate) async fn userinfo(
        &self,
        access_token: &str,
        sub: &str,
    ) -> Result<Map<String, Value>, UserInfoFailure> {
        let snapshot = self
            .snapshot()
            .await
            .map_err(|e| UserInfoFailure::Failed(e.to_string()))?;
        let discovered = &snapshot.discovered;
        let Some(endpoint) = discovered.userinfo_endpoint.clone() else {
            return Err(UserInfoFailure::Failed(
                "the provider has no userinfo_endpoint, which fetch_userinfo needs".to_owned(),
            ));
        };
        // A signed response is checked against the provider's keys like an ID token.
        let client = super::claims::TokenClient::new(
            openidconnect::ClientId::new(self.config.client_id().to_owned()),
            discovered.issuer.clone(),
            (*snapshot.keys).clone(),
        )
        .set_user_info_url(endpoint);
        let claims: openidconnect::UserInfoClaims<
            ExtraClaims,
            openidconnect::core::CoreGenderClaim,
        > = client
            .user_info(
                AccessToken::new(access_token.to_owned()),
                Some(SubjectIdentifier::new(sub.to_owned())),
            )
            .request_async(&self.http.userinfo_endpoint())
            .await
            .map_err(|e| self.userinfo_failure(e))?;
        let mut fields = match serde_json::to_value(&claims) {
            Ok(Value::Object(fields)) => fields,
            _ => {
                return Err(UserInfoFailure::Rejected(
                    "the userinfo response is not a JSON object".to_owned(),
                ))
            }
        };
        for claim in PROTOCOL_CLAIMS {
            fields.remove(claim);
        }
        Ok(fields)
    }

    fn userinfo_failure(&self, error: UserInfoError<super::http::HttpError>) -> UserInfoFailure {
        let failure = match error {
            UserInfoError::ClaimsVerification(
                openidconnect::ClaimsVerificationError::InvalidSubject(_),
            ) => UserInfoFailure::Rejected(
                "the userinfo response is about another user (its sub is not the ID token's)"
                    .to_owned(),
            ),
            UserInfoError::ClaimsVerification(_) => UserInfoFailure::Rejected(
                "the signed userinfo response failed verification".to_owned(),
            ),
            UserInfoError::Parse(_) => {
                UserInfoFailure::Rejected("the userinfo response is malformed".to_owned())
            }
            UserInfoError::Response(status, _, _) => {
                UserInfoFailure::Failed(format!("the userinfo endpoint answered HTTP {status}"))
            }
            UserInfoError::Request(e) => {
                // The URL is discovery's choice: for the log, not for a page. The caller
                // logs the failure itself.
                tracing::debug!(provider = %self.name(), reason = %e, "userinfo request failed");
                UserInfoFailure::Failed(e.public("its userinfo endpoint"))
            }
            other => UserInfoFailure::Failed(bounded(&other.to_string(), 200)),
        };
        failure
    }
}
