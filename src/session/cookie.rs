//! The layer's cookies: names, attributes, signing, sealing and reading.
//!
//! Three kinds, each with its own name, path and key ([`Purpose`]):
//!
//! - the session cookie: a signed random session id, on the routes' path;
//! - one pending-login cookie per login in progress: what the callback needs to finish it,
//!   encrypted and authenticated (AES-256-GCM, the `cookie` crate's private jar), on `/`
//!   and deleted by the callback, so it rides along only while the user is at the provider;
//! - the logout cookie: the signed `state` sent to the provider's end-session endpoint,
//!   also on `/` and deleted when the provider sends the browser back.
//!
//! On https every name carries a prefix browsers enforce: `__Host-` for a cookie on `/`
//! (no `Domain`, so no sibling subdomain can plant one), `__Secure-` for a cookie on a
//! narrower path. The pending-login and logout cookies are on `/` for that reason: a
//! sibling subdomain that could plant a `__Secure-` pending-login cookie of a login it
//! started itself could finish that login in the victim's browser (login CSRF). Only the
//! session cookie of an app under a path prefix is `__Secure-`.
//!
//! Keys come from `cookie_secret` ([`KeyRing`]): the current secret signs, every
//! configured secret verifies, and a cookie no key accepts is an anonymous visitor, never
//! an error.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use http::header::{HeaderMap, HeaderValue, COOKIE};
use sha2::{Digest, Sha256};
use tower_sessions_core::session::Id;

use super::memo::Verified;
use crate::keys::{KeyRing, Keys};

/// Browsers cap a `Cookie` header at a few KB; anything far beyond is not ours to parse.
const MAX_COOKIE_HEADER: usize = 16 * 1024;

/// At most this many cookies of one name are checked: more is no browser's doing, and each
/// check is an HMAC.
const MAX_SAME_NAME: usize = 4;

/// What a cookie of the layer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// The session id of a logged-in user.
    Session,
    /// A login in progress, sealed.
    Pending,
    /// The `state` sent to the provider's end-session endpoint.
    Logout,
}

impl Purpose {
    fn key(self, keys: &Keys) -> &cookie::Key {
        match self {
            Purpose::Session => &keys.session_cookie,
            Purpose::Pending => &keys.pending_cookie,
            Purpose::Logout => &keys.logout_cookie,
        }
    }
}

/// The session cookie of a request, as far as its signature tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionCookie {
    /// The request carries no session cookie.
    Absent,
    /// One validly signed session id.
    Valid(Id),
    /// Session cookies that no current key accepts: delete it.
    Invalid,
    /// Several validly signed session cookies with different ids (one planted by another
    /// site of the same domain, or left by an http response): none is trusted, and none is
    /// deleted, since a deletion only reaches ours and would leave the other in charge.
    Ambiguous,
}

/// The session cookies of a request as [`CookieJar::session_with`] read them.
#[derive(Debug)]
pub(crate) enum SessionRead<'h, T> {
    /// The request carries no session cookie.
    Absent,
    /// One validly signed session id (its signature checked now, or remembered), and the
    /// cookie value that carried it.
    Verified { id: Id, value: &'h [u8] },
    /// A value the caller's `known` vouched for, with what it knows.
    Known { id: Id, known: T },
    /// See [`SessionCookie::Invalid`].
    Invalid,
    /// See [`SessionCookie::Ambiguous`].
    Ambiguous,
}

impl<T> SessionRead<'_, T> {
    fn id(&self) -> Option<Id> {
        match self {
            SessionRead::Verified { id, .. } | SessionRead::Known { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// The path of the pending-login and logout cookies: `/`, so they can be `__Host-` on https.
const LOGIN_COOKIE_PATH: &str = "/";

/// Cookie names and attributes shared by every cookie the layer sets.
#[derive(Debug)]
pub(crate) struct CookieJar {
    session_name: String,
    session_path: String,
    /// The pending-login cookies' name before the per-login tag.
    pending_prefix: String,
    logout_name: String,
    secure: bool,
    keys: KeyRing,
    verified: Verified,
}

impl CookieJar {
    /// `base` is the session cookie's name as configured; on https the `__Host-` or
    /// `__Secure-` prefix is added to every name.
    pub(crate) fn new(base: &str, session_path: &str, secure: bool, keys: KeyRing) -> Self {
        let prefixed = |name: String, path: &str| match (secure, path) {
            (false, _) => name,
            (true, "/") => format!("__Host-{name}"),
            (true, _) => format!("__Secure-{name}"),
        };
        CookieJar {
            session_name: prefixed(base.to_owned(), session_path),
            session_path: session_path.to_owned(),
            pending_prefix: prefixed(format!("{base}_login_"), LOGIN_COOKIE_PATH),
            logout_name: prefixed(format!("{base}_logout"), LOGIN_COOKIE_PATH),
            secure,
            keys,
            verified: Verified::default(),
        }
    }

    /// The session id the request's session cookie carries.
    pub(crate) fn session(&self, headers: &HeaderMap) -> SessionCookie {
        match self.session_with(headers, |_| None::<(Id, ())>) {
            SessionRead::Absent => SessionCookie::Absent,
            SessionRead::Verified { id, .. } | SessionRead::Known { id, .. } => {
                SessionCookie::Valid(id)
            }
            SessionRead::Invalid => SessionCookie::Invalid,
            SessionRead::Ambiguous => SessionCookie::Ambiguous,
        }
    }

    /// [`session`](Self::session), asking `known` first about each value: a value it
    /// vouches for (one that verified before, with what it knows of that session) skips
    /// the memo and the HMAC.
    pub(crate) fn session_with<'h, T>(
        &self,
        headers: &'h HeaderMap,
        mut known: impl FnMut(&[u8]) -> Option<(Id, T)>,
    ) -> SessionRead<'h, T> {
        let mut read = SessionRead::Absent;
        for pair in pairs(headers, &self.session_name).take(MAX_SAME_NAME) {
            let next = match known(pair.value) {
                Some((id, known)) => SessionRead::Known { id, known },
                None => match self.check(pair) {
                    Some(id) => SessionRead::Verified {
                        id,
                        value: pair.value,
                    },
                    None => SessionRead::Invalid,
                },
            };
            read = match (read.id(), next.id()) {
                (Some(first), Some(id)) if first != id => return SessionRead::Ambiguous,
                // The first valid one stands; an invalid one beside it is not ours to
                // delete (see `SessionCookie::Ambiguous`).
                (Some(_), _) => read,
                (None, _) => next,
            };
        }
        read
    }

    /// The session id of one session cookie, if its signature verifies: remembered values
    /// are found without the HMAC.
    fn check(&self, pair: Pair<'_>) -> Option<Id> {
        if let Some(id) = self.verified.get(pair.value) {
            return Some(id);
        }
        let id = pair
            .text()
            .and_then(|text| self.verify(Purpose::Session, text))
            .and_then(|v| v.parse().ok())?;
        self.verified.insert(pair.value, id);
        Some(id)
    }

    /// A `Set-Cookie` for the session cookie holding `id`.
    pub(crate) fn set_session(&self, id: &Id, max_age: Duration) -> HeaderValue {
        let value = self.sign(Purpose::Session, &self.session_name, &id.to_string());
        self.build(&self.session_name, value, &self.session_path, Some(max_age))
    }

    /// A `Set-Cookie` that deletes the session cookie.
    pub(crate) fn remove_session(&self) -> HeaderValue {
        self.build(&self.session_name, String::new(), &self.session_path, None)
    }

    /// The `state` of a logout this browser started, if its cookie verifies.
    pub(crate) fn logout_state(&self, headers: &HeaderMap) -> Option<String> {
        pairs(headers, &self.logout_name)
            .take(MAX_SAME_NAME)
            .find_map(|pair| self.verify(Purpose::Logout, pair.text()?))
    }

    /// A `Set-Cookie` remembering the `state` of a logout for the callback.
    pub(crate) fn set_logout_state(&self, state: &str, max_age: Duration) -> HeaderValue {
        let value = self.sign(Purpose::Logout, &self.logout_name, state);
        self.build(&self.logout_name, value, LOGIN_COOKIE_PATH, Some(max_age))
    }

    /// A `Set-Cookie` that deletes the logout cookie.
    pub(crate) fn remove_logout_state(&self) -> HeaderValue {
        self.build(&self.logout_name, String::new(), LOGIN_COOKIE_PATH, None)
    }

    /// A `Set-Cookie` sealing `content` for the login whose `state` it is: encrypted, so
    /// the browser learns nothing of it (nonce, PKCE verifier), and authenticated together
    /// with its name, so it only opens for that `state`.
    pub(crate) fn seal_pending(
        &self,
        state: &str,
        content: &str,
        max_age: Duration,
    ) -> HeaderValue {
        let name = self.pending_name(state);
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(Purpose::Pending.key(self.keys.current()))
            .add(Cookie::new(name.clone(), content.to_owned()));
        let sealed = jar
            .get(&name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        self.build(&name, sealed, LOGIN_COOKIE_PATH, Some(max_age))
    }

    /// The content sealed for `state`, if this browser sent its cookie and a key opens it.
    pub(crate) fn open_pending(&self, headers: &HeaderMap, state: &str) -> Option<String> {
        let name = self.pending_name(state);
        pairs(headers, &name).take(MAX_SAME_NAME).find_map(|pair| {
            let sealed = Cookie::parse_encoded(pair.text()?).ok()?.into_owned();
            self.keys.all().find_map(|keys| {
                let jar = cookie::CookieJar::new();
                jar.private(Purpose::Pending.key(keys))
                    .decrypt(sealed.clone())
                    .map(|c| c.value().to_owned())
            })
        })
    }

    /// A `Set-Cookie` that deletes the pending-login cookie of `state`.
    pub(crate) fn remove_pending(&self, state: &str) -> HeaderValue {
        self.build(
            &self.pending_name(state),
            String::new(),
            LOGIN_COOKIE_PATH,
            None,
        )
    }

    /// One name per login in progress, so logins started in several tabs do not overwrite
    /// each other: the prefix plus a short digest of the `state`.
    fn pending_name(&self, state: &str) -> String {
        let digest = Sha256::new()
            .chain_update(b"tower-oidc-login pending cookie\0")
            .chain_update(state.as_bytes())
            .finalize();
        format!(
            "{}{}",
            self.pending_prefix,
            URL_SAFE_NO_PAD.encode(&digest[..12])
        )
    }

    fn sign(&self, purpose: Purpose, name: &str, value: &str) -> String {
        let mut jar = cookie::CookieJar::new();
        jar.signed_mut(purpose.key(self.keys.current()))
            .add(Cookie::new(name.to_owned(), value.to_owned()));
        jar.get(name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    /// The value of a signed `name=value` pair if a key of the ring verifies it (the
    /// `cookie` crate's HMAC-SHA256 scheme).
    fn verify(&self, purpose: Purpose, pair: &str) -> Option<String> {
        let cookie = Cookie::parse_encoded(pair).ok()?.into_owned();
        self.keys.all().find_map(|keys| {
            let jar = cookie::CookieJar::new();
            jar.signed(purpose.key(keys))
                .verify(cookie.clone())
                .map(|c| c.value().to_owned())
        })
    }

    /// `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a cross-site top-level
    /// navigation, which `Strict` cookies do not survive), `Secure` on https, no `Domain`.
    /// `max_age` `None` deletes the cookie.
    fn build(
        &self,
        name: &str,
        value: String,
        path: &str,
        max_age: Option<Duration>,
    ) -> HeaderValue {
        let mut cookie = Cookie::build((name.to_owned(), value))
            .path(path.to_owned())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax);
        cookie = match max_age {
            Some(age) => {
                cookie.max_age(time::Duration::try_from(age).unwrap_or(time::Duration::days(30)))
            }
            None => cookie
                .max_age(time::Duration::ZERO)
                .expires(time::OffsetDateTime::UNIX_EPOCH),
        };
        // Names come from validated configuration and values are base64 with a signature
        // or ciphertext, so this cannot fail; an empty header is the harmless fallback.
        HeaderValue::from_str(&cookie.build().encoded().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Every cookie called `name` in the request's `Cookie` headers (at most
/// [`MAX_COOKIE_HEADER`] bytes each; a larger header is no browser's and is skipped).
fn pairs<'a, 'n>(headers: &'a HeaderMap, name: &'n str) -> Pairs<'a, 'n> {
    Pairs {
        headers: headers.get_all(COOKIE).iter(),
        rest: &[],
        name: name.as_bytes(),
    }
}

/// The iterator of [`pairs`]. Bytes and a plain loop, not `str` and iterator adapters:
/// this runs on every request, and checking whole headers for text, splitting them with a
/// char pattern and trimming Unicode whitespace cost more than the rest of a logged-in
/// request's own work. Separators are found with `memchr`; only a value that has to be
/// verified is checked for UTF-8.
struct Pairs<'a, 'n> {
    headers: http::header::ValueIter<'a, HeaderValue>,
    /// What is left of the header being read.
    rest: &'a [u8],
    name: &'n [u8],
}

impl<'a> Iterator for Pairs<'a, '_> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        loop {
            if self.rest.is_empty() {
                let header = self.headers.next()?.as_bytes();
                if header.len() <= MAX_COOKIE_HEADER {
                    self.rest = header;
                }
                continue;
            }
            let pair = match memchr::memchr(b';', self.rest) {
                Some(end) => {
                    let (pair, tail) = self.rest.split_at(end);
                    self.rest = tail.get(1..).unwrap_or_default();
                    pair
                }
                None => std::mem::take(&mut self.rest),
            };
            if let Some(found) = Pair::named(pair, self.name) {
                return Some(found);
            }
        }
    }
}

/// One `name=value` of a `Cookie` header, trimmed, the value still as sent (encoded,
/// signature included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pair<'a> {
    pair: &'a [u8],
    value: &'a [u8],
}

impl<'a> Pair<'a> {
    /// `pair` if it is a cookie called `name`.
    fn named(pair: &'a [u8], name: &[u8]) -> Option<Self> {
        let pair = pair.trim_ascii();
        let value = pair
            .strip_prefix(name)?
            .trim_ascii_start()
            .strip_prefix(b"=")?
            .trim_ascii_start();
        Some(Pair { pair, value })
    }

    /// `name=value` as text, for the `cookie` crate.
    fn text(self) -> Option<&'a str> {
        std::str::from_utf8(self.pair).ok()
    }
}

#[cfg(test)]
mod tests;
