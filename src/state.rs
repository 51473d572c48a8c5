//! What the layer's services and routes share: the providers, the session store, the
//! cookies and the paths, and the rule that says who the visitor of a request is.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::Full;
use tower_http::csrf::{CsrfLayer, ProtectionError};
use url::Url;

use crate::config::ExposeTokens;
use crate::pages;
use crate::paths::Routes;
use crate::provider::Provider;
use crate::session::{CookieJar, Id, Lookup, SessionCookie, Sessions};
use crate::user::LoggedIn;

/// The answer to a cross-site logout `POST`.
pub(crate) type CsrfRejection = fn(ProtectionError) -> Response<Full<Bytes>>;

/// The CSRF check of `POST` logout, answering a refusal with a page of our own.
pub(crate) fn logout_csrf_check(origin: &Url) -> CsrfLayer<CsrfRejection> {
    let origin = origin.origin().ascii_serialization();
    CsrfLayer::new()
        .add_trusted_origin(&origin)
        .unwrap_or_else(|_| CsrfLayer::new())
        .with_rejection_response(csrf_rejected as CsrfRejection)
}

fn csrf_rejected(_: ProtectionError) -> Response<Full<Bytes>> {
    tracing::warn!("cross-site logout request refused");
    pages::logout_refused("/")
}

/// Everything the layer's services share.
pub(crate) struct AuthState {
    pub(crate) providers: BTreeMap<String, Arc<Provider>>,
    pub(crate) sessions: Sessions,
    pub(crate) cookies: CookieJar,
    pub(crate) routes: Routes,
    pub(crate) expose: ExposeTokens,
    pub(crate) post_logout_redirect_uri: Url,
    /// `redirect_uri` itself: its origin is where logins must start (see the login route).
    pub(crate) redirect_uri: Url,
    pub(crate) csrf: CsrfLayer<CsrfRejection>,
    /// How long a visitor may spend at the provider before the login expires.
    pub(crate) login_lifetime: Duration,
}

/// Who sent a request, as far as the layer can tell.
#[derive(Debug)]
pub(crate) enum Visitor {
    /// No session cookie at all.
    Anonymous,
    /// A session cookie for a live session.
    LoggedIn(Arc<LoggedIn>),
    /// A session cookie that no longer counts (bad signature, session ended or expired):
    /// anonymous, and the response deletes the cookie.
    StaleCookie,
    /// A validly signed session id that only an external store can answer for: see
    /// [`AuthState::ask_store`].
    Ask(Id),
}

/// What an external store said about a session id.
#[derive(Debug)]
pub(crate) enum StoreAnswer {
    /// A live session.
    LoggedIn(Arc<LoggedIn>),
    /// No such session (ended, expired, or unreadable): the cookie no longer counts.
    Gone,
    /// The store cannot be reached; the cookie stays, for when the store is back.
    Unreachable,
}

impl AuthState {
    /// The visitor of this request, as far as it is known without waiting: always for a
    /// request without a session cookie (which never touches the store), and for the
    /// in-memory store. [`Visitor::Ask`] means the store must be asked with
    /// [`Self::ask_store`].
    pub(crate) fn visitor_now(&self, headers: &HeaderMap) -> Visitor {
        let id = match self.cookies.session(headers) {
            SessionCookie::Valid(id) => id,
            SessionCookie::Absent | SessionCookie::Ambiguous => return Visitor::Anonymous,
            SessionCookie::Invalid => return Visitor::StaleCookie,
        };
        match self.sessions.load_user_now(&id) {
            Lookup::Found(user) => Visitor::LoggedIn(user),
            Lookup::Gone => Visitor::StaleCookie,
            Lookup::AskStore => Visitor::Ask(id),
        }
    }

    /// Asks the store about session `id`.
    pub(crate) async fn ask_store(&self, id: Id) -> StoreAnswer {
        match self.sessions.load_user(&id).await {
            Ok(Some(user)) => StoreAnswer::LoggedIn(user),
            Ok(None) => StoreAnswer::Gone,
            Err(e) => {
                tracing::warn!(error = %e, "the session store cannot be reached; answering 503");
                StoreAnswer::Unreachable
            }
        }
    }
}
