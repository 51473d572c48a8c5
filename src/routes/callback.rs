//! The callback (the path of `redirect_uri`): finish a login, or land the browser after
//! the provider's logout.

use bytes::Bytes;
use http::request::Parts;
use http::{header::SET_COOKIE, Response};
use http_body_util::Full;
use subtle::ConstantTimeEq;

use super::query::query_params;
use super::respond::{failure, login_href};
use crate::error::LoginError;
use crate::pages;
use crate::pending::{browser_tag, now_unix, PENDING_TTL};
use crate::session::CookiePurpose;
use crate::state::AuthState;
use crate::user::StoredUser;
use crate::util::bounded;

pub(super) async fn callback(state: &AuthState, parts: &Parts) -> Response<Full<Bytes>> {
    let [code, login_state, error, description, iss] = match query_params(
        parts,
        ["code", "state", "error", "error_description", "iss"],
    ) {
        Ok(params) => params,
        Err(e) => return failure(&e, None, &state.routes.login),
    };

    if let Some(error) = error {
        // Consume the pending login so its state cannot be used again.
        let provider = match &login_state {
            Some(s) => state
                .sessions
                .take_pending(s)
                .await
                .ok()
                .flatten()
                .map(|p| p.provider),
            None => None,
        };
        let err = LoginError::ProviderRefused {
            error: bounded(&error, 100),
            description: description.map(|d| bounded(&d, 300)),
        };
        let retry = login_href(state, provider.as_deref(), None);
        return failure(&err, provider.as_deref(), &retry);
    }

    let Some(code) = code else {
        return logout_return(state, parts, login_state.as_deref());
    };
    let Some(login_state) = login_state else {
        return failure(
            &LoginError::BadRequest("the response has a code but no state".into()),
            None,
            &state.routes.login,
        );
    };

    match finish_login(state, parts, &code, &login_state, iss.as_deref()).await {
        Ok(response) => response,
        Err((err, provider)) => {
            let retry = login_href(state, provider.as_deref(), None);
            failure(&err, provider.as_deref(), &retry)
        }
    }
}

async fn finish_login(
    state: &AuthState,
    parts: &Parts,
    code: &str,
    login_state: &str,
    iss: Option<&str>,
) -> Result<Response<Full<Bytes>>, (LoginError, Option<String>)> {
    let pending = match state.sessions.take_pending(login_state).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err((LoginError::UnknownState, None)),
        Err(e) => return Err((LoginError::Session(e.to_string()), None)),
    };
    let name = pending.provider.clone();
    let fail = |e: LoginError| (e, Some(name.clone()));

    if now_unix().saturating_sub(pending.created) > PENDING_TTL.as_secs() as i64 {
        return Err(fail(LoginError::Expired));
    }
    let binding = state
        .cookies
        .read(&parts.headers, CookiePurpose::LoginBinding);
    let same_browser = binding
        .map(|b| bool::from(browser_tag(&b).as_bytes().ct_eq(pending.browser.as_bytes())))
        .unwrap_or(false);
    if !same_browser {
        return Err(fail(LoginError::BrowserMismatch));
    }
    let Some(provider) = state.providers.get(&name) else {
        return Err(fail(LoginError::UnknownState));
    };
    // RFC 9207: the authorization response names its issuer, which defeats mix-up
    // attacks; when the provider promises to send it, its absence is an attack too.
    match (iss, provider.issuer()) {
        (Some(iss), Some(expected)) if iss != expected => {
            return Err(fail(LoginError::IssuerMismatch))
        }
        (None, _) if provider.advertises_iss_parameter() => {
            return Err(fail(LoginError::IssuerMismatch))
        }
        _ => {}
    }

    let tokens = provider
        .exchange_code(code, &pending.pkce_verifier, &pending.nonce)
        .await
        .map_err(fail)?;

    let access_token = state.expose.access.then_some(tokens.access_token.as_str());
    let Some(stored) = StoredUser::new(&name, &tokens.id_token, access_token) else {
        return Err(fail(LoginError::IdTokenRejected(
            "the token's claims could not be stored".to_owned(),
        )));
    };
    // A fresh id for every login, whatever id the browser brought: a session id planted
    // before login is never the one that becomes logged in (session fixation).
    let id = state
        .sessions
        .create_user(stored)
        .await
        .map_err(|e| fail(LoginError::Session(e.to_string())))?;
    if let Some(old) = state.session_id(&parts.headers) {
        if let Err(e) = state.sessions.delete(&old).await {
            tracing::warn!(error = %e, "could not delete the previous session");
        }
    }
    tracing::info!(provider = %name, sub = tokens.claims.get("sub").and_then(|s| s.as_str()).unwrap_or(""), "login succeeded");

    let mut response = pages::redirect(&pending.return_to, &state.routes.home);
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        state.cookies.set(
            CookiePurpose::Session,
            &id.to_string(),
            state.sessions.lifetime(),
        ),
    );
    Ok(response)
}

/// The provider sends the browser back here after its logout (Streamlit registers only
/// `redirect_uri` with the provider, so logout returns here too). It carries the state
/// the logout sent, or nothing at all from providers that drop it.
fn logout_return(
    state: &AuthState,
    parts: &Parts,
    returned_state: Option<&str>,
) -> Response<Full<Bytes>> {
    let expected = state
        .cookies
        .read(&parts.headers, CookiePurpose::LogoutState);
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
            .append(SET_COOKIE, state.cookies.remove(CookiePurpose::LogoutState));
    }
    response
}
