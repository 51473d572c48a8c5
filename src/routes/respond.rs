//! Answers shared by the flow's routes: the error page of a failed step, and links back
//! to the login.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use crate::error::LoginError;
use crate::pages;
use crate::state::AuthState;

/// The error page for `err`, logged with its reason (which never holds a secret).
pub(super) fn failure(
    err: &LoginError,
    provider: Option<&str>,
    retry_href: &str,
) -> Response<Full<Bytes>> {
    let status = err.status();
    let detail = err.log_detail();
    if let LoginError::NotAdmitted { rule, .. } = err {
        // Not a failure of the login: the app's rules at work, one line at info.
        tracing::info!(
            provider,
            rule = rule.unwrap_or("after_login hook"),
            "login refused: the user is not admitted"
        );
        return pages::not_admitted(&err.to_string(), retry_href);
    }
    if status.is_server_error() {
        tracing::error!(provider, status = status.as_u16(), reason = %err, detail, "login failed");
    } else {
        tracing::warn!(provider, status = status.as_u16(), reason = %err, detail, "login failed");
    }
    pages::error_page(status, &err.to_string(), retry_href)
}

/// `<login>?provider=NAME` (and `return_to`), query-encoded.
pub(super) fn login_href(
    state: &AuthState,
    provider: Option<&str>,
    return_to: Option<&str>,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(p) = provider {
        query.append_pair("provider", p);
    }
    if let Some(r) = return_to {
        query.append_pair("return_to", r);
    }
    let query = query.finish();
    if query.is_empty() {
        state.routes.login.clone()
    } else {
        format!("{}?{query}", state.routes.login)
    }
}
