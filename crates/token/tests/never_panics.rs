//! Whatever arrives in an `Authorization` header, the validator rejects it
//! without panicking, unless it is the genuine token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;

use common::*;
use mcp_policy_token::{KeySource, Validator};
use proptest::prelude::*;

struct Fixture {
    validator: Validator,
    token: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
        let ec = TestKey::ec("ec-1");
        Fixture {
            validator: Validator::new(config(KeySource::Jwks(jwks_of(&[&rsa, &ec])))).unwrap(),
            token: rsa.token(&claims()),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(fixture().validator.validate_with_keys(&text).is_err());
    }

    #[test]
    fn random_token_shapes_are_rejected(text in "[A-Za-z0-9_\\-=.+/ ]{0,300}") {
        prop_assert!(fixture().validator.validate_with_keys(&text).is_err());
    }

    #[test]
    fn random_json_parts_are_rejected(
        header in "\\{(\"(alg|kid|typ|crit|jwk)\":(\"[A-Za-z0-9-]{0,8}\"|\\[\\]|1|null),?){0,4}\\}",
        payload in "\\{(\"(iss|aud|exp|nbf|sub|scope)\":(\"[a-z:]{0,8}\"|-?[0-9]{1,12}|\\[\\]|null),?){0,6}\\}",
        signature in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let token = format!("{}.{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()), b64(&signature));
        prop_assert!(fixture().validator.validate_with_keys(&token).is_err());
    }

    #[test]
    fn any_change_to_a_genuine_token_is_rejected(
        position in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_\\-.=]",
    ) {
        let genuine = &fixture().token;
        let at = position.index(genuine.len());
        let mut changed = genuine.clone();
        changed.replace_range(at..=at, &replacement);
        prop_assume!(&changed != genuine);
        prop_assert!(fixture().validator.validate_with_keys(&changed).is_err(), "{}", changed);
    }
}

#[test]
fn the_genuine_token_is_accepted() {
    assert!(
        fixture()
            .validator
            .validate_with_keys(&fixture().token)
            .is_ok()
    );
}
