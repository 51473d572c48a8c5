//! What a session holds about a logged-in user, and how it sits in a session store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a session holds about a logged-in user, kept compact because a store may hold
/// hundreds of thousands of them: the ID token's payload exactly as the provider signed it
/// (which is every claim, as JSON) and the token's other two parts, so the token itself
/// can be rebuilt byte for byte for the logout's `id_token_hint` without being kept twice;
/// the claims the app or userinfo added; and the provider's tokens, sealed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoredUser {
    pub(crate) provider: Box<str>,
    /// The ID token's payload: a JSON object with every claim.
    pub(crate) claims: Box<str>,
    pub(crate) id_token: TokenParts,
    /// Claims added to the provider's (the userinfo response, the after-login hook's), a
    /// JSON object; they win over the ID token's of the same name.
    pub(crate) added_claims: Option<Box<str>>,
    /// The access and refresh tokens, sealed under a key derived from `cookie_secret`
    /// (see `crate::seal`): never readable from the store alone.
    pub(crate) sealed_tokens: Option<Box<str>>,
    /// Unix seconds of the login: what a provider's "every session before now has ended"
    /// (a back-channel logout by `sub`) is compared with.
    pub(crate) login_at: i64,
    /// Unix seconds when the session ends whatever happens (`session_max_age` after the
    /// login, or sooner when it follows the provider's ID token); 0 when not set (a record
    /// of an earlier version: the store's own expiry then rules).
    pub(crate) ends_at: i64,
}

/// The ID token, minus the payload that [`StoredUser::claims`] already holds.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum TokenParts {
    /// The header segment and the raw signature; payload = base64url(claims).
    Split {
        header: Box<str>,
        signature: Box<[u8]>,
    },
    /// The whole token, for a token whose payload segment is not the canonical encoding
    /// of its bytes (it would not rebuild exactly).
    Whole(Box<str>),
}

impl StoredUser {
    /// Splits `id_token` so that its payload is stored once. `None` when the token's
    /// payload is not a JSON object (a verified token always is).
    pub(crate) fn new(provider: &str, id_token: &str) -> Option<StoredUser> {
        let mut segments = id_token.split('.');
        let (header, payload, signature_b64) =
            (segments.next()?, segments.next()?, segments.next()?);
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if !matches!(serde_json::from_str::<Value>(&json), Ok(Value::Object(_))) {
            return None;
        }
        // Split only what re-encodes to the very same text; anything else is kept whole.
        let id_token = match URL_SAFE_NO_PAD.decode(signature_b64) {
            Ok(signature)
                if segments.next().is_none()
                    && URL_SAFE_NO_PAD.encode(json.as_bytes()) == payload
                    && URL_SAFE_NO_PAD.encode(&signature) == signature_b64 =>
            {
                TokenParts::Split {
                    header: header.into(),
                    signature: signature.into(),
                }
            }
            _ => TokenParts::Whole(id_token.into()),
        };
        Some(StoredUser {
            provider: provider.into(),
            claims: json.into(),
            id_token,
            added_claims: None,
            sealed_tokens: None,
            login_at: crate::pending::now_unix(),
            ends_at: 0,
        })
    }

    /// The same user, whose session ends at `ends_at` (Unix seconds) at the latest.
    pub(crate) fn ending_at(self, ends_at: i64) -> StoredUser {
        StoredUser { ends_at, ..self }
    }

    /// The same user with `extra` claims added to those added before (replacing claims of
    /// the same name), as userinfo or an after-login hook give them.
    pub(crate) fn with_extra_claims(self, extra: Map<String, Value>) -> Option<StoredUser> {
        if extra.is_empty() {
            return Some(self);
        }
        let mut added: Map<String, Value> = match &self.added_claims {
            Some(json) => serde_json::from_str(json).ok()?,
            None => Map::new(),
        };
        added.extend(extra);
        Some(StoredUser {
            added_claims: Some(serde_json::to_string(&added).ok()?.into()),
            ..self
        })
    }

    /// The same user after a refresh: a new ID token (when one came) with the claims added
    /// before, and new sealed tokens; the login time stays.
    pub(crate) fn refreshed(
        &self,
        id_token: Option<&str>,
        sealed_tokens: Option<String>,
    ) -> Option<StoredUser> {
        let mut next = match id_token {
            Some(jwt) => StoredUser {
                added_claims: self.added_claims.clone(),
                login_at: self.login_at,
                ends_at: self.ends_at,
                ..StoredUser::new(&self.provider, jwt)?
            },
            None => self.clone(),
        };
        next.sealed_tokens = sealed_tokens.map(Into::into);
        Some(next)
    }

    /// What sealed tokens are bound to: the provider and the user.
    pub(crate) fn token_binding(&self) -> Vec<u8> {
        let sub = self
            .subject_and_session()
            .map(|(sub, _)| sub)
            .unwrap_or_default();
        [self.provider.as_bytes(), b"\0", sub.as_bytes()].concat()
    }

    /// `sub` and `sid` (the provider's session, if the token names one) from the claims.
    pub(crate) fn subject_and_session(&self) -> Option<(String, Option<String>)> {
        #[derive(Deserialize)]
        struct Ids {
            sub: String,
            #[serde(default)]
            sid: Option<String>,
        }
        let ids: Ids = serde_json::from_str(&self.claims).ok()?;
        Some((ids.sub, ids.sid))
    }

    /// The ID token's own claims, without those added since (what a refreshed ID token is
    /// compared with).
    pub(crate) fn id_token_claims(&self) -> Option<Map<String, Value>> {
        serde_json::from_str(&self.claims).ok()
    }

    /// The ID token exactly as the provider issued it.
    pub(crate) fn id_token(&self) -> String {
        match &self.id_token {
            TokenParts::Whole(jwt) => jwt.to_string(),
            TokenParts::Split { header, signature } => format!(
                "{header}.{}.{}",
                URL_SAFE_NO_PAD.encode(self.claims.as_bytes()),
                URL_SAFE_NO_PAD.encode(signature)
            ),
        }
    }
}

/// The form other session stores keep (JSON): the claims stay one string so their bytes,
/// and so the rebuilt ID token's signature, survive the round trip.
#[derive(Serialize, Deserialize)]
struct StoredUserWire {
    provider: String,
    claims: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    added_claims: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_tokens: Option<String>,
    #[serde(default)]
    login_at: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    ends_at: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Serialize for StoredUser {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (id_token_header, id_token_signature, id_token) = match &self.id_token {
            TokenParts::Split { header, signature } => (
                Some(header.to_string()),
                Some(URL_SAFE_NO_PAD.encode(signature)),
                None,
            ),
            TokenParts::Whole(jwt) => (None, None, Some(jwt.to_string())),
        };
        StoredUserWire {
            provider: self.provider.to_string(),
            claims: self.claims.to_string(),
            id_token_header,
            id_token_signature,
            id_token,
            added_claims: self.added_claims.as_deref().map(str::to_owned),
            sealed_tokens: self.sealed_tokens.as_deref().map(str::to_owned),
            login_at: self.login_at,
            ends_at: self.ends_at,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StoredUser {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = StoredUserWire::deserialize(deserializer)?;
        let id_token = match (wire.id_token_header, wire.id_token_signature, wire.id_token) {
            (Some(header), Some(signature), None) => TokenParts::Split {
                header: header.into(),
                signature: URL_SAFE_NO_PAD
                    .decode(signature)
                    .map_err(|_| D::Error::custom("bad id_token_signature"))?
                    .into(),
            },
            (None, None, Some(jwt)) => TokenParts::Whole(jwt.into()),
            _ => return Err(D::Error::custom("no id token")),
        };
        Ok(StoredUser {
            provider: wire.provider.into(),
            claims: wire.claims.into(),
            id_token,
            added_claims: wire.added_claims.map(Into::into),
            sealed_tokens: wire.sealed_tokens.map(Into::into),
            login_at: wire.login_at,
            ends_at: wire.ends_at,
        })
    }
}

impl std::fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUser")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::LoggedIn;
    use std::sync::Arc;
    use tower_sessions_core::session::Id;

    fn jwt(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn the_id_token_is_stored_in_parts_and_rebuilt_byte_for_byte() {
        // Key order and spacing as the provider wrote them: a re-serialised payload would
        // break the signature of the rebuilt token.
        let payload = r#"{"sub":"u1", "iss":"https://op","groups":["a","b"],"aud":"c"}"#;
        let token = jwt(r#"{"alg":"RS256","kid":"k"}"#, payload, &[7u8; 256]);
        let stored = StoredUser::new("entra", &token).unwrap();
        assert!(matches!(stored.id_token, TokenParts::Split { .. }));
        assert_eq!(&*stored.claims, payload);
        assert_eq!(stored.id_token(), token);
        // Smaller than the token itself: the payload is kept once, the signature in binary.
        let size = stored.claims.len()
            + match &stored.id_token {
                TokenParts::Split { header, signature } => header.len() + signature.len(),
                TokenParts::Whole(t) => t.len(),
            };
        assert!(size < token.len(), "{size} vs {}", token.len());

        // Other stores keep JSON; the round trip keeps every byte.
        let json = serde_json::to_value(&stored).unwrap();
        let back: StoredUser = serde_json::from_value(json).unwrap();
        assert!(back == stored);
        assert_eq!(back.id_token(), token);
    }

    #[test]
    fn a_token_that_would_not_rebuild_exactly_is_kept_whole() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"u1"}"#);
        // Padding makes the segment differ from its canonical encoding.
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}==.c2ln");
        match StoredUser::new("p", &token) {
            None => {} // not decodable at all is also fine: never stored wrongly
            Some(stored) => assert_eq!(stored.id_token(), token),
        }
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln.extra");
        let stored = StoredUser::new("p", &token).unwrap();
        assert!(matches!(stored.id_token, TokenParts::Whole(_)));
        assert_eq!(stored.id_token(), token);
    }

    #[test]
    fn extra_claims_join_the_provider_ones_and_the_token_stays_exact() {
        let payload = r#"{"sub":"u1","plan":"free"}"#;
        let token = jwt(r#"{"alg":"RS256"}"#, payload, &[9u8; 64]);
        let stored = StoredUser::new("p", &token).unwrap();
        let mut extra = Map::new();
        extra.insert("plan".into(), Value::String("pro".into()));
        extra.insert("groups".into(), serde_json::json!(["g1"]));
        let merged = stored.with_extra_claims(extra).unwrap();
        assert_eq!(merged.id_token(), token, "the token rebuilds byte for byte");
        let user = LoggedIn::decode(Arc::new(merged), Id::default(), 0).unwrap();
        assert_eq!(user.claims()["plan"], "pro");
        assert_eq!(user.claims()["groups"][0], "g1");
        assert_eq!(user.claims()["sub"], "u1");
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_not_stored() {
        let token = jwt(r#"{"alg":"RS256"}"#, "[1,2]", b"sig");
        assert!(StoredUser::new("p", &token).is_none());
        assert!(StoredUser::new("p", "not a jwt").is_none());
    }
}
