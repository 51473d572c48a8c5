//! Client authentication without a shared secret: `private_key_jwt` and federated
//! credentials, and the embedded client keys.

use openidconnect::core::CoreJsonWebKey;
use openidconnect::JsonWebKey as _;
use serde_json::Map;

use super::*;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token request for a code that does not exist, authenticated by `assertion`: it is
/// refused with `invalid_grant` once the client is authenticated, with `invalid_client`
/// before.
async fn with_assertion(
    provider: &DevProvider,
    assertion: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form: Vec<(String, String)> = [
        ("grant_type", "authorization_code"),
        ("code", "no-such-code"),
        ("redirect_uri", REDIRECT),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    token_request(provider, None, &form).await
}

/// The client was authenticated (only the made-up code was refused).
fn authenticated(answer: &(StatusCode, Value)) -> bool {
    answer.0 == StatusCode::BAD_REQUEST && answer.1["error"] == "invalid_grant"
}

/// `invalid_client` whose description contains `why`.
fn refused_for(answer: &(StatusCode, Value), why: &str) -> bool {
    answer.0 == StatusCode::UNAUTHORIZED
        && answer.1["error"] == "invalid_client"
        && answer.1["error_description"]
            .as_str()
            .is_some_and(|d| d.contains(why))
}

async fn key_provider() -> DevProvider {
    DevProvider::builder()
        .client_jwks(DevClientKey::rsa().jwks())
        .client_jwks(DevClientKey::ec().jwks())
        .client_auth_methods([ClientAuthMethod::PrivateKeyJwt])
        .start()
        .await
        .expect("provider")
}

#[tokio::test]
async fn private_key_jwt_logs_in_with_rsa_and_ec_keys() -> TestResult {
    let provider = key_provider().await;
    let doc = http()
        .get(provider.server_metadata_url())
        .send()
        .await?
        .json_text()
        .await?;
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );

    for key in [DevClientKey::rsa(), DevClientKey::ec()] {
        let flow = Flow::new(&provider);
        let code = flow.sign_in(&provider, &DevUser::default()).await;
        let assertion = key.client_assertion("dev-client", &provider.token_endpoint())?;
        let mut form = flow.token_form(&code);
        form.push(("client_assertion_type".into(), JWT_BEARER.into()));
        form.push(("client_assertion".into(), assertion));
        let (status, body) = token_request(&provider, None, &form).await;
        assert_eq!(status, StatusCode::OK, "{key:?}: {body}");
        assert!(body["id_token"].is_string());

        let call = provider.token_calls().pop().ok_or("no call")?;
        assert_eq!(call.client_auth, Some(ClientAuthMethod::PrivateKeyJwt));
        let header = call.client_assertion_header.ok_or("no header")?;
        assert_eq!(header["alg"], key.alg());
        assert_eq!(header["kid"], key.kid());
        assert_eq!(
            header.get("x5t#S256").and_then(Value::as_str),
            key.x5t_s256().as_deref()
        );
        let claims = call.client_assertion_claims.ok_or("no claims")?;
        assert_eq!(
            (&claims["iss"], &claims["sub"]),
            (&json!("dev-client"), &json!("dev-client"))
        );
    }
    assert!(DevClientKey::rsa().x5t_s256().is_some());

    // The secret methods are not accepted here.
    let auth = basic("dev-client", "dev-secret");
    let (status, body) = token_request(
        &provider,
        Some(&auth),
        &Flow::new(&provider).token_form("c"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["error_description"],
        "client_secret_basic is not accepted by this provider"
    );
    Ok(())
}

#[tokio::test]
async fn private_key_jwt_assertions_are_checked() -> TestResult {
    let provider = key_provider().await;
    let audience = provider.token_endpoint();
    let rsa = DevClientKey::rsa();
    let claims = || DevClientKey::assertion_claims("dev-client", &audience);
    let with = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut c = claims();
        edit(&mut c);
        c
    };
    let signed = |key: &DevClientKey, header: &Map<String, Value>, claims: &Map<String, Value>| {
        key.sign_jwt(header, claims).expect("signed")
    };
    let now = jwt_part(&rsa.client_assertion("x", "y")?, 1)["iat"]
        .as_i64()
        .ok_or("iat")?;

    // Accepted: by kid, by x5t#S256 alone, by the only key of its type, the issuer as aud.
    assert!(authenticated(
        &with_assertion(
            &provider,
            &rsa.client_assertion("dev-client", &audience)?,
            &[]
        )
        .await
    ));
    let mut by_thumbprint = rsa.assertion_header();
    by_thumbprint.remove("kid");
    assert!(authenticated(
        &with_assertion(&provider, &signed(&rsa, &by_thumbprint, &claims()), &[]).await
    ));
    let mut bare = rsa.assertion_header();
    bare.remove("kid");
    bare.remove("x5t#S256");
    assert!(authenticated(
        &with_assertion(&provider, &signed(&rsa, &bare, &claims()), &[]).await
    ));
    let issuer_aud = with(&|c| {
        c.insert("aud".into(), json!([provider.issuer()]));
    });
    assert!(authenticated(
        &with_assertion(
            &provider,
            &signed(&rsa, &rsa.assertion_header(), &issuer_aud),
            &[("client_id", "dev-client")]
        )
        .await
    ));

    // Refused.
    let other = DevClientKey::other_rsa();
    let cases: Vec<(String, &str)> = vec![
        // Signed with another key under a registered kid: the signature fails.
        (
            signed(&other, &rsa.assertion_header(), &claims()),
            "signature",
        ),
        (
            other.client_assertion("dev-client", &audience)?,
            "no registered key",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.insert("exp".into(), json!(now - 10));
                }),
            ),
            "expired",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.insert("exp".into(), json!(now + 7200));
                }),
            ),
            "more than",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.remove("exp");
                }),
            ),
            "no exp",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.insert("iat".into(), json!(now + 600));
                }),
            ),
            "iat is in the future",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.insert("aud".into(), json!("https://elsewhere.example/token"));
                }),
            ),
            "aud must be",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.insert("sub".into(), json!("someone-else"));
                }),
            ),
            "sub must be",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.remove("jti");
                }),
            ),
            "no jti",
        ),
        (
            signed(
                &rsa,
                &rsa.assertion_header(),
                &with(&|c| {
                    c.insert("iss".into(), json!("https://stranger.example"));
                }),
            ),
            "neither the client id nor a trusted federated issuer",
        ),
        (
            signed(
                &rsa,
                &{
                    let mut h = rsa.assertion_header();
                    h.insert("alg".into(), json!("HS256"));
                    h
                },
                &claims(),
            ),
            "alg HS256 is not accepted",
        ),
        (
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                URL_SAFE_NO_PAD.encode(r#"{"iss":"dev-client"}"#)
            ),
            "alg none is not accepted",
        ),
        ("not-a-jwt".to_owned(), "not a signed JWT"),
    ];
    for (assertion, why) in &cases {
        let answer = with_assertion(&provider, assertion, &[]).await;
        assert!(refused_for(&answer, why), "{why}: {answer:?}");
    }

    // A jti is accepted once.
    let once = rsa.client_assertion("dev-client", &audience)?;
    assert!(authenticated(&with_assertion(&provider, &once, &[]).await));
    assert!(refused_for(
        &with_assertion(&provider, &once, &[]).await,
        "jti was already used"
    ));

    // The request's other parameters.
    let fresh = || {
        rsa.client_assertion("dev-client", &audience)
            .expect("signed")
    };
    let answer = with_assertion(&provider, &fresh(), &[("client_id", "intruder")]).await;
    assert!(refused_for(&answer, "unknown client"), "{answer:?}");
    let mut form = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), "c".to_owned()),
        (
            "client_assertion_type".to_owned(),
            "urn:example:saml".to_owned(),
        ),
        ("client_assertion".to_owned(), fresh()),
    ];
    let answer = token_request(&provider, None, &form).await;
    assert!(
        refused_for(&answer, "client_assertion_type must be"),
        "{answer:?}"
    );
    form[2].1 = JWT_BEARER.to_owned();
    form.push(("client_id".into(), "dev-client".into()));
    form.push(("client_secret".into(), "dev-secret".into()));
    let (status, body) = token_request(&provider, None, &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_request"))
    );
    assert_eq!(
        provider.token_calls().last().and_then(|c| c.client_auth),
        None
    );
    Ok(())
}

#[tokio::test]
async fn federated_credentials_accept_the_trusted_issuers_tokens() -> TestResult {
    const ISSUER: &str = "http://127.0.0.1:9/managed-identity";
    let identity = DevClientKey::ec();
    let provider = DevProvider::builder()
        .federated_credential(FederatedCredential::new(
            ISSUER,
            "identity-object-id",
            identity.jwks(),
        ))
        .start()
        .await?;
    let doc = http()
        .get(provider.server_metadata_url())
        .send()
        .await?
        .json_text()
        .await?;
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    let token = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut claims =
            DevClientKey::assertion_claims("x", FederatedCredential::AZURE_AD_TOKEN_EXCHANGE);
        claims.insert("iss".into(), json!(ISSUER));
        claims.insert("sub".into(), json!("identity-object-id"));
        let iat = claims["iat"].as_i64().unwrap_or_default();
        // Managed-identity tokens live for hours.
        claims.insert("exp".into(), json!(iat + 20 * 3600));
        edit(&mut claims);
        identity
            .sign_jwt(&identity.assertion_header(), &claims)
            .expect("signed")
    };
    let client_id = [("client_id", "dev-client")];

    let answer = with_assertion(&provider, &token(&|_| {}), &client_id).await;
    assert!(authenticated(&answer), "{answer:?}");
    assert_eq!(
        provider.token_calls().last().and_then(|c| c.client_auth),
        Some(ClientAuthMethod::FederatedCredential)
    );
    // The platform's token is presented again until it expires (cached, or a token file).
    let cached = token(&|_| {});
    for _ in 0..2 {
        let answer = with_assertion(&provider, &cached, &client_id).await;
        assert!(
            authenticated(&answer),
            "a federated token is reusable: {answer:?}"
        );
    }
    let answer = with_assertion(&provider, &token(&|_| {}), &[]).await;
    assert!(refused_for(&answer, "client_id is required"), "{answer:?}");
    let answer = with_assertion(
        &provider,
        &token(&|c| {
            c.insert("sub".into(), json!("another-identity"));
        }),
        &client_id,
    )
    .await;
    assert!(
        refused_for(&answer, "sub must be \"identity-object-id\""),
        "{answer:?}"
    );
    let answer = with_assertion(
        &provider,
        &token(&|c| {
            c.insert("aud".into(), json!(provider.token_endpoint()));
        }),
        &client_id,
    )
    .await;
    assert!(
        refused_for(&answer, "api://AzureADTokenExchange"),
        "{answer:?}"
    );
    let answer = with_assertion(
        &provider,
        &token(&|c| {
            c.insert(
                "exp".into(),
                json!(c["iat"].as_i64().unwrap_or_default() + 30 * 3600),
            );
        }),
        &client_id,
    )
    .await;
    assert!(refused_for(&answer, "more than"), "{answer:?}");
    // Signed by another key than the issuer's.
    let mut claims = jwt_part(&token(&|_| {}), 1)
        .as_object()
        .cloned()
        .ok_or("claims")?;
    claims.insert("jti".into(), json!("another-jti"));
    let forged = DevClientKey::rsa().sign_jwt(&DevClientKey::rsa().assertion_header(), &claims)?;
    let answer = with_assertion(&provider, &forged, &client_id).await;
    assert!(refused_for(&answer, "no registered key"), "{answer:?}");
    // The client's own key is not registered here: private_key_jwt is not accepted.
    let own = DevClientKey::rsa().client_assertion("dev-client", &provider.token_endpoint())?;
    let answer = with_assertion(&provider, &own, &[]).await;
    assert!(
        refused_for(&answer, "private_key_jwt is not accepted"),
        "{answer:?}"
    );

    // Another audience can be expected.
    let provider = DevProvider::builder()
        .federated_credential(
            FederatedCredential::new(ISSUER, "identity-object-id", identity.jwks())
                .audience("api://custom"),
        )
        .client_auth_methods([ClientAuthMethod::FederatedCredential])
        .start()
        .await?;
    let answer = with_assertion(
        &provider,
        &token(&|c| {
            c.insert("aud".into(), json!(["api://custom"]));
        }),
        &client_id,
    )
    .await;
    assert!(authenticated(&answer), "{answer:?}");
    Ok(())
}

#[tokio::test]
async fn accepted_methods_follow_the_registration() -> TestResult {
    let provider = DevProvider::builder()
        .client_jwks(DevClientKey::ec().jwks())
        .start()
        .await?;
    let doc = http()
        .get(provider.server_metadata_url())
        .send()
        .await?
        .json_text()
        .await?;
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    // Secrets still work next to keys.
    let (status, body) = token_request(
        &provider,
        Some(&basic("dev-client", "dev-secret")),
        &Flow::new(&provider).token_form("c"),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );

    let invalid = |builder: DevProviderBuilder| async move {
        builder.start().await.map(|_| ()).map_err(|e| e.kind())
    };
    let input = Err(std::io::ErrorKind::InvalidInput);
    assert_eq!(
        invalid(DevProvider::builder().client_auth_methods([])).await,
        input
    );
    assert_eq!(
        invalid(DevProvider::builder().client_auth_methods([ClientAuthMethod::PrivateKeyJwt]))
            .await,
        input
    );
    assert_eq!(
        invalid(
            DevProvider::builder().client_auth_methods([ClientAuthMethod::FederatedCredential])
        )
        .await,
        input
    );
    assert_eq!(
        invalid(DevProvider::builder().client_jwks(json!({"keys": [{"kty": "oct", "k": "AAAA"}]})))
            .await,
        input
    );
    assert_eq!(
        invalid(DevProvider::builder().client_jwks(json!([]))).await,
        input
    );
    Ok(())
}

#[test]
fn dev_client_keys_are_consistent() {
    let rsa = DevClientKey::rsa();
    let jwk = rsa.public_jwk();
    assert_eq!(
        (&jwk["kty"], &jwk["kid"], &jwk["alg"]),
        (&json!("RSA"), &json!("dev-client-rsa"), &json!("RS256"))
    );
    let der = STANDARD
        .decode(jwk["x5c"][0].as_str().expect("x5c"))
        .expect("base64");
    assert_eq!(
        jwk["x5t#S256"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(&der))
    );
    assert_eq!(jwk["x5t#S256"].as_str(), rsa.x5t_s256().as_deref());
    assert!(rsa
        .certificate_pem()
        .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE-----")));
    let ec = DevClientKey::ec().public_jwk();
    assert_eq!((&ec["kty"], &ec["crv"]), (&json!("EC"), &json!("P-256")));
    for coordinate in ["x", "y"] {
        let bytes = URL_SAFE_NO_PAD
            .decode(ec[coordinate].as_str().expect("coordinate"))
            .expect("base64");
        assert_eq!(bytes.len(), 32);
    }
    assert!(DevClientKey::ec().x5t_s256().is_none());

    for key in [
        DevClientKey::rsa(),
        DevClientKey::ec(),
        DevClientKey::other_rsa(),
    ] {
        assert!(key
            .private_key_pem()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        let jwt = key
            .client_assertion("c", "https://a.example/token")
            .expect("signed");
        let (input, signature) = jwt.rsplit_once('.').expect("jwt");
        let public: CoreJsonWebKey = serde_json::from_value(key.public_jwk()).expect("jwk");
        let alg = match key.alg() {
            "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            _ => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        };
        public
            .verify_signature(
                &alg,
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).expect("sig"),
            )
            .unwrap_or_else(|e| panic!("{key:?}: {e}"));
        let claims = jwt_part(&jwt, 1);
        assert_eq!(
            claims["exp"]
                .as_i64()
                .zip(claims["iat"].as_i64())
                .map(|(e, i)| e - i),
            Some(300)
        );
    }
    assert_ne!(
        DevClientKey::rsa().public_jwk()["n"],
        DevClientKey::other_rsa().public_jwk()["n"]
    );
}
