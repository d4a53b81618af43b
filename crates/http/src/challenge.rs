//! `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9728 §5.1, MCP
//! step-up authorization). Values are quoted strings; anything that could
//! break out of one is dropped rather than escaped, so a challenge is
//! always one well-formed header line.

/// A scope token as RFC 6749 §3.3 allows (`NQCHAR`): printable ASCII
/// without space, `"` and `\`.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Printable ASCII without `"` and `\`, for a quoted string.
fn quotable(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
        .collect()
}

/// Space-separated scopes, each once, in order, invalid tokens left out.
pub(crate) fn scope_list<'s>(scopes: impl IntoIterator<Item = &'s str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for scope in scopes {
        if is_scope_token(scope) && !seen.contains(&scope) {
            seen.push(scope);
        }
    }
    seen.join(" ")
}

/// The 401 challenge: no token (`rejection` `None`) or a rejected one.
pub(crate) fn unauthorized(
    metadata_url: &str,
    baseline: &[String],
    rejection: Option<&str>,
) -> String {
    let mut out = String::from("Bearer ");
    if let Some(code) = rejection {
        out.push_str(&format!(
            "error=\"invalid_token\", error_description=\"{}\", ",
            quotable(&format!("the access token was rejected: {code}"))
        ));
    }
    out.push_str(&format!("resource_metadata=\"{}\"", quotable(metadata_url)));
    let scope = scope_list(baseline.iter().map(String::as_str));
    if !scope.is_empty() {
        out.push_str(&format!(", scope=\"{scope}\""));
    }
    out
}

/// The 400 challenge for a malformed `Authorization` header.
pub(crate) fn invalid_request(metadata_url: &str, description: &str) -> String {
    format!(
        "Bearer error=\"invalid_request\", error_description=\"{}\", resource_metadata=\"{}\"",
        quotable(description),
        quotable(metadata_url)
    )
}

/// The 403 step-up challenge: `scope` is what the token holds and what the
/// operation needs, so a client that replaces its scopes with these loses
/// nothing.
pub(crate) fn insufficient_scope(metadata_url: &str, scope: &str, description: &str) -> String {
    format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{}\", error_description=\"{}\"",
        quotable(metadata_url),
        quotable(description)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_breaks_out_of_a_quoted_string() {
        assert_eq!(quotable("a\"b\\c\r\nd é"), "abcd ");
        assert_eq!(scope_list(["a", "a", "b\"", "c d", "", "e"]), "a e");
        assert_eq!(
            unauthorized("https://x/m", &[], None),
            "Bearer resource_metadata=\"https://x/m\""
        );
    }
}
