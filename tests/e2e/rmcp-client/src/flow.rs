//! The flow, steps 1 to 7 (6a-6d), for one server, with rmcp.
//!
//! Each assertion is on what crossed the wire: the server's statuses and
//! `WWW-Authenticate` challenges (through rmcp's transport errors), the
//! authorization URL rmcp built, the OAuth requests rmcp sent (recorded
//! through its own `OAuthHttpClient` hook), the tokens the AS issued, and the
//! AS's own count of grants (`/test/stats`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use rmcp::model::CallToolResult;
use rmcp::service::ServiceError;
use rmcp::transport::auth::{AuthorizationMetadataSource, WWWAuthenticateParams};
use serde_json::Value;

use crate::Res;
use crate::agent::{UserAgent, query_param};
use crate::env::{Call, Env, Kind, Server};
use crate::mcp::{self, Client, Refusal};
use crate::oauth::{self, REDIRECT_URI};
use crate::recorder::Log;
use crate::report::Report;
use crate::stats::Stats;
use crate::tokens::{self, Jwt};

/// Concurrent calls fired when the token has expired (step 5).
const CONCURRENT_CALLS: usize = 5;
/// Step-ups bob's client may make while rmcp's own guard says it may try
/// again: rmcp's default `max_upgrade_attempts` (3), plus one.
const GUARD_PROBE: u32 = 4;

/// A step that could not go on, and why.
#[derive(Debug)]
pub struct Abort {
    step: &'static str,
    error: String,
}

type Flow<T> = Result<T, Abort>;

trait At<T> {
    fn at(self, step: &'static str) -> Flow<T>;
}

impl<T> At<T> for Res<T> {
    fn at(self, step: &'static str) -> Flow<T> {
        self.map_err(|error| Abort {
            step,
            error: error.to_string(),
        })
    }
}

fn abort<T>(step: &'static str, error: impl Into<String>) -> Flow<T> {
    Err(Abort {
        step,
        error: error.into(),
    })
}

/// What one server's flow needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub env: Arc<Env>,
    pub server: Server,
    pub kind: Kind,
    /// Another server's URL: the resource of step 6a's token.
    pub other_resource: String,
    /// What the unguarded everything server lists to this client.
    pub direct_tools: Arc<BTreeSet<String>>,
    pub report: Report,
}

pub async fn run(ctx: Ctx) {
    if let Err(Abort { step, error }) = flow(&ctx).await {
        ctx.report.fail(step, format!("stopped here: {error}"));
    }
}

fn scope_set(text: Option<&str>) -> BTreeSet<String> {
    text.map(|scope| scope.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// An optional value in a detail: the value, or `(none)`.
fn shown(value: Option<&str>) -> &str {
    value.unwrap_or("(none)")
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(" ")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Ctx {
    fn url(&self) -> &str {
        &self.server.url
    }

    fn base(&self) -> Flow<Url> {
        Url::parse(self.url()).map_err(|e| Abort {
            step: "1.1",
            error: e.to_string(),
        })
    }

    /// tools/list must be exactly what the granted scopes allow (for the
    /// everything server: of what it lists to this client unguarded).
    fn expect_tools(
        &self,
        step: &'static str,
        shown: &BTreeSet<String>,
        scopes: &BTreeSet<String>,
    ) {
        let mut expected = self.kind.allowed_for(scopes.iter().map(String::as_str));
        let mut basis = "servers.json";
        if self.server.kind == "everything" {
            expected = expected.intersection(&self.direct_tools).cloned().collect();
            basis = "servers.json ∩ the unguarded everything server's list";
        }
        let missing: BTreeSet<_> = expected.difference(shown).cloned().collect();
        let extra: BTreeSet<_> = shown.difference(&expected).cloned().collect();
        let ok = missing.is_empty() && extra.is_empty() && !expected.is_empty();
        let detail = if ok {
            format!(
                "tools/list with scope [{}] shows exactly the {} tools {basis} allows",
                list(scopes),
                shown.len()
            )
        } else {
            format!(
                "tools/list with scope [{}] (basis {basis}): missing [{}], extra [{}], shown [{}]",
                list(scopes),
                list(&missing),
                list(&extra),
                list(shown)
            )
        };
        self.report.check(step, ok, detail);
    }

    async fn tools(&self, step: &'static str, client: &Client) -> Flow<BTreeSet<String>> {
        match mcp::tool_names(client).await.at(step)? {
            Ok(names) => Ok(names),
            Err(error) => abort(
                step,
                format!(
                    "tools/list failed: {}",
                    mcp::refusal_of_call(&error).describe()
                ),
            ),
        }
    }

    async fn call(
        &self,
        step: &'static str,
        client: &Client,
        call: &Call,
    ) -> Flow<Result<CallToolResult, ServiceError>> {
        mcp::call(client, call).await.at(step)
    }

    /// A 403 `insufficient_scope` naming `scope`: checked, and the challenge returned.
    fn expect_forbidden(
        &self,
        step: &'static str,
        what: &str,
        result: &Result<CallToolResult, ServiceError>,
        scope: &str,
    ) -> Flow<WWWAuthenticateParams> {
        let refusal = match result {
            Ok(_) => {
                return abort(
                    step,
                    format!("{what} was allowed: {}", mcp::outcome_text(result)),
                );
            }
            Err(error) => mcp::refusal_of_call(error),
        };
        let Refusal::Forbidden(header) = &refusal else {
            return abort(
                step,
                format!("{what}: expected 403, got {}", refusal.describe()),
            );
        };
        let params = WWWAuthenticateParams::parse(header, &self.base()?);
        let ok = params.is_insufficient_scope()
            && scope_set(params.scope.as_deref()).contains(scope)
            && header.starts_with("Bearer");
        self.report
            .check(step, ok, format!("{what}: {}", refusal.describe()));
        Ok(params)
    }

    /// Step 6: a token the server must refuse with 401 `invalid_token`.
    async fn expect_invalid_token(&self, step: &'static str, what: &str, token: &str) -> Flow<()> {
        match mcp::connect_with_token(self.url(), Some(token))
            .await
            .at(step)?
        {
            Ok(client) => {
                mcp::close(client).await;
                self.report
                    .fail(step, format!("{what}: the server accepted it"));
            }
            Err(error) => {
                let refusal = mcp::refusal_of_init(&error);
                let ok = matches!(&refusal, Refusal::Unauthorized(header)
                    if WWWAuthenticateParams::parse(header, &self.base()?).is_invalid_token());
                self.report
                    .check(step, ok, format!("{what}: {}", refusal.describe()));
            }
        }
        Ok(())
    }
}

async fn flow(ctx: &Ctx) -> Flow<()> {
    let report = &ctx.report;
    let url = ctx.url();
    let base = ctx.base()?;

    // ---- 1. The unauthenticated request, and discovery ----
    let challenge = match mcp::connect_with_token(url, None).await.at("1.1")? {
        Ok(client) => {
            mcp::close(client).await;
            return abort("1.1", "initialize without a token succeeded");
        }
        Err(error) => match mcp::refusal_of_init(&error) {
            Refusal::Unauthorized(header) => header,
            other => return abort("1.1", format!("expected 401, got {}", other.describe())),
        },
    };
    let params = WWWAuthenticateParams::parse(&challenge, &base);
    report.check(
        "1.1",
        challenge.starts_with("Bearer")
            && params.resource_metadata_url.is_some()
            && params.scope.as_deref() == Some("mcp:read"),
        format!("initialize without a token: 401 WWW-Authenticate: {challenge}"),
    );
    let prm_url = params
        .resource_metadata_url
        .map(|u| u.to_string())
        .unwrap_or_default();

    let alice_agent = UserAgent::new("alice", REDIRECT_URI).at("1.2")?;
    let (alice, login) = oauth::first_login(url, &challenge, alice_agent, true)
        .await
        .at("1.2")?;
    let sent = alice.log.all();
    let registration_at = sent
        .iter()
        .position(|s| s.json.is_some())
        .unwrap_or(sent.len());
    let discovery: Vec<String> = sent
        .iter()
        .take(registration_at)
        .map(|s| format!("{} {} {}", s.method, s.url, s.status.unwrap_or(0)))
        .collect();
    let prm_first = sent
        .first()
        .is_some_and(|s| s.url == prm_url && s.status == Some(200));
    let as_metadata = sent.iter().take(registration_at).any(|s| {
        s.url.starts_with(&ctx.env.issuer)
            && s.url.contains("/.well-known/")
            && s.status == Some(200)
    });
    let issuer_ok = login
        .metadata
        .issuer
        .as_deref()
        .map(|i| i.trim_end_matches('/'))
        == Some(ctx.env.issuer.as_str());
    report.check(
        "1.2",
        login.source == AuthorizationMetadataSource::ProtectedResourceMetadata
            && prm_first
            && as_metadata
            && issuer_ok,
        format!(
            "rmcp discovered from the challenge ({:?}), issuer {}; requests before registering: {}",
            login.source,
            shown(login.metadata.issuer.as_deref()),
            discovery.join(", ")
        ),
    );

    // ---- 2. Registration, authorization code with PKCE, state, resource ----
    let registrations = alice.log.registrations();
    let registration_ok = registrations.len() == 1
        && registrations.first().is_some_and(|r| {
            let body = r.json.clone().unwrap_or(Value::Null);
            r.status.is_some_and(|s| (200..300).contains(&s))
                && body
                    .get("token_endpoint_auth_method")
                    .and_then(Value::as_str)
                    == Some("none")
                && body.get("redirect_uris") == Some(&serde_json::json!([REDIRECT_URI]))
                && body
                    .get("grant_types")
                    .and_then(Value::as_array)
                    .is_some_and(|g| g.iter().any(|g| g == "authorization_code"))
        });
    report.check(
        "2.1",
        registration_ok && !alice.client_id.is_empty(),
        format!(
            "DCR by rmcp: {} registration(s), body {} (a public client; its scope is the first request's, rmcp auth.rs:4063 and :1990), client_id {}",
            registrations.len(),
            registrations
                .first()
                .and_then(|r| r.json.clone())
                .unwrap_or(Value::Null),
            alice.client_id
        ),
    );

    let auth_url = &login.authorization_url;
    let q = |name: &str| query_param(auth_url, name);
    let asked = scope_set(q("scope").as_deref());
    let baseline: BTreeSet<String> = ["mcp:read".to_string()].into();
    let asked_mcp: BTreeSet<String> = asked
        .iter()
        .filter(|s| s.starts_with("mcp:"))
        .cloned()
        .collect();
    let challenge_len = q("code_challenge").map(|c| c.len()).unwrap_or(0);
    report.check(
        "2.2",
        q("response_type").as_deref() == Some("code")
            && q("code_challenge_method").as_deref() == Some("S256")
            && challenge_len == 43
            && q("state").is_some_and(|s| !s.is_empty())
            && q("resource").as_deref() == Some(url)
            && q("redirect_uri").as_deref() == Some(REDIRECT_URI)
            && asked_mcp == baseline,
        format!(
            "authorization request: response_type={} code_challenge_method={} code_challenge of {challenge_len} chars, state present={}, resource={}, scope=\"{}\"",
            shown(q("response_type").as_deref()),
            shown(q("code_challenge_method").as_deref()),
            q("state").is_some(),
            shown(q("resource").as_deref()),
            shown(q("scope").as_deref())
        ),
    );
    let default_mcp: BTreeSet<String> = login
        .default_selection
        .iter()
        .filter(|s| s.starts_with("mcp:"))
        .cloned()
        .collect();
    if default_mcp == baseline {
        report.pass(
            "2.4",
            "rmcp's default scope selection also asks for the baseline scope only",
        );
    } else {
        // rmcp 3.11 src/transport/auth.rs:2283 `select_base_scopes`: the default (an AuthorizationRequest
        // without `with_initial_scope_selection`) accumulates the challenge's
        // scope AND the PRM's scopes_supported. The MCP spec's scope selection
        // strategy takes the challenge's scope first and falls back to
        // scopes_supported only without one; this client opts into rmcp's
        // `with_initial_scope_selection`, which does that (step 2.2).
        report.deviation(
            "2.4",
            format!(
                "rmcp's default scope selection would ask for [{}] on a first authorization: it adds the PRM's scopes_supported to the challenge's scope=\"mcp:read\" (rmcp 3.11 src/transport/auth.rs:2283 select_base_scopes); this client opts into AuthorizationRequest::with_initial_scope_selection, which asks for the challenge's scope (2.2)",
                login.default_selection.join(" ")
            ),
        );
    }

    let state_back = query_param(&login.callback, "state");
    let iss_back = query_param(&login.callback, "iss");
    report.check(
        "2.5",
        state_back.is_some() && state_back == q("state") && login.forged_state.is_err(),
        format!(
            "the redirect's state matches the request's; rmcp refused the same code with a state it never issued ({}); iss in the redirect: {}",
            login.forged_state.as_ref().err().cloned().unwrap_or_else(|| "ACCEPTED".to_string()),
            shown(iss_back.as_deref())
        ),
    );

    let stats = Stats::fetch(&ctx.env.issuer).await.at("2.6")?;
    let code_grants = alice.log.grants("authorization_code");
    let token_request_ok = code_grants.len() == 1
        && code_grants.first().is_some_and(|g| {
            g.status == Some(200)
                && g.form_value("resource") == Some(url)
                && g.form_value("code_verifier")
                    .is_some_and(|v| (43..=128).contains(&v.len()))
                && g.form_value("redirect_uri") == Some(REDIRECT_URI)
        });
    report.check(
        "2.6",
        token_request_ok && stats.codes(&alice.client_id) == 1,
        format!(
            "token request (as rmcp sent it): resource={}, code_verifier present={}, status {}; the AS counts {} code grant(s) for {}",
            shown(code_grants.first().and_then(|g| g.form_value("resource"))),
            code_grants.first().is_some_and(|g| g.form_value("code_verifier").is_some()),
            code_grants.first().and_then(|g| g.status).unwrap_or(0),
            stats.codes(&alice.client_id),
            alice.client_id
        ),
    );

    let t1 = oauth::access_token(&login.token).at("2.7")?;
    let jwt1 = Jwt::read(&t1).at("2.7")?;
    let t1_scopes = jwt1.scopes();
    report.check(
        "2.7",
        jwt1.typ.as_deref() == Some("at+jwt")
            && jwt1.audiences() == vec![url.to_string()]
            && t1_scopes.contains("mcp:read")
            && !t1_scopes.contains("mcp:write")
            && !t1_scopes.contains("mcp:admin"),
        format!(
            "access token typ={} aud={:?} scope=[{}]",
            shown(jwt1.typ.as_deref()),
            jwt1.audiences(),
            list(&t1_scopes)
        ),
    );
    let has_refresh = oauth::refresh_token(&login.token).is_some();
    report.check(
        "2.8",
        has_refresh,
        format!(
            "refresh token issued (rmcp's URL with prompt=consent added, see 2.3): {has_refresh} (token response scope \"{}\")",
            login.token.get("scope").and_then(Value::as_str).unwrap_or_default()
        ),
    );

    // ---- 3. tools/list and an allowed call ----
    let client = match mcp::connect_authorized(url, alice.auth.clone())
        .await
        .at("3.1")?
    {
        Ok(client) => client,
        Err(error) => {
            return abort(
                "3.1",
                format!(
                    "initialize with rmcp's token: {}",
                    mcp::refusal_of_init(&error).describe()
                ),
            );
        }
    };
    let shown = ctx.tools("3.1", &client).await?;
    ctx.expect_tools("3.1", &shown, &t1_scopes);
    let read = ctx.call("3.2", &client, &ctx.kind.read_call).await?;
    report.check(
        "3.2",
        mcp::succeeded(&read),
        format!(
            "{} (read): {}",
            ctx.kind.read_call.name,
            mcp::outcome_text(&read)
        ),
    );

    // ---- 4. Step-up to mcp:write; mcp:admin stays denied for bob ----
    let write = ctx.call("4.1", &client, &ctx.kind.write_call).await?;
    let challenge403 = ctx.expect_forbidden(
        "4.1",
        &format!(
            "{} (write) with [{}]",
            ctx.kind.write_call.name,
            list(&t1_scopes)
        ),
        &write,
        "mcp:write",
    )?;
    let required = challenge403
        .scope
        .unwrap_or_else(|| "mcp:write".to_string());
    let up = alice.step_up(&required).await.at("4.2")?;
    let up_asked = scope_set(query_param(&up.authorization_url, "scope").as_deref());
    let challenged = scope_set(Some(&required));
    let held: BTreeSet<String> = t1_scopes
        .iter()
        .filter(|s| s.starts_with("mcp:"))
        .cloned()
        .collect();
    let accumulated = held.is_subset(&up_asked) && challenged.is_subset(&up_asked);
    // Our servers' challenge names every scope the call needs (held ones
    // included), so a client that replaces its scopes with the challenge's
    // asks for the same set here: only a challenge without a held scope
    // would tell the union (SEP-2350, rmcp auth.rs:2146 compute_scope_union)
    // from a replacement.
    let distinguishable = !held.is_subset(&challenged);
    let up_ok = query_param(&up.authorization_url, "resource").as_deref() == Some(url)
        && query_param(&up.authorization_url, "code_challenge_method").as_deref() == Some("S256")
        && up.granted.iter().any(|s| s == "mcp:write");
    let up_detail = format!(
        "on the 403 (challenge scope {required:?}) rmcp's request_scope_upgrade asked for [{}] with resource and S256; granted [{}]",
        list(&up_asked),
        up.granted.join(" ")
    );
    if !up_ok {
        report.fail("4.2", up_detail);
    } else if accumulated && distinguishable {
        report.pass(
            "4.2",
            format!("{up_detail}: the union of the held and the challenged scopes (SEP-2350)"),
        );
    } else if accumulated {
        report.pass(
            "4.2",
            format!("{up_detail}: the held and the challenged scopes (the challenge names the held ones too, so this does not tell rmcp's union from a replacement)"),
        );
    } else {
        report.deviation(
            "4.2",
            format!("{up_detail}: it replaced its scopes with the challenge's"),
        );
    }
    let write = ctx.call("4.3", &client, &ctx.kind.write_call).await?;
    let stats = Stats::fetch(&ctx.env.issuer).await.at("4.3")?;
    let t2_token = alice.token().await.at("4.3")?;
    let t2 = oauth::access_token(&t2_token).at("4.3")?;
    // The tokens the two write calls carried, as rmcp's transport sent them.
    let write_tokens: Vec<Option<String>> = alice
        .wire
        .requests()
        .into_iter()
        .filter(|r| r.what == "POST tools/call")
        .map(|r| r.token)
        .collect();
    let carried = match write_tokens.as_slice() {
        [.., denied, retried] => {
            denied.as_deref() == Some(t1.as_str()) && retried.as_deref() == Some(t2.as_str())
        }
        _ => false,
    };
    report.check(
        "4.3",
        mcp::succeeded(&write) && stats.codes(&alice.client_id) == 2 && carried && t2 != t1,
        format!(
            "the retried {} in the same MCP session: {}; it carried the step-up's token and the denied one the first token: {carried}; the AS counts {} code grants for this client (login + step-up)",
            ctx.kind.write_call.name,
            mcp::outcome_text(&write),
            stats.codes(&alice.client_id)
        ),
    );
    let jwt2 = Jwt::read(&t2).at("4.4")?;
    let t2_scopes = jwt2.scopes();
    let shown = ctx.tools("4.4", &client).await?;
    ctx.expect_tools("4.4", &shown, &t2_scopes);
    let refreshes_before_expiry = stats.refreshes(&alice.client_id);

    bob_admin(ctx, &challenge).await?;

    // ---- 6a, 6c, 6d: tokens the server must refuse ----
    match oauth::machine(url, &ctx.other_resource, Log::default()).await {
        Ok((_, token)) => {
            let other = oauth::access_token(&token).at("6a.1")?;
            let aud = Jwt::read(&other).map(|j| j.audiences()).unwrap_or_default();
            ctx.expect_invalid_token(
                "6a.1",
                &format!("a valid token for another resource (aud {aud:?})"),
                &other,
            )
            .await?;
        }
        Err(error) => report.fail(
            "6a.1",
            format!("could not get a token for {}: {error}", ctx.other_resource),
        ),
    }
    let forged = tokens::forged_signature(&t2).at("6c.1")?;
    ctx.expect_invalid_token(
        "6c.1",
        "alice's live token with one signature bit flipped",
        &forged,
    )
    .await?;
    let none = tokens::alg_none(&t2).at("6d.1")?;
    ctx.expect_invalid_token(
        "6d.1",
        "alice's live token re-headed alg=none, unsigned",
        &none,
    )
    .await?;

    // ---- 7. client_credentials with mcp:read ----
    machine_flow(ctx).await?;

    // ---- 6b and 5: the token expires ----
    let exp = jwt2.exp().unwrap_or_else(|| now() + ctx.env.token_ttl);
    let wait = exp.saturating_add(1).saturating_sub(now());
    tokio::time::sleep(Duration::from_secs(wait)).await;
    ctx.expect_invalid_token(
        "6b.1",
        &format!(
            "alice's token, {}s after its exp",
            now().saturating_sub(exp)
        ),
        &t2,
    )
    .await?;

    let before = Stats::fetch(&ctx.env.issuer).await.at("5.1")?;
    let sent_before = alice.log.grants("refresh_token").len();
    let wire_before = alice.wire.requests().len();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT_CALLS {
        let peer = client.peer().clone();
        let params = rmcp::model::CallToolRequestParams::new(ctx.kind.read_call.name.clone())
            .with_arguments(ctx.kind.read_call.arguments.clone());
        calls
            .spawn(async move { tokio::time::timeout(mcp::TIMEOUT, peer.call_tool(params)).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = calls.join_next().await {
        outcomes.push(match joined {
            Ok(Ok(result)) => (mcp::succeeded(&result), mcp::outcome_text(&result)),
            Ok(Err(_)) => (false, "timed out".to_string()),
            Err(error) => (false, error.to_string()),
        });
    }
    let after = Stats::fetch(&ctx.env.issuer).await.at("5.1")?;
    let t3_token = alice.token().await.at("5.1")?;
    let t3 = oauth::access_token(&t3_token).at("5.1")?;
    let rotated = oauth::refresh_token(&t3_token).is_some()
        && oauth::refresh_token(&t3_token) != oauth::refresh_token(&t2_token);
    let all_ok = outcomes.iter().all(|(ok, _)| *ok);
    let refresh_sent = alice.log.grants("refresh_token");
    let new_sent: Vec<_> = refresh_sent.iter().skip(sent_before).collect();
    let resource_on_refresh = !new_sent.is_empty()
        && new_sent
            .iter()
            .all(|g| g.form_value("resource") == Some(url));
    // What the calls carried: rmcp refreshes before a request once less
    // than min(30 s, TTL/2) remain (auth.rs:2568), so the expired token
    // should never leave; if it did, rmcp's AuthClient refreshes on the 401
    // and retries once (src/transport/common/auth/streamable_http_client.rs:49).
    let calls_sent: Vec<_> = alice
        .wire
        .requests()
        .into_iter()
        .skip(wire_before)
        .filter(|r| r.what == "POST tools/call")
        .collect();
    let expired_sent = calls_sent
        .iter()
        .filter(|r| r.token.as_deref() == Some(t2.as_str()))
        .count();
    let fresh_sent = calls_sent
        .iter()
        .filter(|r| r.token.as_deref() == Some(t3.as_str()))
        .count();
    let how = if expired_sent == 0 {
        "before sending: the expired token never left".to_string()
    } else {
        format!(
            "after the server refused the expired token ({expired_sent} request(s), answered {:?})",
            calls_sent
                .iter()
                .filter(|r| r.token.as_deref() == Some(t2.as_str()))
                .map(|r| r.answer)
                .collect::<Vec<_>>()
        )
    };
    report.check(
        "5.1",
        all_ok && t3 != t2 && rotated && resource_on_refresh && fresh_sent == CONCURRENT_CALLS,
        format!(
            "{CONCURRENT_CALLS} concurrent {} calls after expiry: {}; rmcp refreshed {how}, and {fresh_sent} calls carried the new token (refresh token rotated: {rotated}, resource on the refresh request: {resource_on_refresh}, scope sent: {:?})",
            ctx.kind.read_call.name,
            if all_ok { "all succeeded".to_string() } else { format!("{:?}", outcomes) },
            new_sent.first().and_then(|g| g.form_value("scope"))
        ),
    );
    let at_as = after
        .refreshes(&alice.client_id)
        .saturating_sub(before.refreshes(&alice.client_id));
    let background = before
        .refreshes(&alice.client_id)
        .saturating_sub(refreshes_before_expiry);
    let detail = format!(
        "refreshes at the AS during the {CONCURRENT_CALLS} concurrent calls: {at_as} (rmcp sent {}); before them: {background}",
        new_sent.len()
    );
    match at_as {
        1 if background == 0 => report.pass(
            "5.2",
            format!("{detail}: one refresh (rmcp's AuthClient holds its AuthorizationManager behind one mutex across get_access_token, rmcp 3.11 src/transport/auth.rs:600, so the calls wait for the first one's refresh)"),
        ),
        0 => report.fail("5.2", format!("{detail}: no refresh while the calls ran")),
        _ if background > 0 => report.fail("5.2", format!("{detail}: rmcp refreshed before the concurrent calls")),
        _ => report.deviation("5.2", format!("{detail}: rmcp does not de-duplicate concurrent refreshes")),
    }
    let jwt3 = Jwt::read(&t3).at("5.3")?;
    let shown = ctx.tools("5.3", &client).await?;
    ctx.expect_tools("5.3", &shown, &jwt3.scopes());
    mcp::close(client).await;
    Ok(())
}

/// Step 2.3: rmcp asks for offline_access; does it get a refresh token?
fn offline_access(ctx: &Ctx, login: &oauth::FirstLogin) {
    let asked = scope_set(query_param(&login.authorization_url, "scope").as_deref());
    let prompt = query_param(&login.authorization_url, "prompt");
    let refresh = oauth::refresh_token(&login.token).is_some();
    let detail = format!(
        "rmcp adds offline_access (the AS lists it; SEP-2207): its URL asks scope=[{}] with prompt={}; opened as rmcp built it (bob's login), the AS issued a refresh token: {refresh}",
        list(&asked),
        shown(prompt.as_deref())
    );
    if refresh && asked.contains("offline_access") {
        ctx.report.pass("2.3", detail);
    } else if asked.contains("offline_access") && prompt.is_none() {
        // rmcp auth.rs:2080-2094 `get_authorization_url` sets no `prompt`. OIDC Core
        // §11: an AS honours offline_access only with prompt=consent (unless
        // other conditions permit it), and oidc-provider drops it otherwise.
        ctx.report.deviation(
            "2.3",
            format!("{detail}: without prompt=consent (OIDC Core §11) this AS leaves offline_access out, so rmcp alone gets no refresh token (rmcp 3.11 src/transport/auth.rs:2080-2094 builds the URL with no prompt); for alice the application adds prompt=consent to rmcp's URL before the user agent opens it (2.8)"),
        );
    } else {
        ctx.report.fail("2.3", detail);
    }
}

/// Step 4, the user who may never have mcp:admin: the call stays 403 and the
/// client does not loop.
async fn bob_admin(ctx: &Ctx, challenge: &str) -> Flow<()> {
    let report = &ctx.report;
    let url = ctx.url();
    let agent = UserAgent::new("bob", REDIRECT_URI).at("4.5")?;
    // Bob's authorization URLs are opened exactly as rmcp built them.
    let (bob, bob_login) = oauth::first_login(url, challenge, agent, false)
        .await
        .at("4.5")?;
    offline_access(ctx, &bob_login);
    let client = match mcp::connect_authorized(url, bob.auth.clone())
        .await
        .at("4.5")?
    {
        Ok(client) => client,
        Err(error) => return abort("4.5", mcp::refusal_of_init(&error).describe()),
    };
    let admin = ctx.call("4.5", &client, &ctx.kind.admin_call).await?;
    let params = ctx.expect_forbidden(
        "4.5",
        &format!("bob: {} (admin)", ctx.kind.admin_call.name),
        &admin,
        "mcp:admin",
    )?;
    let required = params.scope.unwrap_or_else(|| "mcp:admin".to_string());

    // The client's policy: step up once; when the grant comes back without
    // the scope, the user may not have it, and retrying cannot change that.
    let up = bob.step_up(&required).await.at("4.6")?;
    let retried = ctx.call("4.6", &client, &ctx.kind.admin_call).await?;
    let stays =
        matches!(&retried, Err(e) if matches!(mcp::refusal_of_call(e), Refusal::Forbidden(_)));
    let stats = Stats::fetch(&ctx.env.issuer).await.at("4.6")?;
    let codes = stats.codes(&bob.client_id);
    report.check(
        "4.6",
        !up.granted.iter().any(|s| s == "mcp:admin") && stays && codes == 2,
        format!(
            "bob stepped up once: asked [{}], granted [{}]; the retried call: {}; the client stops there ({codes} code grants at the AS: login + one step-up)",
            list(&scope_set(query_param(&up.authorization_url, "scope").as_deref())),
            up.granted.join(" "),
            mcp::outcome_text(&retried)
        ),
    );

    // rmcp's own guard, alone: does it bound the loop?
    let mut probes = 0;
    let mut still_403 = true;
    while probes < GUARD_PROBE && bob.upgrade_guard().await.0 {
        let _ = bob.step_up(&required).await.at("4.7")?;
        probes += 1;
        let retried = ctx.call("4.7", &client, &ctx.kind.admin_call).await?;
        still_403 &=
            matches!(&retried, Err(e) if matches!(mcp::refusal_of_call(e), Refusal::Forbidden(_)));
    }
    let (guard, attempts) = bob.upgrade_guard().await;
    let codes_after = Stats::fetch(&ctx.env.issuer)
        .await
        .at("4.7")?
        .codes(&bob.client_id);
    let bounded = codes_after == codes + u64::from(probes) && still_403;
    let detail = format!(
        "driven by rmcp's guard alone (can_attempt_scope_upgrade), bob's client made {probes} more step-ups, each call still 403: {still_403}; the guard now says may-try-again={guard} with attempts={attempts}; the AS counts {codes_after} code grants (bounded by this client at {GUARD_PROBE})"
    );
    if !bounded {
        report.fail("4.7", detail);
    } else if probes >= GUARD_PROBE && guard {
        // rmcp auth.rs:2501 exchange_code_for_token_with_issuer resets
        // scope_upgrade_attempts to 0 on every successful exchange, so a
        // grant that leaves the scope out (a successful exchange) never
        // brings the count to max_upgrade_attempts.
        report.deviation(
            "4.7",
            format!("{detail}: rmcp's max_upgrade_attempts (3) never trips when the AS grants less than asked, because each successful code exchange resets the counter (rmcp 3.11 src/transport/auth.rs:2501, in exchange_code_for_token_with_issuer); an application must bound step-ups itself, as this client does (4.6)"),
        );
    } else {
        report.pass("4.7", detail);
    }
    mcp::close(client).await;
    Ok(())
}

/// Step 7: a machine with `client_credentials` and mcp:read.
async fn machine_flow(ctx: &Ctx) -> Flow<()> {
    let report = &ctx.report;
    let url = ctx.url();
    let log = Log::default();
    let (auth, token) = oauth::machine(url, url, log.clone()).await.at("7.1")?;
    let sent = log.grants("client_credentials");
    let access = oauth::access_token(&token).at("7.1")?;
    let jwt = Jwt::read(&access).at("7.1")?;
    let method = sent.first().map(|g| {
        if g.authorization_header {
            "client_secret_basic"
        } else if g.form_value("client_secret").is_some() {
            "client_secret_post"
        } else {
            "no client authentication"
        }
    });
    report.check(
        "7.1",
        sent.len() == 1
            && sent.first().is_some_and(|g| g.form_value("resource") == Some(url) && g.form_value("scope") == Some("mcp:read"))
            && jwt.audiences() == vec![url.to_string()]
            && jwt.scopes() == ["mcp:read".to_string()].into(),
        format!(
            "rmcp's client_credentials request ({}, resource and scope=mcp:read sent: {}): token aud={:?} scope=[{}] client_id={}",
            shown(method),
            sent.first().is_some_and(|g| g.form_value("resource") == Some(url) && g.form_value("scope") == Some("mcp:read")),
            jwt.audiences(),
            list(&jwt.scopes()),
            shown(jwt.str_claim("client_id"))
        ),
    );
    let client = match mcp::connect_authorized(url, auth).await.at("7.2")? {
        Ok(client) => client,
        Err(error) => return abort("7.2", mcp::refusal_of_init(&error).describe()),
    };
    let shown = ctx.tools("7.2", &client).await?;
    ctx.expect_tools("7.2", &shown, &jwt.scopes());
    let read = ctx.call("7.3", &client, &ctx.kind.read_call).await?;
    report.check(
        "7.3",
        mcp::succeeded(&read),
        format!(
            "machine: {} (read): {}",
            ctx.kind.read_call.name,
            mcp::outcome_text(&read)
        ),
    );
    let write = ctx.call("7.4", &client, &ctx.kind.write_call).await?;
    ctx.expect_forbidden(
        "7.4",
        &format!("machine: {} (write)", ctx.kind.write_call.name),
        &write,
        "mcp:write",
    )?;
    let admin = ctx.call("7.5", &client, &ctx.kind.admin_call).await?;
    ctx.expect_forbidden(
        "7.5",
        &format!("machine: {} (admin)", ctx.kind.admin_call.name),
        &admin,
        "mcp:admin",
    )?;
    mcp::close(client).await;
    Ok(())
}
