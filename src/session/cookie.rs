//! The layer's cookies: names, attributes, signing and reading.
//!
//! Values are signed with the `cookie` crate (HMAC-SHA256) under a key derived from
//! `cookie_secret`, so a changed secret turns every old cookie into an anonymous visitor
//! rather than an error, and a guessed or planted value is never taken at face value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use cookie::{Cookie, SameSite};
use http::header::{HeaderMap, HeaderValue, COOKIE};
use subtle::ConstantTimeEq;
use tower_sessions_core::session::Id;

use crate::keys::Keys;

/// How many verified session cookies are remembered; past that the memo starts afresh.
const VERIFIED_CAPACITY: usize = 16_384;

/// What a cookie of the layer is for. Each purpose has its own name and its own signing key,
/// so a value signed for one purpose never verifies as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CookiePurpose {
    /// The session id of a logged-in user.
    Session,
    /// Ties a pending login to the browser that started it.
    LoginBinding,
    /// The `state` sent to the provider's end-session endpoint.
    LogoutState,
}

/// Cookie names and attributes shared by every cookie the layer sets.
#[derive(Clone, Debug)]
pub(crate) struct CookieJar {
    session_name: String,
    login_name: String,
    logout_name: String,
    path: String,
    secure: bool,
    keys: Keys,
    /// Session cookie values (as sent) whose signature already verified, with their id.
    /// Every logged-in request sends the same value; remembering it spares an HMAC per
    /// request. Only values that verified under this jar's key get in, a value must match
    /// byte for byte to be found, and the store still decides whether the session exists
    /// (so logout stays immediate).
    verified: Arc<Mutex<Verified>>,
}

/// The memo of verified session cookies; its `Debug` never shows a cookie value.
///
/// Keyed by the value's first bytes (its signature's start: random for every real cookie),
/// which hashes in a fraction of the time of the whole value; a hit still compares the
/// whole value, in constant time.
#[derive(Default)]
struct Verified(HashMap<[u8; PREFIX], (Box<str>, Id)>);

const PREFIX: usize = 24;

fn prefix(raw: &str) -> [u8; PREFIX] {
    let mut key = [0u8; PREFIX];
    let n = raw.len().min(PREFIX);
    key[..n].copy_from_slice(&raw.as_bytes()[..n]);
    key
}

impl Verified {
    fn get(&self, raw: &str) -> Option<Id> {
        let (known, id) = self.0.get(&prefix(raw))?;
        bool::from(known.as_bytes().ct_eq(raw.as_bytes())).then_some(*id)
    }

    fn insert(&mut self, raw: &str, id: Id) {
        if self.0.len() >= VERIFIED_CAPACITY {
            self.0.clear();
        }
        self.0.insert(prefix(raw), (raw.into(), id));
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verified({} cookies)", self.0.len())
    }
}

/// Browsers cap a `Cookie` header at a few KB; anything far beyond is not ours to parse.
const MAX_COOKIE_HEADER: usize = 16 * 1024;

impl CookieJar {
    pub(crate) fn new(session_name: &str, path: &str, secure: bool, keys: Keys) -> Self {
        CookieJar {
            login_name: format!("{session_name}_login"),
            logout_name: format!("{session_name}_logout"),
            session_name: session_name.to_owned(),
            path: path.to_owned(),
            secure,
            keys,
            verified: Arc::default(),
        }
    }

    /// The cookie name of `purpose`: the session cookie's name, plus `_login` or `_logout`.
    pub(crate) fn name(&self, purpose: CookiePurpose) -> &str {
        match purpose {
            CookiePurpose::Session => &self.session_name,
            CookiePurpose::LoginBinding => &self.login_name,
            CookiePurpose::LogoutState => &self.logout_name,
        }
    }

    fn key(&self, purpose: CookiePurpose) -> &cookie::Key {
        match purpose {
            CookiePurpose::Session => &self.keys.session_cookie,
            CookiePurpose::LoginBinding => &self.keys.login_cookie,
            CookiePurpose::LogoutState => &self.keys.logout_cookie,
        }
    }

    /// The session id that the request's validly signed session cookie carries.
    pub(crate) fn session_id(&self, headers: &HeaderMap) -> Option<Id> {
        for (pair, raw) in pairs(headers, &self.session_name) {
            let memo = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(id) = memo.get(raw) {
                return Some(id);
            }
            drop(memo);
            let Some(Ok(id)) = verify(&self.keys.session_cookie, pair).map(|v| v.parse::<Id>())
            else {
                continue;
            };
            let mut memo = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            memo.insert(raw, id);
            return Some(id);
        }
        None
    }

    /// The verified value of the `purpose` cookie, if the request carries one with a valid
    /// signature. Several cookies of that name (another app on the same host, an old
    /// path) are each tried.
    pub(crate) fn read(&self, headers: &HeaderMap, purpose: CookiePurpose) -> Option<String> {
        let key = self.key(purpose);
        pairs(headers, self.name(purpose)).find_map(|(pair, _)| verify(key, pair))
    }

    /// A `Set-Cookie` value for the `purpose` cookie holding `value`, signed, `HttpOnly`,
    /// `SameSite=Lax` (the provider's redirect back is a cross-site top-level navigation,
    /// which `Strict` cookies do not survive), `Secure` on https, scoped to the layer's path.
    pub(crate) fn set(
        &self,
        purpose: CookiePurpose,
        value: &str,
        max_age: std::time::Duration,
    ) -> HeaderValue {
        let name = self.name(purpose);
        let mut jar = cookie::CookieJar::new();
        jar.signed_mut(self.key(purpose))
            .add(Cookie::new(name.to_owned(), value.to_owned()));
        let signed = jar
            .get(name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let max_age = time::Duration::try_from(max_age).unwrap_or(time::Duration::days(30));
        let cookie = Cookie::build((name.to_owned(), signed))
            .path(self.path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(max_age)
            .build();
        header_value(&cookie)
    }

    /// A `Set-Cookie` value that deletes the `purpose` cookie.
    pub(crate) fn remove(&self, purpose: CookiePurpose) -> HeaderValue {
        let cookie = Cookie::build((self.name(purpose).to_owned(), ""))
            .path(self.path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::ZERO)
            .expires(time::OffsetDateTime::UNIX_EPOCH)
            .build();
        header_value(&cookie)
    }

    /// Whether the request sends a `purpose` cookie at all (valid or not).
    pub(crate) fn present(&self, headers: &HeaderMap, purpose: CookiePurpose) -> bool {
        pairs(headers, self.name(purpose)).next().is_some()
    }
}

/// Every cookie called `name` in the request's `Cookie` headers, as `(name=value, value)`
/// with the value still as sent (encoded, signature included). Headers that are not text
/// or are far larger than a browser sends are skipped.
fn pairs<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .filter(|text| text.len() <= MAX_COOKIE_HEADER)
        .flat_map(|text| text.split(';'))
        .filter_map(move |pair| {
            let (n, value) = pair.split_once('=')?;
            (n.trim() == name).then(|| (pair.trim(), value.trim()))
        })
}

/// The value of a signed `name=value` pair whose signature verifies under `key` (the
/// `cookie` crate's HMAC-SHA256 scheme).
fn verify(key: &cookie::Key, pair: &str) -> Option<String> {
    let cookie = Cookie::parse_encoded(pair).ok()?.into_owned();
    let jar = cookie::CookieJar::new();
    let verified = jar.signed(key).verify(cookie)?;
    Some(verified.value().to_owned())
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // Names come from configuration (validated) and values are base64 with a signature,
    // so this cannot fail; an empty header is the harmless fallback.
    HeaderValue::from_str(&cookie.encoded().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    fn jar(secret: &str, secure: bool) -> CookieJar {
        CookieJar::new("oidc_session", "/app", secure, Keys::derive(secret))
    }

    fn request_with(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(&pair).unwrap());
        headers
    }

    #[test]
    fn a_signed_cookie_reads_back_and_has_the_flags() {
        let jar = jar("secret", true);
        let set = jar.set(
            CookiePurpose::Session,
            "abc+/=",
            std::time::Duration::from_secs(60),
        );
        let text = set.to_str().unwrap();
        for flag in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/app",
            "Max-Age=60",
        ] {
            assert!(text.contains(flag), "{flag} in {text}");
        }
        assert_eq!(
            jar.read(&request_with(&set), CookiePurpose::Session)
                .as_deref(),
            Some("abc+/=")
        );
    }

    #[test]
    fn no_secure_flag_on_plain_http() {
        let set = jar("secret", false).set(
            CookiePurpose::Session,
            "v",
            std::time::Duration::from_secs(1),
        );
        assert!(!set.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn tampered_or_foreign_cookies_are_ignored() {
        let ours = jar("secret", false);
        let set = ours.set(
            CookiePurpose::Session,
            "id-1",
            std::time::Duration::from_secs(60),
        );
        // Signed with another cookie_secret: anonymous, not an error.
        assert_eq!(
            jar("other secret", false).read(&request_with(&set), CookiePurpose::Session),
            None
        );
        // Value changed after signing.
        let tampered = set.to_str().unwrap().replace("id-1", "id-2");
        let tampered = HeaderValue::from_str(&tampered).unwrap();
        assert_eq!(
            ours.read(&request_with(&tampered), CookiePurpose::Session),
            None
        );
        // Another name's signature does not carry over.
        let login = ours.set(
            CookiePurpose::LoginBinding,
            "id-1",
            std::time::Duration::from_secs(60),
        );
        let moved = login
            .to_str()
            .unwrap()
            .replacen("oidc_session_login=", "oidc_session=", 1);
        assert_eq!(
            ours.read(
                &request_with(&HeaderValue::from_str(&moved).unwrap()),
                CookiePurpose::Session
            ),
            None
        );
    }

    #[test]
    fn session_ids_are_remembered_only_for_cookies_that_verified() {
        let ours = jar("secret", false);
        let id = Id::default();
        let set = ours.set(
            CookiePurpose::Session,
            &id.to_string(),
            std::time::Duration::from_secs(60),
        );
        let headers = request_with(&set);
        assert_eq!(ours.session_id(&headers), Some(id));
        assert_eq!(ours.verified.lock().unwrap().0.len(), 1);
        assert_eq!(ours.session_id(&headers), Some(id), "from the memo");
        // One byte changed: not in the memo, and its signature fails.
        let text = set.to_str().unwrap();
        let eq = text.find('=').unwrap();
        let flipped = if &text[eq + 1..eq + 2] == "A" {
            "B"
        } else {
            "A"
        };
        let tampered = format!("{}{flipped}{}", &text[..eq + 1], &text[eq + 2..]);
        let tampered = request_with(&HeaderValue::from_str(&tampered).unwrap());
        assert_eq!(ours.session_id(&tampered), None);
        assert_eq!(ours.verified.lock().unwrap().0.len(), 1);
        // Same first bytes (the memo's key), one byte changed at the end: not found either.
        let pair = text.split(';').next().unwrap();
        let last = if pair.ends_with('A') { "B" } else { "A" };
        let tail = format!("{}{last}", &pair[..pair.len() - 1]);
        let tail = request_with(&HeaderValue::from_str(&tail).unwrap());
        assert_eq!(ours.session_id(&tail), None);
        // Another secret's jar has its own memo and rejects the value.
        assert_eq!(jar("other secret", false).session_id(&headers), None);
        assert!(!format!("{ours:?}").contains(&text[eq + 1..eq + 20]));
    }

    #[test]
    fn removal_expires_the_cookie() {
        let text = jar("s", false).remove(CookiePurpose::Session);
        let text = text.to_str().unwrap();
        assert!(text.starts_with("oidc_session=;"), "{text}");
        assert!(text.contains("Max-Age=0"));
        assert!(text.contains("Path=/app"));
    }
}
