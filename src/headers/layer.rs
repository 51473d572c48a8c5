//! [`TrustedHeadersLayer`] and its builders: every setter validates its input once, into
//! private fields; `build` reports the first mistake.

use std::fmt;
use std::sync::Arc;

use http::header::HeaderName;
use tower_layer::Layer;

use super::mapped::{Mapping, Rule, Shape};
use super::service::TrustedHeaders;
use super::source::{Shared, Source};
use super::{
    Ingress, Problems, TrustedHeadersError, DEFAULT_MAX_HEADER_BYTES, HEADER_BYTES_RANGE,
    RESERVED_CLAIMS,
};
use crate::config::ExposeTokens;
use crate::user::{FrontEndLogin, Login, NoTokens, UserContext};

/// A tower [`Layer`] that takes the user from the identity headers of a front end that has
/// already logged them in; see the [module docs](crate::headers), and read "Only behind
/// that front end" there before using it.
///
/// ```
/// use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
///
/// let layer = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd).build()?;
/// let service = tower::ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|req: http::Request<()>| async move {
///         let user = req.extensions().get::<tower_oidc_login::User>().cloned();
///         Ok::<_, std::convert::Infallible>(http::Response::new(format!("{user:?}")))
///     });
/// # let _ = service;
/// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
/// ```
#[derive(Clone)]
pub struct TrustedHeadersLayer {
    shared: Arc<Shared>,
}

/// The settings both builders share.
#[derive(Debug)]
struct Common {
    login: Option<FrontEndLogin>,
    max_bytes: usize,
    /// The first mistake a setter found; `build` returns it.
    error: Option<TrustedHeadersError>,
}

impl Common {
    fn new(login: Option<FrontEndLogin>) -> Self {
        Common {
            login,
            max_bytes: DEFAULT_MAX_HEADER_BYTES,
            error: None,
        }
    }

    fn fail(&mut self, error: TrustedHeadersError) {
        self.error.get_or_insert(error);
    }

    fn login_page(&mut self, path: &str, return_param: &str) {
        match login_page(path, return_param) {
            Ok(page) => self.login = Some(page),
            Err(e) => self.fail(e),
        }
    }

    fn max_header_bytes(&mut self, max: usize) {
        match HEADER_BYTES_RANGE.contains(&max) {
            true => self.max_bytes = max,
            false => self.fail(TrustedHeadersError::MaxHeaderBytes(max)),
        }
    }

    fn build(self, source: Source, what: &str) -> Result<TrustedHeadersLayer, TrustedHeadersError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        tracing::info!(
            "users come from {what} identity headers: the app must be reachable only through \
             that front end"
        );
        let context = Arc::new(UserContext {
            expose: ExposeTokens::default(),
            login: Login::FrontEnd(self.login),
            source: Arc::new(NoTokens),
        });
        Ok(TrustedHeadersLayer {
            shared: Arc::new(Shared {
                source,
                max_bytes: self.max_bytes,
                context,
                problems: Problems::default(),
            }),
        })
    }
}

/// Builds a [`TrustedHeadersLayer`] for Azure App Service Easy Auth
/// ([`TrustedHeadersLayer::azure_easy_auth`]).
#[derive(Debug)]
pub struct EasyAuthBuilder {
    common: Common,
}

/// Builds a [`TrustedHeadersLayer`] from a header → claim mapping
/// ([`TrustedHeadersLayer::mapped`], [`TrustedHeadersLayer::oauth2_proxy`]).
#[derive(Debug)]
pub struct MappedHeadersBuilder {
    common: Common,
    mapping: Mapping,
}

impl TrustedHeadersLayer {
    /// Users from Azure App Service authentication ("Easy Auth"): `X-MS-CLIENT-PRINCIPAL`
    /// and its companions. Anonymous browsers are sent to `/.auth/login/aad` (change it with
    /// [`EasyAuthBuilder::login_page`]).
    ///
    /// `ingress` is the promise that the app is reachable only through App Service's front
    /// end (no other ingress; access restrictions on the app and its `scm` site as needed).
    ///
    /// ```
    /// use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    ///
    /// let layer = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd)
    ///     .login_page("/.auth/login/google", "post_login_redirect_uri")
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn azure_easy_auth(ingress: Ingress) -> EasyAuthBuilder {
        let Ingress::OnlyThroughFrontEnd = ingress;
        EasyAuthBuilder {
            common: Common::new(Some(FrontEndLogin::new(
                "/.auth/login/aad",
                "post_login_redirect_uri",
            ))),
        }
    }

    /// Users from headers of your choice: `user_header` names the user (the `sub` claim);
    /// add others with [`MappedHeadersBuilder::claim`] and
    /// [`MappedHeadersBuilder::list_claim`]. A request without `user_header` is anonymous.
    /// No login page is known until [`MappedHeadersBuilder::login_page`] names one
    /// (anonymous requests then get `401`).
    ///
    /// `ingress` is the promise that the app is reachable only through the front end, which
    /// removes or overwrites every one of these headers on every request.
    ///
    /// ```
    /// use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    ///
    /// let layer = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Remote-User")
    ///     .claim("X-Remote-Email", "email")
    ///     .claim("X-Remote-Name", "name")
    ///     .provider_name("sso")
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn mapped(ingress: Ingress, user_header: &str) -> MappedHeadersBuilder {
        let Ingress::OnlyThroughFrontEnd = ingress;
        let mut common = Common::new(None);
        let user = header_name(user_header).unwrap_or_else(|e| {
            common.fail(e);
            HeaderName::from_static("x-invalid")
        });
        MappedHeadersBuilder {
            common,
            mapping: Mapping {
                provider: "trusted_headers".into(),
                user,
                rules: Vec::new(),
            },
        }
    }

    /// oauth2-proxy's headers (`--set-xauthrequest` / `--pass-user-headers`):
    /// `X-Forwarded-User` → `sub`, `X-Forwarded-Email` → `email`,
    /// `X-Forwarded-Preferred-Username` → `preferred_username`, `X-Forwarded-Groups`
    /// (comma-separated) → `groups`; provider `oauth2_proxy`; anonymous browsers go to
    /// `/oauth2/start?rd=<the page>`. Add more with [`MappedHeadersBuilder::claim`] (for
    /// example `.claim("X-Forwarded-Preferred-Username", "name")`).
    ///
    /// `ingress` is the promise that the app is reachable only through oauth2-proxy.
    ///
    /// ```
    /// use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    ///
    /// let layer = TrustedHeadersLayer::oauth2_proxy(Ingress::OnlyThroughFrontEnd).build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn oauth2_proxy(ingress: Ingress) -> MappedHeadersBuilder {
        TrustedHeadersLayer::mapped(ingress, "X-Forwarded-User")
            .claim("X-Forwarded-Email", "email")
            .claim("X-Forwarded-Preferred-Username", "preferred_username")
            .list_claim("X-Forwarded-Groups", "groups")
            .provider_name("oauth2_proxy")
            .login_page("/oauth2/start", "rd")
    }
}

impl EasyAuthBuilder {
    /// Where anonymous browsers are sent to log in: a path of this site and the query
    /// parameter that names the page to come back to (default `/.auth/login/aad` and
    /// `post_login_redirect_uri`).
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    /// let builder = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd)
    ///     .login_page("/.auth/login/github", "post_login_redirect_uri");
    /// # builder.build()?;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn login_page(mut self, path: &str, return_param: &str) -> Self {
        self.common.login_page(path, return_param);
        self
    }

    /// The largest header read (default [`DEFAULT_MAX_HEADER_BYTES`], from 1 KiB to 1 MiB);
    /// a larger one makes the request anonymous.
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    /// let builder = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd)
    ///     .max_header_bytes(64 * 1024);
    /// # builder.build()?;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.common.max_header_bytes(max);
        self
    }

    /// The layer, or the first mistake a setter found.
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersError, TrustedHeadersLayer};
    /// let wrong = TrustedHeadersLayer::azure_easy_auth(Ingress::OnlyThroughFrontEnd)
    ///     .login_page("https://elsewhere.example/login", "next")
    ///     .build();
    /// assert!(matches!(wrong, Err(TrustedHeadersError::InvalidLoginPage { .. })));
    /// ```
    pub fn build(self) -> Result<TrustedHeadersLayer, TrustedHeadersError> {
        self.common
            .build(Source::EasyAuth, "App Service Easy Auth's")
    }
}

impl MappedHeadersBuilder {
    /// Header `header`'s value becomes claim `claim` (a string). One header may fill several
    /// claims; each claim comes from one header; `sub` is the user header's and
    /// `provider` / `is_logged_in` are taken.
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    /// let layer = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Forwarded-User")
    ///     .claim("X-Forwarded-Email", "email")
    ///     .claim("X-Forwarded-User", "name")
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn claim(self, header: &str, claim: &str) -> Self {
        self.rule(header, claim, Shape::One)
    }

    /// Header `header`'s comma-separated value becomes claim `claim`, a list of strings
    /// (oauth2-proxy's `X-Forwarded-Groups` → `groups`, for
    /// [`RequireLoginLayer::require_groups`](crate::RequireLoginLayer::require_groups)).
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    /// let layer = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Remote-User")
    ///     .list_claim("X-Remote-Roles", "roles")
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn list_claim(self, header: &str, claim: &str) -> Self {
        self.rule(header, claim, Shape::List)
    }

    /// The name [`User::provider`](crate::User::provider) reports (default
    /// `trusted_headers`; `oauth2_proxy` for [`TrustedHeadersLayer::oauth2_proxy`]).
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    /// let builder = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Remote-User")
    ///     .provider_name("corporate_sso");
    /// # builder.build()?;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn provider_name(mut self, name: &str) -> Self {
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            self.common.fail(TrustedHeadersError::InvalidClaim {
                claim: "provider".into(),
                reason: "the provider name must be 1 to 64 characters of text",
            });
        } else {
            self.mapping.provider = name.into();
        }
        self
    }

    /// Where anonymous browsers are sent to log in: a path of this site and the query
    /// parameter that names the page to come back to (oauth2-proxy: `/oauth2/start` and
    /// `rd`). Without one, anonymous requests get `401`.
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    /// let builder = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Remote-User")
    ///     .login_page("/sso/login", "next");
    /// # builder.build()?;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn login_page(mut self, path: &str, return_param: &str) -> Self {
        self.common.login_page(path, return_param);
        self
    }

    /// The largest header read (default [`DEFAULT_MAX_HEADER_BYTES`], from 1 KiB to 1 MiB);
    /// a larger one makes the request anonymous.
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersLayer};
    /// let builder = TrustedHeadersLayer::oauth2_proxy(Ingress::OnlyThroughFrontEnd)
    ///     .max_header_bytes(8 * 1024);
    /// # builder.build()?;
    /// # Ok::<(), tower_oidc_login::headers::TrustedHeadersError>(())
    /// ```
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.common.max_header_bytes(max);
        self
    }

    /// The layer, or the first mistake a setter found.
    ///
    /// ```
    /// # use tower_oidc_login::headers::{Ingress, TrustedHeadersError, TrustedHeadersLayer};
    /// let wrong = TrustedHeadersLayer::mapped(Ingress::OnlyThroughFrontEnd, "X-Remote-User")
    ///     .claim("X-Remote-Email", "sub")
    ///     .build();
    /// assert!(matches!(wrong, Err(TrustedHeadersError::InvalidClaim { .. })));
    /// ```
    pub fn build(self) -> Result<TrustedHeadersLayer, TrustedHeadersError> {
        let what = format!("{}'s", self.mapping.provider);
        self.common.build(Source::Mapped(self.mapping), &what)
    }

    fn rule(mut self, header: &str, claim: &str, shape: Shape) -> Self {
        let invalid = |reason| TrustedHeadersError::InvalidClaim {
            claim: claim.to_owned(),
            reason,
        };
        let checked = if claim.is_empty() {
            Err(invalid("a claim needs a name"))
        } else if claim == "sub" {
            Err(invalid("`sub` is the user header's value"))
        } else if RESERVED_CLAIMS.contains(&claim) {
            Err(invalid("the user's JSON uses this name itself"))
        } else if self.mapping.rules.iter().any(|r| &*r.claim == claim) {
            Err(invalid("another header already fills it"))
        } else {
            header_name(header)
        };
        match checked {
            Ok(header) => self.mapping.rules.push(Rule {
                header,
                claim: claim.into(),
                shape,
            }),
            Err(e) => self.common.fail(e),
        }
        self
    }
}

fn header_name(header: &str) -> Result<HeaderName, TrustedHeadersError> {
    HeaderName::from_bytes(header.as_bytes()).map_err(|_| TrustedHeadersError::InvalidHeaderName {
        header: header.to_owned(),
    })
}

/// A front end's login page: a path of this site (so the redirect stays on the site) and a
/// plain query parameter name.
fn login_page(path: &str, return_param: &str) -> Result<FrontEndLogin, TrustedHeadersError> {
    let invalid = |reason| TrustedHeadersError::InvalidLoginPage {
        path: path.to_owned(),
        return_param: return_param.to_owned(),
        reason,
    };
    // The same rule as any path the layer redirects to, and no query or fragment, since
    // the return parameter is appended.
    if !crate::redirect::plain_path(path) || path.contains(['?', '#']) {
        return Err(invalid(
            "it must be a plain path of this site: one leading `/`, no `\\`, spaces, \
             control characters, `?` or `#`",
        ));
    }
    if return_param.is_empty()
        || !return_param
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(invalid(
            "the return parameter must be a name of letters, digits, `_`, `-` or `.`",
        ));
    }
    Ok(FrontEndLogin::new(path, return_param))
}

impl<S> Layer<S> for TrustedHeadersLayer {
    type Service = TrustedHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrustedHeaders::new(inner, self.shared.clone())
    }
}

impl fmt::Debug for TrustedHeadersLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedHeadersLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_refuse_what_would_be_wrong_at_request_time() {
        let ingress = Ingress::OnlyThroughFrontEnd;
        let err = |b: MappedHeadersBuilder| b.build().unwrap_err();
        assert!(matches!(
            err(TrustedHeadersLayer::mapped(ingress, "bad header")),
            TrustedHeadersError::InvalidHeaderName { .. }
        ));
        for claim in ["", "sub", "provider", "is_logged_in"] {
            assert!(matches!(
                err(TrustedHeadersLayer::mapped(ingress, "x-user").claim("x-a", claim)),
                TrustedHeadersError::InvalidClaim { .. }
            ));
        }
        assert!(matches!(
            err(TrustedHeadersLayer::oauth2_proxy(ingress).claim("x-other", "email")),
            TrustedHeadersError::InvalidClaim { .. }
        ));
        for (path, param) in [
            ("https://evil.example/", "rd"),
            ("//evil.example/", "rd"),
            ("/\\evil.example", "rd"),
            ("/%2F%2Fevil.example", "rd"),
            ("/a\\b", "rd"),
            ("/login?x=1", "rd"),
            ("/login", ""),
            ("/login", "r&d"),
        ] {
            assert!(
                matches!(
                    err(TrustedHeadersLayer::mapped(ingress, "x-user").login_page(path, param)),
                    TrustedHeadersError::InvalidLoginPage { .. }
                ),
                "{path} {param}"
            );
        }
        for max in [0, 1023, 1024 * 1024 + 1] {
            assert_eq!(
                TrustedHeadersLayer::azure_easy_auth(ingress)
                    .max_header_bytes(max)
                    .build()
                    .unwrap_err(),
                TrustedHeadersError::MaxHeaderBytes(max)
            );
        }
        // The first mistake is the one reported.
        assert!(matches!(
            err(TrustedHeadersLayer::mapped(ingress, "x-user")
                .claim("x-a", "sub")
                .max_header_bytes(0)),
            TrustedHeadersError::InvalidClaim { .. }
        ));
        assert!(TrustedHeadersLayer::oauth2_proxy(ingress)
            .claim("X-Forwarded-Preferred-Username", "name")
            .build()
            .is_ok());
    }
}
