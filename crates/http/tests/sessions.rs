//! MCP sessions belong to the principal that opened them: another
//! principal, whatever its token, cannot post into a session, open its
//! stream or end it, and cannot tell another user's session from an id
//! never issued. The session table is bounded in count and in time.
//!
//! The server behind the layer is a small stateful MCP server that issues
//! session ids on `initialize`, answers 404 for ids it does not know, and
//! records every request it receives: the assertions read that record, not
//! only the answers the client gets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::*;
use mcp_policy_evaluator::Evaluator;
use mcp_policy_http::{HttpConfig, PolicyLayer, SessionLimits};
use serde_json::{Value, json};

/// What the server saw: (method, session id, JSON-RPC method).
#[derive(Clone, Default)]
struct Server {
    sessions: Arc<Mutex<HashSet<String>>>,
    next: Arc<Mutex<u64>>,
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    /// How long an `initialize` takes after its session is made (rmcp
    /// makes the session, then waits for the handler's answer).
    initialize_delay: Arc<Mutex<Duration>>,
}

impl Server {
    fn seen(&self) -> Vec<(String, String, String)> {
        self.seen.lock().unwrap().clone()
    }
    fn deleted(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|(method, _, _)| method == "DELETE")
            .map(|(_, session, _)| session)
            .collect()
    }
}

async fn mcp(
    State(server): State<Server>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = headers
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rpc = message["method"].as_str().unwrap_or("").to_owned();
    server.seen.lock().unwrap().push((
        method.to_string(),
        session.clone().unwrap_or_default(),
        rpc.clone(),
    ));
    let Some(session) = session else {
        if rpc != "initialize" {
            return StatusCode::BAD_REQUEST.into_response();
        }
        let id = {
            let mut next = server.next.lock().unwrap();
            *next += 1;
            format!("session-{next}")
        };
        server.sessions.lock().unwrap().insert(id.clone());
        let delay = *server.initialize_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let answer = json!({"jsonrpc": "2.0", "id": message["id"],
                            "result": {"protocolVersion": "2025-06-18", "capabilities": {},
                                       "serverInfo": {"name": "t", "version": "0"}}});
        return (
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::HeaderName::from_static("mcp-session-id"), id),
            ],
            answer.to_string(),
        )
            .into_response();
    };
    if !server.sessions.lock().unwrap().contains(&session) {
        return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
    }
    match method {
        Method::DELETE => {
            server.sessions.lock().unwrap().remove(&session);
            StatusCode::ACCEPTED.into_response()
        }
        Method::GET => (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from(": stream open\n\n"),
        )
            .into_response(),
        _ => {
            let answer = json!({"jsonrpc": "2.0", "id": message["id"],
                "result": {"content": [{"type": "text", "text": "ok"}], "isError": false}});
            (
                [(header::CONTENT_TYPE, "application/json")],
                answer.to_string(),
            )
                .into_response()
        }
    }
}

struct Setup {
    url: String,
    layer: PolicyLayer,
    server: Server,
    key: aws_lc_rs::signature::RsaKeyPair,
    client: reqwest::Client,
}

async fn start(limits: SessionLimits) -> Setup {
    let key = rsa("rsa-1.pem");
    let mut config = HttpConfig::new([ISS]);
    config.sessions = limits;
    let layer = PolicyLayer::new(
        validator_for(&key),
        Evaluator::from_source(POLICY).unwrap(),
        config,
    )
    .unwrap();
    let server = Server::default();
    let app = Router::new()
        .route("/mcp", axum::routing::post(mcp).get(mcp).delete(mcp))
        .with_state(server.clone())
        .layer(layer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Setup {
        url: format!("http://{address}/mcp"),
        layer,
        server,
        key,
        client: reqwest::Client::new(),
    }
}

impl Setup {
    /// A token with these claims over the usual ones (`sub` user-1,
    /// `client_id` app-7).
    fn token(&self, extra: Value) -> String {
        let mut claims = claims_now("mcp:read");
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
        sign_with(&header, &claims, |message| {
            rsa_sign(&self.key, &signature::RSA_PKCS1_SHA256, message)
        })
    }

    fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        session: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, &self.url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        request
    }

    async fn initialize(&self, token: &str) -> reqwest::Response {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "test", "version": "0"}}});
        self.send(reqwest::Method::POST, token, None, Some(&body))
            .send()
            .await
            .unwrap()
    }

    async fn open(&self, token: &str) -> String {
        let response = self.initialize(token).await;
        assert_eq!(response.status(), 200);
        response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    async fn call(&self, token: &str, session: &str) -> reqwest::Response {
        self.send(
            reqwest::Method::POST,
            token,
            Some(session),
            Some(&call(1, "search")),
        )
        .send()
        .await
        .unwrap()
    }
}

async fn status_and_body(response: reqwest::Response) -> (u16, String) {
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn another_principal_cannot_post_stream_or_end_a_session() {
    let s = start(SessionLimits::default()).await;
    let alice = s.token(json!({"sub": "alice"}));
    let session = s.open(&alice).await;
    assert_eq!(s.call(&alice, &session).await.status(), 200);
    let before = s.server.seen().len();

    // Bob's token is valid, and holds no scope at all.
    let bob = s.token(json!({"sub": "bob", "scope": ""}));
    let unknown = s.call(&bob, "session-999").await;
    let unknown = status_and_body(unknown).await;
    assert_eq!(unknown.0, 404);
    let posted = status_and_body(s.call(&bob, &session).await).await;
    let streamed = s
        .send(reqwest::Method::GET, &bob, Some(&session), None)
        .send()
        .await
        .unwrap();
    let streamed = status_and_body(streamed).await;
    let ended = s
        .send(reqwest::Method::DELETE, &bob, Some(&session), None)
        .send()
        .await
        .unwrap();
    let ended = status_and_body(ended).await;
    // Indistinguishable from an id never issued: nothing to probe.
    assert_eq!(posted, unknown);
    assert_eq!(streamed, unknown);
    assert_eq!(ended, unknown);
    // None of it reached the server.
    assert_eq!(s.server.seen().len(), before, "{:?}", s.server.seen());

    // The same subject through another client, or from another issuer, is
    // another principal too.
    let other_client = s.token(json!({"sub": "alice", "client_id": "other-app"}));
    assert_eq!(s.call(&other_client, &session).await.status(), 404);
    let azp_only = s.token(json!({"sub": "alice", "client_id": null, "azp": "app-7"}));
    // `azp` stands for the client when `client_id` is absent: the same one.
    assert_eq!(s.call(&azp_only, &session).await.status(), 200);

    // The owner's session is intact.
    assert_eq!(s.call(&alice, &session).await.status(), 200);
    let stream = s
        .send(reqwest::Method::GET, &alice, Some(&session), None)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.text().await.unwrap(), ": stream open\n\n");
}

#[tokio::test]
async fn a_refreshed_token_of_the_same_user_keeps_the_session() {
    let s = start(SessionLimits::default()).await;
    let first = s.token(json!({"sub": "alice", "scope": "mcp:read"}));
    let session = s.open(&first).await;
    // A new token: other scopes (a step-up), other times, same principal.
    let refreshed = s.token(json!({"sub": "alice", "scope": "mcp:read mcp:write",
                                   "iat": now() - 5, "exp": now() + 7200}));
    assert_ne!(first, refreshed);
    assert_eq!(s.call(&refreshed, &session).await.status(), 200);
    // And the owner may end it; then it is gone for everyone.
    let ended = s
        .send(reqwest::Method::DELETE, &refreshed, Some(&session), None)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 202);
    assert_eq!(s.layer.session_count(), 0);
    assert_eq!(s.call(&first, &session).await.status(), 404);
    assert_eq!(s.server.deleted(), [session]);
}

#[tokio::test]
async fn new_sessions_past_the_limits_get_503_with_retry_after() {
    let s = start(SessionLimits {
        max_sessions: 3,
        max_sessions_per_principal: 2,
        ..SessionLimits::default()
    })
    .await;
    let alice = s.token(json!({"sub": "alice"}));
    let a1 = s.open(&alice).await;
    s.open(&alice).await;
    let refused = s.initialize(&alice).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "10");
    let answer = json_of(refused).await;
    assert_eq!(answer["id"], 0);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this principal")
    );

    // Others are not held back by alice's limit, only by the total.
    let bob = s.token(json!({"sub": "bob"}));
    s.open(&bob).await;
    let carol = s.token(json!({"sub": "carol"}));
    assert_eq!(s.initialize(&carol).await.status(), 503);
    let initializes = |seen: Vec<(String, String, String)>| {
        seen.iter()
            .filter(|(_, _, rpc)| rpc == "initialize")
            .count()
    };
    // The refused ones never reached the server.
    assert_eq!(initializes(s.server.seen()), 3);

    // Ending a session makes room.
    let ended = s
        .send(reqwest::Method::DELETE, &alice, Some(&a1), None)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 202);
    s.open(&carol).await;
    assert_eq!(s.layer.session_count(), 3);
}

#[tokio::test]
async fn many_clients_opening_sessions_at_once_never_exceed_the_limit() {
    let s = Arc::new(
        start(SessionLimits {
            max_sessions: 20,
            max_sessions_per_principal: 20,
            ..SessionLimits::default()
        })
        .await,
    );
    let token = s.token(json!({"sub": "alice"}));
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let (s, token) = (Arc::clone(&s), token.clone());
        tasks.push(tokio::spawn(async move {
            s.initialize(&token).await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 20);
    assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), 40);
    assert_eq!(s.layer.session_count(), 20);
}

#[tokio::test]
async fn idle_sessions_expire_and_are_ended_at_the_server() {
    let s = start(SessionLimits {
        // Wide margins both ways: on a loaded CI machine, 150 ms left too
        // little room for the call that must come before the timeout.
        idle_timeout: Duration::from_millis(1000),
        max_sessions_per_principal: 1,
        ..SessionLimits::default()
    })
    .await;
    let alice = s.token(json!({"sub": "alice"}));
    let session = s.open(&alice).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Used before the timeout: still alive.
    assert_eq!(s.call(&alice, &session).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Idle past the timeout: forgotten on the next request, whoever sends it.
    let bob = s.token(json!({"sub": "bob"}));
    s.open(&bob).await;
    assert_eq!(s.call(&alice, &session).await.status(), 404);
    // The layer ended it at the server as well, and alice has room again.
    for _ in 0..50 {
        if s.server.deleted().contains(&session) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.server.deleted(), [session]);
    s.open(&alice).await;
}

#[tokio::test]
async fn a_session_the_server_forgot_is_forgotten_by_the_layer() {
    let s = start(SessionLimits {
        max_sessions_per_principal: 1,
        ..SessionLimits::default()
    })
    .await;
    let alice = s.token(json!({"sub": "alice"}));
    let session = s.open(&alice).await;
    s.server.sessions.lock().unwrap().clear();
    assert_eq!(s.call(&alice, &session).await.status(), 404);
    // Its place is free again.
    assert_eq!(s.layer.session_count(), 0);
    s.open(&alice).await;
}

#[tokio::test]
async fn two_session_headers_are_a_bad_request() {
    let s = start(SessionLimits::default()).await;
    let alice = s.token(json!({"sub": "alice"}));
    let session = s.open(&alice).await;
    let response = s
        .send(
            reqwest::Method::POST,
            &alice,
            Some(&session),
            Some(&call(1, "search")),
        )
        .header("mcp-session-id", "session-2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

/// Attack: the owner makes the layer forget a session the server still
/// holds, to open sessions past the limits. A 404 from another path (the
/// router's fallback, not the MCP endpoint's "unknown session") used to
/// end the binding without ending the session: each round left one more
/// server session outside the layer's count.
#[tokio::test]
async fn a_404_from_another_path_does_not_free_a_session_the_server_still_holds() {
    let s = start(SessionLimits {
        max_sessions_per_principal: 1,
        ..SessionLimits::default()
    })
    .await;
    let alice = s.token(json!({"sub": "alice"}));
    let session = s.open(&alice).await;
    let elsewhere = s
        .client
        .get(s.url.replace("/mcp", "/no-such-path"))
        .bearer_auth(&alice)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    // The session is alive at the server, so it still counts: no second
    // one past the limit of one.
    assert_eq!(s.layer.session_count(), 1);
    assert_eq!(s.initialize(&alice).await.status(), 503);
    assert_eq!(s.call(&alice, &session).await.status(), 200);
    // A 404 at the session's own endpoint does end it, at the server too
    // (the layer sends the DELETE itself: it cannot tell "unknown session"
    // from any other 404, and an extra DELETE costs nothing).
    s.server.sessions.lock().unwrap().clear();
    assert_eq!(s.call(&alice, &session).await.status(), 404);
    assert_eq!(s.layer.session_count(), 0);
    s.open(&alice).await;
}

/// Attack: a DELETE accepted by another path (not the session's endpoint)
/// does not end the session at the server either.
#[tokio::test]
async fn a_delete_accepted_elsewhere_does_not_free_the_session() {
    let key = rsa("rsa-1.pem");
    let mut config = HttpConfig::new([ISS]);
    config.sessions = SessionLimits {
        max_sessions_per_principal: 1,
        ..SessionLimits::default()
    };
    let layer = PolicyLayer::new(
        validator_for(&key),
        Evaluator::from_source(POLICY).unwrap(),
        config,
    )
    .unwrap();
    let server = Server::default();
    let app = Router::new()
        .route("/mcp", axum::routing::post(mcp).get(mcp).delete(mcp))
        .route("/other", axum::routing::delete(|| async { "gone\n" }))
        .with_state(server.clone())
        .layer(layer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let s = Setup {
        url: format!("http://{address}/mcp"),
        layer,
        server,
        key,
        client: reqwest::Client::new(),
    };
    let alice = s.token(json!({"sub": "alice"}));
    let session = s.open(&alice).await;
    let other = s
        .client
        .delete(format!("http://{address}/other"))
        .bearer_auth(&alice)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    for _ in 0..100 {
        if s.server.deleted().contains(&session) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let live = s.server.sessions.lock().unwrap().len();
    assert!(
        live <= s.layer.session_count(),
        "server {live}, layer {}",
        s.layer.session_count()
    );
}

/// Attack: a client sends `initialize` and leaves before the answer. The
/// server has made the session by then; the layer, whose request future is
/// dropped with the connection, used to release its reservation and never
/// learn the id: a server session outside every limit, one per round.
#[tokio::test]
async fn a_client_leaving_during_initialize_leaves_no_session_uncounted() {
    let s = start(SessionLimits {
        max_sessions_per_principal: 3,
        ..SessionLimits::default()
    })
    .await;
    *s.server.initialize_delay.lock().unwrap() = Duration::from_millis(300);
    let alice = s.token(json!({"sub": "alice"}));
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "0"}}});
    for _ in 0..3 {
        let left = s
            .send(reqwest::Method::POST, &alice, None, Some(&body))
            .timeout(Duration::from_millis(100))
            .send()
            .await;
        assert!(left.is_err(), "the client was meant to leave first");
    }
    // Every session the server made is ended there as soon as its answer
    // finds nobody to take it.
    for _ in 0..200 {
        if s.server.deleted().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut deleted = s.server.deleted();
    deleted.sort();
    assert_eq!(deleted, ["session-1", "session-2", "session-3"]);
    assert_eq!(s.server.sessions.lock().unwrap().len(), 0);
    assert_eq!(s.layer.session_count(), 0);
    // And the principal still gets a session afterwards.
    *s.server.initialize_delay.lock().unwrap() = Duration::ZERO;
    s.open(&alice).await;
}

/// Attack: session ids shaped by hand. Another principal gets the same 404
/// for every spelling of the owner's id (header name in any case, the id
/// padded, cased, doubled in one value, with bytes past ASCII, empty, or
/// 60 KB long), and nothing of it reaches the server; the owner gets in
/// only with the id exactly as issued.
#[tokio::test]
async fn hand_shaped_session_ids_reach_nothing() {
    let s = start(SessionLimits::default()).await;
    let alice = s.token(json!({"sub": "alice"}));
    let bob = s.token(json!({"sub": "bob"}));
    let session = s.open(&alice).await;
    let before = s.server.seen().len();
    let huge = "a".repeat(60_000);
    let mut odd = session.clone().into_bytes();
    odd.push(0xff);
    let values: Vec<Vec<u8>> = vec![
        session.clone().into_bytes(),
        format!("  {session}  ").into_bytes(),
        format!("{session}\t").into_bytes(),
        session.to_uppercase().into_bytes(),
        format!("{session}, {session}").into_bytes(),
        odd,
        Vec::new(),
        huge.into_bytes(),
    ];
    let send = |token: &str, value: &[u8]| {
        s.send(reqwest::Method::POST, token, None, Some(&call(1, "search")))
            .header(
                "mcp-session-id",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .send()
    };
    for value in &values {
        let answer = send(&bob, value).await.unwrap();
        assert_eq!(answer.status(), 404, "{:?}", String::from_utf8_lossy(value));
    }
    // Header names arrive in any case on the wire; raw, to be sure.
    let address = s.url.trim_start_matches("http://").trim_end_matches("/mcp");
    let body = call(1, "search").to_string();
    for (token, expected) in [(&bob, "404"), (&alice, "200")] {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
             MCP-SESSION-ID: {session}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{answer}"
        );
    }
    // Only alice's own request reached the server.
    assert_eq!(s.server.seen().len(), before + 1, "{:?}", s.server.seen());
    // The owner, with anything but the id as issued (surrounding blanks
    // aside, which HTTP strips), is refused alike.
    for value in &values[3..] {
        let answer = send(&alice, value).await.unwrap();
        assert_eq!(answer.status(), 404, "{:?}", String::from_utf8_lossy(value));
    }
    for padded in &values[1..3] {
        assert_eq!(send(&alice, padded).await.unwrap().status(), 200);
    }
}

/// Attack (found on the example server with rmcp): with the layer applied
/// per route (`Router::layer`), the service behind it is that route's
/// alone. An idle session found by a request to another path (the
/// metadata document, which anyone may fetch, or any unknown path) had its
/// DELETE sent through that other route: to the 404 fallback, never to the
/// MCP endpoint. The layer forgot the session; the server kept it.
#[tokio::test]
async fn an_expired_session_is_ended_through_its_own_endpoint() {
    let key = rsa("rsa-1.pem");
    let mut config = HttpConfig::new([ISS]);
    config.sessions = SessionLimits {
        idle_timeout: Duration::from_millis(150),
        ..SessionLimits::default()
    };
    let layer = PolicyLayer::new(
        validator_for(&key),
        Evaluator::from_source(POLICY).unwrap(),
        config,
    )
    .unwrap();
    let server = Server::default();
    let app = Router::new()
        .route("/mcp", axum::routing::any(mcp))
        .with_state(server.clone())
        .layer(layer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let s = Setup {
        url: format!("http://{address}/mcp"),
        layer,
        server,
        key,
        client: reqwest::Client::new(),
    };
    let alice = s.token(json!({"sub": "alice"}));
    let session = s.open(&alice).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Requests elsewhere, unauthenticated: the metadata, an unknown path.
    for path in ["/.well-known/oauth-protected-resource/mcp", "/nowhere"] {
        let _ = s
            .client
            .get(format!("http://{address}{path}"))
            .send()
            .await
            .unwrap();
    }
    // And one to the endpoint, by someone else.
    let bob = s.token(json!({"sub": "bob"}));
    s.open(&bob).await;
    for _ in 0..100 {
        if s.server.deleted().contains(&session) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.server.deleted(), [session]);
    assert_eq!(s.server.sessions.lock().unwrap().len(), 1);
}
