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
    let fix = err.fix(provider);
    let fix = fix.as_deref();
    if status.is_server_error() {
        tracing::error!(provider, status = status.as_u16(), reason = %err, detail, fix, "login failed");
    } else {
        tracing::warn!(provider, status = status.as_u16(), reason = %err, detail, fix, "login failed");
    }
    pages::error_page(status, &err.to_string(), fix, retry_href)
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt as _;

    use super::*;

    /// A log writer whose lines the test can read.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The page and the log line of `failure(err, provider)`.
    async fn page_and_log(err: &LoginError, provider: Option<&str>) -> (String, String) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let response = {
            let _default = tracing::subscriber::set_default(subscriber);
            failure(err, provider, "/auth/login?provider=idp")
        };
        let body = response.into_body().collect().await.expect("body");
        let page = String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8 page");
        let log = String::from_utf8(log.0.lock().expect("log").clone()).expect("UTF-8 log");
        (page, log)
    }

    fn refused(error: &str, description: Option<&str>) -> LoginError {
        LoginError::ProviderRefused {
            error: error.to_owned(),
            description: description.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn a_refused_prompt_says_how_to_fix_it_on_the_page_and_in_the_log() {
        let err = refused(
            "invalid_request",
            Some("unsupported prompt value requested"),
        );
        let (page, log) = page_and_log(&err, Some("idp")).await;
        for needle in [
            "unsupported prompt value requested",
            "client_kwargs.prompt = &quot;&quot;",
            "login provider &quot;idp&quot;",
            "[auth.idp]",
            "OIDC_AUTH__IDP__CLIENT_KWARGS__PROMPT",
            "Try again",
        ] {
            assert!(page.contains(needle), "{needle:?} not in {page}");
        }
        assert!(log.contains("login failed"), "{log}");
        for needle in [
            "fix=",
            "client_kwargs.prompt",
            "[auth.idp]",
            "OIDC_AUTH__IDP__CLIENT_KWARGS__PROMPT",
        ] {
            assert!(log.contains(needle), "{needle:?} not in {log}");
        }

        // The default provider's table and variable.
        let (page, _) = page_and_log(&err, Some("default")).await;
        assert!(page.contains("[auth] (or [auth.default])"), "{page}");
        assert!(page.contains("OIDC_AUTH__CLIENT_KWARGS__PROMPT"), "{page}");
    }

    #[tokio::test]
    async fn other_refusals_have_no_fix() {
        for err in [
            refused("access_denied", Some("The user cancelled")),
            refused("invalid_request", Some("redirect_uri did not match")),
            refused("invalid_request", None),
            LoginError::UnknownState,
            LoginError::TokenRejected("invalid_client_metadata (not a credential)".into()),
        ] {
            assert_eq!(err.fix(Some("idp")), None, "{err}");
            let (page, log) = page_and_log(&err, Some("idp")).await;
            assert!(!page.contains("To fix this"), "{page}");
            assert!(!log.contains("fix="), "{log}");
        }
    }
}
