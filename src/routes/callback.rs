//! The callback (the path of `redirect_uri`): finish a login, or land the browser after
//! the provider's logout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{header::SET_COOKIE, Response};
use http_body_util::Full;
use subtle::ConstantTimeEq;

use super::query::query_params;
use super::respond::{failure, login_href};
use crate::access;
use crate::error::LoginError;
use crate::hook::{AfterLogin, LoginInfo};
use crate::pages;
use crate::pending::PendingLogin;
use crate::provider::{Provider, TokenSet, UserInfoFailure};
use crate::session::{Id, SessionCookie};
use crate::state::AuthState;
use crate::user::{LoggedIn, ProviderTokens, StoredUser};
use crate::util::bounded;

/// The most of the provider's `error` and `error_description` shown or logged.
const MAX_ERROR: usize = 100;
const MAX_DESCRIPTION: usize = 300;

/// A failed step, with the provider the login was for when it is known.
type Failed = (LoginError, Option<String>);

/// What the provider answered to a login.
enum Answer {
    /// A code to exchange.
    Code(String),
    /// `error=…`: the user cancelled, or the provider refused.
    Refused {
        error: String,
        description: Option<String>,
    },
}

pub(super) async fn callback(state: &AuthState, parts: &Parts) -> Response<Full<Bytes>> {
    let [code, login_state, error, description, iss] = match query_params(
        parts,
        ["code", "state", "error", "error_description", "iss"],
    ) {
        Ok(params) => params,
        Err(e) => return failure(&e, None, &state.routes.login),
    };
    let Some(login_state) = login_state else {
        return match (code, error) {
            (Some(_), _) => failure(
                &LoginError::BadRequest("the response has a code but no state".into()),
                None,
                &state.routes.login,
            ),
            // Anyone can send a victim here with `error=…` and words of their choosing:
            // without a login of this browser to answer, none of it is shown.
            (None, Some(error)) => {
                tracing::warn!(error = %bounded(&error, MAX_ERROR), "provider error without state; not shown");
                failure(&LoginError::UnknownState, None, &state.routes.login)
            }
            (None, None) => logout_return(state, parts, None),
        };
    };
    let answer = match (error, code) {
        (Some(error), _) => Answer::Refused { error, description },
        (None, Some(code)) => Answer::Code(code),
        (None, None) => return logout_return(state, parts, Some(&login_state)),
    };

    // Whatever happens next, this browser's cookie for the login is spent.
    let removal = state.cookies.remove_pending(&login_state);
    let mut response = match finish(state, parts, &login_state, answer, iss.as_deref()).await {
        Ok(response) => response,
        Err((err, provider)) => {
            let retry = login_href(state, provider.as_deref(), None);
            failure(&err, provider.as_deref(), &retry)
        }
    };
    response.headers_mut().append(SET_COOKIE, removal);
    response
}

/// Checks the answer to the login of `login_state` and, for a code, logs the user in.
async fn finish(
    state: &AuthState,
    parts: &Parts,
    login_state: &str,
    answer: Answer,
    iss: Option<&str>,
) -> Result<Response<Full<Bytes>>, Failed> {
    let pending = state
        .cookies
        .open_pending(&parts.headers, login_state)
        .and_then(|content| PendingLogin::from_cookie(&content))
        .ok_or((LoginError::BrowserMismatch, None))?;
    let name = pending.provider.clone();
    let fail = |e: LoginError| (e, Some(name.clone()));
    if pending.expired(state.login_lifetime) {
        return Err(fail(LoginError::Expired));
    }
    let provider = state
        .providers
        .get(&name)
        .ok_or_else(|| fail(LoginError::UnknownState))?;
    check_issuer(provider, iss).await.map_err(fail)?;

    let code = match answer {
        Answer::Code(code) => code,
        // The answer belongs to a login this browser started, at the provider it names:
        // its words may be shown, bounded and without control characters.
        Answer::Refused { error, description } => {
            return Err(fail(LoginError::ProviderRefused {
                error: bounded(&error, MAX_ERROR),
                description: description.map(|d| bounded(&d, MAX_DESCRIPTION)),
            }))
        }
    };

    // Single use across replicas: a callback replayed with a copy of the cookie finds its
    // state already recorded. The provider's single-use code is the second line.
    match state
        .sessions
        .mark_state_used(login_state, state.login_lifetime)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(fail(LoginError::UnknownState)),
        Err(e) => {
            return Err(fail(LoginError::Session {
                detail: e.to_string(),
            }))
        }
    }

    let tokens = provider
        .exchange_code(&code, &pending.pkce_verifier, &pending.nonce)
        .await
        .map_err(fail)?;

    let stored = session_user(state, provider, &tokens).await.map_err(fail)?;
    let stored = admit(state, provider, stored, &tokens)
        .await
        .map_err(fail)?;
    // The cookie lives as long as the session can, counted from the same login time as the
    // session's end, so its `Max-Age` is the configured lifetime to the second whatever the
    // clock did meanwhile; the server-side record decides sooner.
    let max_age = Duration::from_secs(stored.ends_at.saturating_sub(stored.login_at).max(0) as u64);
    // A fresh id for every login, whatever id the browser brought: a session id planted
    // before login is never the one that becomes logged in (session fixation).
    let id = state.sessions.create_user(stored).await.map_err(|e| {
        fail(LoginError::Session {
            detail: e.to_string(),
        })
    })?;
    if let SessionCookie::Valid(old) = state.cookies.session(&parts.headers) {
        let ended = match state.sessions.load_user(&old).await {
            Ok(Some(previous)) => state.sessions.end(&old, previous.stored()).await,
            _ => state.sessions.delete(&old).await,
        };
        if let Err(e) = ended {
            tracing::warn!(error = %e, "could not delete the previous session");
        }
    }
    tracing::info!(provider = %name, sub = tokens.claims.get("sub").and_then(|s| s.as_str()).unwrap_or(""), "login succeeded");

    let mut response = pages::redirect(&pending.return_to, &state.routes.home);
    response
        .headers_mut()
        .append(SET_COOKIE, state.cookies.set_session(&id, max_age));
    Ok(response)
}

/// What the session keeps of a verified login: the ID token, the userinfo claims
/// (`fetch_userinfo`), the provider's tokens sealed (when handlers may read the access
/// token, or a refresh token lets the session follow the provider's), and when it ends.
async fn session_user(
    state: &AuthState,
    provider: &Provider,
    tokens: &TokenSet,
) -> Result<StoredUser, LoginError> {
    let unreadable =
        || LoginError::IdTokenRejected("the token's claims could not be stored".to_owned());
    let mut stored = StoredUser::new(provider.name(), &tokens.id_token).ok_or_else(unreadable)?;
    if provider.fetches_userinfo() {
        let sub = tokens
            .claims
            .get("sub")
            .and_then(|s| s.as_str())
            .unwrap_or_default();
        let fields = provider
            .userinfo(&tokens.access_token, sub)
            .await
            .map_err(|failure| match failure {
                UserInfoFailure::Rejected(reason) => LoginError::UserInfoRejected(reason),
                UserInfoFailure::Failed(reason) => LoginError::UserInfoFailed(reason),
            })?;
        stored = stored.with_extra_claims(fields).ok_or_else(unreadable)?;
    }
    let mut ends_at = state.sessions.end_for_login(stored.login_at);
    let refreshable = tokens.refresh_token.is_some();
    if state.follows_provider && !refreshable {
        // Nothing can tell whether the provider's session goes on past the ID token.
        if let Some(exp) = tokens.claims.get("exp").and_then(|e| e.as_i64()) {
            ends_at = ends_at.min(exp);
        }
    }
    stored = stored.ending_at(ends_at);
    if state.expose.access || (state.follows_provider && refreshable) {
        let kept = ProviderTokens {
            access_token: tokens.access_token.clone(),
            access_expires_at: tokens
                .expires_in
                // From the login time, taken just after the tokens arrived: never later
                // than the provider counts.
                .map(|d| stored.login_at.saturating_add(d.as_secs() as i64)),
            refresh_token: tokens.refresh_token.clone(),
            access_lifetime: tokens.expires_in.map(|d| d.as_secs() as i64),
        };
        let sealed =
            crate::seal::seal_tokens(&state.keys, &stored, &kept).ok_or_else(unreadable)?;
        stored.sealed_tokens = Some(sealed.into());
    }
    Ok(stored)
}

/// The app's say about a verified user: the after-login hook first (its claims count for the
/// rules), then the provider's `allowed_*` rules. `Err` means no session.
async fn admit(
    state: &AuthState,
    provider: &Provider,
    stored: StoredUser,
    tokens: &TokenSet,
) -> Result<StoredUser, LoginError> {
    let name = provider.name();
    if access::has_groups_overage(&tokens.claims) {
        tracing::warn!(
            provider = %name,
            "the ID token has no groups claim but names a groups source (_claim_names): the \
             user is in more groups than the token carries (Microsoft Entra ID's overage); \
             resolve them with an after-login hook if the app needs them"
        );
    }
    let mut stored = stored;
    if let Some(hook) = &state.after_login {
        // The claims as the session will hold them (userinfo's included).
        let claims = LoggedIn::decode(Arc::new(stored.clone()), Id::default(), 0)
            .map(|user| user.claims().clone())
            .unwrap_or_else(|| tokens.claims.clone());
        let login = LoginInfo {
            provider: name.to_owned(),
            claims,
            access_token: tokens.access_token.clone(),
        };
        match hook.after_login(login).await {
            Ok(AfterLogin::Admit) => {}
            Ok(AfterLogin::AdmitWith(extra)) => {
                stored = stored.with_extra_claims(extra).ok_or_else(|| {
                    LoginError::IdTokenRejected("the token's claims could not be stored".to_owned())
                })?;
            }
            Ok(AfterLogin::Refuse(reason)) => {
                return Err(not_admitted(
                    name,
                    &tokens.claims,
                    bounded(&reason, 300),
                    None,
                ))
            }
            Err(e) => {
                tracing::error!(provider = %name, error = %e, "the after-login hook failed; no session");
                return Err(LoginError::AfterLoginFailed);
            }
        }
    }
    let user = LoggedIn::decode(Arc::new(stored.clone()), Id::default(), 0).ok_or_else(|| {
        LoginError::IdTokenRejected("the token's claims could not be read".to_owned())
    })?;
    if let Err(refusal) = access::check(provider.access_rules(), user.claims()) {
        return Err(not_admitted(
            name,
            user.claims(),
            refusal.reason().to_owned(),
            Some(refusal.rule()),
        ));
    }
    Ok(stored)
}

/// [`LoginError::NotAdmitted`] naming who the user is signed in as.
fn not_admitted(
    provider: &str,
    claims: &serde_json::Map<String, serde_json::Value>,
    reason: String,
    rule: Option<&'static str>,
) -> LoginError {
    let who = ["preferred_username", "email", "name", "sub"]
        .iter()
        .find_map(|c| claims.get(*c).and_then(|v| v.as_str()))
        .unwrap_or("someone");
    LoginError::NotAdmitted {
        who: bounded(who, 100),
        provider: provider.to_owned(),
        reason,
        rule,
    }
}

/// RFC 9207: the authorization response (an error response too, section 2.4) names its
/// issuer, which defeats mix-up attacks; when the provider promises to send it, its absence
/// is an attack too. The provider's metadata is awaited first, so the check is the same on a
/// replica that has not talked to the provider yet.
async fn check_issuer(provider: &Provider, iss: Option<&str>) -> Result<(), LoginError> {
    let expected = provider.discovered_issuer().await?;
    match iss {
        Some(iss) if !provider.is_issuer(iss, None).await => Err(LoginError::IssuerMismatch),
        None if expected.iss_parameter_supported => Err(LoginError::IssuerMismatch),
        _ => Ok(()),
    }
}

/// The provider sends the browser back here after its logout (Streamlit registers only
/// `redirect_uri` with the provider, so logout returns here too). It carries the state
/// the logout sent, or nothing at all from providers that drop it.
fn logout_return(
    state: &AuthState,
    parts: &Parts,
    returned_state: Option<&str>,
) -> Response<Full<Bytes>> {
    let expected = state.cookies.logout_state(&parts.headers);
    match (returned_state, expected.as_deref()) {
        (Some(got), Some(want)) if bool::from(got.as_bytes().ct_eq(want.as_bytes())) => {
            tracing::debug!("returned from the provider's logout");
        }
        (None, _) => tracing::debug!("callback without code or state: landing on the home page"),
        _ => tracing::warn!(
            "logout return with a state this browser did not send; landing on the home page"
        ),
    }
    let mut response = pages::redirect(&state.routes.home, "/");
    if expected.is_some() {
        response
            .headers_mut()
            .append(SET_COOKIE, state.cookies.remove_logout_state());
    }
    response
}
