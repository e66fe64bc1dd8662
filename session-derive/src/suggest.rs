//! "Did you mean `ttl`?": the closest allowed word to a misspelled one.

/// The candidate closest to `input`, if one is close enough to be a likely misspelling.
///
/// A candidate that differs only in case wins outright; otherwise the one with the smallest
/// edit distance, allowing one edit for short words and one per three letters beyond that.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate.eq_ignore_ascii_case(input) {
            return Some(candidate);
        }
        let distance = edit_distance(input, candidate);
        let allowed = (candidate.chars().count() / 3).max(1);
        if distance <= allowed && best.is_none_or(|(best, _)| distance < best) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The edit distance (optimal string alignment): how many single-character insertions,
/// deletions, substitutions and swaps of neighbours turn `a` into `b`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // `rows[k][j]`: the distance between the first `i - 2 + k` chars of `a` and the first `j`
    // of `b`, for the current row `i` (k = 2) and the two before it.
    let mut rows = [
        vec![0; b.len() + 1],
        vec![0; b.len() + 1],
        (0..=b.len()).collect(),
    ];
    for i in 1..=a.len() {
        rows.rotate_left(1);
        rows[2][0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[1][j - 1] + cost)
                .min(rows[1][j] + 1)
                .min(rows[2][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[0][j - 2] + 1);
            }
            rows[2][j] = best;
        }
    }
    rows[2][b.len()]
}

/// `` `a`, `b` or `c` ``, for messages listing what is allowed.
pub fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("ttl", "ttl"), 0);
        assert_eq!(edit_distance("tll", "ttl"), 1);
        assert_eq!(edit_distance("keywith", "key_with"), 1);
        assert_eq!(edit_distance("lazzy", "lazy"), 1);
        assert_eq!(edit_distance("versoin", "version"), 1);
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    const ATTRS: &[&str] = &[
        "key", "key_with", "ttl", "lazy", "name", "prefix", "version",
    ];

    #[test]
    fn suggests_the_closest_word() {
        assert_eq!(did_you_mean("tll", ATTRS.iter().copied()), Some("ttl"));
        assert_eq!(
            did_you_mean("keywith", ATTRS.iter().copied()),
            Some("key_with")
        );
        assert_eq!(did_you_mean("ky", ATTRS.iter().copied()), Some("key"));
        assert_eq!(
            did_you_mean("versoin", ATTRS.iter().copied()),
            Some("version")
        );
        assert_eq!(did_you_mean("prefx", ATTRS.iter().copied()), Some("prefix"));
        assert_eq!(did_you_mean("nmae", ATTRS.iter().copied()), Some("name"));
    }

    #[test]
    fn case_differences_win() {
        assert_eq!(did_you_mean("TTL", ATTRS.iter().copied()), Some("ttl"));
        assert_eq!(did_you_mean("Key", ATTRS.iter().copied()), Some("key"));
    }

    #[test]
    fn no_suggestion_for_unrelated_words() {
        assert_eq!(did_you_mean("storage", ATTRS.iter().copied()), None);
        assert_eq!(did_you_mean("x", ATTRS.iter().copied()), None);
        assert_eq!(did_you_mean("per_chat", ["chat", "user"]), None);
    }

    #[test]
    fn lists_words() {
        assert_eq!(one_of(&[]), "");
        assert_eq!(one_of(&["json"]), "`json`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
