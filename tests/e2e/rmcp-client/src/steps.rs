//! The name of each step: the row of docs/e2e.md's table (`what` in the
//! report), the same for every server.

pub fn what(step: &str) -> &'static str {
    match step {
        "0.0" => "the flow ends in time",
        "1.1" => "401 with resource_metadata and the baseline scope",
        "1.2" => "discovery: protected resource metadata, then the AS metadata",
        "2.1" => "dynamic client registration",
        "2.2" => "authorization request: PKCE S256, state, resource, the baseline scope",
        "2.3" => "offline_access asked, refresh token granted",
        "2.4" => "rmcp's default scope selection",
        "2.5" => "state checked by the client",
        "2.6" => "token request: PKCE verifier and resource",
        "2.7" => "access token: at+jwt, aud, scope",
        "2.8" => "refresh token issued",
        "3.1" => "tools/list shows exactly what mcp:read allows",
        "3.2" => "an allowed call succeeds",
        "4.1" => "a write call gets 403 insufficient_scope",
        "4.2" => "step-up: rmcp re-authorizes for the challenged scope",
        "4.3" => "the retried write call succeeds",
        "4.4" => "tools/list after the step-up",
        "4.5" => "bob: an admin call gets 403 insufficient_scope",
        "4.6" => "bob: one step-up, still 403, the client stops",
        "4.7" => "rmcp's own bound on step-ups",
        "5.1" => "after expiry, concurrent calls go on (rmcp refreshes)",
        "5.2" => "one refresh at the AS for the concurrent calls",
        "5.3" => "tools/list after the refresh",
        "6a.1" => "a token for another resource: 401 invalid_token",
        "6b.1" => "an expired token: 401 invalid_token",
        "6c.1" => "a forged signature: 401 invalid_token",
        "6d.1" => "alg none: 401 invalid_token",
        "7.1" => "client_credentials: a token for mcp:read",
        "7.2" => "machine: tools/list shows the read tools only",
        "7.3" => "machine: a read call succeeds",
        "7.4" => "machine: a write call gets 403",
        "7.5" => "machine: an admin call gets 403",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every step the flows report has a name (a step added without one
    /// would leave an empty row in the table).
    #[test]
    fn every_reported_step_is_named() {
        let sources = [include_str!("flow.rs"), include_str!("main.rs")];
        let steps: Vec<&str> = sources
            .iter()
            .flat_map(|source| source.split('"'))
            .filter(|token| {
                let mut parts = token.split('.');
                let (Some(n), Some(sub), None) = (parts.next(), parts.next(), parts.next()) else {
                    return false;
                };
                n.chars().next().is_some_and(|c| c.is_ascii_digit())
                    && n.len() <= 2
                    && sub.len() == 1
                    && sub.chars().all(|c| c.is_ascii_digit())
            })
            .collect();
        assert!(steps.len() > 30, "found {steps:?}");
        for step in steps {
            assert!(!what(step).is_empty(), "step {step} has no name");
        }
    }
}
