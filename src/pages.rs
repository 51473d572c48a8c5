//! The few HTML pages the layer answers itself: errors, the provider chooser and the
//! logout confirmation. Every value shown is HTML-escaped.

use bytes::Bytes;
use http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{Response, StatusCode};
use http_body_util::Full;

/// `&`, `<`, `>`, `"` and `'` escaped: safe in element content and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}\
a.button,button{{display:inline-block;padding:.5rem 1rem;border-radius:.4rem;border:1px solid #888;background:#f4f4f4;color:#222;text-decoration:none;font-size:1rem;cursor:pointer}}\
li{{margin:.5rem 0;list-style:none}}</style></head><body>{body_html}</body></html>\n",
        title = escape(title),
    )
}

/// Headers every page and redirect of the login flow carries: nothing of it may be
/// cached, and no URL of it (codes, states) may leak through `Referer`.
pub(crate) fn no_store<B>(mut response: Response<B>) -> Response<B> {
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// What our pages may do: show their own inline style, post forms to this site, nothing
/// else (no script, no frame, no third-party resource), and never be framed (clickjacking).
const PAGE_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn html(status: StatusCode, document: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(document)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    no_store(response)
}

/// A 302 to `location`. Locations are built from validated configuration, provider
/// metadata or checked same-origin paths; one that still cannot be a header value goes
/// to `fallback` instead of failing the request.
pub(crate) fn redirect(location: &str, fallback: &str) -> Response<Full<Bytes>> {
    let value = HeaderValue::from_str(location)
        .or_else(|_| HeaderValue::from_str(fallback))
        .unwrap_or_else(|_| HeaderValue::from_static("/"));
    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::FOUND;
    response.headers_mut().insert(LOCATION, value);
    no_store(response)
}

/// A failed login: what went wrong, what whoever runs the site can do about it (`fix`) when
/// that is known, and a link to try again.
pub(crate) fn error_page(
    status: StatusCode,
    message: &str,
    fix: Option<&str>,
    retry_href: &str,
) -> Response<Full<Bytes>> {
    let heading = if status.is_server_error() {
        "Login is not available right now"
    } else {
        "Login failed"
    };
    let fix = fix
        .map(|fix| {
            format!(
                "<p class=\"fix\">To fix this (for whoever runs this site): {}.</p>",
                escape(fix)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>{heading}</h1><p>{message}.</p>{fix}<p><a class=\"button\" href=\"{retry}\">Try again</a></p>",
        message = escape(&capitalize(message)),
        retry = escape(retry_href),
    );
    html(status, page(heading, &body))
}

/// A cross-site logout `POST` (a form on another site, say), refused: nothing changed, and
/// the way to log out is this site's own button.
pub(crate) fn logout_refused(home: &str) -> Response<Full<Bytes>> {
    let heading = "Logout refused";
    let body = format!(
        "<h1>{heading}</h1><p>This logout request came from another site, so it was refused: \
         you are still logged in. To log out, use this site's own logout button.</p>\
         <p><a class=\"button\" href=\"{home}\">Back to the site</a></p>",
        home = escape(home),
    );
    html(StatusCode::FORBIDDEN, page(heading, &body))
}

/// Browsers ask for `text/html` when they navigate; `fetch` and API clients do not.
pub(crate) fn wants_html(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// `503` for a request with a session cookie while the session store cannot be reached:
/// the visitor is neither logged in nor sent to a login that could not be stored either.
/// A page for browsers, JSON for everything else; both ask to come back in a few seconds.
pub(crate) fn sessions_unavailable(headers: &http::HeaderMap) -> Response<Full<Bytes>> {
    let mut response = if wants_html(headers) {
        let heading = "Sessions are not available right now";
        let body = format!(
            "<h1>{heading}</h1><p>This site cannot check your login at the moment. Please try \
             again in a few seconds.</p><p><a class=\"button\" href=\"\">Try again</a></p>"
        );
        html(StatusCode::SERVICE_UNAVAILABLE, page(heading, &body))
    } else {
        let body = serde_json::json!({
            "error": "sessions_unavailable",
            "message": "The session store cannot be reached; try again in a few seconds.",
        });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        no_store(response)
    };
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// `403` for a user the app does not admit: who they are signed in as, which kind of rule
/// refused them, and a way to sign in with another account.
pub(crate) fn not_admitted(message: &str, login_href: &str) -> Response<Full<Bytes>> {
    // `message` holds the hook's or the rule's words: escaped below like everything else.
    let heading = "Not admitted";
    let body = format!(
        "<h1>{heading}</h1><p>{message}.</p><p><a class=\"button\" href=\"{login}\">Sign in \
         with another account</a></p>",
        message = escape(&capitalize(message)),
        login = escape(login_href),
    );
    html(StatusCode::FORBIDDEN, page(heading, &body))
}

/// `403` for a logged-in user a route's rule refuses.
pub(crate) fn forbidden(message: &str, home: &str) -> Response<Full<Bytes>> {
    let heading = "Not allowed";
    let body = format!(
        "<h1>{heading}</h1><p>{message}.</p><p><a class=\"button\" href=\"{home}\">Home</a></p>",
        message = escape(&capitalize(message)),
        home = escape(home),
    );
    html(StatusCode::FORBIDDEN, page(heading, &body))
}

/// A JSON answer (the back-channel logout's), never cached.
pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    no_store(response)
}

/// The tiny page a front-channel logout answers in the provider's hidden frame.
pub(crate) fn signed_out() -> Response<Full<Bytes>> {
    html(
        StatusCode::OK,
        page("Signed out", "<p>You have been signed out of this app.</p>"),
    )
}

pub(crate) fn chooser(providers: &[(String, String)]) -> Response<Full<Bytes>> {
    let items: String = providers
        .iter()
        .map(|(name, href)| {
            format!(
                "<li><a class=\"button\" href=\"{}\">Log in with {}</a></li>",
                escape(href),
                escape(name)
            )
        })
        .collect();
    html(
        StatusCode::OK,
        page("Log in", &format!("<h1>Log in</h1><ul>{items}</ul>")),
    )
}

pub(crate) fn logout_confirm(action: &str, home: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<h1>Log out?</h1><form method=\"post\" action=\"{action}\"><button type=\"submit\">Log out</button> \
<a href=\"{home}\">Cancel</a></form>",
        action = escape(action),
        home = escape(home)
    );
    html(StatusCode::OK, page("Log out", &body))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cannot_be_framed_or_run_anything() {
        for page in [
            error_page(StatusCode::BAD_REQUEST, "x", None, "/"),
            chooser(&[("a".into(), "/auth/login?provider=a".into())]),
            logout_confirm("/auth/logout", "/"),
        ] {
            let csp = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(csp.contains("default-src 'none'"), "{csp}");
            assert_eq!(page.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#x27;x&#x27;)&amp;&quot;&lt;/script&gt;"
        );
    }

    fn body(response: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt as _;
        let collected = futures_util::FutureExt::now_or_never(response.into_body().collect());
        let bytes = collected
            .expect("a full body is ready")
            .expect("body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[test]
    fn a_fix_is_shown_escaped_only_when_there_is_one() {
        let page = body(error_page(
            StatusCode::FORBIDDEN,
            "the login provider refused the login",
            Some("set <prompt> = \"\""),
            "/auth/login",
        ));
        assert!(page.contains("<title>Login failed</title>"), "{page}");
        assert!(
            page.contains(
                "To fix this (for whoever runs this site): set &lt;prompt&gt; = &quot;&quot;."
            ),
            "{page}"
        );
        let page = body(error_page(
            StatusCode::BAD_REQUEST,
            "no",
            None,
            "/auth/login",
        ));
        assert!(!page.contains("To fix this"), "{page}");
    }

    #[test]
    fn the_logout_refusal_has_its_own_title_and_words() {
        let response = logout_refused("/app/");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let page = body(response);
        assert!(page.contains("<title>Logout refused</title>"), "{page}");
        assert!(page.contains("<h1>Logout refused</h1>"), "{page}");
        assert!(page.contains("still logged in"), "{page}");
        assert!(
            page.contains("href=\"/app/\">Back to the site</a>"),
            "{page}"
        );
        assert!(!page.contains("Login"), "{page}");
    }
}
