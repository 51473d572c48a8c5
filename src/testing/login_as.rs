//! [`DevProvider::login_as`]: the whole browser login flow, over real HTTP, without a browser.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};
use url::Url;

use super::dev_provider::DevProvider;
use super::server::FORM_FIELDS;
use super::user::DevUser;

/// How long each HTTP request of [`DevProvider::login_as`] may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a failing response's body a [`DevLoginError`] keeps.
const BODY_EXCERPT: usize = 500;

/// A successful [`DevProvider::login_as`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevLogin {
    /// The app's session cookie as `name=value`, ready for a `Cookie` request header: the
    /// last cookie the app's callback response set that is neither empty nor a removal.
    pub cookie: String,
    /// The `Location` the app's callback redirected to, as sent (often relative, like `/`).
    pub location: String,
    /// Every cookie the app set during the flow and did not remove again, as `name=value`,
    /// in the order they were first set. Join them with `"; "` for a `Cookie` header.
    pub cookies: Vec<String>,
}

/// The steps of [`DevProvider::login_as`], named in [`DevLoginError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginStep {
    /// `GET` the app's login URL, expecting a redirect to the provider.
    AppLogin,
    /// `GET` the provider's authorization endpoint, expecting the sign-in form.
    Authorize,
    /// `POST` the sign-in form, expecting a redirect back to the app.
    SignIn,
    /// `GET` the app's callback, expecting a redirect and a session cookie.
    AppCallback,
}

impl fmt::Display for LoginStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoginStep::AppLogin => "GET of the app's login URL",
            LoginStep::Authorize => "GET of the provider's authorization endpoint",
            LoginStep::SignIn => "POST of the provider's sign-in form",
            LoginStep::AppCallback => "GET of the app's callback",
        })
    }
}

/// Why [`DevProvider::login_as`] failed, naming the step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevLoginError {
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// A URL (the login URL or a `Location`) is not usable.
    #[error("{step}: invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The step.
        step: LoginStep,
        /// The URL as given or received.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request failed without a response (connection refused, timeout…).
    #[error("{step}: the request failed: {source}")]
    Request {
        /// The step.
        step: LoginStep,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The response had an unexpected status (an error page instead of a redirect, …).
    #[error("{step}: expected {expected}, got HTTP {status}: {body}")]
    UnexpectedStatus {
        /// The step.
        step: LoginStep,
        /// What was expected.
        expected: &'static str,
        /// The status received.
        status: u16,
        /// The start of the body, with HTML tags stripped.
        body: String,
    },
    /// A redirect without a `Location` header.
    #[error("{step}: HTTP {status} redirect without a Location header")]
    MissingLocation {
        /// The step.
        step: LoginStep,
        /// The status received.
        status: u16,
    },
    /// The app's login did not redirect to this provider's authorization endpoint (the app
    /// is configured for another provider, or another provider was chosen).
    #[error("the app's login redirected to {location}, not to this provider's authorization endpoint {expected}")]
    NotThisProvider {
        /// The authorization endpoint of this provider.
        expected: String,
        /// Where the app redirected instead.
        location: String,
    },
    /// The provider refused the authorization request and sent the browser back to the app
    /// with `error=…` (an `invalid_request` for missing PKCE, for instance).
    #[error("{step}: the provider answered error={error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    ProviderRefused {
        /// The step.
        step: LoginStep,
        /// The `error` code.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The app's callback redirected without setting a session cookie.
    #[error("the app's callback redirected to {location} without setting a session cookie")]
    NoSessionCookie {
        /// Where the callback redirected.
        location: String,
    },
}

impl DevLoginError {
    /// The step that failed, if the failure belongs to one.
    pub fn step(&self) -> Option<LoginStep> {
        match self {
            DevLoginError::Client(_) => None,
            DevLoginError::InvalidUrl { step, .. }
            | DevLoginError::Request { step, .. }
            | DevLoginError::UnexpectedStatus { step, .. }
            | DevLoginError::MissingLocation { step, .. }
            | DevLoginError::ProviderRefused { step, .. } => Some(*step),
            DevLoginError::NotThisProvider { .. } => Some(LoginStep::AppLogin),
            DevLoginError::NoSessionCookie { .. } => Some(LoginStep::AppCallback),
        }
    }

    /// The HTTP status of the failing response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            DevLoginError::UnexpectedStatus { status, .. }
            | DevLoginError::MissingLocation { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl DevProvider {
    /// Logs `user` in to an app through the real HTTP flow and returns the app's session
    /// cookie, as a browser would end up with it:
    ///
    /// 1. `GET login_url` (the app's login route, e.g. `http://127.0.0.1:8000/auth/login`),
    ///    expecting a redirect to this provider's authorization endpoint, and keeping every
    ///    cookie the app sets (such as its browser-binding cookie);
    /// 2. `GET` that authorization URL, expecting the sign-in form;
    /// 3. `POST` the form as `user` (name, email, extra and userinfo-only claims), expecting a redirect to the
    ///    app's callback;
    /// 4. `GET` the callback with the app's cookies, expecting a redirect and a session cookie.
    ///
    /// Redirects are never followed automatically. Cookies are kept by name only (no domain,
    /// path or expiry matching): every cookie the app set is sent back to its callback.
    ///
    /// ```no_run
    /// use tower_oidc_login::testing::{DevLoginError, DevProvider, DevUser, LoginStep};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let provider = DevProvider::start().await?;
    /// let user = DevUser::new("Alice", "alice@example.com");
    /// match provider.login_as("http://127.0.0.1:8000/auth/login", &user).await {
    ///     Ok(login) => println!("session cookie: {}, then {}", login.cookie, login.location),
    ///     Err(e @ DevLoginError::UnexpectedStatus { step: LoginStep::AppCallback, .. }) => {
    ///         panic!("the app refused the callback: {e}")
    ///     }
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn login_as(
        &self,
        login_url: &str,
        user: &DevUser,
    ) -> Result<DevLogin, DevLoginError> {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(DevLoginError::Client)?;
        let mut jar = Jar::default();

        // 1. The app's login route sends the browser to the provider.
        let step = LoginStep::AppLogin;
        let login = parse_url(step, login_url)?;
        let response = send(step, client.get(login.clone())).await?;
        jar.store(response.headers());
        let authorize = expect_redirect(step, response, &login).await?;
        let endpoint = self.authorization_endpoint();
        if !same_endpoint(&authorize, &endpoint) && !self.is_tenant_authorization_url(&authorize) {
            return Err(DevLoginError::NotThisProvider {
                expected: endpoint,
                location: authorize.into(),
            });
        }
        // The form posts back to the endpoint the app chose (a tenant's, on a multi-tenant
        // provider).
        let mut endpoint_url = authorize.clone();
        endpoint_url.set_query(None);

        // 2. The provider shows its sign-in form, or sends an error back to the app.
        let step = LoginStep::Authorize;
        let response = send(step, client.get(authorize.clone())).await?;
        if response.status().is_redirection() {
            let status = response.status().as_u16();
            let back = expect_redirect(step, response, &authorize).await?;
            return Err(
                refusal(step, &back).unwrap_or(DevLoginError::UnexpectedStatus {
                    step,
                    expected: "the sign-in form (HTTP 200)",
                    status,
                    body: format!("redirected to {back}"),
                }),
            );
        }
        if response.status() != StatusCode::OK {
            return Err(unexpected(step, "the sign-in form (HTTP 200)", response).await);
        }

        // 3. Sign in as `user`.
        let step = LoginStep::SignIn;
        let mut form: Vec<(String, String)> = authorize
            .query_pairs()
            .filter(|(name, _)| !FORM_FIELDS.contains(&name.as_ref()))
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        let text = |claims: &serde_json::Map<String, serde_json::Value>| {
            if claims.is_empty() {
                String::new()
            } else {
                serde_json::to_string(claims).unwrap_or_default()
            }
        };
        form.extend([
            ("name".to_owned(), user.name().to_owned()),
            ("email".to_owned(), user.email().to_owned()),
            ("claims".to_owned(), text(&user.form_claims())),
            ("userinfo_claims".to_owned(), text(user.userinfo_claims())),
            ("action".to_owned(), "sign_in".to_owned()),
        ]);
        let response = send(step, client.post(endpoint_url.clone()).form(&form)).await?;
        let callback = expect_redirect(step, response, &endpoint_url).await?;
        if let Some(refused) = refusal(step, &callback) {
            return Err(refused);
        }

        // 4. The app's callback redeems the code and sets its session cookie.
        let step = LoginStep::AppCallback;
        let mut request = client.get(callback.clone());
        if let Some(header) = jar.header() {
            request = request.header(COOKIE, header);
        }
        let response = send(step, request).await?;
        if !response.status().is_redirection() {
            return Err(unexpected(step, "a redirect (HTTP 302 or 303)", response).await);
        }
        let session = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(SetCookie::parse)
            .rfind(|cookie| !cookie.removal && !cookie.value.is_empty())
            .map(|cookie| format!("{}={}", cookie.name, cookie.value));
        jar.store(response.headers());
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .ok_or(DevLoginError::MissingLocation {
                step,
                status: response.status().as_u16(),
            })?;
        let cookie = session.ok_or_else(|| DevLoginError::NoSessionCookie {
            location: location.clone(),
        })?;
        Ok(DevLogin {
            cookie,
            location,
            cookies: jar.pairs(),
        })
    }
}

fn parse_url(step: LoginStep, url: &str) -> Result<Url, DevLoginError> {
    Url::parse(url).map_err(|e| DevLoginError::InvalidUrl {
        step,
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

async fn send(
    step: LoginStep,
    request: reqwest::RequestBuilder,
) -> Result<Response, DevLoginError> {
    request
        .send()
        .await
        .map_err(|source| DevLoginError::Request { step, source })
}

/// The redirect's target, resolved against the URL that answered.
async fn expect_redirect(
    step: LoginStep,
    response: Response,
    base: &Url,
) -> Result<Url, DevLoginError> {
    if !response.status().is_redirection() {
        return Err(unexpected(step, "a redirect (HTTP 302 or 303)", response).await);
    }
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(DevLoginError::MissingLocation { step, status })?;
    base.join(location).map_err(|e| DevLoginError::InvalidUrl {
        step,
        url: location.to_owned(),
        reason: e.to_string(),
    })
}

async fn unexpected(step: LoginStep, expected: &'static str, response: Response) -> DevLoginError {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    DevLoginError::UnexpectedStatus {
        step,
        expected,
        status,
        body: excerpt(&body),
    }
}

/// An authorization error response (`error=…`) carried by a redirect back to the app.
fn refusal(step: LoginStep, url: &Url) -> Option<DevLoginError> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let error = param("error")?;
    Some(DevLoginError::ProviderRefused {
        step,
        error,
        description: param("error_description"),
    })
}

/// Same scheme, host, port and path: the authorization endpoint, whatever the query.
fn same_endpoint(url: &Url, endpoint: &str) -> bool {
    match Url::parse(endpoint) {
        Ok(endpoint) => {
            url.scheme() == endpoint.scheme()
                && url.host() == endpoint.host()
                && url.port_or_known_default() == endpoint.port_or_known_default()
                && url.path() == endpoint.path()
        }
        Err(_) => false,
    }
}

/// A body's start as plain text: tags, styles and scripts dropped, whitespace collapsed.
fn excerpt(body: &str) -> String {
    let mut text = String::with_capacity(body.len().min(4 * BODY_EXCERPT));
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        text.push(' ');
        let tag = &rest[start..];
        let lower = tag.get(..8).unwrap_or(tag).to_ascii_lowercase();
        let closing = if lower.starts_with("<style") {
            "</style>"
        } else if lower.starts_with("<script") {
            "</script>"
        } else {
            ">"
        };
        rest = match find_ascii_ci(tag, closing) {
            Some(end) => &tag[end + closing.len()..],
            None => "",
        };
    }
    text.push_str(rest);
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > BODY_EXCERPT {
        let cut: String = collapsed.chars().take(BODY_EXCERPT).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

/// Byte offset of ASCII `needle` in `haystack`, ignoring ASCII case.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    hay.windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

/// One `Set-Cookie` header, as much as a cookie jar by name needs.
struct SetCookie {
    name: String,
    value: String,
    removal: bool,
}

impl SetCookie {
    fn parse(header: &str) -> Option<SetCookie> {
        let pair = header.split(';').next()?.trim();
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        // Attributes are read with the `cookie` crate; the name and value are kept exactly as
        // sent, because they go back verbatim in the `Cookie` header.
        let removal = match cookie::Cookie::parse(header) {
            Ok(parsed) => {
                parsed
                    .max_age()
                    .is_some_and(|age| age <= time::Duration::ZERO)
                    || parsed
                        .expires_datetime()
                        .is_some_and(|expires| expires <= time::OffsetDateTime::now_utc())
            }
            Err(_) => false,
        };
        Some(SetCookie {
            name: name.to_owned(),
            value: value.trim().to_owned(),
            removal,
        })
    }
}

/// Cookies by name, in the order first set.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn store(&mut self, headers: &HeaderMap) {
        for cookie in headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(SetCookie::parse)
        {
            let existing = self.0.iter().position(|(name, _)| *name == cookie.name);
            match (existing, cookie.removal) {
                (Some(index), true) => {
                    self.0.remove(index);
                }
                (Some(index), false) => self.0[index].1 = cookie.value,
                (None, true) => {}
                (None, false) => self.0.push((cookie.name, cookie.value)),
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.pairs().join("; "))
    }

    fn pairs(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect()
    }
}
