//! Text from outside (trace lines written by clients, names in a policy
//! under review) as it may reach a terminal: control characters escaped, so
//! that a crafted name cannot move the cursor, clear the screen or retitle
//! the window over the lines a reviewer reads.

use std::borrow::Cow;

/// `text` with every control character escaped as Rust escapes it
/// (`\u{1b}`, `\r`, `\n`); unchanged, and not copied, when it has none.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().collect()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(shown("delete_repo"), "delete_repo");
        assert_eq!(shown("ça\u{1b}[2J\r"), "ça\\u{1b}[2J\\r");
        assert_eq!(shown("a\u{7}b\u{9b}c"), "a\\u{7}b\\u{9b}c");
    }
}
