//! Signing real tokens with the test keys (aws-lc-rs) and the JWKS that
//! publish them: shared by the token crate's tests and benches and, through
//! a `#[path]` include, by the HTTP crate's.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A test key's PKCS#8 bytes, from `crates/token/tests/keys` (the path
/// works from the token and the HTTP crates alike).
pub fn pkcs8(file: &str) -> Vec<u8> {
    let path = format!("{}/../token/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(path).unwrap();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

pub enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key with its `kid`.
pub struct TestKey {
    pub kid: String,
    pub signer: Signer,
}

impl TestKey {
    pub fn rsa(file: &str, kid: &str) -> TestKey {
        TestKey {
            kid: kid.to_owned(),
            signer: Signer::Rsa(RsaKeyPair::from_pkcs8(&pkcs8(file)).unwrap()),
        }
    }

    pub fn ec(kid: &str) -> TestKey {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8("ec-p256.pem"))
            .unwrap();
        TestKey {
            kid: kid.to_owned(),
            signer: Signer::Ec(key),
        }
    }

    pub fn ed(kid: &str) -> TestKey {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8("ed25519.pem")).unwrap();
        TestKey {
            kid: kid.to_owned(),
            signer: Signer::Ed(key),
        }
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(key) => {
                let parts = signature::RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "n": b64(&parts.n), "e": b64(&parts.e)})
            }
            Signer::Ec(key) => {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "kid": self.kid, "crv": "P-256",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Signer::Ed(key) => {
                json!({"kty": "OKP", "kid": self.kid, "crv": "Ed25519", "x": b64(key.public_key().as_ref())})
            }
        }
    }

    /// The public key's bytes (DER for RSA): what an algorithm-confusion
    /// attacker uses as an HMAC secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Rsa(key) => key.public_key().as_ref().to_vec(),
            Signer::Ec(key) => key.public_key().as_ref().to_vec(),
            Signer::Ed(key) => key.public_key().as_ref().to_vec(),
        }
    }

    /// The algorithm this key signs with by default.
    pub fn alg(&self) -> &'static str {
        match &self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
            Signer::Ed(_) => "EdDSA",
        }
    }

    /// Signs `message` with `alg` (RS*/PS* for RSA keys).
    pub fn sign_bytes(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(key) => {
                let encoding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("RSA key cannot sign {other}"),
                };
                rsa_sign(key, encoding, message)
            }
            Signer::Ec(key) => key.sign(&rng, message).unwrap().as_ref().to_vec(),
            Signer::Ed(key) => key.sign(message).as_ref().to_vec(),
        }
    }

    /// A token with this key's `kid` and default algorithm.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with(
            &json!({"alg": self.alg(), "typ": "at+jwt", "kid": self.kid}),
            claims,
        )
    }

    /// A token with this header, signed with the header's `alg`.
    pub fn token_with(&self, header: &Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap().to_owned();
        sign_with(header, claims, |message| self.sign_bytes(&alg, message))
    }
}

/// `header.payload.signature`, the signature from `sign` over `header.payload`.
pub fn sign_with(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

pub fn hmac(algorithm: aws_lc_rs::hmac::Algorithm, secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

pub fn jwks_of(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()}).to_string()
}

/// An RSA signature of `message` with `encoding` (`RSA_PKCS1_SHA256` for RS256).
pub fn rsa_sign(
    key: &RsaKeyPair,
    encoding: &'static dyn signature::RsaEncoding,
    message: &[u8],
) -> Vec<u8> {
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(encoding, &SystemRandom::new(), message, &mut signature)
        .unwrap();
    signature
}
