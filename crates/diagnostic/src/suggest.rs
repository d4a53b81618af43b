//! "Did you mean ...?": the closest candidate within a small edit distance.

/// The candidate closest to `word`, if one is close enough to be a likely
/// typo: at most one edit for short words, about a third of the word for
/// longer ones. Case-only differences always count as close.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let budget = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != word)
        .map(|candidate| {
            let distance = if candidate.eq_ignore_ascii_case(word) {
                0
            } else {
                strsim::damerau_levenshtein(word, candidate)
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, candidate)| (*distance, *candidate))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn finds_typos_and_not_strangers() {
        let scopes = ["mcp:read", "mcp:write", "mcp:admin", "github:repos"];
        assert_eq!(did_you_mean("mcp:raed", scopes), Some("mcp:read"));
        assert_eq!(did_you_mean("mcp:wirte", scopes), Some("mcp:write"));
        assert_eq!(did_you_mean("MCP:ADMIN", scopes), Some("mcp:admin"));
        assert_eq!(did_you_mean("github:repo", scopes), Some("github:repos"));
        assert_eq!(did_you_mean("billing:export", scopes), None);
        assert_eq!(
            did_you_mean("requries", ["requires", "level"]),
            Some("requires")
        );
        assert_eq!(did_you_mean("x", ["y"]), Some("y"));
        assert_eq!(did_you_mean("x", ["abc"]), None);
    }
}
