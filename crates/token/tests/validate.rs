//! The validator against real signed tokens: what it accepts, and every
//! attack it must reject, with the reason it gives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mcp_policy_token::{
    Algorithm, ConfigError, KeySource, ManualClock, Rejection, Validator, ValidatorConfig,
};
use serde_json::{Value, json};

fn rsa() -> TestKey {
    TestKey::rsa("rsa-1.pem", "rsa-1")
}

fn validator_for(keys: &[&TestKey]) -> Validator {
    Validator::new(config(KeySource::Jwks(jwks_of(keys)))).unwrap()
}

fn reason(validator: &Validator, token: &str) -> Rejection {
    validator.validate_with_keys(token).unwrap_err()
}

#[test]
fn accepts_rs_ps_es_and_eddsa_tokens() {
    let rsa = rsa();
    let ec = TestKey::ec("ec-1");
    let ed = TestKey::ed("ed-1");
    let validator = validator_for(&[&rsa, &ec, &ed]);
    for (key, alg) in [
        (&rsa, "RS256"),
        (&rsa, "RS384"),
        (&rsa, "RS512"),
        (&rsa, "PS256"),
        (&rsa, "PS384"),
        (&rsa, "PS512"),
        (&ec, "ES256"),
        (&ed, "EdDSA"),
    ] {
        let token = key.token_with(&json!({"alg": alg, "kid": key.kid}), &claims());
        let principal = validator
            .validate_with_keys(&token)
            .unwrap_or_else(|rejection| panic!("{alg}: {rejection}"));
        assert_eq!(principal.subject, "user-1");
        assert_eq!(principal.client_id.as_deref(), Some("app-7"));
        assert_eq!(principal.issuer, ISS);
        assert_eq!(principal.scopes, ["mcp:read", "github:repos"]);
        assert_eq!(principal.expires_at, NOW + 3600);
        assert_eq!(principal.algorithm.as_str(), alg);
        assert_eq!(principal.key_id.as_deref(), Some(key.kid.as_str()));
        assert_eq!(principal.claims["iat"], json!(NOW - 60));
    }
}

#[tokio::test]
async fn the_async_path_decides_as_the_sync_one() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    assert!(validator.validate(&rsa.token(&claims())).await.is_ok());
    let expired = rsa.token(&claims_with(json!({"exp": NOW - 3600})));
    assert_eq!(
        validator.validate(&expired).await.unwrap_err(),
        Rejection::Expired
    );
}

#[test]
fn a_token_without_kid_is_tried_against_the_keys_that_fit() {
    let rsa = rsa();
    let ec = TestKey::ec("ec-1");
    let validator = validator_for(&[&ec, &rsa]);
    let token = rsa.token_with(&json!({"alg": "RS256"}), &claims());
    assert!(validator.validate_with_keys(&token).is_ok());
    // Only the RSA key fits RS256: one verification, not two.
    assert_eq!(validator.stats().signature_verifications, 1);
}

#[test]
fn alg_none_is_never_accepted() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "kid": "rsa-1"}).to_string().as_bytes());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.{}", b64(b"x")),
        ] {
            assert_eq!(
                reason(&validator, &token),
                Rejection::AlgNotAllowed,
                "{token}"
            );
        }
    }
    assert_eq!(validator.stats().signature_verifications, 0);
}

#[test]
fn an_rsa_public_key_never_verifies_an_hmac_token() {
    // The classic algorithm confusion: HS256 "signed" with the public key.
    let rsa = rsa();
    let jwks_text = jwks_of(&[&rsa]);
    let validator = validator_for(&[&rsa]);
    for secret in [rsa.public_bytes(), jwks_text.clone().into_bytes()] {
        for (alg, hmac_alg) in [
            ("HS256", aws_lc_rs::hmac::HMAC_SHA256),
            ("HS384", aws_lc_rs::hmac::HMAC_SHA384),
            ("HS512", aws_lc_rs::hmac::HMAC_SHA512),
        ] {
            let token = sign_with(&json!({"alg": alg, "kid": "rsa-1"}), &claims(), |m| {
                hmac(hmac_alg, &secret, m)
            });
            assert_eq!(reason(&validator, &token), Rejection::AlgNotAllowed);
        }
    }
    assert_eq!(validator.stats().signature_verifications, 0);

    // Even with HS256 allowed (it needs a configured secret), the JWKS's
    // RSA key is never the HMAC key, nor is an `oct` key in the JWKS.
    let mut config = config(KeySource::Jwks(
        json!({"keys": [rsa.jwk(), {"kty": "oct", "kid": "rsa-1", "k": b64(&rsa.public_bytes())}]})
            .to_string(),
    ));
    config.algorithms.push(Algorithm::Hs256);
    config.shared_secret = Some(vec![7; 32]);
    let validator = Validator::new(config).unwrap();
    let confused = sign_with(&json!({"alg": "HS256", "kid": "rsa-1"}), &claims(), |m| {
        hmac(aws_lc_rs::hmac::HMAC_SHA256, &rsa.public_bytes(), m)
    });
    assert_eq!(reason(&validator, &confused), Rejection::BadSignature);
    // The configured secret does verify.
    let genuine = sign_with(&json!({"alg": "HS256"}), &claims(), |m| {
        hmac(aws_lc_rs::hmac::HMAC_SHA256, &[7; 32], m)
    });
    assert!(validator.validate_with_keys(&genuine).is_ok());
}

#[test]
fn hmac_needs_an_explicit_strong_secret() {
    let rsa = rsa();
    let mut config = config(KeySource::Jwks(jwks_of(&[&rsa])));
    config.algorithms = vec![Algorithm::Hs256];
    assert!(matches!(
        Validator::new(config.clone()),
        Err(ConfigError::SymmetricWithoutSecret(Algorithm::Hs256))
    ));
    config.shared_secret = Some(b"short".to_vec());
    assert!(matches!(
        Validator::new(config),
        Err(ConfigError::WeakSecret)
    ));
}

#[test]
fn the_key_type_must_fit_the_algorithm() {
    // An ES256 token naming the RSA key's kid: the RSA key is not tried.
    let rsa = rsa();
    let ec = TestKey::ec("rsa-1");
    let validator = validator_for(&[&rsa]);
    let token = ec.token(&claims());
    assert_eq!(reason(&validator, &token), Rejection::BadSignature);
    assert_eq!(validator.stats().signature_verifications, 0);
    // A JWK pinned to RS384 does not verify RS256.
    let mut jwk = rsa.jwk();
    jwk["alg"] = json!("RS384");
    let pinned =
        Validator::new(config(KeySource::Jwks(json!({"keys": [jwk]}).to_string()))).unwrap();
    assert_eq!(
        reason(&pinned, &rsa.token(&claims())),
        Rejection::BadSignature
    );
    let rs384 = rsa.token_with(&json!({"alg": "RS384", "kid": "rsa-1"}), &claims());
    assert!(pinned.validate_with_keys(&rs384).is_ok());
}

#[test]
fn an_algorithm_off_the_allow_list_is_rejected_before_key_work() {
    let rsa = rsa();
    let mut config = config(KeySource::Jwks(jwks_of(&[&rsa])));
    config.algorithms = vec![Algorithm::Es256];
    let validator = Validator::new(config).unwrap();
    assert_eq!(
        reason(&validator, &rsa.token(&claims())),
        Rejection::AlgNotAllowed
    );
    assert_eq!(validator.stats().signature_verifications, 0);
}

#[test]
fn time_claims_and_the_leeway() {
    let rsa = rsa();
    let clock = Arc::new(ManualClock::new(NOW));
    let validator =
        Validator::new(config_at(KeySource::Jwks(jwks_of(&[&rsa])), clock.clone())).unwrap();
    let exp = NOW + 100;
    let token = rsa.token(&claims_with(json!({"exp": exp, "nbf": NOW - 10})));
    // Valid until `exp` + 60 s of leeway, excluded.
    clock.set(exp + 59);
    assert!(validator.validate_with_keys(&token).is_ok());
    clock.set(exp + 60);
    assert_eq!(reason(&validator, &token), Rejection::Expired);

    let future = rsa.token(&claims_with(json!({"nbf": NOW + 1000})));
    clock.set(NOW + 1000 - 60);
    assert!(validator.validate_with_keys(&future).is_ok());
    clock.set(NOW + 1000 - 61);
    assert_eq!(reason(&validator, &future), Rejection::NotYetValid);

    // Fractional NumericDates are seconds too.
    clock.set(NOW);
    let fractional = rsa.token(&claims_with(json!({"exp": (NOW + 10) as f64 + 0.5})));
    assert!(validator.validate_with_keys(&fractional).is_ok());
    let text = rsa.token(&claims_with(json!({"exp": "tomorrow"})));
    assert_eq!(reason(&validator, &text), Rejection::Malformed);
}

#[test]
fn zero_leeway_is_exact() {
    let rsa = rsa();
    let clock = Arc::new(ManualClock::new(NOW));
    let mut config = config_at(KeySource::Jwks(jwks_of(&[&rsa])), clock.clone());
    config.leeway = Duration::ZERO;
    let validator = Validator::new(config).unwrap();
    let token = rsa.token(&claims_with(json!({"exp": NOW + 1})));
    assert!(validator.validate_with_keys(&token).is_ok());
    clock.set(NOW + 1);
    assert_eq!(reason(&validator, &token), Rejection::Expired);
}

#[test]
fn issuer_and_audience() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    let cases = [
        (
            json!({"iss": "https://evil.example.com"}),
            Rejection::WrongIssuer,
        ),
        (json!({"iss": format!("{ISS}/")}), Rejection::WrongIssuer),
        (
            json!({"aud": "https://other.example.com"}),
            Rejection::WrongAudience,
        ),
        (json!({"aud": format!("{AUD}/")}), Rejection::WrongAudience),
        (
            json!({"aud": ["https://other.example.com"]}),
            Rejection::WrongAudience,
        ),
        (json!({"aud": []}), Rejection::WrongAudience),
        (json!({"aud": [AUD, 7]}), Rejection::Malformed),
        (json!({"iss": null}), Rejection::MissingClaim),
        (json!({"aud": null}), Rejection::MissingClaim),
        (json!({"exp": null}), Rejection::MissingClaim),
        (json!({"sub": null}), Rejection::MissingClaim),
    ];
    for (changes, expected) in cases {
        let token = rsa.token(&claims_with(changes.clone()));
        assert_eq!(reason(&validator, &token), expected, "{changes}");
    }
    let token = rsa.token(&claims_with(
        json!({"aud": ["https://other.example.com", AUD]}),
    ));
    assert!(validator.validate_with_keys(&token).is_ok());

    let mut config = config(KeySource::Jwks(jwks_of(&[&rsa])));
    config
        .issuers
        .push("https://other-issuer.example.com".to_owned());
    config.required_claims.push("jti".to_owned());
    let validator = Validator::new(config).unwrap();
    let token = rsa.token(&claims_with(
        json!({"iss": "https://other-issuer.example.com", "jti": "1"}),
    ));
    assert!(validator.validate_with_keys(&token).is_ok());
    let no_jti = rsa.token(&claims());
    assert_eq!(reason(&validator, &no_jti), Rejection::MissingClaim);
}

#[test]
fn unknown_kid() {
    let rsa = rsa();
    let other = TestKey::rsa("rsa-2.pem", "rsa-2");
    let validator = validator_for(&[&rsa]);
    assert_eq!(
        reason(&validator, &other.token(&claims())),
        Rejection::UnknownKid
    );
    // The right kid with another key's signature is a bad signature.
    let impostor = TestKey::rsa("rsa-2.pem", "rsa-1");
    assert_eq!(
        reason(&validator, &impostor.token(&claims())),
        Rejection::BadSignature
    );
}

#[test]
fn tampered_payload_and_signature() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    let token = rsa.token(&claims());
    let parts: Vec<&str> = token.split('.').collect();

    let escalated = b64(claims_with(json!({"scope": "mcp:admin"}))
        .to_string()
        .as_bytes());
    let tampered = format!("{}.{escalated}.{}", parts[0], parts[2]);
    assert_eq!(reason(&validator, &tampered), Rejection::BadSignature);

    let mut signature = base64_decode(parts[2]);
    signature[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    assert_eq!(reason(&validator, &flipped), Rejection::BadSignature);

    let truncated = format!("{}.{}.{}", parts[0], parts[1], b64(&signature[..100]));
    assert_eq!(reason(&validator, &truncated), Rejection::BadSignature);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn keys_named_in_the_header_are_never_trusted() {
    let rsa = rsa();
    let attacker = TestKey::rsa("rsa-attacker.pem", "attacker");
    let validator = validator_for(&[&rsa]);
    let attacker_jwk = attacker.jwk();
    for (header, expected) in [
        // The attacker's own key, embedded or pointed at.
        (
            json!({"alg": "RS256", "kid": "attacker", "jwk": attacker_jwk}),
            Rejection::UnknownKid,
        ),
        (
            json!({"alg": "RS256", "kid": "attacker", "jku": "https://evil.example.com/jwks"}),
            Rejection::UnknownKid,
        ),
        (
            json!({"alg": "RS256", "kid": "attacker", "x5u": "https://evil.example.com/cert.pem"}),
            Rejection::UnknownKid,
        ),
        (
            json!({"alg": "RS256", "jwk": attacker_jwk}),
            Rejection::BadSignature,
        ),
        // Or claiming the real kid.
        (
            json!({"alg": "RS256", "kid": "rsa-1", "jwk": attacker_jwk}),
            Rejection::BadSignature,
        ),
        (
            json!({"alg": "RS256", "kid": "rsa-1", "jku": "https://evil.example.com/jwks"}),
            Rejection::BadSignature,
        ),
        (
            json!({"alg": "RS256", "kid": "rsa-1", "x5u": "https://evil.example.com/cert.pem"}),
            Rejection::BadSignature,
        ),
    ] {
        let token = attacker.token_with(&header, &claims());
        assert_eq!(reason(&validator, &token), expected, "{header}");
    }
}

#[test]
fn crit_is_rejected_unless_understood() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    for crit in [
        json!(["exp"]),
        json!(["b64"]),
        json!(["https://example.com/ext"]),
    ] {
        let header = json!({"alg": "RS256", "kid": "rsa-1", "crit": crit, "b64": false, "https://example.com/ext": 1});
        let token = rsa.token_with(&header, &claims());
        assert_eq!(reason(&validator, &token), Rejection::UnsupportedCrit);
    }
    for crit in [json!([]), json!("exp"), json!([1])] {
        let header = json!({"alg": "RS256", "kid": "rsa-1", "crit": crit});
        let token = rsa.token_with(&header, &claims());
        assert_eq!(reason(&validator, &token), Rejection::Malformed, "{crit}");
    }
}

#[test]
fn typ_at_jwt_when_required() {
    let rsa = rsa();
    let mut config = config(KeySource::Jwks(jwks_of(&[&rsa])));
    config.require_at_jwt = true;
    let strict = Validator::new(config).unwrap();
    let lax = validator_for(&[&rsa]);
    for (typ, accepted) in [
        (json!("at+jwt"), true),
        (json!("AT+JWT"), true),
        (json!("application/at+jwt"), true),
        (json!("JWT"), false),
        (json!("jwt"), false),
        (Value::Null, false),
        (json!(1), false),
    ] {
        let mut header = json!({"alg": "RS256", "kid": "rsa-1"});
        if !typ.is_null() {
            header["typ"] = typ.clone();
        }
        let token = rsa.token_with(&header, &claims());
        let result = strict.validate_with_keys(&token);
        if accepted {
            assert!(result.is_ok(), "{typ}");
        } else {
            assert_eq!(result.unwrap_err(), Rejection::WrongType, "{typ}");
        }
        assert!(lax.validate_with_keys(&token).is_ok(), "{typ}");
    }
}

#[test]
fn oversized_tokens_are_rejected_unread() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    let big = claims_with(json!({"padding": "x".repeat(9 * 1024)}));
    let token = rsa.token(&big);
    assert_eq!(reason(&validator, &token), Rejection::TooLarge);
    assert_eq!(
        reason(&validator, &"a".repeat(1 << 20)),
        Rejection::TooLarge
    );
    assert_eq!(validator.stats().signature_verifications, 0);

    let mut config = config(KeySource::Jwks(jwks_of(&[&rsa])));
    config.max_token_bytes = 64 * 1024;
    assert!(
        Validator::new(config)
            .unwrap()
            .validate_with_keys(&token)
            .is_ok()
    );
}

#[test]
fn malformed_tokens() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    let good = rsa.token(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let header = parts[0];
    let payload = parts[1];
    let signature = parts[2];
    let not_object = b64(b"[1,2]");
    let not_json = b64(b"{\"alg\":");
    for token in [
        String::new(),
        ".".to_owned(),
        "..".to_owned(),
        "a.b".to_owned(),
        format!("{header}.{payload}"),
        format!("{header}.{payload}.{signature}.{signature}"),
        format!("{header}.{payload}."),
        format!("{header}..{signature}"),
        format!(".{payload}.{signature}"),
        format!("{header}={payload}.{signature}"),
        format!("{header}.{payload}.{signature}="),
        format!("{header}.{payload}.{signature}!"),
        format!("{header}.{payload}.{signature}=="),
        format!("{not_object}.{payload}.{signature}"),
        format!("{not_json}.{payload}.{signature}"),
        format!("{header}.{not_object}.{signature}"),
        format!("{header}.{not_json}.{signature}"),
        format!("{}.{payload}.{signature}", b64(br#"{"kid":"rsa-1"}"#)),
        format!("{}.{payload}.{signature}", b64(br#"{"alg":256}"#)),
        format!(
            "{}.{payload}.{signature}",
            b64(br#"{"alg":"RS256","kid":1}"#)
        ),
        format!("Bearer {good}"),
        format!(" {good}"),
    ] {
        assert_eq!(
            reason(&validator, &token),
            Rejection::Malformed,
            "{token:?}"
        );
    }
    assert_eq!(validator.stats().signature_verifications, 0);
}

#[test]
fn scopes_from_scope_scp_permissions_and_configured_claims() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    let scopes = |validator: &Validator, changes: Value| {
        let token = rsa.token(&claims_with(changes));
        validator.validate_with_keys(&token).map(|p| p.scopes)
    };
    assert_eq!(
        scopes(&validator, json!({"scope": "a  b c "})).unwrap(),
        ["a", "b", "c"]
    );
    assert_eq!(
        scopes(&validator, json!({"scope": null, "scp": "a b"})).unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        scopes(&validator, json!({"scope": null, "scp": ["a", "b c"]})).unwrap(),
        ["a", "b c"]
    );
    // Every scope claim is read, as one set: `scope`'s first, each scope once.
    assert_eq!(
        scopes(&validator, json!({"scope": "a b", "scp": ["b", "c"]})).unwrap(),
        ["a", "b", "c"]
    );
    // Auth0's RBAC: the scopes are in `permissions`, read by default.
    assert_eq!(
        scopes(
            &validator,
            json!({"scope": null, "permissions": ["read:repos", "write:issues"]})
        )
        .unwrap(),
        ["read:repos", "write:issues"]
    );
    // A malformed claim fails the token even beside a good one.
    assert_eq!(
        scopes(
            &validator,
            json!({"scope": "a", "permissions": "p", "scp": 1})
        )
        .unwrap_err(),
        Rejection::Malformed
    );
    assert!(
        scopes(&validator, json!({"scope": null}))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        scopes(&validator, json!({"scope": ["a", 1]})).unwrap_err(),
        Rejection::Malformed
    );
    assert_eq!(
        scopes(&validator, json!({"scope": 5})).unwrap_err(),
        Rejection::Malformed
    );
    // Tab is not a separator (RFC 6749 §3.3).
    assert_eq!(
        scopes(&validator, json!({"scope": "a\tb"})).unwrap(),
        ["a\tb"]
    );

    let mut narrowed = config(KeySource::Jwks(jwks_of(&[&rsa])));
    narrowed.scope_claims = vec!["scope".to_owned()];
    let scope_only = Validator::new(narrowed).unwrap();
    assert_eq!(
        scopes(
            &scope_only,
            json!({"scope": "a", "permissions": ["p"], "scp": 1})
        )
        .unwrap(),
        ["a"]
    );

    let mut config = config(KeySource::Jwks(jwks_of(&[&rsa])));
    config.scope_claims = vec!["permissions".to_owned()];
    let permissions = Validator::new(config).unwrap();
    assert_eq!(
        scopes(
            &permissions,
            json!({"permissions": ["read:repos", "write:issues"]})
        )
        .unwrap(),
        ["read:repos", "write:issues"]
    );
    assert!(
        scopes(&permissions, json!({"permissions": null}))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn client_id_falls_back_to_azp() {
    let rsa = rsa();
    let validator = validator_for(&[&rsa]);
    let token = rsa.token(&claims_with(json!({"client_id": null, "azp": "spa"})));
    assert_eq!(
        validator
            .validate_with_keys(&token)
            .unwrap()
            .client_id
            .as_deref(),
        Some("spa")
    );
    let token = rsa.token(&claims_with(json!({"client_id": null})));
    assert_eq!(
        validator.validate_with_keys(&token).unwrap().client_id,
        None
    );
}

#[test]
fn bad_configurations() {
    let rsa = rsa();
    let good = config(KeySource::Jwks(jwks_of(&[&rsa])));
    let mut no_issuer = good.clone();
    no_issuer.issuers.clear();
    assert!(matches!(
        Validator::new(no_issuer),
        Err(ConfigError::NoIssuer)
    ));
    let mut no_audience = good.clone();
    no_audience.audience.clear();
    assert!(matches!(
        Validator::new(no_audience),
        Err(ConfigError::NoAudience)
    ));
    let mut no_algorithms = good.clone();
    no_algorithms.algorithms.clear();
    assert!(matches!(
        Validator::new(no_algorithms),
        Err(ConfigError::NoAlgorithms)
    ));
    for (jwks, expected) in [
        ("not json", "invalid JWKS"),
        ("{}", "invalid JWKS"),
        (r#"{"keys": []}"#, "no signature key"),
        (
            r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#,
            "no signature key",
        ),
    ] {
        let error = Validator::new(config(KeySource::Jwks(jwks.to_owned()))).unwrap_err();
        assert!(error.to_string().contains(expected), "{jwks}: {error}");
    }
    for url in [
        "http://auth.example.com/jwks",
        "ftp://127.0.0.1/jwks",
        "not a url",
    ] {
        assert!(matches!(
            Validator::new(config(KeySource::Url(url.to_owned()))),
            Err(ConfigError::InvalidJwksUrl(_))
        ));
    }
    assert!(matches!(
        Validator::new(config(KeySource::File("/nonexistent/jwks.json".into()))),
        Err(ConfigError::ReadJwks { .. })
    ));
}

#[test]
fn jwks_keys_not_for_signing_are_skipped() {
    let rsa = rsa();
    let mut encryption = rsa.jwk();
    encryption["use"] = json!("enc");
    let mut wrap_only = rsa.jwk();
    wrap_only["use"] = Value::Null;
    wrap_only["key_ops"] = json!(["wrapKey"]);
    let mut verify_op = rsa.jwk();
    verify_op["kid"] = json!("ops");
    verify_op["use"] = Value::Null;
    verify_op["key_ops"] = json!(["verify"]);
    let text = json!({"keys": [encryption, wrap_only, {"kty": "XYZ"}, verify_op]}).to_string();
    let validator = Validator::new(config(KeySource::Jwks(text))).unwrap();
    assert_eq!(
        reason(&validator, &rsa.token(&claims())),
        Rejection::UnknownKid
    );
    let ops = TestKey::rsa("rsa-1.pem", "ops");
    assert!(validator.validate_with_keys(&ops.token(&claims())).is_ok());
}

#[test]
fn a_jwks_file_is_reread_on_an_unknown_kid_rate_limited() {
    let old = rsa();
    let new = TestKey::rsa("rsa-2.pem", "rsa-2");
    let dir = std::env::temp_dir().join(format!("mcp-policy-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks_of(&[&old])).unwrap();

    let mut config = config(KeySource::File(path.clone()));
    config.jwks_refetch_interval = Duration::from_millis(200);
    let validator = Validator::new(config).unwrap();
    assert!(validator.validate_with_keys(&old.token(&claims())).is_ok());

    // Rotation: the file gains the new key; the first token with its kid
    // (once the rate limit allows) re-reads the file.
    std::fs::write(&path, jwks_of(&[&old, &new])).unwrap();
    std::thread::sleep(Duration::from_millis(250));
    assert!(validator.validate_with_keys(&new.token(&claims())).is_ok());
    assert_eq!(validator.stats().jwks_fetches, 1);
    // Unknown kids within the interval do not re-read it.
    let stranger = TestKey::rsa("rsa-attacker.pem", "stranger");
    for _ in 0..5 {
        assert_eq!(
            reason(&validator, &stranger.token(&claims())),
            Rejection::UnknownKid
        );
    }
    assert_eq!(validator.stats().jwks_fetches, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validators_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Validator>();
    assert_send_sync::<mcp_policy_token::TokenCache<Vec<u8>>>();
    fn assert_send<T: Send>(_: &T) {}
    let validator = validator_for(&[&rsa()]);
    assert_send(&validator.validate("x"));
    let _ = ValidatorConfig::new(ISS, AUD, KeySource::Jwks(String::new()));
}
