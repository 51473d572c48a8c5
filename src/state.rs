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

use crate::access;
use crate::config::ExposeTokens;
use crate::headers::IgnoredHeaders;
use crate::hook::AfterLoginHook;
use crate::keys::KeyRing;
use crate::pages;
use crate::paths::Routes;
use crate::provider::Provider;
use crate::session::front;
use crate::session::{Admission, CookieJar, Id, Lookup, RefreshLocks, SessionRead, Sessions};
use crate::user::{LoggedIn, ProviderTokens, StoredUser};

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

/// The providers' `allowed_*` rules as the session store's [`Admission`]: a session whose
/// user the rules no longer admit (or whose provider is gone from the configuration) ends.
#[derive(Debug)]
pub(crate) struct ProviderRules(pub(crate) BTreeMap<String, Arc<Provider>>);

impl Admission for ProviderRules {
    fn admits(&self, user: &LoggedIn) -> bool {
        let provider = &*user.stored().provider;
        let verdict = match self.0.get(provider) {
            Some(p) => access::check(p.access_rules(), user.claims()).map_err(|r| r.rule()),
            None => Err("provider no longer configured"),
        };
        match verdict {
            Ok(()) => true,
            Err(rule) => {
                tracing::info!(
                    provider,
                    rule,
                    "a stored session no longer passes the rules; it ends"
                );
                false
            }
        }
    }
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
    /// The app's after-login hook, if it has one.
    pub(crate) after_login: Option<Arc<dyn AfterLoginHook>>,
    /// `cookie_secret`'s keys, for the provider tokens sealed in sessions.
    pub(crate) keys: KeyRing,
    /// `session_follows_provider`: a session ends when the provider's does.
    pub(crate) follows_provider: bool,
    /// One refresh at a time per session in this process.
    pub(crate) refresh_locks: RefreshLocks,
    /// `canonical_host`: a login started on any other host moves to `redirect_uri`'s first.
    pub(crate) canonical_host: bool,
    /// Warns once that requests carry a front end's identity headers, which this layer
    /// ignores.
    pub(crate) ignored_headers: IgnoredHeaders,
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
    /// A live session with something to do before the request goes on: its idle timeout
    /// to slide, or its tokens to refresh because it follows the provider's session.
    Upkeep(Arc<LoggedIn>, Upkeep),
}

/// What a live session needs before its request goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upkeep {
    /// Move the expiry forward (`session_idle_timeout`).
    Slide,
    /// The ID token expired and the session follows the provider's: refresh, and end the
    /// session if the provider refuses.
    Refresh,
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
    /// A live session with something to do first (see [`Visitor::Upkeep`]).
    Upkeep(Arc<LoggedIn>, Upkeep),
}

impl AuthState {
    /// The visitor of this request, as far as it is known without waiting: always for a
    /// request without a session cookie (which never touches the store), and for the
    /// in-memory store. [`Visitor::Ask`] means the store must be asked with
    /// [`Self::ask_store`].
    pub(crate) fn visitor_now(&self, headers: &HeaderMap) -> Visitor {
        // Taken before the store is asked (see `session::front`).
        let stamp = self.sessions.stamp();
        let (id, value) = match self
            .cookies
            .session_with(headers, |value| front::get(stamp, value))
        {
            SessionRead::Known { known: user, .. } => return self.live(user),
            SessionRead::Verified { id, value } => (id, value),
            SessionRead::Absent | SessionRead::Ambiguous => return Visitor::Anonymous,
            SessionRead::Invalid => return Visitor::StaleCookie,
        };
        match self.sessions.load_user_now(&id) {
            Lookup::Found(user, until) => {
                front::put(stamp, value, id, &user, until);
                self.live(user)
            }
            Lookup::Gone => Visitor::StaleCookie,
            Lookup::AskStore => Visitor::Ask(id),
        }
    }

    /// A live session's visitor, with its upkeep if one is due.
    fn live(&self, user: Arc<LoggedIn>) -> Visitor {
        match self.upkeep_due(&user) {
            None => Visitor::LoggedIn(user),
            Some(upkeep) => Visitor::Upkeep(user, upkeep),
        }
    }

    /// What `user`'s session needs on a request now, if anything. Costs a clock read when
    /// an idle timeout or `session_follows_provider` is set, nothing otherwise.
    pub(crate) fn upkeep_due(&self, user: &LoggedIn) -> Option<Upkeep> {
        if !self.follows_provider && !self.sessions.slides() {
            return None;
        }
        let now = crate::pending::now_unix();
        if self.follows_provider
            && user.id_token_expires_at().is_some_and(|exp| exp <= now)
            && user.may_retry_refresh(now)
            && self
                .tokens(user)
                .is_some_and(|t| t.refresh_token.is_some() && !t.fresh_for(Duration::ZERO))
        {
            return Some(Upkeep::Refresh);
        }
        self.sessions.slide_due(user, now).then_some(Upkeep::Slide)
    }

    /// `user`'s provider tokens, opened once per session.
    pub(crate) fn tokens<'u>(&self, user: &'u LoggedIn) -> Option<&'u ProviderTokens> {
        user.provider_tokens(|stored| self.open_tokens(stored))
    }

    /// The provider tokens sealed in `stored`.
    pub(crate) fn open_tokens(&self, stored: &StoredUser) -> Option<ProviderTokens> {
        crate::seal::open_tokens(&self.keys, stored)
    }

    /// Asks the store about session `id`.
    pub(crate) async fn ask_store(&self, id: Id) -> StoreAnswer {
        match self.sessions.load_user(&id).await {
            Ok(Some(user)) => match self.upkeep_due(&user) {
                None => StoreAnswer::LoggedIn(user),
                Some(upkeep) => StoreAnswer::Upkeep(user, upkeep),
            },
            Ok(None) => StoreAnswer::Gone,
            Err(e) => {
                tracing::warn!(error = %e, "the session store cannot be reached; answering 503");
                StoreAnswer::Unreachable
            }
        }
    }
}
