//! What a connection becomes once accepted: the TCP stream itself, or a
//! TLS stream after a handshake. The handshake runs in the connection's
//! own task, holding its place under the connection cap, and within the
//! header timeout: a client that opens a connection and never finishes
//! its handshake is a slow-headers client like any other.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub use tokio_rustls::rustls;

/// Turns an accepted TCP stream into the stream HTTP is served on.
pub trait Acceptor: Clone + Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    type Future: Future<Output = io::Result<Self::Stream>> + Send + 'static;

    fn accept(&self, stream: TcpStream) -> Self::Future;
}

/// Plain HTTP: the TCP stream as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainTcp;

impl Acceptor for PlainTcp {
    type Stream = TcpStream;
    type Future = std::future::Ready<io::Result<TcpStream>>;

    fn accept(&self, stream: TcpStream) -> Self::Future {
        std::future::ready(Ok(stream))
    }
}

/// HTTPS: a rustls server handshake first.
#[derive(Clone)]
pub struct TlsAcceptor(tokio_rustls::TlsAcceptor);

impl TlsAcceptor {
    pub fn new(config: Arc<rustls::ServerConfig>) -> TlsAcceptor {
        TlsAcceptor(tokio_rustls::TlsAcceptor::from(config))
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor")
    }
}

impl Acceptor for TlsAcceptor {
    type Stream = tokio_rustls::server::TlsStream<TcpStream>;
    type Future = tokio_rustls::Accept<TcpStream>;

    fn accept(&self, stream: TcpStream) -> Self::Future {
        self.0.accept(stream)
    }
}
