//! `--forward-identity`: the verified principal, told to an upstream that
//! cannot read a token itself, in headers whose names the operator chooses.
//!
//! Two guarantees, whether the option is on or not:
//!
//! - **A client never sets these headers.** [`Identified`] removes every
//!   header of the configured names (and of the default names) from the
//!   request before the upstream side sees it; the upstream side forwards
//!   an allow-list besides, and [`IdentityHeaders::new`] refuses names that
//!   the allow-list, the upstream's own headers or HTTP itself already use,
//!   so no configuration can let a client's value through.
//! - **A claim never forges a header.** A signed `sub` is whatever the
//!   issuer put there: `"\r\nX-Evil: 1"`, NUL, UTF-8. Every value is
//!   percent-encoded (RFC 3986, UTF-8 bytes): a byte outside the safe set
//!   below becomes `%XX`, so the value is visible ASCII only, `%` itself
//!   included (as `%25`), and decodes back to the exact claim with any
//!   percent-decoder. Refusing such requests instead would lock out users
//!   whose identifiers are legitimately non-ASCII (a name, an e-mail in
//!   UTF-8), and passing them raw is what header injection is made of.
//!
//! Scopes go as one header, the scopes space-separated, each encoded (a
//! space inside a scope, which OAuth does not allow, would be `%20`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use mcp_policy_token::Principal;

use crate::ProxyBody;
use crate::respond::failure;

/// The default header names.
pub const DEFAULT_SUBJECT: &str = "x-mcp-subject";
pub const DEFAULT_CLIENT_ID: &str = "x-mcp-client-id";
pub const DEFAULT_SCOPES: &str = "x-mcp-scopes";
pub const DEFAULT_ISSUER: &str = "x-mcp-issuer";

/// Names an identity header may not take: those the proxy forwards from
/// the client or sets itself, and those HTTP gives a meaning of its own.
const RESERVED: [&str; 17] = [
    "accept",
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "host",
    "keep-alive",
    "last-event-id",
    "mcp-protocol-version",
    "mcp-session-id",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "forwarded",
];

/// Which header carries what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub subject: HeaderName,
    pub client_id: HeaderName,
    pub scopes: HeaderName,
    pub issuer: HeaderName,
}

/// Why identity header names cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidIdentityHeaders(pub String);

impl std::fmt::Display for InvalidIdentityHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidIdentityHeaders {}

impl Default for IdentityHeaders {
    fn default() -> IdentityHeaders {
        IdentityHeaders {
            subject: HeaderName::from_static(DEFAULT_SUBJECT),
            client_id: HeaderName::from_static(DEFAULT_CLIENT_ID),
            scopes: HeaderName::from_static(DEFAULT_SCOPES),
            issuer: HeaderName::from_static(DEFAULT_ISSUER),
        }
    }
}

impl IdentityHeaders {
    /// The four names, each a valid header name, none reserved, none among
    /// `upstream` (the upstream's own configured headers), all distinct.
    pub fn new(
        subject: &str,
        client_id: &str,
        scopes: &str,
        issuer: &str,
        upstream: &HeaderMap,
    ) -> Result<IdentityHeaders, InvalidIdentityHeaders> {
        let name = |what: &str, text: &str| {
            HeaderName::from_bytes(text.trim().as_bytes()).map_err(|_| {
                InvalidIdentityHeaders(format!(
                    "the {what} identity header `{}` is not a header name",
                    text.escape_debug()
                ))
            })
        };
        let headers = IdentityHeaders {
            subject: name("subject", subject)?,
            client_id: name("client id", client_id)?,
            scopes: name("scopes", scopes)?,
            issuer: name("issuer", issuer)?,
        };
        let names = headers.names();
        for (index, name) in names.iter().enumerate() {
            if RESERVED.contains(&name.as_str()) {
                return Err(InvalidIdentityHeaders(format!(
                    "the identity header `{name}` is one the proxy forwards from the client or HTTP reserves; choose another name"
                )));
            }
            if upstream.contains_key(*name) {
                return Err(InvalidIdentityHeaders(format!(
                    "the identity header `{name}` is also in the upstream header file; one name, one meaning"
                )));
            }
            if names.iter().skip(index + 1).any(|other| other == name) {
                return Err(InvalidIdentityHeaders(format!(
                    "the identity header `{name}` is named twice"
                )));
            }
        }
        Ok(headers)
    }

    fn names(&self) -> [&HeaderName; 4] {
        [&self.subject, &self.client_id, &self.scopes, &self.issuer]
    }
}

/// What the proxy does with identity headers.
#[derive(Clone, Debug, Default)]
pub struct ForwardIdentity {
    /// Send the principal (`--forward-identity`); otherwise only strip.
    pub enabled: bool,
    pub headers: IdentityHeaders,
}

/// The identity headers a request carries to the upstream, set by
/// [`Identified`] and copied by the upstream side, past its allow-list.
#[derive(Clone, Debug, Default)]
pub struct IdentityForUpstream(pub Vec<(HeaderName, HeaderValue)>);

/// The safe bytes, left as they are: RFC 9110 `tchar` but `%`, plus `:`,
/// `/` and `@` (URLs and e-mail addresses as subjects stay readable).
fn is_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~:/@".contains(&byte)
}

/// `text` percent-encoded: visible ASCII only, whatever `text` holds.
pub fn encode(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if is_safe(byte) {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The headers that carry `principal`, or `None` if a value could not be
/// made a header value (never, by [`encode`]; fail closed all the same).
pub fn values(
    headers: &IdentityHeaders,
    principal: &Principal,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let scopes = principal
        .scopes
        .iter()
        .map(|scope| encode(scope))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = vec![
        (headers.subject.clone(), encode(&principal.subject)),
        (headers.scopes.clone(), scopes),
        (headers.issuer.clone(), encode(&principal.issuer)),
    ];
    if let Some(client) = &principal.client_id {
        out.push((headers.client_id.clone(), encode(client)));
    }
    out.into_iter()
        .map(|(name, value)| HeaderValue::try_from(value).ok().map(|value| (name, value)))
        .collect()
}

/// The service between the policy layer and the upstream that strips the
/// client's identity headers and, when enabled, states the principal's.
#[derive(Clone, Debug)]
pub struct Identified<S> {
    pub forward: Arc<ForwardIdentity>,
    pub inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower_service::Service<Request<Full<Bytes>>> for Identified<S>
where
    S: tower_service::Service<
            Request<Full<Bytes>>,
            Response = Response<ProxyBody>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Full<Bytes>>) -> Self::Future {
        let forward = &self.forward;
        let defaults = IdentityHeaders::default();
        for name in forward.headers.names().into_iter().chain(defaults.names()) {
            request.headers_mut().remove(name);
        }
        request.extensions_mut().remove::<IdentityForUpstream>();
        // Every client request the layer forwards carries its principal.
        // One that does not is the layer's own `DELETE` of a session it
        // ended (idle, or over the limits): forwarded without identity, or
        // the upstream's session would never end.
        let principal = request.extensions().get::<Arc<Principal>>();
        let layers_own = principal.is_none() && request.method() == http::Method::DELETE;
        if forward.enabled && !layers_own {
            match principal.and_then(|principal| values(&forward.headers, principal)) {
                Some(values) => {
                    request.extensions_mut().insert(IdentityForUpstream(values));
                }
                None => {
                    tracing::error!(
                        target: "mcp_policy::proxy",
                        "no principal to forward; the request is refused"
                    );
                    return Box::pin(async {
                        Ok(failure(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "identity unavailable",
                            serde_json::Value::Null,
                        ))
                    });
                }
            }
        }
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { ready.call(request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    /// Answers 200, with the identity headers it was given as its body.
    #[derive(Clone)]
    struct Upstream;

    impl Service<Request<Full<Bytes>>> for Upstream {
        type Response = Response<ProxyBody>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
            let given = request
                .extensions()
                .get::<IdentityForUpstream>()
                .map_or(0, |identity| identity.0.len());
            Box::pin(async move {
                Ok(crate::respond::plain(
                    StatusCode::OK,
                    if given > 0 { "identity\n" } else { "none\n" },
                ))
            })
        }
    }

    fn run(method: http::Method, identity_on: bool) -> StatusCode {
        let mut service = Identified {
            forward: Arc::new(ForwardIdentity {
                enabled: identity_on,
                headers: IdentityHeaders::default(),
            }),
            inner: Upstream,
        };
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.method_mut() = method;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(service.call(request))
            .map(|response| response.status())
            .unwrap_or(StatusCode::IM_A_TEAPOT)
    }

    #[test]
    fn a_request_without_a_principal_is_refused_unless_it_is_the_layers_delete() {
        assert_eq!(
            run(http::Method::POST, true),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            run(http::Method::GET, true),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(run(http::Method::DELETE, true), StatusCode::OK);
        assert_eq!(run(http::Method::POST, false), StatusCode::OK);
    }

    #[test]
    fn encoding_leaves_only_visible_ascii_and_round_trips() {
        let subject = "a\r\nX-Evil: 1\0é%";
        let encoded = encode(subject);
        assert_eq!(encoded, "a%0D%0AX-Evil:%201%00%C3%A9%25");
        assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        assert!(HeaderValue::try_from(encoded).is_ok());
    }

    #[test]
    fn readable_identifiers_stay_readable() {
        for id in [
            "auth0|abc123",
            "user@example.com",
            "https://idp/u/1",
            "a.b-c_d~e",
        ] {
            assert_eq!(encode(id), id);
        }
        assert_eq!(encode(""), "");
    }

    #[test]
    fn names_the_allow_list_uses_are_refused() {
        let none = HeaderMap::new();
        for reserved in ["mcp-session-id", "Content-Type", "authorization", "Host"] {
            let error = IdentityHeaders::new(reserved, "b", "c", "d", &none).unwrap_err();
            assert!(error.0.contains("choose another name"), "{error}");
        }
        let mut upstream = HeaderMap::new();
        upstream.insert("x-api-key", HeaderValue::from_static("k"));
        assert!(IdentityHeaders::new("x-api-key", "b", "c", "d", &upstream).is_err());
        assert!(IdentityHeaders::new("a", "a", "c", "d", &none).is_err());
        assert!(IdentityHeaders::new("bad name", "b", "c", "d", &none).is_err());
        assert!(IdentityHeaders::new("", "b", "c", "d", &none).is_err());
        assert!(IdentityHeaders::new("X-Sub", "X-Cid", "X-Sc", "X-Iss", &none).is_ok());
    }
}
