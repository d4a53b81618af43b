//! The contract's environment (tests/e2e/run.sh writes it) and servers.json.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;

use crate::Res;

/// One server of the stack, as the flow sees it.
#[derive(Debug, Clone)]
pub struct Server {
    /// The name in the `STEP` lines and the report.
    pub name: &'static str,
    /// The kind in servers.json (`example` or `everything`).
    pub kind: &'static str,
    /// Its URL, which is also its resource (the tokens' `aud`).
    pub url: String,
}

/// A call of servers.json: a tool name and its arguments.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    pub name: String,
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// What a kind of server allows, by granted scope.
#[derive(Debug, Clone, Deserialize)]
pub struct Kind {
    pub allowed: BTreeMap<String, BTreeSet<String>>,
    pub read_call: Call,
    pub write_call: Call,
    pub admin_call: Call,
}

impl Kind {
    /// The tools a token with `granted` scopes may see: the union of what each
    /// granted mcp:* scope allows (scopes the file does not name allow nothing).
    pub fn allowed_for<'a>(&self, granted: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        granted
            .into_iter()
            .filter_map(|scope| self.allowed.get(scope))
            .flatten()
            .cloned()
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct ServersJson {
    kinds: BTreeMap<String, Kind>,
}

/// Everything the client reads from its environment.
#[derive(Debug, Clone)]
pub struct Env {
    /// The issuer, no trailing slash.
    pub issuer: String,
    pub servers: Vec<Server>,
    pub everything_direct: String,
    pub kinds: BTreeMap<String, Kind>,
    pub report_dir: PathBuf,
    pub token_ttl: u64,
}

fn var(name: &str) -> Res<String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (source the env file of `run.sh --up`)").into())
}

impl Env {
    pub fn from_process() -> Res<Self> {
        let servers_json = var("E2E_SERVERS_JSON")?;
        let text = std::fs::read_to_string(&servers_json)
            .map_err(|e| format!("reading {servers_json}: {e}"))?;
        let parsed: ServersJson =
            serde_json::from_str(&text).map_err(|e| format!("parsing {servers_json}: {e}"))?;
        let token_ttl = match std::env::var("E2E_TOKEN_TTL") {
            Ok(value) => value
                .parse()
                .map_err(|e| format!("E2E_TOKEN_TTL={value}: {e}"))?,
            Err(_) => 20,
        };
        Ok(Self {
            issuer: var("E2E_AS")?.trim_end_matches('/').to_string(),
            servers: vec![
                Server {
                    name: "example",
                    kind: "example",
                    url: var("E2E_SERVER_EXAMPLE")?,
                },
                Server {
                    name: "proxy-stdio",
                    kind: "everything",
                    url: var("E2E_SERVER_PROXY_STDIO")?,
                },
                Server {
                    name: "proxy-http",
                    kind: "everything",
                    url: var("E2E_SERVER_PROXY_HTTP")?,
                },
            ],
            everything_direct: var("E2E_EVERYTHING_DIRECT")?,
            kinds: parsed.kinds,
            report_dir: PathBuf::from(var("E2E_REPORT_DIR")?),
            token_ttl,
        })
    }

    pub fn kind(&self, server: &Server) -> Res<&Kind> {
        self.kinds
            .get(server.kind)
            .ok_or_else(|| format!("servers.json has no kind `{}`", server.kind).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The file run.sh hands over (E2E_SERVERS_JSON): its shape is what the
    // flows rely on.
    const SERVERS_JSON: &str = include_str!("../../servers.json");

    fn kinds() -> Res<BTreeMap<String, Kind>> {
        Ok(serde_json::from_str::<ServersJson>(SERVERS_JSON)?.kinds)
    }

    #[test]
    fn servers_json_has_both_kinds_with_their_calls() -> Res<()> {
        let kinds = kinds()?;
        for name in ["example", "everything"] {
            let kind = kinds.get(name).ok_or(name)?;
            for scope in ["mcp:read", "mcp:write", "mcp:admin"] {
                assert!(
                    kind.allowed
                        .get(scope)
                        .is_some_and(|tools| !tools.is_empty()),
                    "{name} {scope}"
                );
            }
            // Each call needs exactly the scope it is named for.
            let read = kind.allowed_for(["mcp:read"]);
            let write = kind.allowed_for(["mcp:write"]);
            let admin = kind.allowed_for(["mcp:admin"]);
            assert!(read.contains(&kind.read_call.name), "{name}");
            assert!(
                !read.contains(&kind.write_call.name) && write.contains(&kind.write_call.name),
                "{name}"
            );
            assert!(
                !write.contains(&kind.admin_call.name) && admin.contains(&kind.admin_call.name),
                "{name}"
            );
        }
        Ok(())
    }

    #[test]
    fn allowed_for_is_the_union_over_granted_scopes_and_ignores_others() -> Res<()> {
        let kinds = kinds()?;
        let kind = kinds.get("example").ok_or("example")?;
        let read = kind.allowed_for(["mcp:read"]);
        assert_eq!(
            kind.allowed_for(["mcp:read", "offline_access", "openid"]),
            read
        );
        assert_eq!(
            kind.allowed_for(["mcp:read", "mcp:write"]),
            read.union(&kind.allowed_for(["mcp:write"]))
                .cloned()
                .collect()
        );
        assert!(kind.allowed_for(["offline_access"]).is_empty());
        assert!(kind.allowed_for(Vec::<&str>::new()).is_empty());
        Ok(())
    }
}
