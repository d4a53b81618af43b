//! What triggers a policy reload: a change of the policy file
//! ([`watch_file`]) or `SIGHUP` ([`reload_on_sighup`], Unix). Both go
//! through [`PolicyLayer::reload_from_path`]: the new policy is put in
//! force atomically, and one that fails to load leaves the old one serving,
//! with the error logged (target `mcp_policy::reload`).
//!
//! ```no_run
//! # use std::time::Duration;
//! # async fn serve(layer: mcp_policy_http::PolicyLayer) -> std::io::Result<()> {
//! use mcp_policy_http::reload;
//! let _watcher = reload::watch_file(layer.clone(), "server.mcppolicy", Duration::from_secs(2));
//! #[cfg(unix)]
//! let _hangup = reload::reload_on_sighup(layer, "server.mcppolicy")?;
//! # Ok(()) }
//! ```
//!
//! The file is read, and the policy compiled, on tokio's blocking pool, not
//! on the runtime's worker threads. Write policy files atomically (a new
//! file renamed over the old) where you can: a watcher that reads a
//! half-written file logs the failed load, keeps the old policy, and loads
//! the complete file on a later poll.

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use crate::PolicyLayer;

/// A modification time this close to now may be shared with a write still
/// to come (coarse file system timestamps), so the content is hashed again
/// on each poll until the time is older.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What the watcher last saw of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    /// The content's hash when it was last read.
    hash: u64,
}

#[derive(Debug)]
struct Watch {
    path: PathBuf,
    /// `None` while the file could not be read.
    seen: Option<Seen>,
}

fn hash(bytes: &[u8]) -> u64 {
    // SipHash with fixed keys: the same content, the same hash.
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

/// The file as it is now, or why it cannot be read.
fn observe(path: &Path, previous: Option<Seen>) -> std::io::Result<Seen> {
    let metadata = std::fs::metadata(path)?;
    let modified = metadata.modified().ok();
    let len = metadata.len();
    let racy = modified.is_none_or(|modified| modified + RACY_WINDOW > SystemTime::now());
    if let Some(previous) = previous
        && previous.modified == modified
        && previous.len == len
        && !racy
    {
        return Ok(previous);
    }
    // Bounded, and never opened and waited on when it is a FIFO or a
    // device: the poll runs on a blocking thread that must come back.
    let content =
        mcp_policy_fs::read(path, mcp_policy_fs::limit::ARTIFACT).map_err(std::io::Error::other)?;
    Ok(Seen {
        modified,
        len,
        hash: hash(&content),
    })
}

impl Watch {
    /// One poll: reloads when the content changed since the last poll.
    fn poll(&mut self, layer: &PolicyLayer) {
        let previous = self.seen;
        match observe(&self.path, previous) {
            Ok(now) => {
                self.seen = Some(now);
                match previous {
                    Some(previous) if previous.hash == now.hash => {
                        if previous.modified != now.modified || previous.len != now.len {
                            tracing::debug!(
                                target: "mcp_policy::reload",
                                path = %self.path.display(),
                                "policy file touched; content unchanged, not reloaded"
                            );
                        }
                    }
                    _ => {
                        tracing::info!(
                            target: "mcp_policy::reload",
                            path = %self.path.display(),
                            "policy file changed; reloading"
                        );
                        // A failure is logged by the layer; the old policy stays.
                        let _ = layer.reload_from_path(&self.path);
                    }
                }
            }
            Err(error) => {
                // Logged once per spell of unreadability, not on every poll.
                if self.seen.take().is_some() {
                    tracing::warn!(
                        target: "mcp_policy::reload",
                        path = %self.path.display(),
                        %error,
                        "policy file unreadable; the policy in force stays"
                    );
                }
            }
        }
    }
}

/// Polls `path` every `poll_interval` and reloads the policy when the
/// file's content changed (its modification time and size say when to read
/// it, a hash of the content whether it changed: touching the file, or
/// writing the same bytes again, does not reload).
///
/// The file as it is when this is called is the baseline: call it right
/// after loading the policy from `path`. A file that fails to load is not
/// tried again until its content changes; a file that disappears keeps
/// the old policy serving (logged once), and is loaded when it is back.
/// Abort the returned handle to stop watching.
///
/// # Panics
///
/// Outside a tokio runtime (as `tokio::spawn`).
pub fn watch_file(
    layer: PolicyLayer,
    path: impl Into<PathBuf>,
    poll_interval: Duration,
) -> JoinHandle<()> {
    let path = path.into();
    let seen = observe(&path, None).ok();
    if seen.is_none() {
        tracing::warn!(
            target: "mcp_policy::reload",
            path = %path.display(),
            "policy file unreadable; watching for it"
        );
    }
    let mut watch = Watch { path, seen };
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(poll_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the baseline was taken above.
        interval.tick().await;
        loop {
            interval.tick().await;
            let layer = layer.clone();
            let path = watch.path.clone();
            let polled = tokio::task::spawn_blocking(move || {
                watch.poll(&layer);
                watch
            });
            watch = match polled.await {
                Ok(polled) => polled,
                Err(error) => {
                    // The poll panicked: start again from "unknown", which
                    // reloads once the file can be read.
                    tracing::error!(
                        target: "mcp_policy::reload",
                        path = %path.display(),
                        %error,
                        "policy file poll failed"
                    );
                    Watch { path, seen: None }
                }
            };
        }
    })
}

/// Reloads the policy from `path` on every `SIGHUP`, whatever changed.
///
/// The signal handler is installed before this returns: from then on,
/// `SIGHUP` no longer terminates the process (for the life of the
/// process, even after the returned handle is aborted).
///
/// # Errors
///
/// When the handler cannot be installed.
///
/// # Panics
///
/// Outside a tokio runtime.
#[cfg(unix)]
pub fn reload_on_sighup(
    layer: PolicyLayer,
    path: impl Into<PathBuf>,
) -> std::io::Result<JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};

    let path = path.into();
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!(
                target: "mcp_policy::reload",
                path = %path.display(),
                "SIGHUP received; reloading the policy"
            );
            let layer = layer.clone();
            let reload_path = path.clone();
            // A failure is logged by the layer; the old policy stays.
            if let Err(error) =
                tokio::task::spawn_blocking(move || layer.reload_from_path(reload_path)).await
            {
                tracing::error!(
                    target: "mcp_policy::reload",
                    path = %path.display(),
                    %error,
                    "policy reload panicked; the policy in force stays"
                );
            }
        }
    }))
}
