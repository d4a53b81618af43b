//! The contract's user agent: the browser of a test user.
//!
//! It opens the authorization URL that rmcp built, with `login_hint` added to
//! pick the user, and follows the authorization server's redirects (login and
//! consent are answered at once by the AS) with a cookie jar, until a
//! `Location` starts with the client's `redirect_uri`. That URL, with its
//! `code`, `state` and `iss`, is what a real browser would hand to the client's
//! redirect listener; nothing listens on the redirect_uri here.

use std::time::Duration;

use reqwest::{StatusCode, Url, header::LOCATION, redirect::Policy};

use crate::Res;

/// More hops than login, consent and the resumes take; a loop stops here.
const MAX_HOPS: usize = 20;

#[derive(Debug)]
pub struct UserAgent {
    http: reqwest::Client,
    user: &'static str,
    redirect_uri: String,
}

impl UserAgent {
    /// A browser for `user` with an empty cookie jar; kept for the client's
    /// later authorizations (step-up), as a real browser keeps its AS session.
    pub fn new(user: &'static str, redirect_uri: &str) -> Res<Self> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self {
            http,
            user,
            redirect_uri: redirect_uri.to_string(),
        })
    }

    /// Runs the authorization request to the redirect back to the client.
    pub async fn authorize(&self, authorization_url: &str) -> Res<Url> {
        let mut url = Url::parse(authorization_url)?;
        url.query_pairs_mut().append_pair("login_hint", self.user);
        let origin = url.origin();
        for _ in 0..MAX_HOPS {
            let response = self.http.get(url.clone()).send().await?;
            let status = response.status();
            if !matches!(
                status,
                StatusCode::FOUND
                    | StatusCode::SEE_OTHER
                    | StatusCode::MOVED_PERMANENTLY
                    | StatusCode::TEMPORARY_REDIRECT
                    | StatusCode::PERMANENT_REDIRECT
            ) {
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(300).collect();
                return Err(format!("user agent: {status} at {url} (no redirect): {body}").into());
            }
            let location = response
                .headers()
                .get(LOCATION)
                .ok_or_else(|| format!("user agent: {status} at {url} without Location"))?
                .to_str()?;
            let next = url.join(location)?;
            if next.as_str().starts_with(&self.redirect_uri) {
                return Ok(next);
            }
            if next.origin() != origin {
                return Err(format!("user agent: redirected off the AS to {next}").into());
            }
            url = next;
        }
        Err(format!("user agent: more than {MAX_HOPS} redirects").into())
    }
}

/// One query parameter of a URL.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
