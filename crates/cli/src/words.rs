//! Counted nouns in the CLI's summaries: `1 file`, `2 files`. One helper,
//! so that every command says it the same way.

/// `1 file`, `2 files`, `0 files`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", plural_s(n))
}

/// `""` for one, `"s"` for any other count: for a noun the count does not
/// stand right before (`checked 2 files: ...`).
pub fn plural_s(n: impl Into<u64>) -> &'static str {
    if n.into() == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1u64, "file"), "1 file");
        assert_eq!(count(0u64, "file"), "0 files");
        assert_eq!(count(2u64, "call"), "2 calls");
        assert_eq!(plural_s(1u64), "");
        assert_eq!(plural_s(11u64), "s");
    }
}
