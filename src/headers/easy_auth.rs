//! Azure App Service Easy Auth: the user from `X-MS-CLIENT-PRINCIPAL` (and its `-NAME`,
//! `-ID`, `-IDP` companions), with the claims under the names an ID token uses.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    one_value, Flaw, Problem, X_MS_CLIENT_PRINCIPAL, X_MS_CLIENT_PRINCIPAL_ID,
    X_MS_CLIENT_PRINCIPAL_IDP, X_MS_CLIENT_PRINCIPAL_NAME,
};
use crate::user::FrontEndUser;

/// Standard base64, with or without padding (App Service pads; hand-made test headers often
/// do not).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The decoded `X-MS-CLIENT-PRINCIPAL`.
#[derive(Deserialize)]
struct Principal {
    #[serde(default)]
    auth_typ: Option<String>,
    #[serde(default)]
    claims: Option<Vec<PrincipalClaim>>,
    #[serde(default)]
    name_typ: Option<String>,
    #[serde(default)]
    role_typ: Option<String>,
}

#[derive(Deserialize)]
struct PrincipalClaim {
    typ: String,
    /// A string from App Service; other JSON values are kept as they are.
    val: Value,
}

/// The claim types App Service writes as .NET claim URIs, and the ID-token claim each one
/// is (Microsoft's default inbound claim mapping, reversed).
const LONG_TYPES: [(&str, &str); 16] = [
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
        "sub",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "email",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "unique_name",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "given_name",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "family_name",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
        "upn",
    ),
    (
        "http://schemas.microsoft.com/identity/claims/objectidentifier",
        "oid",
    ),
    (
        "http://schemas.microsoft.com/identity/claims/tenantid",
        "tid",
    ),
    (
        "http://schemas.microsoft.com/identity/claims/identityprovider",
        "idp",
    ),
    ("http://schemas.microsoft.com/identity/claims/scope", "scp"),
    (
        "http://schemas.microsoft.com/identity/claims/displayname",
        "name",
    ),
    (
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "roles",
    ),
    (
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        "groups",
    ),
    (
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/wids",
        "wids",
    ),
    (
        "http://schemas.microsoft.com/claims/authnmethodsreferences",
        "amr",
    ),
    (
        "http://schemas.microsoft.com/claims/authnclassreference",
        "acr",
    ),
];

/// Claims that are lists in an ID token even with one value.
const LIST_CLAIMS: [&str; 4] = ["roles", "groups", "amr", "wids"];

/// Claims an ID token has once, which `User`'s getters read as strings: a second value
/// does not turn them into a list; the first one stays. (`sub` is chosen apart, see
/// [`identify`].)
const SINGLE_CLAIMS: [&str; 6] = ["name", "email", "preferred_username", "oid", "tid", "iss"];

/// The claim type that is the subject when present, before a plain `sub`.
const NAME_IDENTIFIER: &str =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";

/// The claim `typ` is in an ID token.
fn short_name(typ: &str) -> &str {
    LONG_TYPES
        .iter()
        .find(|(long, _)| long.eq_ignore_ascii_case(typ))
        .map_or(typ, |(_, short)| short)
}

/// Adds `val` to claim `name`: a list claim always gathers a list; a single claim keeps its
/// first value; another claim seen twice becomes a list.
fn add(claims: &mut Map<String, Value>, name: &str, val: Value) {
    let list = LIST_CLAIMS.contains(&name);
    match claims.get_mut(name) {
        Some(Value::Array(items)) => {
            if !items.contains(&val) {
                items.push(val);
            }
        }
        Some(existing) => {
            if *existing != val && !SINGLE_CLAIMS.contains(&name) {
                let first = existing.take();
                *existing = Value::Array(vec![first, val]);
            }
        }
        None if list => {
            claims.insert(name.to_owned(), Value::Array(vec![val]));
        }
        None => {
            claims.insert(name.to_owned(), val);
        }
    }
}

/// The user Easy Auth's headers describe: `Ok(None)` when there is no
/// `X-MS-CLIENT-PRINCIPAL` (anonymous), a [`Flaw`] when the headers are broken.
pub(super) fn identify(headers: &HeaderMap, max: usize) -> Result<Option<FrontEndUser>, Flaw> {
    let flaw = |problem| Flaw {
        header: X_MS_CLIENT_PRINCIPAL,
        problem,
    };
    let Some(encoded) = one_value(headers, &X_MS_CLIENT_PRINCIPAL, max)? else {
        return Ok(None);
    };
    let json = BASE64
        .decode(encoded)
        .map_err(|_| flaw(Problem::NotBase64))?;
    let principal: Principal = serde_json::from_slice(&json).map_err(|_| flaw(Problem::NotJson))?;
    let Some(list) = principal.claims else {
        return Err(flaw(Problem::NoClaims));
    };
    let role_typ = principal.role_typ.as_deref().filter(|t| !t.is_empty());
    let name_typ = principal.name_typ.as_deref().filter(|t| !t.is_empty());

    let mut claims = Map::new();
    let mut name_by_typ = None;
    // The subject, by kind of claim: the name identifier first, then a plain `sub`.
    let (mut by_name_identifier, mut by_sub) = (None, None);
    for PrincipalClaim { typ, val } in list {
        if name_by_typ.is_none() && name_typ.is_some_and(|n| n.eq_ignore_ascii_case(&typ)) {
            name_by_typ = Some(val.clone());
        }
        let name = short_name(&typ);
        if role_typ.is_some_and(|r| r.eq_ignore_ascii_case(&typ)) && name != "roles" {
            add(&mut claims, "roles", val.clone());
        }
        match name {
            "sub" if typ.eq_ignore_ascii_case(NAME_IDENTIFIER) => {
                by_name_identifier.get_or_insert(val);
            }
            "sub" => {
                by_sub.get_or_insert(val);
            }
            _ => add(&mut claims, name, val),
        }
    }

    // The companion headers fill what the principal lacks. The subject is one non-empty
    // string or the request is not logged in: an identity that reads differently to
    // different code (a list, a number) is no identity.
    let sub = match [by_name_identifier, by_sub]
        .into_iter()
        .flatten()
        .find_map(text)
    {
        Some(sub) => sub,
        None => companion(headers, &X_MS_CLIENT_PRINCIPAL_ID, max)?
            .ok_or(flaw(Problem::NoSubject))?
            .to_owned(),
    };
    claims.insert("sub".into(), Value::String(sub));
    if !claims.contains_key("name") {
        let name = match name_by_typ.and_then(text) {
            Some(name) => Some(name),
            None => companion(headers, &X_MS_CLIENT_PRINCIPAL_NAME, max)?.map(str::to_owned),
        };
        if let Some(name) = name {
            claims.insert("name".into(), Value::String(name));
        }
    }
    let provider = match principal.auth_typ.filter(|t| !t.is_empty()) {
        Some(typ) => typ,
        None => companion(headers, &X_MS_CLIENT_PRINCIPAL_IDP, max)?
            .unwrap_or("easy_auth")
            .to_owned(),
    };
    for reserved in super::RESERVED_CLAIMS {
        claims.remove(reserved);
    }
    Ok(Some(FrontEndUser::new(provider, claims)))
}

/// `value` if it is a non-empty string.
fn text(value: Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// A companion header's value, unless it is empty.
fn companion<'h>(
    headers: &'h HeaderMap,
    name: &http::HeaderName,
    max: usize,
) -> Result<Option<&'h str>, Flaw> {
    Ok(one_value(headers, name, max)?.filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use http::HeaderValue;
    use serde_json::json;

    const MAX: usize = super::super::DEFAULT_MAX_HEADER_BYTES;

    /// A principal as App Service sends it for a Microsoft Entra ID user.
    fn sample() -> Value {
        json!({
            "auth_typ": "aad",
            "claims": [
                {"typ": "aud", "val": "5a1e0bd6-0000-4000-8000-000000000001"},
                {"typ": "iss", "val": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"},
                {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "val": "alice@contoso.com"},
                {"typ": "name", "val": "Alice Example"},
                {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "5b5450db-eb26-4c1a-981c-ba1d25f0483d"},
                {"typ": "preferred_username", "val": "alice@contoso.com"},
                {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "val": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"},
                {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
                {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "Admin"},
                {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "Reports.Read"},
                {"typ": "groups", "val": "f08bbbea-b793-4a36-a5fc-136c18d8aa8f"},
                {"typ": "groups", "val": "14a87ffa-0801-49bf-a515-3d259a2a9f8f"},
                {"typ": "http://schemas.microsoft.com/claims/authnmethodsreferences", "val": "pwd"},
                {"typ": "ver", "val": "2.0"}
            ],
            "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
        })
    }

    fn headers(principal: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_MS_CLIENT_PRINCIPAL,
            HeaderValue::from_str(principal).unwrap(),
        );
        headers
    }

    fn encoded(value: &Value) -> String {
        STANDARD.encode(value.to_string())
    }

    fn problem(headers: &HeaderMap) -> Problem {
        identify(headers, MAX).unwrap_err().problem
    }

    #[test]
    fn a_principal_becomes_id_token_claims() {
        let user = identify(&headers(&encoded(&sample())), MAX)
            .unwrap()
            .unwrap();
        let claims = user.claims();
        assert_eq!(user.provider(), "aad");
        assert_eq!(claims["sub"], "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ");
        assert_eq!(claims["oid"], "5b5450db-eb26-4c1a-981c-ba1d25f0483d");
        assert_eq!(claims["tid"], "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(claims["email"], "alice@contoso.com");
        // The `name` claim wins over the name_typ claim (here the e-mail address).
        assert_eq!(claims["name"], "Alice Example");
        assert_eq!(claims["preferred_username"], "alice@contoso.com");
        assert_eq!(claims["roles"], json!(["Admin", "Reports.Read"]));
        assert_eq!(
            claims["groups"],
            json!([
                "f08bbbea-b793-4a36-a5fc-136c18d8aa8f",
                "14a87ffa-0801-49bf-a515-3d259a2a9f8f"
            ])
        );
        // One value of a list claim is still a list; others stay as they came.
        assert_eq!(claims["amr"], json!(["pwd"]));
        assert_eq!(claims["ver"], "2.0");
    }

    #[test]
    fn name_comes_from_name_typ_then_the_name_header_and_sub_from_the_id_header() {
        let mut principal = sample();
        let list = principal["claims"].as_array_mut().unwrap();
        list.retain(|c| {
            c["typ"] != "name" && !c["typ"].as_str().unwrap().ends_with("nameidentifier")
        });
        let mut h = headers(&encoded(&principal));
        h.insert(
            X_MS_CLIENT_PRINCIPAL_ID,
            HeaderValue::from_static("5b5450db"),
        );
        let user = identify(&h, MAX).unwrap().unwrap();
        assert_eq!(user.claims()["name"], "alice@contoso.com");
        assert_eq!(user.claims()["sub"], "5b5450db");

        let bare = json!({"claims": [{"typ": "roles", "val": "Admin"}]});
        let mut h = headers(&STANDARD_NO_PAD.encode(bare.to_string()));
        h.insert(X_MS_CLIENT_PRINCIPAL_ID, HeaderValue::from_static("id-1"));
        h.insert(X_MS_CLIENT_PRINCIPAL_NAME, HeaderValue::from_static("Bob"));
        h.insert(
            X_MS_CLIENT_PRINCIPAL_IDP,
            HeaderValue::from_static("google"),
        );
        let user = identify(&h, MAX).unwrap().unwrap();
        assert_eq!(user.claims()["name"], "Bob");
        assert_eq!(user.claims()["sub"], "id-1");
        assert_eq!(user.claims()["roles"], json!(["Admin"]));
        assert_eq!(user.provider(), "google");
    }

    #[test]
    fn the_subject_is_one_string_the_name_identifier_first() {
        let principal = |claims: Value| headers(&encoded(&json!({ "claims": claims })));
        let user = identify(
            &principal(json!([
                {"typ": "sub", "val": "plain"},
                {"typ": NAME_IDENTIFIER, "val": "by-name-id"},
                {"typ": "sub", "val": "other"},
                {"typ": "name", "val": "First"},
                {"typ": "name", "val": "Second"}
            ])),
            MAX,
        )
        .unwrap()
        .unwrap();
        assert_eq!(user.claims()["sub"], "by-name-id");
        assert_eq!(user.claims()["name"], "First");

        // Not a string: not a subject, and no principal id header to fall back on.
        for val in [
            json!(42),
            json!(["a", "b"]),
            json!({"id": "a"}),
            json!(true),
        ] {
            let h = principal(json!([{ "typ": "sub", "val": val }]));
            assert_eq!(problem(&h), Problem::NoSubject, "{val}");
        }
        // An empty one gives way to the principal id header.
        let mut h = principal(json!([{"typ": "sub", "val": ""}]));
        h.insert(X_MS_CLIENT_PRINCIPAL_ID, HeaderValue::from_static("id-1"));
        h.insert(X_MS_CLIENT_PRINCIPAL_NAME, HeaderValue::from_static(""));
        let user = identify(&h, MAX).unwrap().unwrap();
        assert_eq!(user.claims()["sub"], "id-1");
        assert!(
            !user.claims().contains_key("name"),
            "an empty name header is no name"
        );
    }

    #[test]
    fn a_custom_role_typ_makes_roles() {
        let principal = json!({
            "auth_typ": "aad",
            "claims": [{"typ": "sub", "val": "u1"}, {"typ": "app_role", "val": "Writer"}],
            "role_typ": "app_role"
        });
        let user = identify(&headers(&encoded(&principal)), MAX)
            .unwrap()
            .unwrap();
        assert_eq!(user.claims()["roles"], json!(["Writer"]));
        assert_eq!(user.claims()["app_role"], "Writer");
    }

    #[test]
    fn broken_principals_are_flaws_never_panics() {
        assert_eq!(identify(&HeaderMap::new(), MAX).unwrap(), None);
        assert_eq!(problem(&headers("not base64 at all!")), Problem::NotBase64);
        assert_eq!(
            problem(&headers(&STANDARD.encode("{not json"))),
            Problem::NotJson
        );
        assert_eq!(
            problem(&headers(&STANDARD.encode("[1,2]"))),
            Problem::NotJson
        );
        assert_eq!(
            problem(&headers(&STANDARD.encode(r#"{"claims": "x"}"#))),
            Problem::NotJson
        );
        assert_eq!(
            problem(&headers(&STANDARD.encode(r#"{"auth_typ": "aad"}"#))),
            Problem::NoClaims
        );
        assert_eq!(
            problem(&headers(
                &STANDARD.encode(r#"{"claims": [{"typ": "name", "val": "x"}]}"#)
            )),
            Problem::NoSubject
        );
        assert_eq!(
            problem(&headers(
                &STANDARD.encode(r#"{"claims": [{"typ": "sub", "val": ""}]}"#)
            )),
            Problem::NoSubject
        );
        let big = headers(&"A".repeat(MAX + 4));
        assert_eq!(problem(&big), Problem::TooLarge);
    }

    #[test]
    fn reserved_names_cannot_be_claims() {
        let principal = json!({"claims": [
            {"typ": "sub", "val": "u1"},
            {"typ": "provider", "val": "spoofed"},
            {"typ": "is_logged_in", "val": "no"}
        ]});
        let user = identify(&headers(&encoded(&principal)), MAX)
            .unwrap()
            .unwrap();
        assert!(!user.claims().contains_key("provider"));
        assert!(!user.claims().contains_key("is_logged_in"));
        assert_eq!(user.provider(), "easy_auth");
    }

    proptest::proptest! {
        #[test]
        fn any_header_value_is_a_user_or_a_flaw(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut h = HeaderMap::new();
                h.insert(X_MS_CLIENT_PRINCIPAL, value);
                let _ = identify(&h, MAX);
            }
            let mut h = HeaderMap::new();
            h.insert(X_MS_CLIENT_PRINCIPAL, HeaderValue::from_str(&STANDARD.encode(&bytes)).unwrap());
            let _ = identify(&h, MAX);
        }
    }
}
