//! What one server holds for its clients, at most.

use std::time::Duration;

/// The limits of [`serve`](crate::serve). [`ServerLimits::default`] gives
/// the documented defaults (docs/SECURITY.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once. Keep it well under the process's file
    /// descriptor limit (`ulimit -n`, often 1024), which the server's own
    /// files and upstream connections share. Default: 512.
    pub max_connections: usize,
    /// Connections past the cap being answered 503 at once; past this too,
    /// a connection is closed unanswered. Default: 64.
    pub max_turned_away: usize,
    /// From a request's first byte to the end of its headers. Default: 10 s.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and nothing received for this
    /// long is closed; one whose client takes none of what it is sent for
    /// this long is dropped, even mid-response. Default: 60 s.
    pub idle_timeout: Duration,
    /// The request line and headers of one request, at most (hyper's read
    /// buffer; never below its minimum of 8 KiB). Default: 64 KiB.
    pub max_header_bytes: usize,
    /// On shutdown, how long connections still busy are waited for.
    /// Default: 10 s.
    pub drain_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            max_connections: 512,
            max_turned_away: 64,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}
