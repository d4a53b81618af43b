//! One signing key's public JWKS and a token it signed, for the tests that
//! verify tokens (`token verify`, `explain --claims TOKEN`): RS256 with
//! crates/token/tests/keys/rsa-1.pem, at a fixed `--now`.

use std::path::PathBuf;

pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "https://mcp.example.com";
/// The tokens' `iat` is a minute earlier, their `exp` an hour later.
pub const NOW: &str = "1700000000";

// Generated with crates/token/tests/common (`TestKey::token`): RS256,
// kid `rsa-1`, typ `at+jwt`, sub `user-1`, client_id `app-7`.
/// The public JWKS of `rsa-1.pem`.
pub const JWKS: &str = r#"{"keys":[{"e":"AQAB","kid":"rsa-1","kty":"RSA","n":"yHXpMK49yIFIAgx9hi0CQy0t92o4QbmCxMo6a0uCWoe_u-IwcvXNRWjetz6sXnDMKlbZJPGDRqhEILgd_HYdv7cYvs0VwYlV56o1ORhTbyWMV9OLSym4s7Xm6VarnChBHJgvRdbek-3lnToczoE4u1ENea7M9h04Ri737p6mq9h8bBOjfvGA2b1k4MuS9rWAuL1WUi5H_QcXYTbGLAm1BDOZ-FTrxJXZ31Hg7EvmSsrSQ9WkZy7XNFUm8O0Cm303FrpMzc0WqSgDklLOZdIMqUHxfL5tI-pnFGqcLybikD1Z8uHrXR8-vw7saJuQrRrth16mTB-vpRHFiW7ficfrVw","use":"sig"}]}"#;
/// scope: "mcp:read github:repos".
pub const VALID: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiYXQrand0In0.eyJhdWQiOiJodHRwczovL21jcC5leG\
FtcGxlLmNvbSIsImNsaWVudF9pZCI6ImFwcC03IiwiZXhwIjoxNzAwMDAzNjAwLCJpYXQiOjE2OTk5OTk5NDAsImlz\
cyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlLmNvbSIsInNjb3BlIjoibWNwOnJlYWQgZ2l0aHViOnJlcG9zIiwic3ViIj\
oidXNlci0xIn0.PMtpuOxozWoMphAg0GEzKrBPd9573UqbzNWz7INRj6JwiG95g9BcXyxTHqaQ3zi1BKK_Xh93WMjY\
NmRYJjqjDBnRTb8otcMSn-prZ1hG49Kxh7lNKy20meJKT_OzPJLM-tAzOakx4qf2UMXzju35JCR6dVT0OZux3jxRPr\
FJN6vLZ-gIO70JpUeZo0OfoEaAvEy7-ISrgI_YPAVLDTV_AbEWpj5KhUXhU5rY8D85bRUD8ly34JF09nMGZFTSYWgJ\
KVZV-bq0ECMoWbKFsrdeTmY0hynGqM79xE_Xu4Vk_rTMXHm7CNAXOGV-JEt5hMRl_Pgq5N4I41c5rNTyqLy3Jg";

/// The JWKS in a directory of its own: per test binary and test name, as
/// tests run in parallel.
pub fn jwks_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mcp-policy-cli-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, JWKS).unwrap();
    path
}
