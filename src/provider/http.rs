//! The one HTTP client that talks to a provider: discovery, key set and token endpoint.
//!
//! Every answer is read into memory by openidconnect, so the body is capped while it streams in:
//! a hostile or broken endpoint cannot make us buffer gigabytes. Redirects are never followed,
//! because a redirect would let whoever controls a provider URL point our server at internal
//! addresses (SSRF), and a token request must never be re-sent with the code and secret to
//! another place.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use url::Url;

/// Largest body accepted from a provider. Discovery documents and key sets are a few KiB, token
/// responses a few KiB more; 1 MiB leaves ample room and still bounds memory per request.
pub(crate) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why an HTTP exchange with the provider failed. Messages name the endpoint (without any
/// password or query) and never a request or response body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("no answer from {url} within {}", human(*after))]
    Timeout { url: String, after: Duration },
    #[error("could not connect to {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("the answer from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} answered with a redirect (HTTP {status}), and redirects are not followed")]
    Redirect { url: String, status: u16 },
    #[error("HTTP {status} from {url}")]
    Status { url: String, status: u16 },
    #[error("the answer from {url} is not JSON")]
    NotJson { url: String },
    #[error("the request to {url} failed: {cause}")]
    Other { url: String, cause: String },
}

impl HttpError {
    /// The same failure for a visitor's page: `what` ("its key set") instead of the URL,
    /// which discovery chose (a hostile provider can point it at internal addresses). The
    /// whole error, URL included, is for the log.
    pub(crate) fn public(&self, what: &str) -> String {
        match self {
            HttpError::Timeout { after, .. } => {
                format!("no answer from {what} within {}", human(*after))
            }
            HttpError::Connect { cause, .. } => format!("could not connect to {what}: {cause}"),
            HttpError::TooLarge { limit, .. } => {
                format!("the answer from {what} is larger than {limit} bytes")
            }
            HttpError::Redirect { status, .. } => format!(
                "{what} answered with a redirect (HTTP {status}), and redirects are not followed"
            ),
            HttpError::Status { status, .. } => format!("HTTP {status} from {what}"),
            HttpError::NotJson { .. } => format!("the answer from {what} is not JSON"),
            HttpError::Other { .. } => format!("the request to {what} failed"),
        }
    }
}

/// reqwest with the policies above; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
    timeout: Duration,
}

impl HttpClient {
    /// `timeout` bounds both connecting and the whole exchange, body included.
    pub(crate) fn new(timeout: Duration) -> Result<HttpClient, String> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Below the 5 s keep-alive of Node's HTTP server (and of many load balancers'
            // shortest settings): a connection the server is closing at the moment a token
            // request goes out would fail that request, and a code cannot be sent twice.
            .pool_idle_timeout(Duration::from_secs(4))
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("tower-oidc-login/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| root_cause(&e.without_url()))?;
        Ok(HttpClient { inner, timeout })
    }

    /// Sends `request` and reads the answer, whatever its status, up to [`MAX_RESPONSE_BYTES`].
    pub(crate) async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = display_uri(request.uri());
        let request = reqwest::Request::try_from(request).map_err(|e| HttpError::Other {
            url: url.clone(),
            cause: root_cause(&e.without_url()),
        })?;
        let mut response = self
            .inner
            .execute(request)
            .await
            .map_err(|e| self.classify(e, &url))?;

        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(HttpError::TooLarge {
                url,
                limit: MAX_RESPONSE_BYTES,
            });
        }
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(response.headers().clone());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e, &url))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpError::TooLarge {
                    url,
                    limit: MAX_RESPONSE_BYTES,
                });
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|e| HttpError::Other {
            url,
            cause: e.to_string(),
        })
    }

    /// A GET expecting a 200 JSON answer, for discovery and the key set.
    pub(crate) async fn get_json(&self, url: &Url) -> Result<Vec<u8>, HttpError> {
        self.get_json_with(url, &[]).await
    }

    /// [`HttpClient::get_json`] with more request headers (the managed identity endpoint's).
    pub(crate) async fn get_json_with(
        &self,
        url: &Url,
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, HttpError> {
        let mut builder = http::Request::builder()
            .method(http::Method::GET)
            .uri(url.as_str())
            .header(http::header::ACCEPT, "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Vec::new())
            .map_err(|e| HttpError::Other {
                url: display_url(url),
                cause: e.to_string(),
            })?;
        let response = self.execute(request).await?;
        let status = response.status();
        if status.is_redirection() {
            return Err(HttpError::Redirect {
                url: display_url(url),
                status: status.as_u16(),
            });
        }
        if status != StatusCode::OK {
            return Err(HttpError::Status {
                url: display_url(url),
                status: status.as_u16(),
            });
        }
        if !is_json(response.body()) {
            return Err(HttpError::NotJson {
                url: display_url(url),
            });
        }
        Ok(response.into_body())
    }

    /// The token endpoint call handed to openidconnect as its `AsyncHttpClient`.
    ///
    /// Failures that are not an OAuth error answer become transport errors here, so the caller
    /// can tell "the provider said no" (`invalid_grant`, …) from "the provider is broken".
    pub(crate) async fn token_call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = display_uri(request.uri());
        let mut response = self.execute(request).await?;
        let status = response.status();
        if status.is_redirection() {
            return Err(HttpError::Redirect {
                url,
                status: status.as_u16(),
            });
        }
        if status.is_server_error() {
            return Err(HttpError::Status {
                url,
                status: status.as_u16(),
            });
        }
        if !is_json(response.body()) {
            return Err(if status == StatusCode::OK {
                HttpError::NotJson { url }
            } else {
                HttpError::Status {
                    url,
                    status: status.as_u16(),
                }
            });
        }
        // Some providers label JSON as text/plain; the body is what matters, and oauth2 would
        // otherwise reject a perfectly good answer on its Content-Type alone.
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    /// This client as openidconnect's `AsyncHttpClient` for the token endpoint.
    pub(crate) fn token_endpoint(&self) -> TokenEndpoint<'_> {
        TokenEndpoint(self)
    }

    /// This client as openidconnect's `AsyncHttpClient` for the userinfo endpoint.
    pub(crate) fn userinfo_endpoint(&self) -> UserInfoEndpoint<'_> {
        UserInfoEndpoint(self)
    }

    /// A userinfo call: every status goes back to openidconnect (it reports a refusal), but
    /// a redirect is never followed, nor taken as an answer.
    async fn userinfo_call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = display_uri(request.uri());
        let response = self.execute(request).await?;
        if response.status().is_redirection() {
            return Err(HttpError::Redirect {
                url,
                status: response.status().as_u16(),
            });
        }
        Ok(response)
    }

    fn classify(&self, error: reqwest::Error, url: &str) -> HttpError {
        let error = error.without_url();
        if error.is_timeout() {
            HttpError::Timeout {
                url: url.to_owned(),
                after: self.timeout,
            }
        } else if error.is_connect() {
            HttpError::Connect {
                url: url.to_owned(),
                cause: root_cause(&error),
            }
        } else {
            HttpError::Other {
                url: url.to_owned(),
                cause: root_cause(&error),
            }
        }
    }
}

/// [`HttpClient::token_call`] as an `AsyncHttpClient`. A named type with a boxed `Send` future
/// rather than a closure: with a closure, rustc cannot prove the exchange future `Send` for
/// every lifetime, and axum handlers need it to be.
pub(crate) struct TokenEndpoint<'a>(&'a HttpClient);

impl<'c> AsyncHttpClient<'c> for TokenEndpoint<'_> {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.0.token_call(request))
    }
}

/// [`HttpClient::userinfo_call`] as an `AsyncHttpClient` (boxed for the reason above).
pub(crate) struct UserInfoEndpoint<'a>(&'a HttpClient);

impl<'c> AsyncHttpClient<'c> for UserInfoEndpoint<'_> {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.0.userinfo_call(request))
    }
}

fn human(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// The innermost cause, which is the informative one ("connection refused", "dns error: …",
/// "invalid peer certificate: …"); the outer layers only say "error sending request".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    if let Some(io) = current.downcast_ref::<std::io::Error>() {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => return "connection refused".to_owned(),
            std::io::ErrorKind::ConnectionReset => return "connection reset".to_owned(),
            _ => {}
        }
    }
    current.to_string()
}

/// A URL for messages and logs: scheme, host, port and path only. A password in the URL or a
/// key in its query must not end up on an error page.
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

fn display_uri(uri: &http::Uri) -> String {
    match Url::parse(&uri.to_string()) {
        Ok(url) => display_url(&url),
        Err(_) => "the provider".to_owned(),
    }
}
