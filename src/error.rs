//! Why a login failed, with the status and the plain-words message the visitor sees.
//!
//! Messages here reach a browser (HTML-escaped on the error page) and the log. They name
//! what went wrong, never a code, token, secret or cookie value.

use http::StatusCode;

use crate::config::{var_name, DEFAULT_PROVIDER};
pub use crate::config::{ConfigError, ConfigSource};

/// A failed step of the login, logout or callback flow.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// `/auth/login?provider=NAME` names no configured provider.
    #[error("there is no login provider named \"{0}\"")]
    UnknownProvider(String),
    /// Discovery or the key set could not be fetched or used: the provider is down, or its
    /// metadata fails a check (issuer not matching its URL, no acceptable algorithm…).
    #[error("the login provider \"{provider}\" is not available right now ({reason})")]
    ProviderUnavailable {
        /// Provider name.
        provider: String,
        /// What failed (no secrets).
        reason: String,
    },
    /// The provider sent the browser back with `error=…` (for example `access_denied`).
    #[error("the login provider refused the login: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    ProviderRefused {
        /// The `error` code.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },
    /// A query parameter was missing, repeated or malformed.
    #[error("the login response is malformed: {0}")]
    BadRequest(String),
    /// The login of `state` was finished before (a replayed callback), or an answer came back
    /// for no login at all.
    #[error("this login link is unknown, expired or was already used")]
    UnknownState,
    /// This browser has no login in progress for the `state` it brought back: the login was
    /// started in another browser (login CSRF), or its cookie expired, was used up or lost.
    #[error(
        "this login link is unknown, expired or was already used, or it was started in another \
         browser (this browser has no login in progress for it)"
    )]
    BrowserMismatch,
    /// The pending login is older than its lifetime.
    #[error("this login took too long and expired")]
    Expired,
    /// The authorization response's `iss` (RFC 9207) is not the provider the login started with.
    #[error(
        "the login response came from a different provider than the one the login started with"
    )]
    IssuerMismatch,
    /// The token endpoint answered with an OAuth error such as `invalid_grant`.
    #[error("the login provider rejected the login code: {0}")]
    TokenRejected(String),
    /// The token endpoint could not be reached or answered garbage.
    #[error("the login provider's token endpoint failed: {0}")]
    TokenRequestFailed(String),
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce, at_hash…).
    #[error("the identity token from the login provider failed verification: {0}")]
    IdTokenRejected(String),
    /// `fetch_userinfo`: the userinfo response is about another user or failed a check.
    #[error("the login provider's userinfo response was refused: {0}")]
    UserInfoRejected(String),
    /// `fetch_userinfo`: the userinfo endpoint could not be reached or refused the call.
    #[error("the login provider's userinfo endpoint failed: {0}")]
    UserInfoFailed(String),
    /// The user logged in, but this app does not admit them: an `allowed_*` rule of the
    /// configuration or the after-login hook refused them. No session is made.
    #[error(
        "you are signed in as {who} with {provider}, but this app does not admit you: {reason}"
    )]
    NotAdmitted {
        /// Who the provider says the user is (their sign-in name or email).
        who: String,
        /// The provider they logged in with.
        provider: String,
        /// Which kind of rule refused them (never the list), or the hook's reason.
        reason: String,
        /// The configuration key of the rule, `None` when the hook refused.
        rule: Option<&'static str>,
    },
    /// The app's after-login hook failed; the error is in the log.
    #[error("the app could not complete the login; please try again in a moment")]
    AfterLoginFailed,
    /// The app could not get its client credential for the token request (a managed
    /// identity endpoint that does not answer, an unreadable token file).
    #[error("this app cannot sign in to the login provider \"{provider}\" right now: {reason}")]
    ClientCredentialUnavailable {
        /// Provider name.
        provider: String,
        /// What failed, in plain words.
        reason: String,
        /// For the log only (it can name internal addresses and paths).
        detail: String,
    },
    /// The session store failed: the visitor sees a generic line, the log gets `detail`.
    #[error("sessions cannot be stored right now; please try again in a few seconds")]
    Session {
        /// What the store said, for the log only (it can name hosts and paths).
        detail: String,
    },
}

impl LoginError {
    /// Detail for the log that the visitor must not see.
    pub(crate) fn log_detail(&self) -> Option<&str> {
        match self {
            LoginError::Session { detail }
            | LoginError::ClientCredentialUnavailable { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// What whoever runs the app can change so this stops happening, for the error page and
    /// the log line; `provider` is the login provider it happened with. Only for failures
    /// whose cause in the configuration is known.
    pub(crate) fn fix(&self, provider: Option<&str>) -> Option<String> {
        match self {
            // Streamlit's default `prompt=select_account` is refused by providers that do not
            // know the value (those built on oidc-provider: "unsupported prompt value
            // requested"); trying again would fail the same way.
            LoginError::ProviderRefused { error, description }
                if error == "invalid_request"
                    && description
                        .as_deref()
                        .is_some_and(|d| d.to_ascii_lowercase().contains("prompt")) =>
            {
                let provider = provider.unwrap_or(DEFAULT_PROVIDER);
                let section = if provider == DEFAULT_PROVIDER {
                    "[auth] (or [auth.default])".to_owned()
                } else {
                    format!("[auth.{provider}]")
                };
                Some(format!(
                    "the provider does not accept the prompt this app sends; set \
                     client_kwargs.prompt = \"\" for the login provider \"{provider}\" to send \
                     none (`client_kwargs = {{ prompt = \"\" }}` in {section} of secrets.toml, \
                     or {} set to an empty value)",
                    var_name(provider, "client_kwargs__prompt")
                ))
            }
            // The provider does not take the app's credential (a key it does not know, an
            // expired secret, a federated credential that trusts another identity): trying
            // again fails the same way until the registration or the configuration changes.
            // The message is `code` or `code (description)` (`Provider::token_error`).
            LoginError::TokenRejected(message)
                if message == "invalid_client" || message.starts_with("invalid_client (") =>
            {
                let provider = provider.unwrap_or(DEFAULT_PROVIDER);
                Some(format!(
                    "the login provider \"{provider}\" does not accept this app's client \
                     credential; check that its app registration holds the credential this app \
                     is configured with (the client_secret, the public key or certificate of \
                     client_private_key_file or client_private_key, or the federated credential \
                     trusting the identity of client_assertion)"
                ))
            }
            _ => None,
        }
    }

    /// The HTTP status of the error page: 4xx for anything a client or a login attempt did
    /// wrong, 502/503 when the provider or the session store is at fault.
    pub fn status(&self) -> StatusCode {
        match self {
            LoginError::UnknownProvider(_) => StatusCode::NOT_FOUND,
            LoginError::ProviderUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            LoginError::ProviderRefused { .. } => StatusCode::FORBIDDEN,
            LoginError::BadRequest(_)
            | LoginError::UnknownState
            | LoginError::BrowserMismatch
            | LoginError::Expired
            | LoginError::IssuerMismatch
            | LoginError::TokenRejected(_)
            | LoginError::IdTokenRejected(_)
            | LoginError::UserInfoRejected(_) => StatusCode::BAD_REQUEST,
            LoginError::TokenRequestFailed(_) | LoginError::UserInfoFailed(_) => {
                StatusCode::BAD_GATEWAY
            }
            LoginError::Session { .. }
            | LoginError::AfterLoginFailed
            | LoginError::ClientCredentialUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            LoginError::NotAdmitted { .. } => StatusCode::FORBIDDEN,
        }
    }
}
