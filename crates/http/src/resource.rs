//! This server as a protected resource (RFC 9728): its identifier, where
//! its metadata lives, and who may address it (`Host`, `Origin`).

use http::Uri;

use crate::SetupError;

/// The resource URI taken apart once.
#[derive(Clone, Debug)]
pub(crate) struct Resource {
    pub uri: String,
    /// `scheme://authority`, lower case.
    pub origin: String,
    /// The authority, lower case.
    pub authority: String,
    /// The metadata URL advertised in challenges: the path-inserted form
    /// when the resource has a path (RFC 9728 §3.1).
    pub metadata_url: String,
    /// The paths the metadata is served at.
    pub metadata_paths: Vec<String>,
    /// The resource's own path (`/mcp`; `/` when it has none): the MCP
    /// endpoint the layer guards.
    pub path: String,
}

pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

impl Resource {
    pub fn parse(uri: &str) -> Result<Resource, SetupError> {
        let invalid = || SetupError::InvalidResource(uri.to_owned());
        if uri.contains('#') {
            return Err(invalid());
        }
        let parsed: Uri = uri.parse().map_err(|_| invalid())?;
        let scheme = parsed
            .scheme_str()
            .ok_or_else(invalid)?
            .to_ascii_lowercase();
        let authority = parsed
            .authority()
            .ok_or_else(invalid)?
            .as_str()
            .to_ascii_lowercase();
        if parsed.query().is_some() || authority.contains('@') {
            return Err(invalid());
        }
        let origin = format!("{scheme}://{authority}");
        let endpoint = match parsed.path() {
            "" => "/".to_owned(),
            path => path.to_owned(),
        };
        let path = parsed.path().trim_end_matches('/');
        let mut metadata_paths = vec![WELL_KNOWN.to_owned()];
        let metadata_url = if path.is_empty() {
            format!("{origin}{WELL_KNOWN}")
        } else {
            metadata_paths.push(format!("{WELL_KNOWN}{path}"));
            format!("{origin}{WELL_KNOWN}{path}")
        };
        Ok(Resource {
            uri: uri.to_owned(),
            origin,
            authority,
            metadata_url,
            metadata_paths,
            path: endpoint,
        })
    }

    pub fn is_metadata_path(&self, path: &str) -> bool {
        self.metadata_paths.iter().any(|p| p == path)
    }
}

/// The host of an authority, without port (`[::1]` keeps its brackets).
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        };
    }
    authority.split(':').next().unwrap_or(authority)
}

fn is_loopback(authority: &str) -> bool {
    matches!(host_of(authority), "localhost" | "127.0.0.1" | "[::1]")
}

/// The allow-lists against DNS rebinding.
#[derive(Clone, Debug)]
pub(crate) struct Addressing {
    /// `None`: the defaults (the resource's own, and loopback).
    origins: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
    resource_origin: String,
    resource_authority: String,
}

impl Addressing {
    pub fn new(
        resource: &Resource,
        origins: Option<&[String]>,
        hosts: Option<&[String]>,
    ) -> Addressing {
        let lower = |list: &[String]| list.iter().map(|s| s.to_ascii_lowercase()).collect();
        Addressing {
            origins: origins.map(lower),
            hosts: hosts.map(lower),
            resource_origin: resource.origin.clone(),
            resource_authority: resource.authority.clone(),
        }
    }

    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match &self.hosts {
            Some(list) => list.iter().any(|h| *h == host || h == host_of(&host)),
            None => {
                host == self.resource_authority
                    || host_of(&host) == host_of(&self.resource_authority)
                        && !self.resource_authority.contains(':')
                        && !host.contains(':')
                    || is_loopback(&host)
            }
        }
    }

    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        match &self.origins {
            Some(list) => list.contains(&origin),
            None => {
                if origin == self.resource_origin {
                    return true;
                }
                match origin.split_once("://") {
                    Some(("http" | "https", authority)) => {
                        !authority.contains('/') && is_loopback(authority)
                    }
                    _ => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_resource_uris_path() {
        let path = |uri: &str| Resource::parse(uri).unwrap().path;
        assert_eq!(path("https://mcp.example.com/public/mcp"), "/public/mcp");
        assert_eq!(path("https://mcp.example.com/mcp/"), "/mcp/");
        assert_eq!(path("http://127.0.0.1:8080"), "/");
    }

    #[test]
    fn metadata_paths_insert_the_resource_path() {
        let r = Resource::parse("https://MCP.example.com/public/mcp").unwrap();
        assert_eq!(
            r.metadata_url,
            "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp"
        );
        assert!(r.is_metadata_path("/.well-known/oauth-protected-resource"));
        assert!(r.is_metadata_path("/.well-known/oauth-protected-resource/public/mcp"));
        assert!(!r.is_metadata_path("/.well-known/oauth-protected-resource/other"));
        assert!(Resource::parse("https://mcp.example.com/").is_ok());
        for bad in [
            "mcp.example.com",
            "/mcp",
            "https://x/mcp?a=b",
            "https://x/#f",
        ] {
            assert!(Resource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_and_origins() {
        let r = Resource::parse("https://mcp.example.com/mcp").unwrap();
        let a = Addressing::new(&r, None, None);
        assert!(a.host_allowed("mcp.example.com"));
        assert!(a.host_allowed("127.0.0.1:8080"));
        assert!(a.host_allowed("[::1]:1"));
        assert!(!a.host_allowed("evil.example.com"));
        assert!(!a.host_allowed("localhost.evil.com"));
        assert!(a.origin_allowed("https://mcp.example.com"));
        assert!(a.origin_allowed("http://localhost:6274"));
        assert!(!a.origin_allowed("https://evil.example.com"));
        assert!(!a.origin_allowed("null"));
        assert!(!a.origin_allowed("http://127.0.0.1.evil.com"));
    }
}
