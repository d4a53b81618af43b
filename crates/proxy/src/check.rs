//! `--check-config`: everything [`Proxy::bind`](crate::Proxy::bind)
//! would find wrong, found without binding an address or starting a child.

use mcp_policy_evaluator::Evaluator;
use mcp_policy_token::{Validator, ValidatorConfig};

use crate::{HttpUpstream, ProxyConfig, StartError, Upstream, admin, tls};

/// Checks everything [`Proxy::bind`](crate::Proxy::bind) would, without binding or starting
/// anything: the policy compiles, a key file is a JWKS (a URL is only
/// checked for its form), the upstream URL is usable or the command
/// resolves to an executable, the TLS files make a certificate and its
/// key, identity forwarding fits the upstream. Every problem found, not
/// only the first.
pub fn check(config: &ProxyConfig) -> Result<(), Vec<StartError>> {
    let mut errors = Vec::new();
    if let Err(error) = forwarding_fits(config) {
        errors.push(error);
    }
    if let Err(error) = Evaluator::from_path(&config.policy) {
        errors.push(StartError::Policy(format!(
            "{}: {error}",
            config.policy.display()
        )));
    }
    // The validator reads a key file when built, and checks a URL's form
    // (https, or http to loopback) without fetching it.
    let token = ValidatorConfig::new(
        &config.issuer,
        "https://check.invalid/mcp",
        config.keys.clone(),
    );
    if let Err(error) = Validator::new(token) {
        errors.push(StartError::Token(error.to_string()));
    }
    match &config.upstream {
        Upstream::Http(http) => {
            if let Err(error) = HttpUpstream::new(http.clone()) {
                errors.push(StartError::Upstream(error.to_string()));
            }
        }
        Upstream::Sse(sse) => {
            if let Err(error) = crate::SseUpstream::new(sse.clone()) {
                errors.push(StartError::Upstream(error.to_string()));
            }
        }
        Upstream::Stdio(stdio) => {
            let program = stdio.command.first().map_or("", String::as_str);
            if !admin::resolves(std::path::Path::new(program)) {
                errors.push(StartError::Upstream(format!(
                    "the command `{}` is not an executable file (nor found in PATH)",
                    program.escape_debug()
                )));
            }
        }
    }
    if let Some(files) = &config.tls
        && let Err(message) = tls::server_config(files)
    {
        errors.push(StartError::Tls(message));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Identity goes in headers: a stdio server has none.
pub(crate) fn forwarding_fits(config: &ProxyConfig) -> Result<(), StartError> {
    if config.identity.enabled && matches!(config.upstream, Upstream::Stdio(_)) {
        return Err(StartError::Upstream(
            "--forward-identity needs an HTTP upstream: a stdio server has no headers to carry it"
                .to_owned(),
        ));
    }
    Ok(())
}
