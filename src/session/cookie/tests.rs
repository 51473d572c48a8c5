use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn jar(secret: &str, secure: bool) -> CookieJar {
    jar_with(&[secret], secure)
}

fn jar_with(secrets: &[&str], secure: bool) -> CookieJar {
    CookieJar::new(
        "oidc_session",
        "/app",
        secure,
        KeyRing::derive(secrets.iter().copied()),
    )
}

/// The `name=value` part of a `Set-Cookie`.
fn pair(set_cookie: &HeaderValue) -> String {
    set_cookie
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn request_with(set_cookies: &[&HeaderValue]) -> HeaderMap {
    let header = set_cookies
        .iter()
        .map(|c| pair(c))
        .collect::<Vec<_>>()
        .join("; ");
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&header).unwrap());
    headers
}

#[test]
fn a_signed_cookie_reads_back_and_has_the_flags() {
    let jar = jar("secret", true);
    let id = Id::default();
    let set = jar.set_session(&id, MINUTE);
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
    assert!(!text.contains("Domain"), "{text}");
    assert_eq!(
        jar.session(&request_with(&[&set])),
        SessionCookie::Valid(id)
    );
}

#[test]
fn no_secure_flag_and_no_prefix_on_plain_http() {
    let jar = jar("secret", false);
    let set = jar.set_session(&Id::default(), MINUTE);
    let text = set.to_str().unwrap();
    assert!(!text.contains("Secure"), "{text}");
    assert!(text.starts_with("oidc_session="), "{text}");
}

#[test]
fn https_names_carry_the_prefix_browsers_enforce() {
    // On `/`: __Host- (no Domain attribute can ever be set on such a cookie).
    let root = CookieJar::new("oidc_session", "/", true, KeyRing::derive(["s"]));
    let set = root.set_session(&Id::default(), MINUTE);
    assert!(set.to_str().unwrap().starts_with("__Host-oidc_session="));
    assert!(set.to_str().unwrap().contains("Path=/;"));
    // On a narrower path: __Secure-.
    let nested = jar("s", true);
    assert!(nested
        .set_session(&Id::default(), MINUTE)
        .to_str()
        .unwrap()
        .starts_with("__Secure-oidc_session="));
    // The pending-login and logout cookies are on `/` even then, so they are __Host- too:
    // a sibling subdomain can plant a __Secure- cookie (with Domain=parent), and a planted
    // pending-login cookie of the attacker's own login would finish it in the victim's
    // browser (login CSRF).
    let pending = nested.seal_pending("state-1", "{}", MINUTE);
    let pending = pending.to_str().unwrap();
    assert!(
        pending.starts_with("__Host-oidc_session_login_"),
        "{pending}"
    );
    assert!(
        pending.contains("Path=/;") || pending.ends_with("Path=/"),
        "{pending}"
    );
    assert!(!pending.contains("Domain"), "{pending}");
    let logout = nested.set_logout_state("s", MINUTE);
    let logout = logout.to_str().unwrap();
    assert!(
        logout.starts_with("__Host-oidc_session_logout="),
        "{logout}"
    );
    assert!(
        logout.contains("Path=/;") || logout.ends_with("Path=/"),
        "{logout}"
    );
}

#[test]
fn tampered_or_foreign_cookies_are_ignored() {
    let ours = jar("secret", false);
    let id = Id::default();
    let set = ours.set_session(&id, MINUTE);
    // Signed with another cookie_secret: anonymous, not an error.
    assert_eq!(
        jar("other secret", false).session(&request_with(&[&set])),
        SessionCookie::Invalid
    );
    // Value changed after signing.
    let text = set.to_str().unwrap();
    let other = Id::default().to_string();
    let tampered = HeaderValue::from_str(&text.replace(&id.to_string(), &other)).unwrap();
    assert_eq!(
        ours.session(&request_with(&[&tampered])),
        SessionCookie::Invalid
    );
    // Another purpose's signature does not carry over.
    let logout = ours.set_logout_state(&id.to_string(), MINUTE);
    let moved = pair(&logout).replacen("oidc_session_logout=", "oidc_session=", 1);
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&moved).unwrap());
    assert_eq!(ours.session(&headers), SessionCookie::Invalid);
    assert_eq!(ours.session(&HeaderMap::new()), SessionCookie::Absent);
}

#[test]
fn session_ids_are_remembered_only_for_cookies_that_verified() {
    let ours = jar("secret", false);
    let id = Id::default();
    let set = ours.set_session(&id, MINUTE);
    let headers = request_with(&[&set]);
    assert_eq!(ours.session(&headers), SessionCookie::Valid(id));
    assert_eq!(ours.verified.len(), 1);
    assert_eq!(
        ours.session(&headers),
        SessionCookie::Valid(id),
        "from the memo"
    );
    // One byte changed: not in the memo, and its signature fails.
    let text = pair(&set);
    let eq = text.find('=').unwrap();
    let flipped = if &text[eq + 1..eq + 2] == "A" {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{flipped}{}", &text[..eq + 1], &text[eq + 2..]);
    let mut bad = HeaderMap::new();
    bad.insert(COOKIE, HeaderValue::from_str(&tampered).unwrap());
    assert_eq!(ours.session(&bad), SessionCookie::Invalid);
    assert_eq!(ours.verified.len(), 1);
    // Same first bytes (the memo's key), one byte changed at the end: not found either.
    let last = if text.ends_with('A') { "B" } else { "A" };
    let tail = format!("{}{last}", &text[..text.len() - 1]);
    let mut bad = HeaderMap::new();
    bad.insert(COOKIE, HeaderValue::from_str(&tail).unwrap());
    assert_eq!(ours.session(&bad), SessionCookie::Invalid);
    // Another secret's jar has its own memo and rejects the value.
    assert_eq!(
        jar("other secret", false).session(&headers),
        SessionCookie::Invalid
    );
    assert!(!format!("{ours:?}").contains(&text[eq + 1..eq + 20]));
}

#[test]
fn two_valid_session_cookies_with_different_ids_are_trusted_neither() {
    let ours = jar("secret", false);
    let mine = ours.set_session(&Id::default(), MINUTE);
    let planted = ours.set_session(&Id::default(), MINUTE);
    assert_eq!(
        ours.session(&request_with(&[&planted, &mine])),
        SessionCookie::Ambiguous
    );
    // The same cookie twice (two paths of one app) is still that one session.
    assert!(matches!(
        ours.session(&request_with(&[&mine, &mine])),
        SessionCookie::Valid(_)
    ));
}

#[test]
fn only_a_few_cookies_of_one_name_are_checked() {
    let ours = jar("secret", false);
    let id = Id::default();
    let good = ours.set_session(&id, MINUTE);
    let junk = HeaderValue::from_static("oidc_session=junk");
    let mut cookies: Vec<&HeaderValue> = vec![&junk; MAX_SAME_NAME];
    cookies.push(&good);
    // The valid one comes after the cap: never looked at.
    assert_eq!(
        ours.session(&request_with(&cookies)),
        SessionCookie::Invalid
    );
}

#[test]
fn a_rotated_secret_still_verifies_and_a_removed_one_does_not() {
    let old = jar("old secret", false);
    let id = Id::default();
    let set = old.set_session(&id, MINUTE);
    let headers = request_with(&[&set]);
    let rotated = jar_with(&["new secret", "old secret"], false);
    assert_eq!(rotated.session(&headers), SessionCookie::Valid(id));
    // New cookies are signed with the new secret alone.
    let fresh = rotated.set_session(&id, MINUTE);
    assert_eq!(
        jar("new secret", false).session(&request_with(&[&fresh])),
        SessionCookie::Valid(id)
    );
    let removed = jar_with(&["new secret"], false);
    assert_eq!(removed.session(&headers), SessionCookie::Invalid);
}

#[test]
fn a_pending_login_is_sealed_for_its_state_only() {
    let ours = jar("secret", false);
    let sealed = ours.seal_pending("state-1", r#"{"nonce":"n-123"}"#, MINUTE);
    let text = sealed.to_str().unwrap();
    assert!(!text.contains("n-123"), "the content is encrypted: {text}");
    assert!(
        text.contains("Path=/;") || text.ends_with("Path=/"),
        "{text}"
    );
    let headers = request_with(&[&sealed]);
    assert_eq!(
        ours.open_pending(&headers, "state-1").as_deref(),
        Some(r#"{"nonce":"n-123"}"#)
    );
    // Another state names another cookie; the same value under that name does not open.
    assert_eq!(ours.open_pending(&headers, "state-2"), None);
    let renamed = pair(&sealed).replacen(
        &ours.pending_name("state-1"),
        &ours.pending_name("state-2"),
        1,
    );
    let mut moved = HeaderMap::new();
    moved.insert(COOKIE, HeaderValue::from_str(&renamed).unwrap());
    assert_eq!(ours.open_pending(&moved, "state-2"), None);
    // Another secret cannot open it; a rotated ring can.
    assert_eq!(jar("other", false).open_pending(&headers, "state-1"), None);
    assert!(jar_with(&["new", "secret"], false)
        .open_pending(&headers, "state-1")
        .is_some());
}

#[test]
fn removal_expires_the_cookie() {
    let jar = jar("s", false);
    let text = jar.remove_session();
    let text = text.to_str().unwrap();
    assert!(text.starts_with("oidc_session=;"), "{text}");
    assert!(text.contains("Max-Age=0"));
    assert!(text.contains("Path=/app"));
    let pending = jar.remove_pending("st");
    let pending = pending.to_str().unwrap();
    assert!(pending.contains("Max-Age=0"), "{pending}");
    assert!(
        pending.contains("Path=/;") || pending.ends_with("Path=/"),
        "{pending}"
    );
}

/// The `(name=value, value)` texts `pairs` finds.
fn found<'a>(headers: &'a HeaderMap, name: &'a str) -> Vec<(&'a str, &'a str)> {
    pairs(headers, name)
        .map(|p| {
            let text = |bytes| std::str::from_utf8(bytes).unwrap();
            (text(p.pair), text(p.value))
        })
        .collect()
}

#[test]
fn pairs_are_found_in_every_cookie_header_whatever_the_spacing() {
    let mut headers = HeaderMap::new();
    headers.append(
        COOKIE,
        HeaderValue::from_static("a=1;oidc_session=first; oidc_session_x=no ;x=oidc_session=no"),
    );
    headers.append(
        COOKIE,
        HeaderValue::from_static("  oidc_session = second=x ;;"),
    );
    headers.append(
        COOKIE,
        HeaderValue::from_bytes(b"other=\xff\xfe; oidc_session=third").unwrap(),
    );
    headers.append(COOKIE, HeaderValue::from_static(""));
    headers.append(COOKIE, HeaderValue::from_static("oidc_session"));
    headers.append(COOKIE, HeaderValue::from_static("oidc_session=;"));
    assert_eq!(
        found(&headers, "oidc_session"),
        [
            ("oidc_session=first", "first"),
            ("oidc_session = second=x", "second=x"),
            ("oidc_session=third", "third"),
            ("oidc_session=", ""),
        ]
    );
    assert_eq!(found(&headers, "a"), [("a=1", "1")]);
    assert!(found(&headers, "missing").is_empty());
}

#[test]
fn a_pair_that_is_not_text_is_never_verified() {
    let ours = jar("secret", false);
    let mut headers = HeaderMap::new();
    headers.append(
        COOKIE,
        HeaderValue::from_bytes(b"oidc_session=\xff; oidc_session_logout=\xff").unwrap(),
    );
    assert_eq!(ours.session(&headers), SessionCookie::Invalid);
    assert_eq!(ours.logout_state(&headers), None);
}

#[test]
fn an_oversized_cookie_header_is_not_read() {
    let mut headers = HeaderMap::new();
    let big = format!("oidc_session=x; pad={}", "a".repeat(MAX_COOKIE_HEADER));
    headers.append(COOKIE, HeaderValue::from_str(&big).unwrap());
    headers.append(COOKIE, HeaderValue::from_static("oidc_session=y"));
    assert_eq!(found(&headers, "oidc_session"), [("oidc_session=y", "y")]);
}
