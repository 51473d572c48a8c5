//! Back-channel logout tokens, their misbehaviours, front-channel logout URLs and
//! `logout_hint`.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::routing::post;
use openidconnect::core::CoreJsonWebKey;
use openidconnect::JsonWebKey as _;

use super::*;

/// A relying party's back-channel logout endpoint: records every request's content type and
/// body, answers with the status it is told.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(String, String)>>>,
    status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://127.0.0.1:{}/auth/backchannel-logout",
            listener.local_addr().expect("addr").port()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (r, s) = (Arc::clone(&received), Arc::clone(&status));
        let router = Router::new().route(
            "/auth/backchannel-logout",
            post(move |headers: HeaderMap, body: Bytes| {
                let (r, s) = (Arc::clone(&r), Arc::clone(&s));
                async move {
                    let content_type = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    r.lock()
                        .expect("lock")
                        .push((content_type, String::from_utf8_lossy(&body).into_owned()));
                    let code =
                        StatusCode::from_u16(s.load(Ordering::Relaxed)).unwrap_or(StatusCode::OK);
                    (code, "answer from the app").into_response()
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url,
            received,
            status,
            task,
        }
    }

    /// The `logout_token` of every request received.
    fn tokens(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, body)| {
                form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn provider_for(receiver: &Receiver) -> DevProvider {
    DevProvider::builder()
        .backchannel_logout_uri(&receiver.url)
        .start()
        .await
        .expect("provider")
}

/// Verifies `jwt` with the provider's published key.
async fn verify_with_published_key(provider: &DevProvider, jwt: &str) -> TestResult {
    let keys = http()
        .get(provider.jwks_uri())
        .send()
        .await?
        .json_text()
        .await?;
    let key: CoreJsonWebKey = serde_json::from_value(keys["keys"][0].clone())?;
    let (signing_input, signature) = jwt.rsplit_once('.').ok_or("not a JWT")?;
    key.verify_signature(
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        signing_input.as_bytes(),
        &URL_SAFE_NO_PAD.decode(signature)?,
    )?;
    Ok(())
}

#[tokio::test]
async fn backchannel_logout_posts_a_signed_logout_token() -> TestResult {
    let receiver = Receiver::start().await;
    let provider = provider_for(&receiver).await;
    let flow = Flow::new(&provider);
    flow.sign_in(&provider, &DevUser::default()).await;
    let session = provider.sessions().pop().ok_or("no session")?;

    let delivery = provider
        .backchannel_logout(LogoutTarget::Sid(session.sid.clone()))
        .await?;
    assert_eq!(delivery.status, 200);
    assert_eq!(delivery.body, "answer from the app");
    assert_eq!(receiver.tokens(), vec![delivery.logout_token.clone()]);
    let content_type = receiver.received.lock().expect("lock")[0].0.clone();
    assert_eq!(content_type, "application/x-www-form-urlencoded");

    let header = jwt_part(&delivery.logout_token, 0);
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], provider.signing_key_id());
    verify_with_published_key(&provider, &delivery.logout_token).await?;
    let claims = jwt_part(&delivery.logout_token, 1);
    assert_eq!(claims["iss"], provider.issuer());
    assert_eq!(claims["aud"], "dev-client");
    assert_eq!(
        claims["exp"]
            .as_i64()
            .zip(claims["iat"].as_i64())
            .map(|(e, i)| e - i),
        Some(120)
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(
        claims["events"],
        json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
    );
    assert_eq!(claims["sid"], session.sid.as_str());
    assert!(claims.get("sub").is_none() && claims.get("nonce").is_none());

    let by_sub = provider
        .backchannel_logout(LogoutTarget::Sub(session.sub.clone()))
        .await?;
    let claims_sub = jwt_part(&by_sub.logout_token, 1);
    assert_eq!(claims_sub["sub"], session.sub.as_str());
    assert!(claims_sub.get("sid").is_none());
    assert_ne!(claims_sub["jti"], claims["jti"]);
    let both = provider
        .backchannel_logout(LogoutTarget::SidAndSub {
            sid: session.sid.clone(),
            sub: session.sub.clone(),
        })
        .await?;
    let claims_both = jwt_part(&both.logout_token, 1);
    assert_eq!(
        (&claims_both["sid"], &claims_both["sub"]),
        (&json!(session.sid), &json!(session.sub))
    );

    // A replay is the same token byte for byte; the app's refusal comes back as it is.
    receiver.status.store(400, Ordering::Relaxed);
    let replay = provider.send_logout_token(&delivery.logout_token).await?;
    assert_eq!(replay.status, 400);
    assert_eq!(receiver.tokens().last(), Some(&delivery.logout_token));
    // The provider's own sessions stay.
    assert_eq!(provider.sessions().len(), 1);
    Ok(())
}

#[tokio::test]
async fn logout_token_misbehaviours() -> TestResult {
    let receiver = Receiver::start().await;
    let provider = provider_for(&receiver).await;
    let token_while = |misbehaviour: Option<Misbehaviour>| {
        let provider = &provider;
        async move {
            if let Some(misbehaviour) = misbehaviour {
                provider.misbehave(misbehaviour);
            }
            let delivery = provider
                .backchannel_logout(LogoutTarget::SidAndSub {
                    sid: "s1".into(),
                    sub: "u1".into(),
                })
                .await
                .expect("delivered");
            provider.behave();
            let jwt = delivery.logout_token;
            (jwt_part(&jwt, 0), jwt_part(&jwt, 1), jwt)
        }
    };

    let (header, _, jwt) = token_while(Some(Misbehaviour::LogoutTokenAlgNone)).await;
    assert_eq!(header["alg"], "none");
    assert!(jwt.ends_with('.'), "empty signature");
    let (header, _, jwt) = token_while(Some(Misbehaviour::LogoutTokenBadSignature)).await;
    assert_eq!(header["alg"], "RS256");
    assert!(verify_with_published_key(&provider, &jwt).await.is_err());
    let (header, _, _) = token_while(Some(Misbehaviour::LogoutTokenWrongAlg)).await;
    assert_eq!(header["alg"], "HS256");
    let (_, claims, _) = token_while(Some(Misbehaviour::LogoutTokenWrongAudience)).await;
    assert_eq!(claims["aud"], "dev-client1");
    let (_, claims, _) = token_while(Some(Misbehaviour::LogoutTokenWrongIssuer)).await;
    assert_eq!(claims["iss"], format!("{}/1", provider.issuer()));
    let (_, claims, _) = token_while(Some(Misbehaviour::LogoutTokenNoEvents)).await;
    assert!(claims.get("events").is_none());
    let (_, claims, _) = token_while(Some(Misbehaviour::LogoutTokenWrongEvent)).await;
    assert_eq!(
        claims["events"],
        json!({ "http://schemas.openid.net/event/other": {} })
    );
    let (_, claims, _) = token_while(Some(Misbehaviour::LogoutTokenWithNonce)).await;
    assert!(claims["nonce"].is_string());
    let (_, claims, _) = token_while(Some(Misbehaviour::LogoutTokenNoSidNoSub)).await;
    assert!(claims.get("sid").is_none() && claims.get("sub").is_none());
    let (_, claims, _) = token_while(Some(Misbehaviour::LogoutTokenExpired)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    assert!(claims["exp"].as_i64().is_some_and(|exp| exp < now - 60));
    let (_, previous, _) = token_while(None).await;
    let (header, repeated, jwt) = token_while(Some(Misbehaviour::LogoutTokenRepeatedJti)).await;
    assert_eq!(repeated["jti"], previous["jti"]);
    assert_eq!(header["alg"], "RS256");
    verify_with_published_key(&provider, &jwt).await?;
    // Behaving again: a fresh jti, a valid token.
    let (_, fresh, jwt) = token_while(None).await;
    assert_ne!(fresh["jti"], previous["jti"]);
    verify_with_published_key(&provider, &jwt).await?;
    assert!(fresh.get("nonce").is_none());
    Ok(())
}

#[tokio::test]
async fn backchannel_logout_failures_are_errors() -> TestResult {
    let provider = DevProvider::start().await?;
    assert!(matches!(
        provider
            .backchannel_logout(LogoutTarget::Sid("s".into()))
            .await,
        Err(BackchannelError::NoLogoutUri)
    ));
    // A registered URI where nothing listens.
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let provider = DevProvider::builder()
        .backchannel_logout_uri(format!("http://127.0.0.1:{port}/logout"))
        .start()
        .await?;
    let error = provider
        .backchannel_logout(LogoutTarget::Sub("u".into()))
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, BackchannelError::Request { .. }), "{error}");
    assert!(error
        .to_string()
        .contains(&format!("127.0.0.1:{port}/logout")));

    let refused = DevProvider::builder()
        .backchannel_logout_uri("not a url")
        .start()
        .await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );
    Ok(())
}

#[tokio::test]
async fn frontchannel_logout_url_and_logout_hint() -> TestResult {
    let provider = DevProvider::start().await?;
    assert_eq!(provider.frontchannel_logout_url("s1"), None);
    let provider = DevProvider::builder()
        .frontchannel_logout_uri("http://localhost:8000/auth/frontchannel-logout?x=1")
        .start()
        .await?;
    let url = Url::parse(&provider.frontchannel_logout_url("s 1").ok_or("no url")?)?;
    assert_eq!(url.path(), "/auth/frontchannel-logout");
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    assert_eq!(
        query,
        vec![
            ("x".to_owned(), "1".to_owned()),
            ("iss".to_owned(), provider.issuer()),
            ("sid".to_owned(), "s 1".to_owned()),
        ]
    );

    // RP-initiated logout records Entra's logout_hint.
    let hint = DevUser::new("Ada", "ada@example.com").with_login_hint("O.aGVsbG8");
    let logout = format!(
        "{}?logout_hint={}",
        provider.end_session_endpoint(),
        hint.claims()["login_hint"].as_str().ok_or("hint")?
    );
    assert_eq!(http().get(logout).send().await?.status(), StatusCode::OK);
    assert_eq!(
        provider.end_session_calls()[0].logout_hint.as_deref(),
        Some("O.aGVsbG8")
    );
    Ok(())
}
