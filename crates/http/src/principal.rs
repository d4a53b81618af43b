//! The principal of the request being served, for code deep in a handler
//! that has no access to the request (and so to its extensions).
//!
//! The [`PolicyService`](crate::PolicyService) sets it around the inner
//! service's future, the one that turns the forwarded request into a
//! response. It is a tokio task-local, so it is visible only to code that
//! runs *inside that future*, on the task that polls it: a task the handler
//! spawns (`tokio::spawn`, `spawn_blocking`) does not inherit it, and it is
//! gone once the inner service has produced its response (a streamed body
//! polled later does not see it). Hand such tasks the principal from
//! [`current_principal`] or from the request extensions explicitly.

use std::sync::Arc;

use mcp_policy_token::Principal;

tokio::task_local! {
    static PRINCIPAL: Arc<Principal>;
}

/// The principal of the request being served, when called from within the
/// inner service's future; `None` anywhere else (outside a request, in a
/// spawned task). Never panics.
pub fn current_principal() -> Option<Arc<Principal>> {
    PRINCIPAL.try_with(Arc::clone).ok()
}

/// Runs `future` with `principal` as [`current_principal`].
pub(crate) async fn scope<F: std::future::Future>(
    principal: Arc<Principal>,
    future: F,
) -> F::Output {
    PRINCIPAL.scope(principal, future).await
}
