//! How large each kind of input may be. docs/SECURITY.md ("Input limits")
//! lists them; keep the two in step.

use std::fmt;

/// A byte bound, and what it bounds (for messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// What is read, with its article: "a policy".
    pub what: &'static str,
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// A `.mcppolicy` source.
pub const POLICY: Limit = Limit {
    bytes: 16 * MIB,
    what: "a policy",
};
/// A compiled table (`mcp-policy compile`): larger than its source, which
/// it repeats rule by rule inside JSON.
pub const ARTIFACT: Limit = Limit {
    bytes: 64 * MIB,
    what: "a compiled policy",
};
/// A server's `tools/list` answer (`--tools`).
pub const TOOLS: Limit = Limit {
    bytes: 16 * MIB,
    what: "a tools list",
};
/// A policy test file (YAML).
pub const TEST_FILE: Limit = Limit {
    bytes: 16 * MIB,
    what: "a test file",
};
/// A JWKS file: the same bound as a JWKS fetched from a URL.
pub const JWKS: Limit = Limit {
    bytes: MIB,
    what: "a JWKS",
};
/// A token read from standard input. Tokens past the validator's own
/// `max_token_bytes` are rejected as tokens; this only bounds the read.
pub const TOKEN: Limit = Limit {
    bytes: MIB,
    what: "a token",
};
/// The headers `mcp-policy proxy` sends its upstream
/// (`--upstream-header-file`): a few credentials.
pub const UPSTREAM_HEADERS: Limit = Limit {
    bytes: 64 * KIB,
    what: "an upstream header file",
};
/// `mcp-policy proxy --config`: a few dozen keys; 1 MiB is generous and
/// still bounds what a mistaken path (a log, a core file) costs.
pub const CONFIG: Limit = Limit {
    bytes: MIB,
    what: "a proxy configuration file",
};
/// A TLS certificate chain or private key (`proxy --tls-cert`,
/// `--tls-key`): a chain is a few KiB.
pub const PEM: Limit = Limit {
    bytes: MIB,
    what: "a PEM file",
};
/// An HMAC secret (`--secret-file`).
pub const SECRET: Limit = Limit {
    bytes: 64 * KIB,
    what: "a secret",
};

impl fmt::Display for Limit {
    /// The size in the largest whole unit: `16 MiB`, `64 KiB`, `100 bytes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes;
        if bytes >= MIB && bytes.is_multiple_of(MIB) {
            write!(f, "{} MiB", bytes / MIB)
        } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
            write!(f, "{} KiB", bytes / KIB)
        } else {
            write!(f, "{bytes} bytes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_print_in_whole_units() {
        assert_eq!(POLICY.to_string(), "16 MiB");
        assert_eq!(SECRET.to_string(), "64 KiB");
        let odd = Limit {
            bytes: 1000,
            what: "x",
        };
        assert_eq!(odd.to_string(), "1000 bytes");
    }
}
