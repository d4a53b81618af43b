//! MCP sessions bound to the principal that opened them.
//!
//! A session id is not a credential (MCP security best practices, "session
//! hijacking"): a client that learns another user's `Mcp-Session-Id` must
//! not be able to post into that session, open its stream or end it. So the
//! layer records, for every session id the server issues in answer to a
//! request without one (`initialize`), who asked: the token's issuer,
//! subject and client (`client_id`, else `azp`). A request that carries a
//! session id is let through only under that same principal; under any
//! other, and for an id the layer never saw or has forgotten, the answer is
//! the same 404 a server gives for an unknown session, so an id cannot be
//! probed. A refreshed or stepped-up token of the same user and client
//! keeps the session.
//!
//! The table is bounded: at most [`SessionLimits::max_sessions`] bindings,
//! [`SessionLimits::max_sessions_per_principal`] per principal (a new
//! session past either is answered 503 with `Retry-After`), and a binding
//! with no request in flight for [`SessionLimits::idle_timeout`] expires.
//! The layer then ends the session at the server too (a `DELETE` with its
//! id), so a server that keeps sessions longer holds no more than the layer
//! admits.
//!
//! That `DELETE` goes through the service behind the layer, from a request
//! to the session's own path. So that service must take every method at
//! that path: the whole router, or an axum `route_service` / `any` route.
//! Applied per method (`post(h).delete(h)` then `Router::layer`), the
//! service behind the layer is one method's handler, which the `DELETE`
//! would reach as if it were that method.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mcp_policy_token::Principal;

/// The header that carries the session id (MCP Streamable HTTP).
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";

/// How many sessions the layer admits, and for how long an idle one lives.
/// [`SessionLimits::default`] gives the documented defaults
/// (docs/SECURITY.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions held at once, over all principals. Default: 10,000.
    pub max_sessions: usize,
    /// Sessions held at once by one principal (issuer, subject, client).
    /// Default: 64.
    pub max_sessions_per_principal: usize,
    /// A session with no request in flight for this long is forgotten and
    /// ended at the server. Default: 300 s, as rmcp's own session
    /// keep-alive.
    pub idle_timeout: Duration,
    /// The `Retry-After` of a refused new session. Default: 10 s.
    pub retry_after: Duration,
}

impl Default for SessionLimits {
    fn default() -> SessionLimits {
        SessionLimits {
            max_sessions: 10_000,
            max_sessions_per_principal: 64,
            idle_timeout: Duration::from_secs(300),
            retry_after: Duration::from_secs(10),
        }
    }
}

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Owner {
    issuer: String,
    subject: String,
    client: Option<String>,
}

impl Owner {
    pub fn of(principal: &Principal) -> Owner {
        Owner {
            issuer: principal.issuer.clone(),
            subject: principal.subject.clone(),
            client: principal.client_id.clone(),
        }
    }
}

/// Where a session's requests went: where the layer sends its `DELETE`
/// when it expires.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub uri: http::Uri,
    pub host: Option<http::HeaderValue>,
}

/// A session the layer forgot for idleness, to be ended at the server.
#[derive(Debug)]
pub(crate) struct Expired {
    pub id: String,
    pub route: Route,
}

/// Why a new session was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    Total,
    Principal,
}

#[derive(Debug)]
struct Binding {
    owner: Arc<Owner>,
    route: Route,
    last_seen: Instant,
    in_flight: usize,
}

#[derive(Debug)]
struct State {
    bound: HashMap<String, Binding>,
    /// Sessions per owner, bound and reserved.
    per_owner: HashMap<Arc<Owner>, usize>,
    /// Sessions being opened: counted against the limits until the
    /// server's answer binds or releases them.
    reserved: usize,
    /// The paths sessions were opened at: only a request to one of them
    /// sweeps (see [`Sessions::sweep`]).
    paths: HashSet<String>,
}

impl State {
    fn release_owner(&mut self, owner: &Owner) {
        if let Some(count) = self.per_owner.get_mut(owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_owner.remove(owner);
            }
        }
    }
}

/// The session table of one layer.
#[derive(Debug)]
pub(crate) struct Sessions {
    limits: SessionLimits,
    state: Mutex<State>,
    /// When the table was made: the clock of `next_sweep`.
    born: Instant,
    /// Milliseconds from `born` before which no sweep runs: read without
    /// the lock, so a request between sweeps costs one atomic load.
    next_sweep: AtomicU64,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Arc<Sessions> {
        Arc::new(Sessions {
            limits,
            state: Mutex::new(State {
                bound: HashMap::new(),
                per_owner: HashMap::new(),
                reserved: 0,
                paths: HashSet::new(),
            }),
            born: Instant::now(),
            next_sweep: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> &SessionLimits {
        &self.limits
    }

    /// A poisoned lock is taken over: every update below leaves the table
    /// consistent before anything that could panic.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Room for one more session of `owner`, held until the server's answer
    /// binds it ([`Reservation::bind`]) or the reservation is dropped.
    pub fn reserve(self: &Arc<Self>, owner: Owner) -> Result<Reservation, Full> {
        let mut state = self.lock();
        if state.bound.len() + state.reserved >= self.limits.max_sessions {
            return Err(Full::Total);
        }
        let (owner, held) = match state.per_owner.get_key_value(&owner) {
            Some((key, count)) => (Arc::clone(key), *count),
            None => (Arc::new(owner), 0),
        };
        if held >= self.limits.max_sessions_per_principal {
            return Err(Full::Principal);
        }
        *state.per_owner.entry(Arc::clone(&owner)).or_insert(0) += 1;
        state.reserved += 1;
        Ok(Reservation {
            sessions: Arc::clone(self),
            owner: Some(owner),
        })
    }

    /// The session `id`, if it is bound to `owner`: held in flight until the
    /// returned guard is dropped. `None` for an unknown id and for another
    /// principal's alike.
    pub fn admit(self: &Arc<Self>, id: &str, owner: &Owner) -> Option<Active> {
        let mut state = self.lock();
        let binding = state.bound.get_mut(id)?;
        if *binding.owner != *owner {
            return None;
        }
        binding.in_flight += 1;
        binding.last_seen = Instant::now();
        Some(Active {
            sessions: Arc::clone(self),
            id: id.to_owned(),
        })
    }

    /// Forgets the sessions opened at `path` and idle past the timeout, and
    /// returns their ids, to be ended at the server by the caller, a
    /// request to that same `path`. Only such a request has the service
    /// that serves them: with the layer applied per route, a request to
    /// another path (the metadata, an unknown path, which anyone may
    /// send) has another route's service, and a `DELETE` sent through it
    /// never reaches the session's endpoint. Runs at most a few times per
    /// timeout, so a flood of requests does not turn it into a scan per
    /// request; requests to other paths neither scan nor delay it.
    pub fn sweep(&self, path: &str) -> Vec<Expired> {
        let every =
            (self.limits.idle_timeout / 8).clamp(Duration::from_millis(10), Duration::from_secs(5));
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let now_ms = millis(self.born.elapsed());
        // Between sweeps, one atomic load and no lock.
        if now_ms < self.next_sweep.load(Ordering::Acquire) {
            return Vec::new();
        }
        let now = Instant::now();
        let mut state = self.lock();
        if !state.paths.contains(path) || now_ms < self.next_sweep.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.next_sweep
            .store(now_ms.saturating_add(millis(every)), Ordering::Release);
        let idle = self.limits.idle_timeout;
        let ids: Vec<String> = state
            .bound
            .iter()
            .filter(|(_, b)| {
                b.in_flight == 0
                    && now.duration_since(b.last_seen) >= idle
                    && b.route.uri.path() == path
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut expired = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(binding) = state.bound.remove(&id) {
                state.release_owner(&binding.owner);
                expired.push(Expired {
                    id,
                    route: binding.route,
                });
            }
        }
        expired
    }

    /// How many sessions are bound now.
    pub fn len(&self) -> usize {
        self.lock().bound.len()
    }

    /// Forgets the session `id`, and returns where it is to be ended at
    /// the server.
    pub fn end(&self, id: &str) -> Option<Expired> {
        let mut state = self.lock();
        let binding = state.bound.remove(id)?;
        state.release_owner(&binding.owner);
        Some(Expired {
            id: id.to_owned(),
            route: binding.route,
        })
    }
}

/// Room for one session being opened.
#[derive(Debug)]
pub(crate) struct Reservation {
    sessions: Arc<Sessions>,
    /// `None` once bound.
    owner: Option<Arc<Owner>>,
}

impl Reservation {
    /// Binds the id the server issued. An id already bound (a server that
    /// reuses ids) keeps its owner, and the reservation is released: the
    /// new principal gets nothing of the old one's session.
    pub fn bind(mut self, id: &str, route: Route) -> bool {
        let Some(owner) = self.owner.take() else {
            return false;
        };
        let mut state = self.sessions.lock();
        state.reserved = state.reserved.saturating_sub(1);
        if state.bound.contains_key(id) {
            state.release_owner(&owner);
            return false;
        }
        // As many entries as paths the server issued sessions at: one, for
        // an MCP server.
        if !state.paths.contains(route.uri.path()) {
            state.paths.insert(route.uri.path().to_owned());
        }
        state.bound.insert(
            id.to_owned(),
            Binding {
                owner,
                route,
                last_seen: Instant::now(),
                in_flight: 0,
            },
        );
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            let mut state = self.sessions.lock();
            state.reserved = state.reserved.saturating_sub(1);
            state.release_owner(&owner);
        }
    }
}

/// A request (and its streamed answer) in flight in a bound session: the
/// session does not expire while one is held.
#[derive(Debug)]
pub(crate) struct Active {
    sessions: Arc<Sessions>,
    id: String,
}

impl Active {
    /// Whether the session was opened at `path`: its endpoint, the only
    /// place where the server's answers speak for it.
    pub fn served_at(&self, path: &str) -> bool {
        let state = self.sessions.lock();
        state
            .bound
            .get(&self.id)
            .is_some_and(|binding| binding.route.uri.path() == path)
    }

    /// The session ended (the server accepted its `DELETE`, or no longer
    /// knows it): the binding goes. Returns where it was served, for the
    /// caller to end it at the server when the server's word was not final.
    pub fn end(&self) -> Option<Expired> {
        self.sessions.end(&self.id)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let mut state = self.sessions.lock();
        if let Some(binding) = state.bound.get_mut(&self.id) {
            binding.in_flight = binding.in_flight.saturating_sub(1);
            binding.last_seen = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn owner(subject: &str, client: &str) -> Owner {
        Owner {
            issuer: "https://as".into(),
            subject: subject.into(),
            client: Some(client.into()),
        }
    }

    fn route() -> Route {
        Route {
            uri: http::Uri::from_static("/mcp"),
            host: None,
        }
    }

    fn limits(total: usize, per: usize, idle_ms: u64) -> SessionLimits {
        SessionLimits {
            max_sessions: total,
            max_sessions_per_principal: per,
            idle_timeout: Duration::from_millis(idle_ms),
            retry_after: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_session_admits_its_owner_only() {
        let sessions = Sessions::new(SessionLimits::default());
        assert!(
            sessions
                .reserve(owner("alice", "app"))
                .unwrap()
                .bind("s1", route())
        );
        assert!(sessions.admit("s1", &owner("alice", "app")).is_some());
        assert!(sessions.admit("s1", &owner("bob", "app")).is_none());
        assert!(sessions.admit("s1", &owner("alice", "other-app")).is_none());
        let mut other_issuer = owner("alice", "app");
        other_issuer.issuer = "https://elsewhere".into();
        assert!(sessions.admit("s1", &other_issuer).is_none());
        assert!(sessions.admit("s2", &owner("alice", "app")).is_none());
    }

    #[test]
    fn limits_count_reservations_and_bindings_and_free_on_release() {
        let sessions = Sessions::new(limits(3, 2, 60_000));
        let a1 = sessions.reserve(owner("a", "c")).unwrap();
        let a2 = sessions.reserve(owner("a", "c")).unwrap();
        assert_eq!(
            sessions.reserve(owner("a", "c")).unwrap_err(),
            Full::Principal
        );
        assert!(a1.bind("x", route()));
        let b1 = sessions.reserve(owner("b", "c")).unwrap();
        assert_eq!(sessions.reserve(owner("c", "c")).unwrap_err(), Full::Total);
        drop(a2);
        drop(b1);
        // Released reservations free their places.
        assert!(
            sessions
                .reserve(owner("a", "c"))
                .unwrap()
                .bind("y", route())
        );
        assert_eq!(sessions.len(), 2);
        assert!(
            sessions
                .admit("x", &owner("a", "c"))
                .unwrap()
                .end()
                .is_some()
        );
        assert_eq!(sessions.len(), 1);
        assert!(sessions.reserve(owner("a", "c")).is_ok());
    }

    #[test]
    fn a_reused_id_keeps_its_first_owner() {
        let sessions = Sessions::new(SessionLimits::default());
        assert!(
            sessions
                .reserve(owner("a", "c"))
                .unwrap()
                .bind("x", route())
        );
        assert!(
            !sessions
                .reserve(owner("b", "c"))
                .unwrap()
                .bind("x", route())
        );
        assert!(sessions.admit("x", &owner("b", "c")).is_none());
        assert!(sessions.admit("x", &owner("a", "c")).is_some());
    }

    fn ids(expired: Vec<Expired>) -> Vec<String> {
        expired.into_iter().map(|e| e.id).collect()
    }

    #[test]
    fn idle_sessions_expire_but_not_while_a_request_is_in_flight() {
        let sessions = Sessions::new(limits(10, 10, 30));
        assert!(
            sessions
                .reserve(owner("a", "c"))
                .unwrap()
                .bind("busy", route())
        );
        assert!(
            sessions
                .reserve(owner("a", "c"))
                .unwrap()
                .bind("idle", route())
        );
        let held = sessions.admit("busy", &owner("a", "c")).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        // Not from a request to another path: its service is not theirs.
        assert!(sessions.sweep("/elsewhere").is_empty());
        assert_eq!(ids(sessions.sweep("/mcp")), ["idle"]);
        assert!(sessions.admit("idle", &owner("a", "c")).is_none());
        drop(held);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(ids(sessions.sweep("/mcp")), ["busy"]);
        assert_eq!(sessions.len(), 0);
        // Expired sessions free their owner's places.
        for _ in 0..10 {
            std::mem::forget(sessions.reserve(owner("a", "c")).unwrap());
        }
    }
}
