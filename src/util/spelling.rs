//! Near misses: which known word a misspelt one most likely meant, so a typo in a
//! configuration key is named instead of reported as a key that is missing.

/// The optimal-string-alignment distance (Damerau-Levenshtein where no substring is edited
/// twice): insertions, deletions, substitutions and swaps of two neighbours, by character.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the classic table: two back (for swaps), one back, and this one.
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

/// Whether `a` and `b` are close enough to be one word misspelt, ignoring case: at most two
/// edits apart, one for words of three or four characters and none for shorter ones (where
/// so few edits already make another word).
fn is_near(a: &str, b: &str) -> bool {
    let shorter = a.chars().count().min(b.chars().count());
    let allowed = match shorter {
        0..=2 => 0,
        3..=4 => 1,
        _ => 2,
    };
    edit_distance(&a.to_lowercase(), &b.to_lowercase()) <= allowed
}

/// The candidate `word` most likely meant (the nearest; the first of equals), if any is near.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word && is_near(word, c))
        .min_by_key(|c| edit_distance(&word_lower, &c.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_insertions_deletions_substitutions_and_swaps() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("client_secret", "client_secret"), 0);
        assert_eq!(edit_distance("client_secrte", "client_secret"), 1); // swap
        assert_eq!(edit_distance("clientid", "client_id"), 1); // insertion
        assert_eq!(edit_distance("redirect_url", "redirect_uri"), 1); // substitution
        assert_eq!(edit_distance("expose_token", "expose_tokens"), 1); // deletion
        assert_eq!(edit_distance("cleint_secrte", "client_secret"), 2);
        assert_eq!(edit_distance("ca", "abc"), 3); // no substring edited twice
        assert_eq!(edit_distance("é", "e"), 1); // by character, not byte
    }

    #[test]
    fn near_allows_two_edits_one_for_short_words_and_ignores_case() {
        assert!(is_near("client_secrte", "client_secret"));
        assert!(is_near("cleint_secrte", "client_secret"));
        assert!(!is_near("clent_secrte_", "client_secret"));
        assert!(is_near("Client_Secret", "client_secret"));
        assert!(is_near("scop", "scope"));
        assert!(!is_near("scp", "scope"));
        assert!(!is_near("hd", "id"));
        assert!(!is_near("hdd", "hd"));
        assert!(is_near("HD", "hd"));
    }

    #[test]
    fn closest_picks_the_nearest_and_never_the_word_itself() {
        let keys = [
            "redirect_uri",
            "cookie_secret",
            "client_secret",
            "client_id",
        ];
        assert_eq!(closest("client_secrte", keys), Some("client_secret"));
        assert_eq!(closest("cookie_secert", keys), Some("cookie_secret"));
        assert_eq!(closest("clientid", keys), Some("client_id"));
        assert_eq!(closest("redirect_url", keys), Some("redirect_uri"));
        assert_eq!(closest("session_store", keys), None);
        assert_eq!(closest("client_id", keys), None);
    }
}
