//! ID tokens: header and claims written as JSON (see [`super::jwt`]), bent by the ID-token
//! misbehaviours, then signed.

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::CoreJwsSigningAlgorithm;
use rand::RngCore as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::behaviour::{Behaviour, Misbehaviour};
use super::jwt::{self, Signer};
use super::keys::SigningKeys;

/// The `kid` of the key the `ForeignKeyIn*` misbehaviours sign with.
pub(crate) const ATTACKER_KID: &str = "attacker-key";
/// Where [`Misbehaviour::ForeignKeyInJku`] points (under the issuer path).
pub(crate) const ATTACKER_JWKS_PATH: &str = "/attacker/jwks";
/// Where [`Misbehaviour::ForeignKeyInX5u`] points (under the issuer path).
pub(crate) const ATTACKER_CERT_PATH: &str = "/attacker/cert.pem";

/// Everything an ID token says.
pub(crate) struct IdTokenInput<'a> {
    /// The issuer the token names (see [`Misbehaviour::AnnounceIssuer`]; for an Entra
    /// multi-tenant provider, the user's tenant's issuer).
    pub(crate) issuer: String,
    /// Where the provider is really served (issuer path included), for `jku` and `x5u`.
    pub(crate) served_at: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a str,
    /// The nonce to carry, if any (a refreshed ID token normally has none).
    pub(crate) nonce: Option<&'a str>,
    /// The provider-side session (OpenID Connect Back-Channel Logout 1.0 section 2.1).
    pub(crate) sid: Option<&'a str>,
    pub(crate) auth_time: SystemTime,
    pub(crate) lifetime: Duration,
    /// The user's claims, `sub` included.
    pub(crate) claims: Map<String, Value>,
    /// Bound to the ID token through `at_hash`.
    pub(crate) access_token: &'a str,
}

/// Signs an ID token, RS256 unless a misbehaviour says otherwise; the error says why
/// (never including a token or secret).
pub(crate) fn sign_id_token(
    input: IdTokenInput<'_>,
    keys: &SigningKeys,
    behaviour: &Behaviour,
) -> Result<String, String> {
    let on = |m: Misbehaviour| behaviour.has(&m);
    let client_secret = input.client_secret;
    let header = header(&input, keys, behaviour);
    let payload = payload(input, behaviour)?;

    let signer = if on(Misbehaviour::AlgNone) {
        Signer::Unsigned
    } else if on(Misbehaviour::Hs256WithClientSecret) {
        Signer::Hs256(client_secret.as_bytes().to_vec())
    } else if on(Misbehaviour::Hs256WithPublicKeyPem) {
        Signer::Hs256(
            keys.public_key_pem()
                .ok_or("the public key cannot be written as PEM")?
                .into_bytes(),
        )
    } else if on(Misbehaviour::Hs256WithPublicKeyModulus) {
        Signer::Hs256(
            keys.public_modulus()
                .ok_or("the public key has no modulus")?,
        )
    } else if behaviour.any(&[
        Misbehaviour::ForeignKeyInJku,
        Misbehaviour::ForeignKeyInJwk,
        Misbehaviour::ForeignKeyInX5u,
    ]) {
        Signer::Rs256Other
    } else {
        Signer::Rs256Current
    };
    let mut header = header;
    header.insert("alg".to_owned(), Value::String(signer.alg().to_owned()));
    #[cfg(test)]
    let (header, payload) = behaviour.hooks.edit_id_token(header, payload);

    let rsa_alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    // A test's edited header may name another RSA algorithm; the RSA signers then use it.
    #[cfg(test)]
    let rsa_alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS384") => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        Some("RS512") => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
        _ => rsa_alg,
    };
    jwt::sign(
        &header,
        &payload,
        &signer,
        &rsa_alg,
        keys,
        on(Misbehaviour::BadSignature),
    )
}

/// The JOSE header, without `alg`.
fn header(
    input: &IdTokenInput<'_>,
    keys: &SigningKeys,
    behaviour: &Behaviour,
) -> Map<String, Value> {
    let on = |m: Misbehaviour| behaviour.has(&m);
    let mut header = Map::new();
    let typ = if on(Misbehaviour::AccessTokenType) {
        "at+jwt"
    } else {
        "JWT"
    };
    header.insert("typ".to_owned(), Value::String(typ.to_owned()));
    if !behaviour.any(&[Misbehaviour::NoKeyId, Misbehaviour::NoKeyIdSeveralKeys]) {
        header.insert("kid".to_owned(), Value::String(keys.kid().to_owned()));
    }
    let foreign = [
        Misbehaviour::ForeignKeyInJku,
        Misbehaviour::ForeignKeyInJwk,
        Misbehaviour::ForeignKeyInX5u,
    ];
    if behaviour.any(&foreign) {
        header.insert("kid".to_owned(), Value::String(ATTACKER_KID.to_owned()));
    }
    if on(Misbehaviour::ForeignKeyInJku) {
        header.insert(
            "jku".to_owned(),
            Value::String(format!("{}{ATTACKER_JWKS_PATH}", input.served_at)),
        );
    }
    if on(Misbehaviour::ForeignKeyInJwk) {
        header.insert("jwk".to_owned(), keys.other_public_jwk(ATTACKER_KID));
    }
    if on(Misbehaviour::ForeignKeyInX5u) {
        header.insert(
            "x5u".to_owned(),
            Value::String(format!("{}{ATTACKER_CERT_PATH}", input.served_at)),
        );
    }
    header
}

/// The claims.
fn payload(input: IdTokenInput<'_>, behaviour: &Behaviour) -> Result<Map<String, Value>, String> {
    let on = |m: Misbehaviour| behaviour.has(&m);
    let now = jwt::now();
    let lifetime = i64::try_from(input.lifetime.as_secs()).unwrap_or(i64::MAX);
    let (iat, exp) = if on(Misbehaviour::Expired) {
        (now - 7 * 60, now - 6 * 60)
    } else if on(Misbehaviour::IssuedInFuture) {
        (now + 10 * 60, (now + 10 * 60).saturating_add(lifetime))
    } else if on(Misbehaviour::IssuedLongAgo) {
        (now - 7 * 24 * 60 * 60, now.saturating_add(lifetime))
    } else {
        (now, now.saturating_add(lifetime))
    };

    let mut claims = input.claims;
    if on(Misbehaviour::ClaimsOnlyFromUserinfo) {
        claims.retain(|name, _| name == "sub");
    }
    if !matches!(claims.get("sub"), Some(Value::String(_))) {
        return Err("the user has no string `sub`".to_owned());
    }
    if on(Misbehaviour::NoSubject) {
        claims.remove("sub");
    } else if on(Misbehaviour::EmptySubject) {
        claims.insert("sub".to_owned(), Value::String(String::new()));
    } else if on(Misbehaviour::LongSubject) {
        claims.insert("sub".to_owned(), Value::String("s".repeat(256)));
    }

    let mut set = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    let issuer = if on(Misbehaviour::WrongIssuer) {
        altered_issuer(&input.issuer)
    } else {
        input.issuer
    };
    set("iss", Value::String(issuer));
    let client_id = || Value::String(input.client_id.to_owned());
    let other_client = || Value::String(format!("{}1", input.client_id));
    if on(Misbehaviour::WrongAudience) {
        set("aud", other_client());
    } else if on(Misbehaviour::AudienceArray) {
        set("aud", Value::Array(vec![client_id()]));
    } else if on(Misbehaviour::ExtraAudience) {
        set("aud", Value::Array(vec![client_id(), other_client()]));
    } else if !on(Misbehaviour::NoAudience) {
        set("aud", client_id());
    }
    if on(Misbehaviour::WrongAuthorizedParty) {
        set("azp", other_client());
    }
    set("exp", Value::from(exp));
    if !on(Misbehaviour::NoIssuedAt) {
        set("iat", Value::from(iat));
    }
    if on(Misbehaviour::NotYetValid) {
        set("nbf", Value::from(now + 600));
    }
    set("auth_time", Value::from(jwt::unix(input.auth_time)));
    if let Some(sid) = input.sid {
        set("sid", Value::String(sid.to_owned()));
    }
    if let Some(nonce) = input.nonce.filter(|_| !on(Misbehaviour::NoNonce)) {
        let nonce = if on(Misbehaviour::WrongNonce) {
            format!("{nonce}1")
        } else {
            nonce.to_owned()
        };
        set("nonce", Value::String(nonce));
    }
    let at_hash = if on(Misbehaviour::WrongAtHash) {
        access_token_hash("another access token")
    } else {
        access_token_hash(input.access_token)
    };
    set("at_hash", Value::String(at_hash));
    if on(Misbehaviour::AccessTokenType) {
        // What an RFC 9068 access token adds; everything else still looks like an ID token.
        set("client_id", client_id());
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        set("jti", Value::String(URL_SAFE_NO_PAD.encode(jti)));
    }
    Ok(claims)
}

/// The issuer with `1` appended to its path, as the conformance suite alters it; an issuer
/// without a path (`http://127.0.0.1:PORT`) gets the path `/1`, since appending to the port
/// would make it another port or no URL at all.
pub(crate) fn altered_issuer(issuer: &str) -> String {
    let has_path = issuer
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'));
    if has_path {
        format!("{issuer}1")
    } else {
        format!("{issuer}/1")
    }
}

/// `at_hash` for a SHA-256 algorithm: the left half of the hash, base64url (OpenID Connect
/// Core 1.0 section 3.1.3.6).
fn access_token_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}
