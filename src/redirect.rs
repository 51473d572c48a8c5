//! Where the browser may be sent after login: only a path on this site.
//!
//! express-openid-connect's open redirect (GHSA-7p99-3798-f85c) came from trusting a
//! `//host` return path. Here anything that is not unmistakably a same-origin path falls
//! back to the app's home page.

use url::Url;

/// The longest `return_to` kept: a path that long is no page of a real app, and every
/// byte rides in the pending-login cookie.
pub(crate) const MAX_RETURN_TO: usize = 512;

/// `candidate` if it is a same-origin path (with optional query), else `home`.
pub(crate) fn safe_return_to(candidate: Option<&str>, home: &str) -> String {
    candidate
        .and_then(same_origin_path)
        .unwrap_or_else(|| home.to_owned())
}

fn same_origin_path(candidate: &str) -> Option<String> {
    if !plain_path(candidate) {
        return None;
    }
    // Resolve against a placeholder origin: if the result leaves it, it was not a path.
    let base = Url::parse("http://same-origin.invalid/").ok()?;
    let resolved = base.join(candidate).ok()?;
    if resolved.origin() != base.origin() {
        return None;
    }
    let mut out = resolved.path().to_owned();
    if let Some(q) = resolved.query() {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = resolved.fragment() {
        out.push('#');
        out.push_str(f);
    }
    // Resolving removes dot segments, which can bring a `//` or an encoded separator to
    // the front (`/.//evil.example` becomes `//evil.example`): what is returned must pass
    // the same checks as what came in.
    plain_path(&out).then_some(out)
}

/// A path that no browser or front-end router can read as another host: one leading `/`,
/// no `\` (browsers treat it like `/`), no control characters or whitespace (browsers drop
/// tabs and newlines inside URLs), and none of those percent-encoded either, since a
/// front-end router that decodes once would see them.
pub(crate) fn plain_path(path: &str) -> bool {
    if path.is_empty() || path.len() > MAX_RETURN_TO {
        return false;
    }
    let bytes = path.as_bytes();
    if bytes[0] != b'/' || bytes.get(1).is_some_and(|b| *b == b'/' || *b == b'\\') {
        return false;
    }
    if path
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return false;
    }
    !has_encoded_separator_or_control(path)
}

/// `%2F`, `%5C`, `%00`–`%1F` or `%7F` anywhere: harmless to a server, but a front-end router
/// that decodes once before navigating turns `/%09/evil.example` into `//evil.example`.
fn has_encoded_separator_or_control(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && match (hex(w[1]), hex(w[2])) {
                (Some(hi), Some(lo)) => {
                    let byte = hi * 16 + lo;
                    byte < 0x20 || byte == 0x7f || byte == b'/' || byte == b'\\'
                }
                _ => false,
            }
    })
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::{safe_return_to, MAX_RETURN_TO};

    #[test]
    fn keeps_same_origin_paths() {
        assert_eq!(safe_return_to(Some("/private?x=1"), "/"), "/private?x=1");
        assert_eq!(safe_return_to(Some("/a/b#c"), "/"), "/a/b#c");
        assert_eq!(safe_return_to(None, "/app/"), "/app/");
    }

    #[test]
    fn refuses_everything_that_can_leave_the_site() {
        for bad in [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\tevil",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "/a\r\nSet-Cookie: x=1",
            "/.//evil.example",
            "/..//evil.example",
            "/a/..//evil.example",
            "/%2e//evil.example",
            "/./%2f",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad), "/"), "/", "{bad:?} must not pass");
        }
    }

    #[test]
    fn return_to_refuses_encoded_controls_and_separators_anywhere() {
        // A front-end router that decodes once would read these as `//evil.example`.
        for bad in [
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0D/evil.example",
            "/%00",
            "/%7f/x",
            "/%1F",
            "/reports/%2f%2fevil.example",
            "/reports%5Cevil",
            "/a?next=%0a",
        ] {
            assert_eq!(safe_return_to(Some(bad), "/"), "/", "{bad:?} must not pass");
        }
        // Other encodings are fine.
        assert_eq!(
            safe_return_to(Some("/a%20b?q=%C3%A9"), "/"),
            "/a%20b?q=%C3%A9"
        );
    }

    #[test]
    fn return_to_is_capped_at_512_bytes() {
        let long = format!("/{}", "a".repeat(MAX_RETURN_TO - 1));
        assert_eq!(safe_return_to(Some(&long), "/"), long);
        let longer = format!("{long}a");
        assert_eq!(safe_return_to(Some(&longer), "/home"), "/home");
    }

    mod fuzz {
        //! Property tests: whatever `return_to` holds, the browser is only ever sent to a
        //! path on this site.

        use proptest::prelude::*;
        use url::Url;

        use super::safe_return_to;

        const HOME: &str = "/app/";

        fn config(cases: u32) -> ProptestConfig {
            ProptestConfig {
                cases,
                // No regression files in the source tree; a failure prints its input.
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        /// Pieces that have turned paths into hosts or schemes somewhere: slashes and
        /// backslashes (raw and percent-encoded), dot segments, whitespace and controls that
        /// browsers drop, `:` and `@`, look-alike Unicode and whole scheme prefixes.
        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => prop::sample::select(vec![
                    "/", "//", "\\", "%2f", "%2F", "%5c", "%5C", "%252f", ".", "..", "./",
                    "../", "/./", "/../", "\t", "\r", "\n", " ", "\u{0}", "\u{7f}", "\u{85}",
                    "\u{a0}", "\u{2028}", "\u{3000}", "\u{feff}", "\u{ff0f}", "\u{ff3c}",
                    "\u{2215}", ":", "@", "?", "#", "&", "=", "%", "%00", "%09", "%0a", "%0d",
                    "%20", "%2e", "%2E%2E", "javascript:", "JaVaScRiPt:", "data:", "http:",
                    "https://", "evil.example", "evil.example:443", "[::1]", "127.0.0.1",
                    "user:pw@", "~", "é", "😀",
                ])
                .prop_map(str::to_owned),
                2 => "[a-zA-Z0-9_-]{1,6}",
                1 => any::<char>().prop_map(String::from),
            ]
        }

        fn candidate() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => prop::collection::vec(piece(), 0..12).prop_map(|v| v.concat()),
                3 => prop::collection::vec(piece(), 0..12).prop_map(|v| format!("/{}", v.concat())),
                1 => any::<String>(),
                1 => "/[a-z]{1,3}".prop_map(|p| p.repeat(700)),
            ]
        }

        /// The invariants of a Location the browser may be sent to.
        fn assert_same_origin_path(out: &str, input: &str) {
            let bytes = out.as_bytes();
            assert_eq!(bytes.first(), Some(&b'/'), "{out:?} from {input:?}");
            assert!(
                !matches!(bytes.get(1), Some(b'/') | Some(b'\\')),
                "{out:?} from {input:?} is network-path reference"
            );
            assert!(
                !out.chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
                "{out:?} from {input:?} holds a control, whitespace or backslash"
            );
            let lowered = out.to_ascii_lowercase();
            assert!(
                !lowered.starts_with("/%2f") && !lowered.starts_with("/%5c"),
                "{out:?} from {input:?} starts with an encoded separator"
            );
            assert!(
                !crate::redirect::has_encoded_separator_or_control(out),
                "{out:?} from {input:?} holds an encoded separator or control character"
            );
            let base = Url::parse("http://app.invalid/").expect("base");
            let joined = base.join(out).expect("a path joins");
            assert_eq!(
                joined.host_str(),
                Some("app.invalid"),
                "{out:?} from {input:?} leaves the site"
            );
            assert_eq!(joined.scheme(), "http", "{out:?} from {input:?}");
        }

        proptest! {
            #![proptest_config(config(4096))]

            #[test]
            fn return_to_is_always_a_same_origin_path(input in candidate()) {
                let out = safe_return_to(Some(&input), HOME);
                assert_same_origin_path(&out, &input);
            }

            #[test]
            fn an_accepted_return_to_is_accepted_again_unchanged(input in candidate()) {
                // What the callback redirects to must itself pass the check: otherwise the
                // normalisation produced something the check would have refused.
                let out = safe_return_to(Some(&input), HOME);
                prop_assert_eq!(safe_return_to(Some(&out), "/fallback/"), out.clone(), "input {:?}", input);
            }

            #[test]
            fn plain_paths_survive_unchanged(
                segments in prop::collection::vec("[a-zA-Z0-9_~-]{1,8}", 0..6),
                query in proptest::option::of("[a-z]{1,5}=[a-zA-Z0-9]{0,8}"),
                fragment in proptest::option::of("[a-z0-9-]{1,8}"),
            ) {
                let mut path = format!("/{}", segments.join("/"));
                if let Some(q) = &query {
                    path.push('?');
                    path.push_str(q);
                }
                if let Some(f) = &fragment {
                    path.push('#');
                    path.push_str(f);
                }
                prop_assert_eq!(safe_return_to(Some(&path), HOME), path);
            }
        }
    }
}
