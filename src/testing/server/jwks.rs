//! The key set (`jwks_uri`): the public half of the key that signs ID tokens, and whatever the
//! key-set misbehaviours add, remove or move.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::respond::{json_response, misbehaving_redirect, not_found, plain};
use super::state::{bump, lock, Shared};
use crate::testing::behaviour::{Behaviour, Endpoint, Misbehaviour};
use crate::testing::keys::SPARE_KID;

/// `GET /jwks`.
pub(crate) async fn jwks(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    bump(&shared.counters.jwks);
    let behaviour = shared.behaviour();
    if behaviour.has(&Misbehaviour::RandomJwksUri) {
        // Only the URL discovery names serves the keys.
        return not_found().await;
    }
    key_set(&shared, &behaviour, &uri, query.as_deref())
}

/// `GET /jwks/<suffix>`: the key set under [`Misbehaviour::RandomJwksUri`].
pub(crate) async fn jwks_suffixed(
    State(shared): State<Arc<Shared>>,
    // All of the path's parameters: a multi-tenant provider's routes have `tenant` too.
    Path(path): Path<HashMap<String, String>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    bump(&shared.counters.jwks);
    let behaviour = shared.behaviour();
    let suffix = path.get("suffix").map(String::as_str);
    if !behaviour.has(&Misbehaviour::RandomJwksUri) || suffix != Some(&shared.jwks_suffix) {
        return not_found().await;
    }
    key_set(&shared, &behaviour, &uri, query.as_deref())
}

/// Keys no client can use, for [`Misbehaviour::UnparseableKeys`]. Some of them do parse as
/// JWKs (with their key material missing), which is the harder case for a client.
fn unparseable_keys() -> Vec<Value> {
    vec![
        json!({"kty": "RSA", "kid": "broken-base64", "use": "sig", "n": "!!not base64!!", "e": "AQAB"}),
        json!({"kty": "quantum", "kid": "unknown-kty", "use": "sig"}),
        json!({"kid": "no-kty", "use": "sig"}),
        json!({"kty": "EC", "kid": "unknown-curve", "crv": "P-1024", "x": "AAAA", "y": "AAAA"}),
        json!(42),
        json!("not a key"),
    ]
}

fn key_set(shared: &Shared, behaviour: &Behaviour, uri: &Uri, query: Option<&str>) -> Response {
    #[cfg(test)]
    if let Some(response) = super::respond::canned(behaviour, Endpoint::Jwks) {
        return response;
    }
    if let Some(response) = misbehaving_redirect(shared, behaviour, Endpoint::Jwks, uri, query) {
        return response;
    }
    if behaviour.has(&Misbehaviour::JwksUnavailable) {
        tracing::debug!("development provider: key set misbehaving with 503");
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the key set is unavailable",
        );
    }
    tracing::debug!("development provider: key set");
    let keys = lock(&shared.keys);
    let mut published = Vec::new();
    if !behaviour.has(&Misbehaviour::OnlyUnparseableKeys) {
        published.push(keys.public_jwk());
    }
    if behaviour.has(&Misbehaviour::NoKeyIdSeveralKeys) {
        published.push(keys.other_public_jwk(SPARE_KID));
    }
    if behaviour.any(&[
        Misbehaviour::UnparseableKeys,
        Misbehaviour::OnlyUnparseableKeys,
    ]) {
        published.extend(unparseable_keys());
    }
    json_response(StatusCode::OK, &json!({ "keys": published }))
}
