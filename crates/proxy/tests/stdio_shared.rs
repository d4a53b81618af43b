//! `mcp-policy proxy --stdio-mode shared -- COMMAND`: one child (the Node
//! fixture, tests/fixtures/stdio-server.mjs, which records every message it
//! receives) for every session, its messages multiplexed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use common::{call, claims_now, json_of, list, names, rsa_sign, sign, sign_with};
use mcp_policy_proxy::{AnyUpstream, SharedUpstream, StdioConfig, StdioMode, Upstream};
use serde_json::{Value, json};
use support::{Running, initialize, start_proxy};

/// A shared stdio upstream whose child records what it receives in a file
/// of its own.
fn shared() -> (Upstream, PathBuf) {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let record = std::env::temp_dir().join(format!(
        "mcp-policy-shared-record-{}-{n}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&record);
    let script = format!(
        "{}/tests/fixtures/stdio-server.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut config = StdioConfig::new(vec![
        "node".into(),
        script,
        "--record".into(),
        record.display().to_string(),
    ]);
    config.mode = StdioMode::Shared;
    (Upstream::Stdio(config), record)
}

/// What reached the child, in order.
fn received(record: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn upstream(proxy: &Running) -> &SharedUpstream {
    match &proxy.upstream {
        AnyUpstream::Shared(shared) => shared,
        _ => panic!("not a shared stdio upstream"),
    }
}

/// A token for another principal than `sign`'s `user-1`.
fn token_of(proxy: &Running, subject: &str, scope: &str) -> String {
    let mut claims = claims_now(scope);
    claims["sub"] = json!(subject);
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
    sign_with(&header, &claims, |message| {
        rsa_sign(&proxy.key, &aws_lc_rs::signature::RSA_PKCS1_SHA256, message)
    })
}

async fn open_with(proxy: &Running, token: &str, id: Value) -> (String, Value) {
    let mut message = initialize();
    message["id"] = id;
    let response = proxy.post(token, None, &message).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer = json_of(response).await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = proxy
        .post(token, Some(&session), &initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    (session, answer)
}

async fn open(proxy: &Running, token: &str) -> String {
    open_with(proxy, token, json!(0)).await.0
}

fn echo(id: Value, text: &str, delay: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "debug_echo", "arguments": {"text": text, "delay": delay}}})
}

fn echoed(answer: &Value) -> Value {
    serde_json::from_str(answer["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn two_principals_sending_the_same_ids_get_their_own_answers() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert_eq!(upstream(&proxy).children(), 1);

    // Both send id 1 (a number), and both send id "1" (a string), at once;
    // the child answers in the opposite order (the first waits longest).
    let (one, two, three, four) = tokio::join!(
        async {
            json_of(
                proxy
                    .post(&alice, Some(&a), &echo(json!(1), "alice number", 300))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        },
        async {
            json_of(
                proxy
                    .post(&bob, Some(&b), &echo(json!(1), "bob number", 200))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        },
        async {
            json_of(
                proxy
                    .post(&alice, Some(&a), &echo(json!("1"), "alice string", 100))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        },
        async {
            json_of(
                proxy
                    .post(&bob, Some(&b), &echo(json!("1"), "bob string", 0))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        },
    );
    assert_eq!(one["id"], json!(1));
    assert_eq!(echoed(&one)["text"], "alice number");
    assert_eq!(two["id"], json!(1));
    assert_eq!(echoed(&two)["text"], "bob number");
    assert_eq!(three["id"], json!("1"));
    assert_eq!(echoed(&three)["text"], "alice string");
    assert_eq!(four["id"], json!("1"));
    assert_eq!(echoed(&four)["text"], "bob string");
    // The child saw four distinct ids, none of them the clients'.
    let seen: Vec<Value> = [&one, &two, &three, &four]
        .iter()
        .map(|answer| echoed(answer)["seen"].clone())
        .collect();
    for (i, id) in seen.iter().enumerate() {
        assert!(id.is_u64(), "{id}");
        assert!(!seen[..i].contains(id), "{seen:?}");
    }

    // Exact values come back: a large number and an odd string.
    let big = json_of(
        proxy
            .post(
                &alice,
                Some(&a),
                &echo(json!(9_007_199_254_740_993_u64), "x", 0),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(big["id"], json!(9_007_199_254_740_993_u64));
    let odd = json_of(
        proxy
            .post(&bob, Some(&b), &echo(json!("01 \"é\""), "x", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(odd["id"], json!("01 \"é\""));

    // A session is bound to its principal: bob cannot use alice's.
    let stolen = proxy
        .post(&bob, Some(&a), &echo(json!(5), "x", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 404);
    assert_eq!(
        received(&record)
            .iter()
            .filter(|m| m["method"] == "tools/call")
            .count(),
        6
    );
}

#[tokio::test]
async fn later_sessions_are_initialized_from_the_first_answer() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let (first, answer) = open_with(&proxy, &token, json!(0)).await;
    assert_eq!(answer["id"], 0);
    assert_eq!(answer["result"]["serverInfo"]["name"], "stdio-test");
    let pid = upstream(&proxy).child_id().unwrap();

    let mut sessions = vec![first];
    for id in [json!("init-2"), json!(7)] {
        let (session, later) = open_with(&proxy, &token, id.clone()).await;
        assert_eq!(later["id"], id);
        assert_eq!(later["result"], answer["result"]);
        sessions.push(session);
    }
    assert_eq!(upstream(&proxy).child_id(), Some(pid));
    assert_eq!(upstream(&proxy).sessions(), 3);

    // A second initialize on a session never reaches the child.
    let again = json_of(
        proxy
            .post(&token, Some(&sessions[1]), &initialize())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(again["error"]["code"], -32600);

    // The child reads its lines in order: once this call is answered,
    // everything sent before it is in its record.
    let answered = json_of(
        proxy
            .post(&token, Some(&sessions[2]), &echo(json!(1), "sync", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed(&answered)["text"], "sync");
    let methods: Vec<String> = received(&record)
        .iter()
        .filter_map(|m| m["method"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        methods,
        ["initialize", "notifications/initialized", "tools/call"]
    );

    // DELETE ends a session, not the child.
    let ended = proxy.delete(&token, &sessions[0]).send().await.unwrap();
    assert_eq!(ended.status(), 202);
    assert_eq!(upstream(&proxy).children(), 1);
    let still = json_of(
        proxy
            .post(&token, Some(&sessions[2]), &echo(json!(1), "on", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed(&still)["text"], "on");
}

#[tokio::test]
async fn concurrent_first_sessions_start_one_child() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let opened = open_at_once(&proxy, &token, 8).await;
    assert_eq!(opened, 8);
    assert_eq!(upstream(&proxy).children(), 1);
    let initializes = received(&record)
        .iter()
        .filter(|m| m["method"] == "initialize")
        .count();
    assert_eq!(initializes, 1);
}

async fn open_at_once(proxy: &Running, token: &str, n: usize) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let request = proxy.post(token, None, &initialize());
        tasks.spawn(async move { request.send().await.unwrap().status() });
    }
    let mut opened = 0;
    while let Some(status) = tasks.join_next().await {
        if status.unwrap() == 200 {
            opened += 1;
        }
    }
    opened
}

#[tokio::test]
async fn the_policy_still_denies_and_the_child_never_sees_it() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let reader = token_of(&proxy, "reader", "mcp:read");
    let writer = token_of(&proxy, "writer", "mcp:write");
    let r = open(&proxy, &reader).await;
    let w = open(&proxy, &writer).await;

    let listed = json_of(
        proxy
            .post(&reader, Some(&r), &list(1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        names(&listed["result"]["tools"]),
        ["search", "debug_echo", "debug_sample", "debug_crash"]
    );
    let denied = proxy
        .post(&reader, Some(&r), &call(2, "create_issue"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let denied = proxy
        .post(&writer, Some(&w), &call(2, "delete_repo"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let allowed = json_of(
        proxy
            .post(&writer, Some(&w), &call(3, "create_issue"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(allowed["result"].is_object(), "{allowed}");

    let called: Vec<String> = received(&record)
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .map(|m| m["params"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(called, ["create_issue"]);
}

#[tokio::test]
async fn a_crash_fails_every_session_and_the_next_initialize_starts_a_child() {
    let (config, _record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    let before = upstream(&proxy).child_id().unwrap();

    // Bob waits on the child when alice crashes it.
    let waiting = proxy
        .post(&bob, Some(&b), &echo(json!("w"), "late", 2_000))
        .send();
    let waiting = tokio::spawn(waiting);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let crashed = json_of(
        proxy
            .post(&alice, Some(&a), &call(1, "debug_crash"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(crashed["id"], 1);
    assert_eq!(crashed["error"]["message"], "the upstream process exited");
    let late = json_of(waiting.await.unwrap().unwrap()).await;
    assert_eq!(late["id"], "w");
    assert_eq!(late["error"]["message"], "the upstream process exited");

    for (token, session) in [(&alice, &a), (&bob, &b)] {
        let after = proxy
            .post(token, Some(session), &echo(json!(2), "x", 0))
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), 404);
    }
    assert_eq!(upstream(&proxy).children(), 0);
    assert_eq!(upstream(&proxy).sessions(), 0);

    let (again, answer) = open_with(&proxy, &bob, json!(3)).await;
    assert_eq!(answer["result"]["serverInfo"]["name"], "stdio-test");
    let after = upstream(&proxy).child_id().unwrap();
    assert_ne!(before, after);
    let fine = json_of(
        proxy
            .post(&bob, Some(&again), &echo(json!(4), "new", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed(&fine)["text"], "new");
}

async fn next_event(stream: &mut reqwest::Response, seen: &mut String) -> Value {
    loop {
        if let Some(at) = seen.find("\n\n") {
            let event: String = seen.drain(..at + 2).collect();
            let data = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap();
            return serde_json::from_str(data).unwrap();
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("no event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn get_stream(proxy: &Running, token: &str, session: &str) -> reqwest::Response {
    let stream = proxy.stream(token, session).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    stream
}

/// A call that makes the child ask for sampling: the request reaches this
/// session's GET stream, and this session's answer completes the call.
async fn sampling_reaches(proxy: &Running, token: &str, session: &str) {
    let mut stream = get_stream(proxy, token, session).await;
    let mut seen = String::new();
    let pending = tokio::spawn(
        proxy
            .post(token, Some(session), &call(7, "debug_sample"))
            .send(),
    );
    let asked = next_event(&mut stream, &mut seen).await;
    assert_eq!(asked["method"], "sampling/createMessage");
    let reply = json!({"jsonrpc": "2.0", "id": asked["id"],
        "result": {"role": "assistant", "content": {"type": "text", "text": "ok"}, "model": "t"}});
    let posted = proxy
        .post(token, Some(session), &reply)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let result = json_of(pending.await.unwrap().unwrap()).await;
    assert_eq!(result["result"]["content"][0]["text"], "sampled: ok");
}

#[tokio::test]
async fn what_the_child_starts_goes_where_it_belongs() {
    let (config, _record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    let mut a_stream = get_stream(&proxy, &alice, &a).await;
    let mut b_stream = get_stream(&proxy, &bob, &b).await;
    let (mut a_seen, mut b_seen) = (String::new(), String::new());

    // Progress goes to the session whose request carries the token, with
    // the client's own token (to its GET stream for a client that takes
    // JSON answers only: see progress_comes_on_its_requests_answer for the
    // others); list_changed goes to every session.
    let mut request = echo(json!(1), "p", 0);
    request["params"]["_meta"] = json!({"progressToken": "alice-token"});
    request["params"]["arguments"]["list_changed"] = json!(true);
    let answer = json_of(
        proxy
            .client
            .post(&proxy.url)
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-session-id", &a)
            .body(request.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(echoed(&answer)["token"].is_u64(), "{answer}");
    let first = next_event(&mut a_stream, &mut a_seen).await;
    assert_eq!(first["method"], "notifications/tools/list_changed");
    let progress = next_event(&mut a_stream, &mut a_seen).await;
    assert_eq!(progress["method"], "notifications/progress");
    assert_eq!(progress["params"]["progressToken"], "alice-token");
    let bobs = next_event(&mut b_stream, &mut b_seen).await;
    assert_eq!(bobs["method"], "notifications/tools/list_changed");

    // A request of the child's, while only bob's request is in flight: to
    // bob, and only bob's answer is taken.
    let pending = tokio::spawn(proxy.post(&bob, Some(&b), &call(7, "debug_sample")).send());
    let asked = next_event(&mut b_stream, &mut b_seen).await;
    assert_eq!(asked["method"], "sampling/createMessage");
    let reply = |text: &str| {
        json!({"jsonrpc": "2.0", "id": asked["id"],
               "result": {"role": "assistant", "content": {"type": "text", "text": text},
                          "model": "test"}})
    };
    // Alice answering bob's request is dropped.
    let forged = proxy
        .post(&alice, Some(&a), &reply("from alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 202);
    let posted = proxy
        .post(&bob, Some(&b), &reply("from bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let result = json_of(pending.await.unwrap().unwrap()).await;
    assert_eq!(result["id"], 7);
    assert_eq!(result["result"]["content"][0]["text"], "sampled: from bob");

    // With requests of two sessions in flight, nobody can tell whose it
    // is: the child is refused, no client sees it.
    let slow = tokio::spawn(
        proxy
            .post(&alice, Some(&a), &echo(json!(8), "slow", 1_000))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = json_of(
        proxy
            .post(&bob, Some(&b), &call(9, "debug_sample"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        refused["result"]["content"][0]["text"],
        "refused: the proxy cannot tell which session this request is for"
    );
    assert_eq!(
        echoed(&json_of(slow.await.unwrap().unwrap()).await)["text"],
        "slow"
    );
    // Neither stream got it (nor the fixture's progress without a token,
    // which belongs to no request).
    for stream in [&mut a_stream, &mut b_stream] {
        let quiet = tokio::time::timeout(Duration::from_millis(300), stream.chunk()).await;
        assert!(quiet.is_err(), "{quiet:?}");
    }
    assert!(a_seen.is_empty() && b_seen.is_empty(), "{a_seen} {b_seen}");
}

#[tokio::test]
async fn a_cancellation_names_the_rewritten_id_and_only_its_own_sessions() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    let slow = tokio::spawn(
        proxy
            .post(&alice, Some(&a), &echo(json!("c"), "slow", 800))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cancel = |id: &str| {
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": id, "reason": "test"}})
    };
    // Bob names alice's id: no request of his, so nothing reaches the child.
    let posted = proxy
        .post(&bob, Some(&b), &cancel("c"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let posted = proxy
        .post(&alice, Some(&a), &cancel("c"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let answer = json_of(slow.await.unwrap().unwrap()).await;
    assert_eq!(answer["id"], "c");

    let received = received(&record);
    let call = received
        .iter()
        .find(|m| m["method"] == "tools/call")
        .unwrap();
    let cancels: Vec<&Value> = received
        .iter()
        .filter(|m| m["method"] == "notifications/cancelled")
        .collect();
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0]["params"]["requestId"], call["id"]);
    assert!(call["id"].is_u64());
}

// ---- attacks on the shared child (a hostile client with a valid token) ----

fn with_timeout(config: Upstream, timeout: Duration) -> Upstream {
    match config {
        Upstream::Stdio(mut stdio) => {
            stdio.request_timeout = timeout;
            Upstream::Stdio(stdio)
        }
        _ => panic!("not stdio"),
    }
}

#[tokio::test]
async fn a_batch_the_child_ignores_waits_one_timeout_not_one_per_request() {
    let (config, _record) = shared();
    let config = with_timeout(config, Duration::from_millis(400));
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let a = open(&proxy, &alice).await;
    let batch: Vec<Value> = (0..8).map(|i| echo(json!(i), "late", 5_000)).collect();
    let started = std::time::Instant::now();
    let answers = json_of(
        proxy
            .post(&alice, Some(&a), &Value::Array(batch))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let took = started.elapsed();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 8);
    for answer in answers {
        assert_eq!(answer["error"]["message"], "upstream timed out", "{answer}");
    }
    // Eight timeouts in turn would be 3.2 s.
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    assert_eq!(upstream(&proxy).in_flight(), 0);
}

#[tokio::test]
async fn a_client_that_hangs_up_leaves_nothing_pending() {
    let (config, _record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    for i in 0..20 {
        let gone = proxy
            .post(&alice, Some(&a), &echo(json!(i), "never read", 10_000))
            .timeout(Duration::from_millis(100))
            .send()
            .await;
        assert!(gone.is_err());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Nothing waits on the child any more: no entry per hang-up...
    assert_eq!(upstream(&proxy).in_flight(), 0);
    // ...and the child's request for bob's call is routed to bob, not
    // refused as if alice's abandoned calls were still in flight.
    sampling_reaches(&proxy, &bob, &b).await;
}

#[tokio::test]
async fn initialize_as_a_notification_never_reaches_the_child() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let a = open(&proxy, &alice).await;
    let mut again = initialize();
    again.as_object_mut().unwrap().remove("id");
    let response = proxy.post(&alice, Some(&a), &again).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut batch_again = initialize();
    batch_again["id"] = json!(5);
    let batch = json!([again, batch_again, echo(json!(6), "after", 0)]);
    let answers = json_of(proxy.post(&alice, Some(&a), &batch).send().await.unwrap()).await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0]["error"]["code"], -32600);
    assert_eq!(echoed(&answers[1])["text"], "after");
    let initializes = received(&record)
        .iter()
        .filter(|m| m["method"] == "initialize")
        .count();
    assert_eq!(initializes, 1);
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|s| !s.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn a_first_initialize_abandoned_leaves_no_child_behind() {
    // A child slow to start (an npx download): the first client hangs up
    // while it starts, again and again.
    let (config, _record) = shared();
    let config = match config {
        Upstream::Stdio(mut stdio) => {
            let command = stdio.command.join(" ");
            stdio.command = vec![
                "sh".into(),
                "-c".into(),
                format!("sleep 0.5; exec {command}"),
            ];
            Upstream::Stdio(stdio)
        }
        _ => unreachable!(),
    };
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let mut pids = Vec::new();
    for _ in 0..3 {
        let gone = proxy
            .post(&alice, None, &initialize())
            .timeout(Duration::from_millis(100))
            .send()
            .await;
        assert!(gone.is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        pids.extend(upstream(&proxy).child_id());
    }
    let a = open(&proxy, &alice).await;
    assert!(!a.is_empty());
    let current = upstream(&proxy).child_id().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let orphans: Vec<u32> = pids
        .into_iter()
        .filter(|pid| *pid != current && alive(*pid))
        .collect();
    assert!(orphans.is_empty(), "children nobody uses: {orphans:?}");
}

#[tokio::test]
async fn a_child_that_stops_reading_cannot_hold_every_session_past_the_timeout() {
    // Answers initialize, then never reads its stdin again.
    let deaf = r#"
const rl = require("readline").createInterface({ input: process.stdin });
rl.once("line", (line) => {
  const m = JSON.parse(line);
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: {
    protocolVersion: "2025-06-18", capabilities: { tools: {} },
    serverInfo: { name: "deaf", version: "1" } } }) + "\n");
  rl.close();
  process.stdin.pause();
  setInterval(() => {}, 1000);
});
"#;
    let mut config = StdioConfig::new(vec!["node".into(), "-e".into(), deaf.into()]);
    config.mode = StdioMode::Shared;
    config.request_timeout = Duration::from_millis(500);
    let proxy = start_proxy(Upstream::Stdio(config), |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    // More than a pipe holds (64 KiB), within the 1 MiB a body may have.
    let padding = "x".repeat(900);
    let batch: Vec<Value> = (0..600).map(|i| echo(json!(i), &padding, 0)).collect();
    let started = std::time::Instant::now();
    let (alices, bobs) = tokio::join!(
        proxy
            .post(&alice, Some(&a), &Value::Array(batch))
            .timeout(Duration::from_secs(5))
            .send(),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            proxy
                .post(&bob, Some(&b), &echo(json!(1), "bob", 0))
                .timeout(Duration::from_secs(5))
                .send()
                .await
        }
    );
    let alices = json_of(alices.unwrap()).await;
    assert_eq!(
        alices[0]["error"]["message"], "the upstream process does not read its input",
        "{alices}"
    );
    // Bob waited on the same child: an error in time, not a hang.
    let bobs = bobs.unwrap();
    assert!(
        bobs.status() == 404 || bobs.status() == 200,
        "{}",
        bobs.status()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream(&proxy).children(), 0);
}

#[tokio::test]
async fn five_hundred_sessions_at_once_against_a_limit_of_a_hundred() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |config| {
        config.sessions = mcp_policy_http::SessionLimits {
            max_sessions: 100,
            ..mcp_policy_http::SessionLimits::default()
        };
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..500 {
        let token = token_of(&proxy, &format!("user-{}", i % 10), "mcp:read");
        let request = proxy.post(&token, None, &initialize());
        tasks.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = tasks.join_next().await {
        *statuses.entry(status.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&100), "{statuses:?}");
    assert_eq!(statuses.get(&503), Some(&400), "{statuses:?}");
    // The upstream holds exactly the sessions the layer bound; one child,
    // initialized once.
    assert_eq!(upstream(&proxy).sessions(), 100);
    assert_eq!(upstream(&proxy).children(), 1);
    let initializes = received(&record)
        .iter()
        .filter(|m| m["method"] == "initialize")
        .count();
    assert_eq!(initializes, 1);
}

#[tokio::test]
async fn a_session_deleted_mid_request_gets_its_own_answer_and_nobody_elses() {
    let (config, _record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    let slow = tokio::spawn(
        proxy
            .post(&alice, Some(&a), &echo(json!(1), "alice", 400))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let deleted = proxy.delete(&alice, &a).send().await.unwrap();
    assert_eq!(deleted.status(), 202);
    // Bob's request with the same id, answered before alice's.
    let bobs = json_of(
        proxy
            .post(&bob, Some(&b), &echo(json!(1), "bob", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed(&bobs)["text"], "bob");
    let alices = json_of(slow.await.unwrap().unwrap()).await;
    assert_eq!(alices["id"], 1);
    assert_eq!(echoed(&alices)["text"], "alice");
    // The deleted session is gone for alice, and bob's goes on.
    let gone = proxy
        .post(&alice, Some(&a), &echo(json!(2), "x", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let again = json_of(
        proxy
            .post(&bob, Some(&b), &echo(json!(2), "bob again", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed(&again)["text"], "bob again");
}

#[tokio::test]
async fn odd_and_duplicated_ids_come_back_as_sent_and_the_child_sees_only_its_own() {
    let (config, record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let a = open(&proxy, &alice).await;
    let ids = [
        json!(-1),
        json!(1.5),
        json!(null),
        json!(1e300),
        json!(""),
        json!(7),
        json!(7),
        json!(18_446_744_073_709_551_615_u64),
    ];
    let batch: Vec<Value> = ids
        .iter()
        .map(|id| echo(id.clone(), &id.to_string(), 0))
        .collect();
    let answers = json_of(
        proxy
            .post(&alice, Some(&a), &Value::Array(batch))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), ids.len(), "{answers:?}");
    for (answer, id) in answers.iter().zip(&ids) {
        assert_eq!(&answer["id"], id, "{answer}");
        assert_eq!(echoed(answer)["text"], id.to_string());
    }
    // The child saw proxy ids only: distinct non-negative integers.
    let mut seen: Vec<u64> = received(&record)
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), ids.len());
}

#[tokio::test]
async fn a_client_that_never_answers_the_child_cannot_get_everyone_refused() {
    let (config, _record) = shared();
    let config = with_timeout(config, Duration::from_millis(1_000));
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let bob = token_of(&proxy, "bob", "mcp:read");
    let a = open(&proxy, &alice).await;
    let b = open(&proxy, &bob).await;
    // Alice's calls each make the child ask her (sampling); she never
    // answers, and lets them time out.
    let batch: Vec<Value> = (0..1_100).map(|i| call(i, "debug_sample")).collect();
    let answers = json_of(
        proxy
            .post(&alice, Some(&a), &Value::Array(batch))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answers.as_array().unwrap().len(), 1_100);
    // Bob's call still makes the child ask bob, and bob's answer counts.
    sampling_reaches(&proxy, &bob, &b).await;
}

// As in per-session mode (stdio_upstream.rs): a request's progress goes down
// its own answer, before the answer, with the client's own token; on the
// GET stream the last of it could come after the answer, and be lost.
#[tokio::test]
async fn progress_comes_on_its_requests_answer() {
    let (config, _record) = shared();
    let proxy = start_proxy(config, |_| {}).await;
    let alice = token_of(&proxy, "alice", "mcp:read");
    let a = open(&proxy, &alice).await;
    let mut a_stream = get_stream(&proxy, &alice, &a).await;
    let mut request = echo(json!(1), "p", 50);
    request["params"]["_meta"] = json!({"progressToken": "alice-token"});
    let response = proxy.post(&alice, Some(&a), &request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["method"], "notifications/progress");
    assert_eq!(events[0]["params"]["progressToken"], "alice-token");
    assert_eq!(events[1]["id"], 1);
    assert_eq!(echoed(&events[1])["text"], "p");
    let quiet = tokio::time::timeout(Duration::from_millis(300), a_stream.chunk()).await;
    assert!(quiet.is_err(), "the GET stream got {quiet:?}");
}
