//! Text that came from outside (a provider, a request) on its way to a page or a log line.

/// At most `max` characters of `text`, an ellipsis marking a cut, with every control
/// character (CR and LF included, which would forge log lines) replaced by a space.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match cleaned.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &cleaned[..cut]),
        None => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn cuts_and_cleans() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "abc…");
        assert_eq!(bounded("a\r\nb\u{7}", 10), "a  b ");
        assert_eq!(bounded("ééé", 2), "éé…");
    }
}
