//! The server's limits against clients that hold resources without
//! finishing a request: half-open connections by the hundred, headers a
//! byte at a time, idle keep-alive connections. Every server runs on
//! 127.0.0.1 in the test; raw TCP streams play the hostile clients.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use mcp_policy_server::{ServerLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A response body that sends `left` chunks, one every 100 ms: a stream
/// in flight, like an MCP server's SSE stream.
struct Slow {
    left: u32,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Slow {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.left -= 1;
                self.sleep = Box::pin(tokio::time::sleep(Duration::from_millis(100)));
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                    b"tick\n",
                )))))
            }
        }
    }
}

use std::future::Future;

struct Server {
    address: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

async fn start(limits: ServerLimits) -> Server {
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route(
            "/stream",
            get(|| async {
                Body::new(Slow {
                    left: 8,
                    sleep: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
                })
            }),
        )
        .route("/big", get(|| async { vec![b'x'; 128 * 1024] }))
        .route(
            "/forever",
            get(|| async {
                Body::new(Slow {
                    left: u32::MAX,
                    sleep: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
                })
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    Server {
        address,
        stop: Some(stop),
        done,
    }
}

fn limits() -> ServerLimits {
    ServerLimits {
        max_connections: 8,
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    }
}

/// Reads until the server closes the stream; `None` if it is still open
/// after `patience`.
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

async fn get_once(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the server neither answered nor closed")
}

#[tokio::test]
async fn past_the_connection_cap_the_answer_is_503_never_a_hang() {
    let server = start(ServerLimits {
        idle_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(&server.address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let answer = get_once(&server.address, "/").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // A place freed is a place served.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = get_once(&server.address, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn past_the_refusal_cap_a_connection_is_closed_at_once() {
    let server = start(ServerLimits {
        max_connections: 1,
        max_turned_away: 1,
        idle_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..ServerLimits::default()
    })
    .await;
    let _served = TcpStream::connect(&server.address).await.unwrap();
    let _being_refused = TcpStream::connect(&server.address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut third = TcpStream::connect(&server.address).await.unwrap();
    let answer = closed_within(&mut third, Duration::from_secs(1)).await;
    assert_eq!(answer.as_deref(), Some(""));
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_are_cut_off() {
    let server = start(ServerLimits {
        idle_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(&server.address).await.unwrap();
    let started = Instant::now();
    let header = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for byte in header {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0; 64];
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(40), stream.read(&mut probe)).await
        {
            // Closed (0 bytes or reset) while the client still sends.
            assert!(read.map_or(true, |n| n == 0));
            closed = true;
            break;
        }
    }
    assert!(closed, "a byte every 40 ms kept the connection open");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn idle_connections_are_closed_but_a_streaming_answer_is_not() {
    let server = start(limits()).await;
    // Connected, never a byte.
    let mut silent = TcpStream::connect(&server.address).await.unwrap();
    assert_eq!(
        closed_within(&mut silent, Duration::from_secs(2))
            .await
            .as_deref(),
        Some("")
    );
    // Keep-alive after a request: closed once idle.
    let mut kept = TcpStream::connect(&server.address).await.unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_within(&mut kept, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello\n"),
        "{answer}"
    );
    // A response streaming for 800 ms, with gaps of 100 ms and an idle
    // timeout of 300 ms, arrives whole.
    let answer = get_once(&server.address, "/stream").await;
    assert_eq!(answer.matches("tick").count(), 8, "{answer}");
}

#[tokio::test]
async fn a_flood_of_half_open_connections_does_not_lock_out_clients_for_long() {
    let server = start(ServerLimits {
        max_connections: 50,
        ..limits()
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..400 {
        if let Ok(stream) = TcpStream::connect(&server.address).await {
            flood.push(stream);
        }
    }
    // While the flood holds every place: an answer (503) or a close, fast.
    let started = Instant::now();
    let answer = get_once(&server.address, "/").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // The idle timeout frees the places the flood took.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answer = get_once(&server.address, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(flood);
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_requests_in_flight_finish() {
    let mut server = start(ServerLimits {
        idle_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    let address = server.address.clone();
    let streaming = tokio::spawn(async move { get_once(&address, "/stream").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let _ = server.stop.take().unwrap().send(());
    let answer = streaming.await.unwrap();
    assert_eq!(answer.matches("tick").count(), 8, "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(&server.address).await.is_err());
}

/// Attack: a stream that never ends, open while the server shuts down.
/// `serve` returns after the drain timeout, as documented, but the
/// connections still busy then must really be dropped, not left running on
/// the runtime of a program that goes on (a library caller, a test).
#[tokio::test]
async fn after_the_drain_timeout_busy_connections_are_dropped() {
    let mut server = start(ServerLimits {
        idle_timeout: Duration::from_secs(30),
        drain_timeout: Duration::from_millis(300),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(&server.address).await.unwrap();
    stream
        .write_all(b"GET /forever HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0; 256];
    let read = stream.read(&mut first).await.unwrap();
    assert!(first[..read].starts_with(b"HTTP/1.1 200"));
    let _ = server.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(3), server.done)
        .await
        .expect("serve did not return after its drain timeout")
        .unwrap();
    // The stream is cut within moments of `serve` returning.
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
    assert!(
        cut.is_ok(),
        "the stream still runs after serve returned ({} bytes more)",
        rest.len()
    );
}

/// Attack, without any credential: pipeline requests and never read the
/// answers. Once the socket buffers are full the server can neither write
/// nor, so, read; the connection has no request in flight (each answer was
/// handed to the socket) and looks idle, but a graceful close waits for the
/// write that never ends. Such a connection must still be dropped once it
/// makes no progress for the idle timeout, or a few hundred of them hold
/// every place for good.
#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    let server = start(ServerLimits {
        max_connections: 1,
        ..limits()
    })
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket
        .connect(server.address.parse().unwrap())
        .await
        .unwrap();
    // 100 answers of 128 KiB: far more than the socket buffers hold.
    let request = "GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(100);
    stalled.write_all(request.as_bytes()).await.unwrap();
    // Nothing read, well past the idle timeout (300 ms): the only place
    // is free again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = get_once(&server.address, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(stalled);
}

#[tokio::test]
async fn headers_past_the_size_limit_are_refused() {
    let server = start(ServerLimits {
        max_header_bytes: 16 * 1024,
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(&server.address).await.unwrap();
    let padding = "a".repeat(64 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {padding}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let answer = closed_within(&mut stream, Duration::from_secs(2)).await;
    let answer = answer.expect("an oversized head kept the connection open");
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // Within the limit: served.
    let answer = get_once(&server.address, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_limit_past_what_the_loop_can_count_is_taken_as_its_maximum() {
    // usize::MAX connections once made the semaphore panic at start.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/", get(|| async { "served" }));
    let limits = ServerLimits {
        max_connections: usize::MAX,
        max_turned_away: usize::MAX,
        ..ServerLimits::default()
    };
    let served = tokio::spawn(serve(listener, app, limits, std::future::pending()));
    let answer = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "served");
    assert!(!served.is_finished());
}
