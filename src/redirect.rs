//! Where the browser may be sent after login: only a path on this site.
//!
//! express-openid-connect's open redirect (GHSA-7p99-3798-f85c) came from trusting a
//! `//host` return path. Here anything that is not unmistakably a same-origin path falls
//! back to the app's home page.

use url::Url;

/// Browsers treat `\` like `/` and drop tabs and newlines inside URLs, so all of them can
/// turn a path into a host; the longest sensible path is far shorter than this cap.
const MAX_RETURN_TO: usize = 2048;

/// `candidate` if it is a same-origin path (with optional query), else `home`.
pub(crate) fn safe_return_to(candidate: Option<&str>, home: &str) -> String {
    candidate
        .and_then(same_origin_path)
        .unwrap_or_else(|| home.to_owned())
}

fn same_origin_path(candidate: &str) -> Option<String> {
    if candidate.is_empty() || candidate.len() > MAX_RETURN_TO {
        return None;
    }
    let bytes = candidate.as_bytes();
    if bytes[0] != b'/' || bytes.get(1).is_some_and(|b| *b == b'/' || *b == b'\\') {
        return None;
    }
    if candidate
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return None;
    }
    // Percent-encoded slashes and backslashes are harmless to a server but some
    // front-end routers decode before navigating; refuse them at the start of the path.
    let lowered = candidate.to_ascii_lowercase();
    if lowered.starts_with("/%2f") || lowered.starts_with("/%5c") {
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
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

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
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad), "/"), "/", "{bad:?} must not pass");
        }
    }
}
