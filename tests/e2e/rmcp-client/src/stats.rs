//! The AS's own count of the grants it made (`GET $E2E_AS/test/stats`): what
//! reached the authorization server, whatever the client believes it sent.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::Res;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub refresh: BTreeMap<String, u64>,
    pub code: BTreeMap<String, u64>,
    pub client_credentials: BTreeMap<String, u64>,
    pub registrations: u64,
}

impl Stats {
    pub async fn fetch(issuer: &str) -> Res<Self> {
        let response = reqwest::get(format!("{issuer}/test/stats"))
            .await?
            .error_for_status()?;
        Ok(response.json().await?)
    }

    pub fn refreshes(&self, client_id: &str) -> u64 {
        self.refresh.get(client_id).copied().unwrap_or(0)
    }

    pub fn codes(&self, client_id: &str) -> u64 {
        self.code.get(client_id).copied().unwrap_or(0)
    }
}
