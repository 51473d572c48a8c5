use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const CLIENT_SECRET: &str = "CLIENT-SECRET-VALUE-a1b2c3";
const COOKIE_SECRET: &str = "COOKIE-SECRET-VALUE-0123456789abcdef";
const GOOGLE_URL: &str = "https://accounts.google.com/.well-known/openid-configuration";
const ENTRA_URL: &str =
    "https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration";

fn shared() -> String {
    format!(
        "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
         cookie_secret = \"{COOKIE_SECRET}\"\n"
    )
}

fn google_table() -> String {
    format!(
        "[auth.google]\nclient_id = \"google-client\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         server_metadata_url = \"{GOOGLE_URL}\"\n"
    )
}

/// `shared()` plus a valid `[auth.google]` plus `extra` appended.
fn with_google(extra: &str) -> String {
    format!("{}{}{extra}", shared(), google_table())
}

fn err(text: &str) -> ConfigError {
    match AuthConfig::from_toml_str(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

fn ok(text: &str) -> AuthConfig {
    match AuthConfig::from_toml_str(text) {
        Ok(c) => c,
        Err(e) => panic!("expected a config, got error: {e}"),
    }
}

fn assert_mentions(e: &ConfigError, parts: &[&str]) {
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} should mention {p:?}");
    }
}

fn has_warning(c: &AuthConfig, parts: &[&str]) -> bool {
    c.warnings()
        .iter()
        .any(|w| parts.iter().all(|p| w.contains(p)))
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

use crate::util::scratch::TempDir;

struct Dirs {
    _tmp: TempDir,
    home: PathBuf,
    cwd: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = crate::util::scratch::tempdir().expect("a fresh temporary directory");
    let home = tmp.path().join("home");
    let cwd = tmp.path().join("project");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    Dirs {
        _tmp: tmp,
        home,
        cwd,
    }
}

fn write_secrets(dir: &Path, text: &str) -> PathBuf {
    let folder = dir.join(".streamlit");
    std::fs::create_dir_all(&folder).expect("mkdir");
    let path = folder.join("secrets.toml");
    std::fs::write(&path, text).expect("write");
    path
}

// ---------------------------------------------------------------- Streamlit files

#[test]
fn plain_streamlit_single_provider_file() {
    let text = format!(
        "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
         cookie_secret = \"xxx\"\nclient_id = \"xxx\"\nclient_secret = \"xxx\"\n\
         server_metadata_url = \"{GOOGLE_URL}\"\n"
    );
    let c = ok(&text);
    assert_eq!(c.provider_names().collect::<Vec<_>>(), ["default"]);
    let p = c.default_provider().expect("default provider");
    assert_eq!(p.name(), "default");
    assert_eq!(p.client_id(), "xxx");
    assert_eq!(p.client_secret().unwrap().expose(), "xxx");
    assert_eq!(p.server_metadata_url(), GOOGLE_URL);
    assert_eq!(*p.client_kwargs(), ClientKwargs::default());
    assert_eq!(c.redirect_uri(), "http://localhost:8501/oauth2callback");
    assert_eq!(c.cookie_secret().expose(), "xxx");
    assert_eq!(*c.source(), ConfigSource::String);
    // Streamlit's docs use short secrets: accepted, but flagged.
    assert!(has_warning(&c, &["auth.cookie_secret", "3 bytes"]));
}

#[test]
fn multi_provider_file_in_streamlit_docs_style() {
    let text = format!(
        r#"
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"

[auth.google]
client_id = "google-client"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{GOOGLE_URL}"

[auth.microsoft]
client_id = "ms-client"
client_secret = "ms-secret"
server_metadata_url = "{ENTRA_URL}"
client_kwargs = {{ prompt = "login" }}
"#
    );
    let c = ok(&text);
    assert_eq!(
        c.provider_names().collect::<Vec<_>>(),
        ["google", "microsoft"]
    );
    assert!(c.default_provider().is_none());
    let ms = c.provider("microsoft").expect("microsoft");
    assert_eq!(ms.server_metadata_url(), ENTRA_URL);
    assert_eq!(ms.client_kwargs().prompt(), Some("login"));
    assert_eq!(ms.client_kwargs().scope(), ["openid", "email", "profile"]);
    let g = c.provider("google").expect("google");
    assert_eq!(g.client_kwargs().prompt(), Some("select_account"));
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    assert!(c.provider("nope").is_none());
}

#[test]
fn default_and_named_providers_together_and_auth_default_table() {
    let text = format!(
        "{}client_id = \"d\"\nclient_secret = \"s\"\nserver_metadata_url = \"{GOOGLE_URL}\"\n{}",
        shared(),
        google_table()
    );
    let c = ok(&text);
    assert_eq!(
        c.provider_names().collect::<Vec<_>>(),
        ["default", "google"]
    );

    // [auth.default] wins over provider keys directly in [auth], as in Streamlit.
    let text = format!(
        "{}client_id = \"top\"\nclient_secret = \"s\"\nserver_metadata_url = \"{GOOGLE_URL}\"\n\
         [auth.default]\nclient_id = \"table\"\nclient_secret = \"s\"\n\
         server_metadata_url = \"{GOOGLE_URL}\"\n",
        shared()
    );
    let c = ok(&text);
    assert_eq!(c.default_provider().map(|p| p.client_id()), Some("table"));
    assert!(has_warning(&c, &["[auth.default]", "client_id", "ignored"]));
}

#[test]
fn defaults() {
    let c = ok(&with_google(""));
    assert_eq!(c.expose_tokens(), ExposeTokens::default());
    assert_eq!(c.post_logout_redirect_uri(), None);
    assert_eq!(c.session_lifetime(), Duration::from_secs(30 * 24 * 3600));
    let k = c.provider("google").expect("google").client_kwargs();
    assert_eq!(k.scope(), ["openid", "email", "profile"]);
    assert_eq!(k.prompt(), Some("select_account"));
    assert_eq!(k.token_endpoint_auth_method(), None);
    assert_eq!(k.timeout(), Duration::from_secs(10));
    assert!(k.authorize_params().is_empty());
}

#[test]
fn shared_extension_keys() {
    let text = format!(
        "[auth]\nredirect_uri = \"https://app.example.com/oauth2callback\"\n\
         cookie_secret = \"{COOKIE_SECRET}\"\nexpose_tokens = [\"id\", \"access\"]\n\
         post_logout_redirect_uri = \"https://app.example.com/\"\nsession_lifetime_days = 7\n{}",
        google_table()
    );
    let c = ok(&text);
    assert_eq!(
        c.expose_tokens(),
        ExposeTokens {
            id: true,
            access: true
        }
    );
    assert_eq!(c.session_lifetime(), Duration::from_secs(7 * 24 * 3600));
    assert_eq!(
        c.post_logout_redirect_uri(),
        Some("https://app.example.com/")
    );
    let c = ok(&format!(
        "{}expose_tokens = \"access\"\n{}",
        shared(),
        google_table()
    ));
    assert_eq!(
        c.expose_tokens(),
        ExposeTokens {
            id: false,
            access: true
        }
    );
}

#[test]
fn client_kwargs_mapping_and_extra_params_in_file_order() {
    let c = ok(&with_google(
        r#"
[auth.google.client_kwargs]
scope = "email profile email"
prompt = ""
token_endpoint_auth_method = "client_secret_post"
code_challenge_method = "S256"
timeout = 2.5
zeta_hint = "z"
login_hint = "someone@example.com"
audience = "api://x"
response_mode = "query"
"#,
    ));
    let k = c.provider("google").expect("google").client_kwargs();
    assert_eq!(k.scope(), ["openid", "email", "profile"]);
    assert!(has_warning(
        &c,
        &["auth.google.client_kwargs.scope", "openid"]
    ));
    assert_eq!(k.prompt(), None);
    assert_eq!(
        k.token_endpoint_auth_method(),
        Some(TokenEndpointAuth::ClientSecretPost)
    );
    assert_eq!(k.timeout(), Duration::from_millis(2500));
    let names: Vec<&str> = k
        .authorize_params()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        ["zeta_hint", "login_hint", "audience", "response_mode"]
    );

    let c = ok(&with_google(
        "[auth.google.client_kwargs]\nprompt = \"none\"\ntimeout = 300\n\
         token_endpoint_auth_method = \"client_secret_basic\"\nscope = [\"openid\", \"groups\"]\n",
    ));
    let k = c.provider("google").expect("google").client_kwargs();
    assert_eq!(k.prompt(), Some("none"));
    assert_eq!(k.timeout(), Duration::from_secs(300));
    assert_eq!(
        k.token_endpoint_auth_method(),
        Some(TokenEndpointAuth::ClientSecretBasic)
    );
    assert_eq!(k.scope(), ["openid", "groups"]);
}

#[test]
fn authlib_keys_are_tolerated_and_authorize_params_merged() {
    let c = ok(&with_google(
        r#"authorize_url = "https://example.com/authorize"
access_token_url = "https://example.com/token"
api_base_url = "https://example.com/"
authorize_params = { audience = "from-table", domain_hint = "contoso.com" }
client_kwargs = { audience = "from-kwargs", verify = false }
"#,
    ));
    let k = c.provider("google").expect("google").client_kwargs();
    assert_eq!(
        k.authorize_params(),
        [
            ("audience".to_string(), "from-kwargs".to_string()),
            ("domain_hint".to_string(), "contoso.com".to_string()),
        ]
    );
    for key in [
        "auth.google.authorize_url",
        "auth.google.access_token_url",
        "auth.google.api_base_url",
        "auth.google.client_kwargs.verify",
    ] {
        assert!(
            has_warning(&c, &[key, "not support", "ignored"]),
            "{key}: {:?}",
            c.warnings()
        );
    }
    assert!(has_warning(
        &c,
        &["auth.google.authorize_params.audience", "wins"]
    ));
}

#[test]
fn unknown_keys_warn_with_key_and_file() {
    let d = dirs();
    let path = write_secrets(
        &d.cwd,
        &with_google(
            "clientid = \"typo\"\n[auth.google.client_kwargs]\n\
             prompt = \"login\"\n",
        )
        .replace(
            "[auth]\n",
            "[auth]\nredirect_url = \"typo\"\nscope = \"openid\"\n",
        ),
    );
    let c = AuthConfig::from_file(&path).expect("config");
    let file = path.display().to_string();
    assert!(
        has_warning(&c, &["auth.redirect_url", &file]),
        "{:?}",
        c.warnings()
    );
    assert!(has_warning(
        &c,
        &["auth.google.clientid", "[auth.google]", &file]
    ));
    assert!(has_warning(&c, &["auth.scope", "client_kwargs"]));
    assert_eq!(*c.source(), ConfigSource::File(path));

    // Top-level client_kwargs without a default provider is not inherited by named ones.
    let c = ok(&with_google("").replace(
        "[auth]\n",
        "[auth]\nclient_kwargs = { prompt = \"login\" }\n",
    ));
    assert!(has_warning(&c, &["client_kwargs", "no default provider"]));
    assert_eq!(
        c.provider("google")
            .and_then(|p| p.client_kwargs().prompt()),
        Some("select_account")
    );

    // Only [auth] is read; the app's other secrets are none of our business.
    let c = ok(&format!(
        "[database]\npassword = \"x\"\n{}",
        with_google("")
    ));
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn metadata_url_that_is_not_a_discovery_url_warns() {
    let c = ok(&with_google("").replace(GOOGLE_URL, "https://accounts.google.com"));
    assert!(has_warning(
        &c,
        &["auth.google.server_metadata_url", ".well-known"]
    ));
}

// ---------------------------------------------------------------- {port}

#[test]
fn port_placeholder() {
    let text = with_google("")
        .replace("localhost:8501", "localhost:{port}")
        .replace(
            "[auth]\n",
            "[auth]\npost_logout_redirect_uri = \"http://127.0.0.1:{port}/bye\"\n",
        );
    let c = ok(&text);
    assert_eq!(c.redirect_uri(), "http://localhost:{port}/oauth2callback");
    assert_eq!(
        c.redirect_uri_for_port(Some(3000)).expect("url").as_str(),
        "http://localhost:3000/oauth2callback"
    );
    assert_eq!(
        c.post_logout_redirect_uri_for_port(Some(3000))
            .expect("url")
            .map(|u| u.to_string()),
        Some("http://127.0.0.1:3000/bye".to_string())
    );
    let e = c.redirect_uri_for_port(None).expect_err("port needed");
    assert!(matches!(e, ConfigError::PortRequired { ref value } if value.contains("{port}")));
    assert_mentions(&e, &["{port}", "http://localhost:{port}/oauth2callback"]);
    assert!(matches!(
        c.post_logout_redirect_uri_for_port(None),
        Err(ConfigError::PortRequired { .. })
    ));

    // Without the placeholder the port is irrelevant.
    let c = ok(&with_google(""));
    assert_eq!(
        c.redirect_uri_for_port(None).expect("url").as_str(),
        "http://localhost:8501/oauth2callback"
    );
    assert_eq!(
        c.redirect_uri_for_port(Some(1)).expect("url").as_str(),
        "http://localhost:8501/oauth2callback"
    );
    assert_eq!(c.post_logout_redirect_uri_for_port(None).expect("ok"), None);
}

// ---------------------------------------------------------------- search order

#[test]
fn search_order_later_file_replaces_whole_auth_table() {
    let d = dirs();
    let home_text = with_google("").replace("[auth]\n", "[auth]\nexpose_tokens = \"id\"\n");
    write_secrets(&d.home, &home_text);
    let cwd_text = format!(
        "{}[auth.microsoft]\nclient_id = \"ms\"\nclient_secret = \"s\"\n\
         server_metadata_url = \"{ENTRA_URL}\"\n",
        shared()
    );
    let cwd_path = write_secrets(&d.cwd, &cwd_text);
    let c = AuthConfig::load_from(Some(&d.home), &d.cwd, Vec::new()).expect("config");
    assert_eq!(c.provider_names().collect::<Vec<_>>(), ["microsoft"]);
    // Not deep-merged: the home file's expose_tokens is gone with its [auth].
    assert_eq!(c.expose_tokens(), ExposeTokens::default());
    assert_eq!(*c.source(), ConfigSource::File(cwd_path));
}

#[test]
fn search_order_home_only_and_files_without_auth() {
    let d = dirs();
    let home_path = write_secrets(&d.home, &with_google(""));
    // A project file with other secrets but no [auth] does not hide the home one.
    write_secrets(&d.cwd, "[database]\nurl = \"postgres://x\"\n");
    let c = AuthConfig::load_from(Some(&d.home), &d.cwd, Vec::new()).expect("config");
    assert_eq!(*c.source(), ConfigSource::File(home_path));

    // The same file reached as home and cwd is read once.
    let c = AuthConfig::load_from(Some(&d.home), &d.home, Vec::new()).expect("config");
    assert!(c.provider("google").is_some());
}

#[test]
fn nothing_found() {
    let d = dirs();
    let none = AuthConfig::load_optional_from(Some(&d.home), &d.cwd, env(&[("PATH", "/bin")]))
        .expect("no error");
    assert!(none.is_none());
    let e = AuthConfig::load_from(Some(&d.home), &d.cwd, Vec::new()).expect_err("no auth");
    let ConfigError::NoAuthSection { ref searched } = e else {
        panic!("wrong variant {e:?}");
    };
    assert_eq!(searched.len(), 3);
    assert_mentions(
        &e,
        &[
            &d.home
                .join(".streamlit")
                .join("secrets.toml")
                .display()
                .to_string(),
            &d.cwd
                .join(".streamlit")
                .join("secrets.toml")
                .display()
                .to_string(),
            "OIDC_AUTH__",
            "[auth]",
        ],
    );
    let e = AuthConfig::load_from(None, &d.cwd, Vec::new()).expect_err("no auth");
    assert!(matches!(e, ConfigError::NoAuthSection { ref searched } if searched.len() == 2));
}

#[test]
fn broken_file_in_search_is_an_error() {
    let d = dirs();
    let path = write_secrets(&d.cwd, "[auth\n");
    let e =
        AuthConfig::load_optional_from(Some(&d.home), &d.cwd, Vec::new()).expect_err("toml error");
    assert!(
        matches!(e, ConfigError::Toml { ref origin, .. } if *origin == ConfigSource::File(path.clone()))
    );
    assert_mentions(&e, &[&path.display().to_string(), "line 1"]);
}

// ---------------------------------------------------------------- environment

#[test]
fn env_overrides_file_key_by_key() {
    let d = dirs();
    let path = write_secrets(
        &d.cwd,
        &format!(
            "{}[auth.microsoft]\nclient_id = \"ms\"\nclient_secret = \"file-secret\"\n\
             server_metadata_url = \"{ENTRA_URL}\"\nclient_kwargs = {{ prompt = \"login\" }}\n\
             [auth.MyIdp]\nclient_id = \"a\"\nclient_secret = \"b\"\n\
             server_metadata_url = \"{GOOGLE_URL}\"\n",
            shared()
        ),
    );
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[
            ("HOME", "/ignored"),
            ("OIDC_AUTH__MICROSOFT__CLIENT_SECRET", "env-secret"),
            (
                "OIDC_AUTH__MICROSOFT__CLIENT_KWARGS__DOMAIN_HINT",
                "contoso.com",
            ),
            ("OIDC_AUTH__MICROSOFT__CLIENT_KWARGS__TIMEOUT", "3"),
            ("OIDC_AUTH__MYIDP__CLIENT_ID", "env-id"),
            ("OIDC_AUTH__EXPOSE_TOKENS", "id, access"),
            ("OIDC_AUTH__SESSION_LIFETIME_DAYS", "2"),
        ]),
    )
    .expect("config");
    let ms = c.provider("microsoft").expect("microsoft");
    assert_eq!(ms.client_secret().unwrap().expose(), "env-secret");
    assert_eq!(ms.client_id(), "ms");
    assert_eq!(ms.client_kwargs().prompt(), Some("login"));
    assert_eq!(ms.client_kwargs().timeout(), Duration::from_secs(3));
    assert_eq!(
        ms.client_kwargs().authorize_params(),
        [("domain_hint".to_string(), "contoso.com".to_string())]
    );
    assert_eq!(c.provider("MyIdp").map(|p| p.client_id()), Some("env-id"));
    assert_eq!(
        c.expose_tokens(),
        ExposeTokens {
            id: true,
            access: true
        }
    );
    assert_eq!(c.session_lifetime(), Duration::from_secs(2 * 24 * 3600));
    assert_eq!(
        *c.source(),
        ConfigSource::WithEnv(Box::new(ConfigSource::File(path)))
    );
}

#[test]
fn env_alone_defines_a_config_with_hyphen_mapping() {
    let d = dirs();
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[
            (
                "OIDC_AUTH__REDIRECT_URI",
                "https://app.example.com/oauth2callback",
            ),
            ("OIDC_AUTH__COOKIE_SECRET", COOKIE_SECRET),
            ("OIDC_AUTH__CLIENT_ID", "default-id"),
            ("OIDC_AUTH__CLIENT_SECRET", CLIENT_SECRET),
            ("OIDC_AUTH__SERVER_METADATA_URL", GOOGLE_URL),
            ("OIDC_AUTH__CLIENT_KWARGS__PROMPT", "consent"),
            ("OIDC_AUTH__MY_IDP__CLIENT_ID", "idp"),
            ("OIDC_AUTH__MY_IDP__CLIENT_SECRET", "idp-secret"),
            ("OIDC_AUTH__MY_IDP__SERVER_METADATA_URL", ENTRA_URL),
            ("OIDC_AUTH__MY_IDP__AUTHORIZE_PARAMS__AUDIENCE", "api"),
            ("OIDC_AUTH__BOGUS_KEY", "x"),
            ("OIDC_AUTH__A__B__C__D", "x"),
        ]),
    )
    .expect("config");
    assert_eq!(*c.source(), ConfigSource::Environment);
    assert_eq!(
        c.provider_names().collect::<Vec<_>>(),
        ["default", "my-idp"]
    );
    let dflt = c.default_provider().expect("default");
    assert_eq!(dflt.client_kwargs().prompt(), Some("consent"));
    let idp = c.provider("my-idp").expect("my-idp");
    assert_eq!(
        idp.client_kwargs().authorize_params(),
        [("audience".to_string(), "api".to_string())]
    );
    assert!(has_warning(&c, &["auth.bogus_key", "OIDC_AUTH__BOGUS_KEY"]));
    assert!(has_warning(&c, &["OIDC_AUTH__A__B__C__D", "ignored"]));

    let none =
        AuthConfig::load_optional_from(Some(&d.home), &d.cwd, env(&[("OIDC_X", "1")])).expect("ok");
    assert!(none.is_none());
}

#[test]
fn env_default_provider_targets_auth_default_table() {
    let text = format!(
        "{}[auth.default]\nclient_id = \"a\"\nclient_secret = \"b\"\n\
         server_metadata_url = \"{GOOGLE_URL}\"\n",
        shared()
    );
    let c = ok(&text)
        .apply_env(env(&[("OIDC_AUTH__CLIENT_ID", "from-env")]))
        .expect("config");
    assert_eq!(
        c.default_provider().map(|p| p.client_id()),
        Some("from-env")
    );
    assert!(!has_warning(&c, &["ignored"]), "{:?}", c.warnings());
}

#[test]
fn apply_env_on_a_loaded_config() {
    let c = ok(&with_google(
        "[auth.google.client_kwargs]\nscope = \"email\"\n",
    ));
    let before = c.warnings().to_vec();
    let unchanged = c.clone().apply_env(env(&[("PATH", "/bin")])).expect("ok");
    assert_eq!(unchanged, c);

    let c = c
        .apply_env(env(&[(
            "OIDC_AUTH__GOOGLE__CLIENT_KWARGS__LOGIN_HINT",
            "me@example.com",
        )]))
        .expect("config");
    let k = c.provider("google").expect("google").client_kwargs();
    assert_eq!(k.scope(), ["openid", "email"]);
    assert_eq!(
        k.authorize_params(),
        [("login_hint".to_string(), "me@example.com".to_string())]
    );
    assert_eq!(
        *c.source(),
        ConfigSource::WithEnv(Box::new(ConfigSource::String))
    );
    // Warnings of the first load are kept and not duplicated.
    assert_eq!(&c.warnings()[..before.len()], &before[..]);
    assert_eq!(c.warnings().len(), before.len());

    let e = c
        .apply_env(env(&[(
            "OIDC_AUTH__GOOGLE__CLIENT_KWARGS__TIMEOUT",
            "soon",
        )]))
        .expect_err("bad timeout");
    assert!(matches!(
        e,
        ConfigError::InvalidValue { ref origin, .. }
            if *origin == ConfigSource::Env("OIDC_AUTH__GOOGLE__CLIENT_KWARGS__TIMEOUT".into())
    ));
    assert_mentions(
        &e,
        &[
            "environment variable OIDC_AUTH__GOOGLE__CLIENT_KWARGS__TIMEOUT",
            "auth.google.client_kwargs.timeout",
        ],
    );
}

#[test]
fn env_errors_name_the_variable() {
    let d = dirs();
    let e = AuthConfig::load_from(Some(&d.home), &d.cwd, env(&[("OIDC_AUTH__CLIENT_ID", "x")]))
        .expect_err("incomplete");
    assert!(
        matches!(e, ConfigError::MissingKeys { ref origin, .. } if *origin == ConfigSource::Environment)
    );
    assert_mentions(
        &e,
        &[
            "redirect_uri",
            "cookie_secret",
            "client_secret",
            "server_metadata_url",
            "OIDC_AUTH__CLIENT_SECRET",
            "OIDC_AUTH__* environment variables",
        ],
    );

    let e = ok(&with_google(""))
        .apply_env(env(&[("OIDC_AUTH__EXPOSE_TOKENS", "id,refresh")]))
        .expect_err("bad expose");
    assert!(matches!(e, ConfigError::InvalidExposeTokens { .. }));
    assert_mentions(
        &e,
        &["environment variable OIDC_AUTH__EXPOSE_TOKENS", "refresh"],
    );

    let e = ok(&with_google(""))
        .apply_env(env(&[("OIDC_AUTH__NEWIDP__CLIENT_ID", "x")]))
        .expect_err("incomplete provider");
    assert!(matches!(e, ConfigError::MissingKeys { ref provider, .. } if provider == "newidp"));
    assert_mentions(&e, &["[auth.newidp]", "OIDC_AUTH__NEWIDP__CLIENT_SECRET"]);
}

// ---------------------------------------------------------------- builder

fn google() -> ProviderConfig {
    ProviderConfig::new("google", "google-client", CLIENT_SECRET, GOOGLE_URL)
}

#[test]
fn builder_builds_the_same_config_as_a_file() {
    let built = AuthConfig::builder()
        .redirect_uri("http://localhost:8501/oauth2callback")
        .cookie_secret(COOKIE_SECRET)
        .provider(google())
        .build()
        .expect("config");
    let parsed = ok(&with_google(""));
    assert_eq!(
        built.providers().collect::<Vec<_>>(),
        parsed.providers().collect::<Vec<_>>()
    );
    assert_eq!(built.redirect_uri(), parsed.redirect_uri());
    assert_eq!(built.session_lifetime(), parsed.session_lifetime());
    assert_eq!(*built.source(), ConfigSource::Builder);

    let c = AuthConfig::builder()
        .redirect_uri("https://app.example.com/oauth2callback")
        .cookie_secret(Secret::new(COOKIE_SECRET))
        .expose_tokens(ExposeTokens {
            id: true,
            access: false,
        })
        .post_logout_redirect_uri("https://app.example.com/")
        .session_lifetime(Duration::from_secs(8 * 3600))
        .provider(
            google()
                .scope("email")
                .prompt(None)
                .param("domain_hint", "contoso.com")
                .param("timeout", "not-the-timeout")
                .param("domain_hint", "fabrikam.com")
                .token_endpoint_auth(TokenEndpointAuth::ClientSecretPost)
                .timeout(Duration::from_secs(5)),
        )
        .provider(ProviderConfig::new("default", "d", "s", GOOGLE_URL))
        .build()
        .expect("config");
    assert_eq!(
        c.provider_names().collect::<Vec<_>>(),
        ["default", "google"]
    );
    assert_eq!(c.session_lifetime(), Duration::from_secs(8 * 3600));
    assert_eq!(
        c.expose_tokens(),
        ExposeTokens {
            id: true,
            access: false
        }
    );
    let k = c.provider("google").expect("google").client_kwargs();
    assert_eq!(k.scope(), ["openid", "email"]);
    assert!(has_warning(
        &c,
        &["openid", "the configuration built in code"]
    ));
    assert_eq!(k.prompt(), None);
    assert_eq!(k.timeout(), Duration::from_secs(5));
    assert_eq!(
        k.authorize_params(),
        [
            ("domain_hint".to_string(), "fabrikam.com".to_string()),
            ("timeout".to_string(), "not-the-timeout".to_string()),
        ]
    );
    assert_eq!(
        k.token_endpoint_auth_method(),
        Some(TokenEndpointAuth::ClientSecretPost)
    );

    // A built config round-trips through apply_env unchanged apart from the env value.
    let again = c
        .clone()
        .apply_env(env(&[("OIDC_AUTH__GOOGLE__CLIENT_ID", "other")]))
        .expect("config");
    assert_eq!(
        again.provider("google").map(|p| p.client_id()),
        Some("other")
    );
    assert_eq!(again.session_lifetime(), c.session_lifetime());
    assert_eq!(
        again.provider("google").map(|p| p.client_kwargs()),
        c.provider("google").map(|p| p.client_kwargs())
    );
}

#[test]
fn builder_errors() {
    let base = || {
        AuthConfig::builder()
            .redirect_uri("https://app.example.com/oauth2callback")
            .cookie_secret(COOKIE_SECRET)
    };
    let e = AuthConfig::builder()
        .provider(google())
        .build()
        .expect_err("missing");
    assert!(matches!(
        e,
        ConfigError::MissingKeys { ref keys, ref origin, .. }
            if keys == &["redirect_uri", "cookie_secret"] && *origin == ConfigSource::Builder
    ));
    assert_mentions(&e, &["the configuration built in code", "redirect_uri"]);

    let e = base().build().expect_err("no provider");
    assert!(matches!(e, ConfigError::NoProvider { .. }));

    let e = base()
        .provider(ProviderConfig::new("my_idp", "a", "b", GOOGLE_URL))
        .build()
        .expect_err("underscore");
    assert!(
        matches!(e, ConfigError::UnderscoreInProviderName { ref provider, .. } if provider == "my_idp")
    );

    let e = base()
        .provider(google())
        .provider(google())
        .build()
        .expect_err("dup");
    assert!(matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "auth.google"));

    let e = base()
        .provider(google().param("nonce", "n"))
        .build()
        .expect_err("reserved");
    assert!(matches!(e, ConfigError::ReservedParameter { ref param, .. } if param == "nonce"));

    let e = base()
        .provider(google().param("prompt", "login"))
        .build()
        .expect_err("reserved");
    assert!(matches!(e, ConfigError::ReservedParameter { ref param, .. } if param == "prompt"));
    assert_mentions(&e, &["client_kwargs.prompt"]);

    let e = base()
        .provider(google().timeout(Duration::ZERO))
        .build()
        .expect_err("timeout");
    assert!(
        matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "auth.google.client_kwargs.timeout")
    );

    let e = base()
        .session_lifetime(Duration::from_secs(401 * 24 * 3600))
        .provider(google())
        .build()
        .expect_err("lifetime");
    assert!(
        matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "auth.session_lifetime_days")
    );

    let e = base()
        .provider(ProviderConfig::new("google", "", CLIENT_SECRET, GOOGLE_URL))
        .build()
        .expect_err("empty id");
    assert!(
        matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "auth.google.client_id")
    );

    let e = base()
        .redirect_uri("http://app.example.com/oauth2callback")
        .provider(google())
        .build()
        .expect_err("http");
    assert!(matches!(e, ConfigError::InvalidRedirectUri { .. }));
}

// ---------------------------------------------------------------- errors

#[test]
fn error_no_auth_section() {
    let e = err("[database]\nx = 1\n");
    assert!(
        matches!(e, ConfigError::NoAuthSection { ref searched } if searched == &[ConfigSource::String])
    );
    assert_mentions(&e, &["[auth]", "the secrets.toml text passed in code"]);
}

#[test]
fn error_no_provider() {
    let e = err(&shared());
    assert!(matches!(e, ConfigError::NoProvider { .. }));
    assert_mentions(&e, &["[auth]", "client_id", "[auth.NAME]"]);
}

#[test]
fn error_missing_keys() {
    let e = err(&format!(
        "[auth]\ncookie_secret = \"x\"\n{}",
        google_table()
    ));
    assert!(matches!(
        e,
        ConfigError::MissingKeys { ref section, ref provider, ref keys, .. }
            if section == "[auth]" && provider.is_empty() && keys == &["redirect_uri"]
    ));
    assert_mentions(&e, &["[auth]", "`redirect_uri`"]);

    // Some provider keys directly in [auth]: the default provider is incomplete.
    let e = err(&format!("{}client_id = \"x\"\n", shared()));
    assert!(matches!(
        e,
        ConfigError::MissingKeys { ref provider, ref keys, .. }
            if provider == "default" && keys == &["client_secret", "server_metadata_url"]
    ));
    assert_mentions(
        &e,
        &[
            "default login provider",
            "client_secret",
            "server_metadata_url",
        ],
    );

    let e = err(&format!("{}[auth.google]\nclient_id = \"x\"\n", shared()));
    assert!(matches!(
        e,
        ConfigError::MissingKeys { ref section, ref provider, ref keys, ref origin, ref misspelt }
            if section == "[auth.google]" && provider == "google"
                && keys == &["client_secret", "server_metadata_url"]
                && *origin == ConfigSource::String
                && misspelt.is_empty()
    ));
    assert_mentions(
        &e,
        &[
            "[auth.google]",
            "\"google\"",
            "`client_secret`",
            "`server_metadata_url`",
            "passed in code",
        ],
    );
    // No environment involved, so no variable hint.
    assert!(!e.to_string().contains("OIDC_AUTH__"));
}

#[test]
fn error_not_a_table() {
    let e = err(&format!("{}google = \"x\"\n", shared()));
    assert!(matches!(e, ConfigError::NotATable { ref key, .. } if key == "auth.google"));
    assert_mentions(
        &e,
        &["auth.google", "a string", "provider", "passed in code"],
    );

    let e = err(&with_google("client_kwargs = \"prompt=login\"\n"));
    assert!(
        matches!(e, ConfigError::NotATable { ref key, .. } if key == "auth.google.client_kwargs")
    );

    let e = err(&with_google("authorize_params = 1\n"));
    assert!(
        matches!(e, ConfigError::NotATable { ref key, .. } if key == "auth.google.authorize_params")
    );

    let e = err("auth = \"x\"\n");
    assert!(matches!(e, ConfigError::NotATable { ref key, .. } if key == "auth"));
}

#[test]
fn error_underscore_in_provider_name() {
    let e = err(&format!(
        "{}{}",
        shared(),
        google_table().replace("google", "my_google")
    ));
    assert!(
        matches!(e, ConfigError::UnderscoreInProviderName { ref provider, .. } if provider == "my_google")
    );
    assert_mentions(
        &e,
        &[
            "\"my_google\"",
            "underscore",
            "Streamlit",
            "split",
            "passed in code",
            "my-google",
        ],
    );
}

#[test]
fn error_invalid_redirect_uri() {
    let cases = [
        ("/oauth2callback", "absolute"),
        ("localhost:8501/oauth2callback", "scheme"),
        ("ftp://example.com/oauth2callback", "scheme"),
        ("https://app.example.com/oauth2callback?x=1", "query"),
        ("https://app.example.com/oauth2callback#x", "fragment"),
        ("https://app.example.com", "path"),
        ("https://app.example.com/", "path"),
        ("http://app.example.com/oauth2callback", "https"),
        ("http://10.0.0.1:8501/oauth2callback", "https"),
        ("https://user:hunter2@app.example.com/cb", "password"),
    ];
    for (uri, word) in cases {
        let text = with_google("").replace("http://localhost:8501/oauth2callback", uri);
        let e = err(&text);
        assert!(
            matches!(e, ConfigError::InvalidRedirectUri { ref key, .. } if key == "auth.redirect_uri"),
            "{uri}: {e:?}"
        );
        assert_mentions(&e, &["auth.redirect_uri", word, "passed in code"]);
        assert!(!e.to_string().contains("hunter2"));
        assert!(!format!("{e:?}").contains("hunter2"));
    }
    for uri in [
        "http://127.0.0.5:9000/cb",
        "http://[::1]:8501/oauth2callback",
        "http://localhost/auth/callback",
        "https://app.example.com/oauth2callback",
    ] {
        ok(&with_google("").replace("http://localhost:8501/oauth2callback", uri));
    }

    let e = err(&with_google("").replace(
        "[auth]\n",
        "[auth]\npost_logout_redirect_uri = \"http://example.com/\"\n",
    ));
    assert!(
        matches!(e, ConfigError::InvalidRedirectUri { ref key, .. } if key == "auth.post_logout_redirect_uri")
    );
    assert_mentions(&e, &["https"]);
}

#[test]
fn error_empty_cookie_secret() {
    let e = err(&with_google("").replace(COOKIE_SECRET, ""));
    assert!(
        matches!(e, ConfigError::EmptyCookieSecret { ref origin } if *origin == ConfigSource::String)
    );
    assert_mentions(&e, &["cookie_secret", "empty", "passed in code"]);
}

#[test]
fn error_invalid_expose_tokens() {
    for (value, shown) in [
        ("\"refresh\"", "\"refresh\""),
        ("[\"id\", \"refresh\"]", "\"refresh\""),
        ("[\"id\", 1]", "an integer"),
        ("true", "a boolean"),
        ("\"id,access\"", "\"id,access\""),
    ] {
        let e = err(
            &with_google("").replace("[auth]\n", &format!("[auth]\nexpose_tokens = {value}\n"))
        );
        assert!(
            matches!(e, ConfigError::InvalidExposeTokens { .. }),
            "{value}: {e:?}"
        );
        assert_mentions(
            &e,
            &[
                "Only 'id' and 'access' are allowed",
                shown,
                "passed in code",
            ],
        );
    }
}

#[test]
fn error_invalid_values() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            with_google("").replace("\"google-client\"", "5"),
            "auth.google.client_id",
            "an integer",
        ),
        (
            with_google("").replace("\"google-client\"", "\"  \""),
            "auth.google.client_id",
            "empty",
        ),
        (
            with_google("").replace(&format!("\"{CLIENT_SECRET}\""), "[]"),
            "auth.google.client_secret",
            "an array",
        ),
        (
            with_google("").replace(
                GOOGLE_URL,
                "http://idp.example.com/.well-known/openid-configuration",
            ),
            "auth.google.server_metadata_url",
            "https",
        ),
        (
            with_google("").replace(GOOGLE_URL, "not a url"),
            "auth.google.server_metadata_url",
            "absolute",
        ),
        (
            with_google("client_kwargs = { token_endpoint_auth_method = \"private_key_jwt\" }\n"),
            "auth.google.client_kwargs.token_endpoint_auth_method",
            "client_secret_post",
        ),
        (
            with_google("client_kwargs = { code_challenge_method = \"plain\" }\n"),
            "auth.google.client_kwargs.code_challenge_method",
            "S256",
        ),
        (
            with_google("client_kwargs = { timeout = 0 }\n"),
            "auth.google.client_kwargs.timeout",
            "more than 0",
        ),
        (
            with_google("client_kwargs = { timeout = 301 }\n"),
            "auth.google.client_kwargs.timeout",
            "300",
        ),
        (
            with_google("client_kwargs = { timeout = \"10\" }\n"),
            "auth.google.client_kwargs.timeout",
            "a string",
        ),
        (
            with_google("client_kwargs = { max_age = 3600 }\n"),
            "auth.google.client_kwargs.max_age",
            "authorization parameter",
        ),
        (
            with_google("client_kwargs = { response_mode = \"form_post\" }\n"),
            "auth.google.client_kwargs.response_mode",
            "query",
        ),
        (
            with_google("client_kwargs = { scope = 1 }\n"),
            "auth.google.client_kwargs.scope",
            "space-separated",
        ),
        (
            with_google("client_kwargs = { scope = \"openid \\\"x\" }\n"),
            "auth.google.client_kwargs.scope",
            "characters",
        ),
        (
            with_google("client_kwargs = { prompt = false }\n"),
            "auth.google.client_kwargs.prompt",
            "a boolean",
        ),
        (
            with_google("authorize_params = { audience = 1 }\n"),
            "auth.google.authorize_params.audience",
            "strings",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_lifetime_days = 0\n"),
            "auth.session_lifetime_days",
            "1 to 400",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_lifetime_days = 401\n"),
            "auth.session_lifetime_days",
            "400",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_lifetime_days = 1.5\n"),
            "auth.session_lifetime_days",
            "whole number",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_max_age = \"30\"\n"),
            "auth.session_max_age",
            "units s, m, h, d",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_max_age = 30\n"),
            "auth.session_max_age",
            "an integer",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_max_age = \"401d\"\n"),
            "auth.session_max_age",
            "400",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_idle_timeout = \"0s\"\n"),
            "auth.session_idle_timeout",
            "more than 0",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_idle_timeout = \"5 weeks\"\n"),
            "auth.session_idle_timeout",
            "units s, m, h, d",
        ),
        (
            with_google("").replace("[auth]\n", "[auth]\nsession_follows_provider = \"yes\"\n"),
            "auth.session_follows_provider",
            "a string",
        ),
        (
            with_google("fetch_userinfo = 1\n"),
            "auth.google.fetch_userinfo",
            "an integer",
        ),
        (
            with_google("")
                .replace("[auth]\n", "[auth]\nredirect_uri = 1979-05-27\n")
                .replacen(
                    "redirect_uri = \"http://localhost:8501/oauth2callback\"\n",
                    "",
                    1,
                ),
            "auth.redirect_uri",
            "a date-time",
        ),
    ];
    for (text, key, word) in cases {
        let e = err(&text);
        assert!(
            matches!(e, ConfigError::InvalidValue { key: ref k, .. } if k == key),
            "{key}: {e:?}"
        );
        assert_mentions(&e, &[key, word, "passed in code"]);
    }
}

#[test]
fn error_reserved_parameters() {
    for (extra, key, param) in [
        (
            "client_kwargs = { nonce = \"n\" }\n",
            "auth.google.client_kwargs.nonce",
            "nonce",
        ),
        (
            "client_kwargs = { state = \"s\" }\n",
            "auth.google.client_kwargs.state",
            "state",
        ),
        (
            "client_kwargs = { response_type = \"token\" }\n",
            "auth.google.client_kwargs.response_type",
            "response_type",
        ),
        (
            "client_kwargs = { redirect_uri = \"https://evil.example/\" }\n",
            "auth.google.client_kwargs.redirect_uri",
            "redirect_uri",
        ),
        (
            "client_kwargs = { client_id = \"x\" }\n",
            "auth.google.client_kwargs.client_id",
            "client_id",
        ),
        (
            "client_kwargs = { code_challenge = \"x\" }\n",
            "auth.google.client_kwargs.code_challenge",
            "code_challenge",
        ),
        (
            "authorize_params = { scope = \"openid\" }\n",
            "auth.google.authorize_params.scope",
            "scope",
        ),
        (
            "authorize_params = { code_challenge_method = \"S256\" }\n",
            "auth.google.authorize_params.code_challenge_method",
            "code_challenge_method",
        ),
    ] {
        let e = err(&with_google(extra));
        assert!(
            matches!(e, ConfigError::ReservedParameter { key: ref k, param: ref p, .. } if k == key && p == param),
            "{key}: {e:?}"
        );
        assert_mentions(&e, &[key, param, "passed in code"]);
    }
}

#[test]
fn error_toml_syntax_has_position_but_no_source_text() {
    let text = format!("[auth]\nredirect_uri = \"x\"\nclient_secret = \"{CLIENT_SECRET}\n");
    let e = err(&text);
    let ConfigError::Toml {
        ref origin,
        ref message,
    } = e
    else {
        panic!("wrong variant {e:?}");
    };
    assert_eq!(*origin, ConfigSource::String);
    assert!(message.contains("line 3"), "{message}");
    assert_mentions(&e, &["not valid TOML", "passed in code"]);

    let e = err(&format!("[auth]\ncookie_secret = {COOKIE_SECRET} here\n"));
    assert!(
        matches!(e, ConfigError::Toml { ref message, .. } if message.contains("line 2, column 17")),
        "{e:?}"
    );

    let e = err("[auth]\na = 1\na = 2\n");
    assert_mentions(&e, &["duplicate key `a`", "line 3"]);
}

#[test]
fn error_io() {
    let d = dirs();
    let missing = d.cwd.join("nope.toml");
    let e = AuthConfig::from_file(&missing).expect_err("missing file");
    assert!(matches!(e, ConfigError::Io { ref path, .. } if *path == missing));
    assert_mentions(&e, &[&missing.display().to_string()]);

    // A directory where the file should be cannot be read.
    std::fs::create_dir_all(d.cwd.join(".streamlit").join("secrets.toml")).expect("mkdir");
    let e = AuthConfig::load_from(None, &d.cwd, Vec::new()).expect_err("directory");
    assert!(matches!(e, ConfigError::Io { .. }), "{e:?}");
}

#[test]
fn error_from_file_names_the_file() {
    let d = dirs();
    let path = write_secrets(
        &d.cwd,
        &format!("{}[auth.google]\nclient_id = 1\n", shared()),
    );
    let e = AuthConfig::from_file(&path).expect_err("bad");
    assert_mentions(&e, &[&path.display().to_string(), "[auth.google]"]);
}

// ---------------------------------------------------------------- secrets never leak

#[test]
fn no_error_or_debug_output_contains_secret_values() {
    let c = ok(&with_google(""));
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(CLIENT_SECRET) && !debug.contains(COOKIE_SECRET),
        "{debug}"
    );
    assert_eq!(c.cookie_secret().to_string(), "[redacted]");
    let builder = format!(
        "{:?}",
        AuthConfig::builder()
            .cookie_secret(COOKIE_SECRET)
            .provider(google())
    );
    assert!(!builder.contains(CLIENT_SECRET) && !builder.contains(COOKIE_SECRET));

    let failing: Vec<String> = vec![
        format!("[auth]\nredirect_uri = \"x\"\ncookie_secret = \"{COOKIE_SECRET}\n"),
        format!("[auth]\ncookie_secret = {COOKIE_SECRET}\n"),
        format!("[auth]\nclient_secret = \"{CLIENT_SECRET}\" \"{CLIENT_SECRET}\"\n"),
        format!("[auth]\nx = {{ client_secret = \"{CLIENT_SECRET}\" y = 1 }}\n"),
        format!(
            "[auth]\ncookie_secret = \"{COOKIE_SECRET}\"\nclient_secret = \"{CLIENT_SECRET}\"\n"
        ),
        with_google("").replace("localhost:8501", "app.example.com"),
        with_google("client_kwargs = { nonce = \"n\" }\n"),
        with_google("client_kwargs = { timeout = -1 }\n"),
        with_google("").replace("google-client", ""),
        with_google("").replace(GOOGLE_URL, "ftp://x"),
        with_google("").replace("[auth]\n", "[auth]\nexpose_tokens = \"x\"\n"),
        format!(
            "{}[auth.my_idp]\nclient_secret = \"{CLIENT_SECRET}\"\n",
            shared()
        ),
        format!(
            "{}[auth.x]\nclient_secret = \"{CLIENT_SECRET}\"\n",
            shared()
        ),
        format!("{}x = \"{CLIENT_SECRET}\"\n", shared()),
        format!("{}cookie_secret = \"{COOKIE_SECRET}\"\n", shared()),
        format!("[auth]\ncookie_secret = \"{COOKIE_SECRET}\"\n"),
    ];
    let mut errors: Vec<ConfigError> = failing.iter().map(|t| err(t)).collect();
    errors.push(
        ok(&with_google(""))
            .apply_env(env(&[("OIDC_AUTH__GOOGLE__CLIENT_SECRET", "")]))
            .expect_err("empty"),
    );
    errors.push(
        ok(&with_google(""))
            .apply_env(env(&[("OIDC_AUTH__COOKIE_SECRET", "   ")]))
            .expect_err("empty"),
    );
    errors.push(
        AuthConfig::builder()
            .cookie_secret(COOKIE_SECRET)
            .provider(google())
            .build()
            .expect_err("missing"),
    );
    for e in errors {
        for rendered in [e.to_string(), format!("{e:?}")] {
            assert!(
                !rendered.contains(CLIENT_SECRET) && !rendered.contains(COOKIE_SECRET),
                "secret leaked: {rendered}"
            );
            assert!(!rendered.contains("CLIENT-SECRET") && !rendered.contains("COOKIE-SECRET"));
        }
    }
}

#[test]
fn misplaced_client_kwargs_keys_warn() {
    let c = ok(&with_google("prompt = \"login\"\n"));
    assert!(has_warning(&c, &["auth.google.prompt", "client_kwargs"]));
    let c = c
        .apply_env(env(&[("OIDC_AUTH__GOOGLE__SCOPE", "openid")]))
        .expect("config");
    assert!(has_warning(
        &c,
        &[
            "auth.google.scope",
            "OIDC_AUTH__GOOGLE__SCOPE",
            "CLIENT_KWARGS__SCOPE"
        ]
    ));
}

// ---------------------------------------------------------------- provenance

#[test]
fn origin_of_names_the_file_the_variable_or_the_builder() {
    let d = dirs();
    let path = write_secrets(
        &d.cwd,
        &with_google("[auth.google.client_kwargs]\ntimeout = 5\n"),
    );
    let file = ConfigSource::File(path.clone());
    let c = AuthConfig::from_file(&path).expect("config");
    assert_eq!(c.origin_of("auth.google.client_kwargs.timeout"), file);
    assert_eq!(c.origin_of("auth.redirect_uri"), file);
    // A key that was not given: where the table holding it came from.
    assert_eq!(c.origin_of("auth.google.client_kwargs.prompt"), file);
    assert_eq!(c.origin_of("auth.nowhere"), file);

    let var = "OIDC_AUTH__GOOGLE__CLIENT_KWARGS__TIMEOUT";
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[
            (var, "7"),
            ("OIDC_AUTH__REDIRECT_URI", "http://localhost:{port}/cb"),
        ]),
    )
    .expect("config");
    assert_eq!(
        c.origin_of("auth.google.client_kwargs.timeout"),
        ConfigSource::Env(var.into())
    );
    assert_eq!(
        c.origin_of("auth.redirect_uri"),
        ConfigSource::Env("OIDC_AUTH__REDIRECT_URI".into())
    );
    assert_eq!(c.origin_of("auth.google.client_id"), file);

    let built = AuthConfig::builder()
        .redirect_uri("http://localhost:8501/oauth2callback")
        .cookie_secret(COOKIE_SECRET)
        .provider(google())
        .build()
        .expect("config");
    assert_eq!(
        built.origin_of("auth.google.client_id"),
        ConfigSource::Builder
    );
    // After the environment, built values still name the builder.
    let again = built
        .apply_env(env(&[("OIDC_AUTH__GOOGLE__CLIENT_SECRET", "other")]))
        .expect("config");
    assert_eq!(
        again.origin_of("auth.google.client_id"),
        ConfigSource::Builder
    );
    assert_eq!(
        again.origin_of("auth.google.client_secret"),
        ConfigSource::Env("OIDC_AUTH__GOOGLE__CLIENT_SECRET".into())
    );
}

#[test]
fn errors_found_after_loading_name_the_variable() {
    let d = dirs();
    write_secrets(&d.cwd, &with_google(""));
    let var = "OIDC_AUTH__REDIRECT_URI";
    let mut c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[(var, "http://localhost:{port}/oauth2callback")]),
    )
    .expect("config");
    assert!(c.redirect_uri_for_port(Some(3000)).is_ok());
    // Only the rules ever write this field; here a value they would refuse stands in for
    // one that only fails with the real port.
    c.redirect_uri = "ftp://localhost:{port}/oauth2callback".into();
    let e = c.redirect_uri_for_port(Some(3000)).expect_err("ftp");
    assert!(
        matches!(e, ConfigError::InvalidRedirectUri { ref origin, .. } if *origin == ConfigSource::Env(var.into())),
        "{e:?}"
    );
    assert_mentions(&e, &["environment variable OIDC_AUTH__REDIRECT_URI"]);
}

#[test]
fn apply_env_does_not_check_the_other_values_again() {
    let c = AuthConfig::builder()
        .redirect_uri("http://localhost:8501/oauth2callback")
        .cookie_secret("short")
        .provider(google().scope("email"))
        .provider(ProviderConfig::new(
            "issuer",
            "id",
            "secret",
            "https://login.example.com",
        ))
        .build()
        .expect("config");
    let before = c.warnings().to_vec();
    assert_eq!(before.len(), 3, "{before:?}");

    let c = c
        .apply_env(env(&[("OIDC_AUTH__GOOGLE__CLIENT_ID", "other")]))
        .expect("config");
    assert_eq!(c.warnings(), &before[..], "no warning repeated or added");

    // A value the rules would refuse is not looked at again: only the variable is checked.
    let mut c = c;
    c.redirect_uri = "not checked again".into();
    let c = c
        .apply_env(env(&[("OIDC_AUTH__GOOGLE__CLIENT_ID", "third")]))
        .expect("config");
    assert_eq!(c.redirect_uri(), "not checked again");
    assert_eq!(
        c.provider("google").map(ProviderConfig::client_id),
        Some("third")
    );
}

#[test]
fn a_variable_replaces_a_broken_file_value() {
    let d = dirs();
    let text = with_google("")
        .replace(&format!("\"{CLIENT_SECRET}\""), "\"\"")
        .replace("[auth]\n", "[auth]\nsession_lifetime_days = \"soon\"\n");
    write_secrets(&d.cwd, &text);
    assert!(AuthConfig::load_from(Some(&d.home), &d.cwd, Vec::new()).is_err());
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[
            ("OIDC_AUTH__GOOGLE__CLIENT_SECRET", CLIENT_SECRET),
            ("OIDC_AUTH__SESSION_LIFETIME_DAYS", "3"),
        ]),
    )
    .expect("config");
    assert_eq!(
        c.provider("google")
            .map(|p| p.client_secret().unwrap().expose()),
        Some(CLIENT_SECRET)
    );
    assert_eq!(c.session_lifetime(), Duration::from_secs(3 * 24 * 3600));
}

#[test]
fn a_variable_error_takes_the_place_of_the_key_it_overrides() {
    // The file's redirect_uri comes before its broken `foo`, so the variable overriding
    // redirect_uri is reported first, as the same value written in the file would be.
    let d = dirs();
    write_secrets(
        &d.cwd,
        &with_google("").replace("[auth.google]", "foo = \"x\"\n[auth.google]"),
    );
    let e = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[("OIDC_AUTH__REDIRECT_URI", "not a url")]),
    )
    .expect_err("bad");
    assert!(matches!(e, ConfigError::InvalidRedirectUri { .. }), "{e:?}");
}

// ---------------------------------------------------------------- schema

#[test]
fn every_reserved_parameter_is_refused_wherever_it_is_written() {
    for (param, why) in schema::RESERVED_PARAMS {
        let e = AuthConfig::builder()
            .redirect_uri("http://localhost:8501/oauth2callback")
            .cookie_secret(COOKIE_SECRET)
            .provider(google().param(param, "x"))
            .build()
            .expect_err(param);
        assert!(
            matches!(e, ConfigError::ReservedParameter { param: ref p, .. } if p == param),
            "{param}: {e:?}"
        );
        let e = err(&with_google(&format!(
            "authorize_params = {{ {param} = \"x\" }}\n"
        )));
        assert!(
            matches!(e, ConfigError::ReservedParameter { ref key, .. } if *key == format!("auth.google.authorize_params.{param}")),
            "{param}: {e:?}"
        );
        let in_kwargs = with_google(&format!("client_kwargs = {{ {param} = \"x\" }}\n"));
        match why {
            // Refused as a parameter in client_kwargs too.
            schema::Reserved::SetByFlow => {
                let e = err(&in_kwargs);
                assert!(matches!(e, ConfigError::ReservedParameter { .. }), "{e:?}");
            }
            // There the name is client_kwargs' own key, never a parameter.
            schema::Reserved::OwnedByClientKwargs => {
                let _ = AuthConfig::from_toml_str(&in_kwargs);
            }
        }
    }
}

#[test]
fn session_lifetimes_read_as_durations() {
    let c = ok(&with_google("").replace(
        "[auth]\n",
        "[auth]\nsession_max_age = \"8h\"\nsession_idle_timeout = \"4s\"\n\
         session_follows_provider = true\n",
    ));
    assert_eq!(c.session_max_age(), Duration::from_secs(8 * 3600));
    assert_eq!(c.session_lifetime(), c.session_max_age());
    assert_eq!(c.session_idle_timeout(), Some(Duration::from_secs(4)));
    assert!(c.session_follows_provider());
    // Defaults: 30 days, no idle timeout, not following the provider.
    let d = ok(&with_google(""));
    assert_eq!(d.session_max_age(), Duration::from_secs(30 * 86_400));
    assert_eq!(d.session_idle_timeout(), None);
    assert!(!d.session_follows_provider());
    for (text, secs) in [
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("30d", 2_592_000),
        (" 7d ", 604_800),
    ] {
        assert_eq!(
            values::parse_duration(text),
            Some(Duration::from_secs(secs)),
            "{text}"
        );
    }
    for text in [
        "",
        "d",
        "5",
        "5w",
        "-5s",
        "1.5h",
        "5 s s",
        "99999999999999999999d",
    ] {
        assert_eq!(values::parse_duration(text), None, "{text}");
    }
}

#[test]
fn session_max_age_and_session_lifetime_days_conflict() {
    let e = err(&with_google("").replace(
        "[auth]\n",
        "[auth]\nsession_max_age = \"8h\"\nsession_lifetime_days = 2\n",
    ));
    assert!(
        matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "auth.session_max_age"),
        "{e:?}"
    );
    assert_mentions(&e, &["session_lifetime_days", "session_max_age"]);
}

#[test]
fn session_keys_come_from_variables_and_code_too() {
    let d = dirs();
    write_secrets(&d.cwd, &with_google(""));
    let load = |vars: &[(&str, &str)]| AuthConfig::load_from(Some(&d.home), &d.cwd, env(vars));
    let c = load(&[
        ("OIDC_AUTH__SESSION_MAX_AGE", "12h"),
        ("OIDC_AUTH__SESSION_IDLE_TIMEOUT", "15m"),
        ("OIDC_AUTH__SESSION_FOLLOWS_PROVIDER", "true"),
        ("OIDC_AUTH__GOOGLE__FETCH_USERINFO", "true"),
    ])
    .expect("config");
    assert_eq!(c.session_max_age(), Duration::from_secs(12 * 3600));
    assert_eq!(c.session_idle_timeout(), Some(Duration::from_secs(900)));
    assert!(c.session_follows_provider());
    assert!(c.provider("google").expect("google").fetches_userinfo());
    let e = load(&[("OIDC_AUTH__SESSION_IDLE_TIMEOUT", "soon")]).unwrap_err();
    assert_mentions(
        &e,
        &[
            "auth.session_idle_timeout",
            "OIDC_AUTH__SESSION_IDLE_TIMEOUT",
        ],
    );

    let built = AuthConfig::builder()
        .redirect_uri("http://localhost:8501/oauth2callback")
        .cookie_secret(COOKIE_SECRET)
        .session_idle_timeout(Duration::from_secs(60))
        .session_follows_provider(true)
        .provider(
            ProviderConfig::new("google", "google-client", CLIENT_SECRET, GOOGLE_URL)
                .fetch_userinfo(true),
        )
        .build()
        .unwrap();
    assert_eq!(built.session_idle_timeout(), Some(Duration::from_secs(60)));
    assert!(built.session_follows_provider());
    let e = AuthConfig::builder()
        .redirect_uri("http://localhost:8501/oauth2callback")
        .cookie_secret(COOKIE_SECRET)
        .session_idle_timeout(Duration::ZERO)
        .provider(ProviderConfig::new(
            "google",
            "google-client",
            CLIENT_SECRET,
            GOOGLE_URL,
        ))
        .build()
        .unwrap_err();
    assert_mentions(&e, &["auth.session_idle_timeout", "more than 0"]);
}

#[test]
fn every_schema_key_has_a_rule() {
    let shared = "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
                  cookie_secret = \"0123456789abcdef0123456789abcdef\"\nexpose_tokens = \"id\"\n\
                  post_logout_redirect_uri = \"http://localhost:8501/\"\n\
                  session_max_age = \"2d\"\nsession_store = \"memory\"\n\
                  session_idle_timeout = \"30m\"\nsession_follows_provider = true\n\
                  canonical_host = true\n";
    // `session_lifetime_days` says what `session_max_age` says: never both in one file.
    let older = "session_lifetime_days = 2\n";
    let o = ok(&format!("{shared}{}", google_table()).replace("session_max_age = \"2d\"\n", older));
    assert_eq!(o.session_max_age(), Duration::from_secs(2 * 86_400));
    assert!(o.warnings().is_empty(), "{:?}", o.warnings());
    let kwargs = "[auth.google.client_kwargs]\nscope = \"openid\"\nprompt = \"login\"\n\
                  token_endpoint_auth_method = \"client_secret_post\"\n\
                  code_challenge_method = \"S256\"\ntimeout = 3\n";
    let c = ok(&format!("{shared}{}{kwargs}", google_table()));
    let written: Vec<&str> = shared
        .lines()
        .chain(older.lines())
        .chain(kwargs.lines())
        .filter_map(|l| l.split(" = ").next())
        .filter(|k| !k.starts_with('['))
        .collect();
    for key in schema::SHARED_KEYS
        .iter()
        .chain(&schema::REQUIRED_PROVIDER_KEYS)
        .chain(&schema::CLIENT_KWARGS_KEYS)
    {
        assert!(
            written.contains(key) || schema::REQUIRED_PROVIDER_KEYS.contains(key),
            "{key} is not covered by this test"
        );
    }
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn apply_env_gives_the_same_result_as_loading_file_and_variables_together() {
    let d = dirs();
    let cases: [(String, &[(&str, &str)]); 2] = [
        (
            with_google("client_kwargs = { domain_hint = \"c\", audience = \"k\" }\n"),
            &[("OIDC_AUTH__GOOGLE__CLIENT_KWARGS__DOMAIN_HINT", "contoso")],
        ),
        (
            format!(
                "{}[auth.default]\nclient_id = \"a\"\nclient_secret = \"b\"\n\
                 server_metadata_url = \"{GOOGLE_URL}\"\n",
                shared()
            ),
            &[("OIDC_AUTH__DEFAULT__EXPOSE_TOKENS", "id")],
        ),
    ];
    for (text, vars) in cases {
        let path = write_secrets(&d.cwd, &text);
        let loaded = AuthConfig::load_from(None, &d.cwd, env(vars)).expect("load");
        let applied = AuthConfig::from_file(&path)
            .and_then(|c| c.apply_env(env(vars)))
            .expect("apply_env");
        assert_eq!(
            applied.providers().collect::<Vec<_>>(),
            loaded.providers().collect::<Vec<_>>()
        );
        assert_eq!(applied.expose_tokens(), loaded.expose_tokens());
        assert_eq!(applied.warnings(), loaded.warnings());
    }
    // A variable replaces the parameter where the file wrote it: no warning, same order.
    let c = ok(&with_google(
        "client_kwargs = { domain_hint = \"c\", audience = \"k\" }\n",
    ))
    .apply_env(env(&[(
        "OIDC_AUTH__GOOGLE__CLIENT_KWARGS__DOMAIN_HINT",
        "x",
    )]))
    .expect("config");
    assert_eq!(
        c.provider("google")
            .map(|p| p.client_kwargs().authorize_params()),
        Some(
            &[
                ("domain_hint".to_string(), "x".to_string()),
                ("audience".to_string(), "k".to_string()),
            ][..]
        )
    );
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

// ---------------------------------------------------------------- session_store

#[test]
fn session_store_names_memory_sqlite_or_redis() {
    let store = |value: &str| {
        ok(&format!(
            "{}session_store = \"{value}\"\n{}",
            shared(),
            google_table()
        ))
        .session_store()
        .cloned()
    };
    assert_eq!(store("memory"), Some(SessionStoreConfig::Memory));
    assert_eq!(
        store("sqlite://.streamlit/sessions.db"),
        Some(SessionStoreConfig::Sqlite(".streamlit/sessions.db".into()))
    );
    assert_eq!(
        store("sqlite:///var/lib/app/sessions.db"),
        Some(SessionStoreConfig::Sqlite(
            "/var/lib/app/sessions.db".into()
        ))
    );
    assert_eq!(
        store("rediss://:p4ss@cache.redis.cache.windows.net:6380/0"),
        Some(SessionStoreConfig::Redis(Secret::new(
            "rediss://:p4ss@cache.redis.cache.windows.net:6380/0"
        )))
    );
    let redis = store("redis://user:s3cret@127.0.0.1:6379").unwrap();
    assert!(!format!("{redis:?}").contains("s3cret"), "{redis:?}");
    // Not set: None (the layer then uses memory and warns).
    assert_eq!(ok(&with_google("")).session_store(), None);
}

#[test]
fn a_bad_session_store_names_the_key_and_hides_the_password() {
    for (value, says) in [
        (
            "memcached://127.0.0.1:11211",
            "is not a store this library knows",
        ),
        ("sqlite://", "names no file"),
        ("sqlite://:memory:", "names no file"),
        ("redis://:pw@", "is not a URL"),
        ("redis://:pw@127.0.0.1:6379/not-a-db", "database number"),
        ("mongodb://:pw@x", "is not a store this library knows"),
    ] {
        let e = err(&format!(
            "{}session_store = \"{value}\"\n{}",
            shared(),
            google_table()
        ));
        assert_mentions(&e, &["auth.session_store", says]);
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
    // From the environment: the variable is named.
    let d = dirs();
    write_secrets(&d.cwd, &with_google(""));
    let e = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[("OIDC_AUTH__SESSION_STORE", "ftp://x")]),
    )
    .unwrap_err();
    assert_mentions(&e, &["OIDC_AUTH__SESSION_STORE", "is not a store"]);
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[("OIDC_AUTH__SESSION_STORE", "redis://127.0.0.1:6379")]),
    )
    .unwrap();
    assert!(matches!(
        c.session_store(),
        Some(SessionStoreConfig::Redis(_))
    ));
}

#[test]
fn a_store_whose_feature_is_off_says_which_feature_to_enable() {
    let origin = ConfigSource::String;
    let at = values::At {
        key: "auth.session_store",
        origin: &origin,
    };
    let none = auth::StoreFeatures {
        sqlite: false,
        redis: false,
    };
    let e = auth::session_store_in(at, "sqlite://s.db", none).unwrap_err();
    assert_mentions(
        &e,
        &[
            "auth.session_store",
            "`sqlite` feature",
            "--features sqlite",
        ],
    );
    let e = auth::session_store_in(at, "rediss://:pw@h:6380", none).unwrap_err();
    assert_mentions(&e, &["`redis` feature"]);
    assert!(!e.to_string().contains("pw@"), "{e}");
    assert!(auth::session_store_in(at, "memory", none).is_ok());
}

// ---------------------------------------------------------------- cookie_secret rotation

#[test]
fn cookie_secret_may_be_a_list_whose_first_signs() {
    let c = ok(&format!(
        "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
         cookie_secret = [\"{COOKIE_SECRET}-new\", \"{COOKIE_SECRET}-old\"]\n{}",
        google_table()
    ));
    assert_eq!(c.cookie_secret().expose(), format!("{COOKIE_SECRET}-new"));
    let all: Vec<&str> = c.cookie_secrets().map(Secret::expose).collect();
    assert_eq!(
        all,
        [
            format!("{COOKIE_SECRET}-new"),
            format!("{COOKIE_SECRET}-old")
        ]
    );
    // A single string keeps working, as in Streamlit.
    assert_eq!(ok(&with_google("")).cookie_secrets().count(), 1);
    // An empty list, or one holding a blank or a number, is refused.
    for bad in ["[]", "[\"\"]", "[1]", "1"] {
        let e = err(&format!(
            "[auth]\nredirect_uri = \"http://localhost:8501/oauth2callback\"\n\
             cookie_secret = {bad}\n{}",
            google_table()
        ));
        assert_mentions(&e, &["cookie_secret"]);
    }
    // The environment: one secret (commas and all), or a TOML list.
    let d = dirs();
    write_secrets(&d.cwd, &with_google(""));
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[(
            "OIDC_AUTH__COOKIE_SECRET",
            "a,b,c-0123456789abcdef0123456789abcdef",
        )]),
    )
    .unwrap();
    assert_eq!(c.cookie_secrets().count(), 1);
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[(
            "OIDC_AUTH__COOKIE_SECRET",
            "[\"new-0123456789abcdef0123456789ab\", \"old-0123456789abcdef0123456789ab\"]",
        )]),
    )
    .unwrap();
    let all: Vec<&str> = c.cookie_secrets().map(Secret::expose).collect();
    assert_eq!(
        all,
        [
            "new-0123456789abcdef0123456789ab",
            "old-0123456789abcdef0123456789ab"
        ]
    );
    let e = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[("OIDC_AUTH__COOKIE_SECRET", "[not a list")]),
    )
    .unwrap_err();
    assert_mentions(&e, &["OIDC_AUTH__COOKIE_SECRET", "not a list of strings"]);
    assert!(
        !e.to_string().contains("not a list\""),
        "the value is never quoted: {e}"
    );
    // The builder: previous secrets.
    let c = AuthConfig::builder()
        .redirect_uri("http://localhost:8501/oauth2callback")
        .cookie_secret(COOKIE_SECRET)
        .previous_cookie_secrets([format!("{COOKIE_SECRET}-old")])
        .provider(ProviderConfig::new("google", "id", "secret", GOOGLE_URL))
        .build()
        .unwrap();
    assert_eq!(c.cookie_secrets().count(), 2);
}

// ---------------------------------------------------------------- mistakes named where made

#[test]
fn a_misspelt_required_key_is_named_in_the_missing_key_error() {
    // In a provider table.
    let e = err(&format!(
        "{}[auth.google]\nclient_id = \"x\"\nclient_secrte = \"{CLIENT_SECRET}\"\n\
         server_metadata_url = \"{GOOGLE_URL}\"\n",
        shared()
    ));
    assert!(
        matches!(
            e,
            ConfigError::MissingKeys { ref keys, ref misspelt, .. }
                if keys == &["client_secret"]
                    && misspelt[..] == [Misspelling::new("client_secrte", "client_secret")]
        ),
        "{e:?}"
    );
    assert_mentions(
        &e,
        &[
            "`client_secret`",
            "found `client_secrte`: did you mean `client_secret`?",
        ],
    );
    assert!(!e.to_string().contains(CLIENT_SECRET));

    // In [auth], for a shared key and for the default provider written there, each
    // missing key paired with its own near miss.
    let e = err(&format!(
        "[auth]\nredirect_url = \"http://localhost:8501/oauth2callback\"\n\
         cookie_secret = \"{COOKIE_SECRET}\"\nclientid = \"x\"\nclient_secret = \"y\"\n\
         server_metadata_url = \"{GOOGLE_URL}\"\n"
    ));
    assert!(
        matches!(
            e,
            ConfigError::MissingKeys { ref keys, ref misspelt, .. }
                if keys == &["redirect_uri", "client_id"]
                    && misspelt[..] == [
                        Misspelling::new("redirect_url", "redirect_uri"),
                        Misspelling::new("clientid", "client_id"),
                    ]
        ),
        "{e:?}"
    );
    assert_mentions(
        &e,
        &[
            "found `redirect_url`: did you mean `redirect_uri`?",
            "found `clientid`: did you mean `client_id`?",
        ],
    );

    // From a variable, too.
    let e = AuthConfig::load_from(
        None,
        Path::new("/nonexistent"),
        env(&[
            (
                "OIDC_AUTH__REDIRECT_URI",
                "http://localhost:8501/oauth2callback",
            ),
            ("OIDC_AUTH__COOKIE_SECRET", COOKIE_SECRET),
            ("OIDC_AUTH__GOOGLE__CLIENT_ID", "x"),
            ("OIDC_AUTH__GOOGLE__CLIENT_SECRTE", CLIENT_SECRET),
            ("OIDC_AUTH__GOOGLE__SERVER_METADATA_URL", GOOGLE_URL),
        ]),
    )
    .expect_err("client_secret is missing");
    assert_mentions(
        &e,
        &["found `client_secrte`: did you mean `client_secret`?"],
    );

    // A key that is not close says nothing of the kind.
    let e = err(&format!(
        "{}[auth.google]\nclient_id = \"x\"\nsecret = \"x\"\n\
         server_metadata_url = \"{GOOGLE_URL}\"\n",
        shared()
    ));
    assert!(
        matches!(e, ConfigError::MissingKeys { ref misspelt, .. } if misspelt.is_empty()),
        "{e:?}"
    );
    assert!(!e.to_string().contains("did you mean"), "{e}");
}

#[test]
fn an_unknown_key_near_a_known_one_says_which_it_meant() {
    let c = ok(
        &with_google("clientid = \"typo\"\nauthorise_params = { hd = \"x\" }\n").replace(
            "[auth]\n",
            "[auth]\nexpose_token = \"id\"\nsesion_store = \"memory\"\n",
        ),
    );
    for (key, meant) in [
        ("auth.expose_token", "expose_tokens"),
        ("auth.sesion_store", "session_store"),
        ("auth.google.clientid", "client_id"),
        ("auth.google.authorise_params", "authorize_params"),
    ] {
        assert!(
            has_warning(&c, &[key, &format!("did you mean `{meant}`?")]),
            "{key}: {:?}",
            c.warnings()
        );
    }
    // A provider table has no shared keys to mean.
    let c = ok(&with_google("cookie_secrets = \"x\"\n"));
    assert!(has_warning(&c, &["auth.google.cookie_secrets"]));
    assert!(
        !c.warnings().iter().any(|w| w.contains("did you mean")),
        "{:?}",
        c.warnings()
    );
    // Nothing near: the warning as before.
    let c = ok(&with_google("").replace("[auth]\n", "[auth]\ntheme_colour = \"red\"\n"));
    assert!(has_warning(&c, &["auth.theme_colour"]));
    assert!(
        !c.warnings().iter().any(|w| w.contains("did you mean")),
        "{:?}",
        c.warnings()
    );
    // From a variable.
    let c = ok(&with_google(""))
        .apply_env(env(&[("OIDC_AUTH__EXPOSE_TOKEN", "id")]))
        .expect("config");
    assert!(
        has_warning(
            &c,
            &["OIDC_AUTH__EXPOSE_TOKEN", "did you mean `expose_tokens`?"]
        ),
        "{:?}",
        c.warnings()
    );
}

#[test]
fn entra_multi_tenant_documents_need_a_tenant_rule_or_allow_any_tenant() {
    let instead =
        "https://login.microsoftonline.com/<tenant ID>/v2.0/.well-known/openid-configuration";
    for segment in ["common", "organizations"] {
        let url = format!(
            "https://login.microsoftonline.com/{segment}/v2.0/.well-known/openid-configuration"
        );
        let file = with_google("").replace(GOOGLE_URL, &url);
        let e = err(&file);
        assert!(
            matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "auth.google.server_metadata_url"),
            "{e:?}"
        );
        assert_mentions(
            &e,
            &[
                &url,
                &format!("(/{segment})"),
                "allowed_tenants",
                "allow_any_tenant = true",
                instead,
                "passed in code",
            ],
        );
        // A tenant rule, in the provider's table or in [auth], or an explicit yes to all.
        let in_table = file.replace(
            "[auth.google]\n",
            "[auth.google]\nallowed_tenants = [\"72f988bf-86f1-41af-91ab-2d7cd011db47\"]\n",
        );
        assert_ne!(in_table, file);
        ok(&in_table);
        let in_auth = file.replace(
            "[auth]\n",
            "[auth]\nallowed_tenants = [\"72f988bf-86f1-41af-91ab-2d7cd011db47\"]\n",
        );
        assert_ne!(in_auth, file);
        ok(&in_auth);
        ok(&file.replace(
            "[auth.google]\n",
            "[auth.google]\nallow_any_tenant = true\n",
        ));
        let e = err(&file.replace(
            "[auth.google]\n",
            "[auth.google]\nallow_any_tenant = false\n",
        ));
        assert_mentions(&e, &["allowed_tenants"]);

        let e = AuthConfig::builder()
            .redirect_uri("http://localhost:8501/oauth2callback")
            .cookie_secret(COOKIE_SECRET)
            .provider(ProviderConfig::new("entra", "id", "secret", url.as_str()))
            .build()
            .expect_err("refused in code too");
        assert_mentions(
            &e,
            &["auth.entra.server_metadata_url", "allowed_tenants", instead],
        );
        AuthConfig::builder()
            .redirect_uri("http://localhost:8501/oauth2callback")
            .cookie_secret(COOKIE_SECRET)
            .provider(
                ProviderConfig::new("entra", "id", "secret", url.as_str()).allow_any_tenant(true),
            )
            .build()
            .expect("allowed in code");
    }
    let e = ok(&with_google(""))
        .apply_env(env(&[(
            "OIDC_AUTH__GOOGLE__SERVER_METADATA_URL",
            "https://login.microsoftonline.com/Common/.well-known/openid-configuration",
        )]))
        .expect_err("refused from a variable");
    assert_mentions(
        &e,
        &[
            "OIDC_AUTH__GOOGLE__SERVER_METADATA_URL",
            "https://login.microsoftonline.com/<tenant ID>/.well-known/openid-configuration",
        ],
    );

    // A tenant's own document, personal accounts' /consumers (one tenant), and other hosts
    // with such paths need no rule.
    for url in [
        ENTRA_URL,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
        "https://login.microsoftonline.com/consumers/v2.0/.well-known/openid-configuration",
        "https://idp.example.com/common/.well-known/openid-configuration",
    ] {
        ok(&with_google("").replace(GOOGLE_URL, url));
    }
}

#[test]
fn entra_multi_tenant_segment_is_the_one_rule() {
    let segment = |s: &str| {
        let url = url::Url::parse(s).expect("url");
        super::uri::entra_multi_tenant_segment(&url).map(str::to_owned)
    };
    assert_eq!(
        segment("https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration")
            .as_deref(),
        Some("common")
    );
    assert_eq!(
        segment("https://LOGIN.microsoftonline.us/Organizations/.well-known/openid-configuration")
            .as_deref(),
        Some("Organizations")
    );
    assert_eq!(
        segment("https://login.partner.microsoftonline.cn/consumers/v2.0/.well-known/openid-configuration"),
        None,
        "one fixed tenant: no tenant rule needed"
    );
    assert_eq!(
        segment(ENTRA_URL.replace("<tenant>", "contoso").as_str()),
        None
    );
    assert_eq!(
        segment("https://login.example.com/common/.well-known/openid-configuration"),
        None
    );
    assert_eq!(segment("https://login.microsoftonline.com/"), None);
}

#[test]
fn config_error_debug_is_the_variant_and_its_message() {
    let e = err(&format!("{}[auth.google]\nclient_id = \"x\"\n", shared()));
    let debug = format!("{e:?}");
    assert_eq!(debug, format!("MissingKeys: {e}"));
    assert!(
        debug.contains("[auth.google]") && debug.contains("`client_secret`"),
        "{debug}"
    );
    // What `?` in a `main` returning `Box<dyn Error>` prints.
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(format!("{boxed:?}").starts_with("MissingKeys: [auth.google] in "));
    for e in [
        err("[auth]\nredirect_uri = 1\n"),
        err("[auth\n"),
        err(&shared()),
        ConfigError::PortRequired {
            value: "http://localhost:{port}/cb".into(),
        },
    ] {
        let debug = format!("{e:?}");
        let (variant, message) = debug.split_once(": ").expect("Variant: message");
        assert!(
            !variant.is_empty() && variant.chars().all(|c| c.is_ascii_alphabetic()),
            "{debug}"
        );
        assert_eq!(message, e.to_string());
    }
}

#[test]
fn a_misspelt_rule_key_stops_the_app_instead_of_admitting_everyone() {
    for (written, meant) in [
        (
            "[auth.google]\nallowed_email = [\"ada@example.com\"]\n",
            Some("allowed_emails"),
        ),
        (
            "[auth.google]\nalowed_groups = [\"g\"]\n",
            Some("allowed_groups"),
        ),
        ("[auth]\nallowed_domains = [\"example.com\"]\n", None),
        (
            "[auth.google]\nallow_any_tenants = true\n",
            Some("allow_any_tenant"),
        ),
    ] {
        let file = format!("{}{}", shared(), google_table()).replace(
            if written.starts_with("[auth]") {
                "[auth]\n"
            } else {
                "[auth.google]\n"
            },
            written,
        );
        let e = err(&file);
        let key = written
            .lines()
            .nth(1)
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        assert!(
            matches!(e, ConfigError::InvalidValue { key: ref k, .. } if k.ends_with(key)),
            "{written}: {e:?}"
        );
        assert_mentions(
            &e,
            &[
                key,
                "admit everyone",
                "allowed_emails, allowed_email_domains",
                "passed in code",
            ],
        );
        if let Some(meant) = meant {
            assert_mentions(&e, &[&format!("did you mean `{meant}`?")]);
        }
    }
    // From a variable too.
    let e = ok(&with_google(""))
        .apply_env(env(&[("OIDC_AUTH__GOOGLE__ALLOWED_ROLE", "[\"Admin\"]")]))
        .expect_err("refused from a variable");
    assert_mentions(&e, &["OIDC_AUTH__GOOGLE__ALLOWED_ROLE", "allowed_roles"]);
    // Other unknown keys stay warnings, as in Streamlit.
    let c = ok(&with_google("[auth.google]\nfavourite_colour = \"blue\"\n")
        .replace("[auth.google]\nfavourite", "favourite"));
    assert!(has_warning(&c, &["favourite_colour"]), "{:?}", c.warnings());
}

#[test]
fn an_unresolved_key_vault_reference_is_an_error_naming_the_key() {
    let reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/oidc/)";
    // In a file: the client secret, a list item, a client_kwargs value.
    for (written, key) in [
        (
            with_google("").replace(CLIENT_SECRET, reference),
            "auth.google.client_secret",
        ),
        (
            with_google(&format!(
                "[auth.google]\nallowed_emails = [\"a@example.com\", \"{reference}\"]\n"
            ))
            .replace("[auth.google]\nallowed", "allowed"),
            "auth.google.allowed_emails",
        ),
        (
            with_google(&format!(
                "[auth.google.client_kwargs]\nscope = \"{reference}\"\n"
            )),
            "auth.google.client_kwargs.scope",
        ),
    ] {
        let e = err(&written);
        assert!(
            matches!(e, ConfigError::InvalidValue { key: ref k, .. } if k == key),
            "{key}: {e:?}"
        );
        assert_mentions(
            &e,
            &[
                key,
                "Key Vault reference that was not resolved",
                "passed in code",
            ],
        );
    }
    // From App Service's application settings: the cookie secret would otherwise silently
    // become the signing key.
    let e = ok(&with_google(""))
        .apply_env(env(&[("OIDC_AUTH__COOKIE_SECRET", reference)]))
        .expect_err("refused from a variable");
    assert_mentions(&e, &["OIDC_AUTH__COOKIE_SECRET", "Key Vault Secrets User"]);
    // The text elsewhere in a value is just text.
    ok(&with_google("").replace(CLIENT_SECRET, "not @Microsoft.KeyVault(x)"));
}

#[test]
fn an_unresolved_key_vault_reference_in_a_variable_alone_is_about_its_value() {
    // App Service's usual layout: no secrets file, every key an application setting. The
    // key was given, so the error is the reference, not a missing key.
    let reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/oidc/)";
    let settings = [
        (
            "OIDC_AUTH__REDIRECT_URI",
            "https://app.example/oauth2callback",
        ),
        (
            "OIDC_AUTH__COOKIE_SECRET",
            "a cookie secret that is long enough",
        ),
        ("OIDC_AUTH__CLIENT_ID", "id"),
        ("OIDC_AUTH__CLIENT_SECRET", "secret"),
        (
            "OIDC_AUTH__SERVER_METADATA_URL",
            "https://login.example/.well-known/openid-configuration",
        ),
    ];
    let no_files = Path::new("/nonexistent/tower-oidc-login-test");
    AuthConfig::load_from(None, no_files, env(&settings)).expect("the settings are complete");
    for (variable, key) in [
        ("OIDC_AUTH__COOKIE_SECRET", "auth.cookie_secret"),
        ("OIDC_AUTH__CLIENT_SECRET", "auth.client_secret"),
    ] {
        let vars: Vec<(&str, &str)> = settings
            .iter()
            .map(|&(k, v)| (k, if k == variable { reference } else { v }))
            .collect();
        let e = AuthConfig::load_from(None, no_files, env(&vars)).expect_err("refused");
        assert!(
            matches!(e, ConfigError::InvalidValue { key: ref k, .. } if k == key),
            "{variable}: {e:?}"
        );
        assert_mentions(&e, &[variable, "Key Vault reference that was not resolved"]);
    }
}

#[test]
fn host_in_redirect_uri_comes_from_website_hostname() {
    assert!(
        std::env::var_os("WEBSITE_HOSTNAME").is_none(),
        "run the tests without WEBSITE_HOSTNAME"
    );
    let file = with_google("")
        .replace(
            "redirect_uri = \"http://localhost:8501/oauth2callback\"",
            "redirect_uri = \"https://{host}/oauth2callback\"\npost_logout_redirect_uri = \"https://{host}/\"",
        );
    // Loaded anywhere (the placeholder is checked with a stand-in host)…
    let c = ok(&file);
    // …but only resolvable where the platform names the host.
    let e = c
        .redirect_uri_for_port(None)
        .expect_err("no WEBSITE_HOSTNAME");
    assert!(
        matches!(e, ConfigError::InvalidRedirectUri { ref key, .. } if key == "auth.redirect_uri"),
        "{e:?}"
    );
    assert_mentions(&e, &["{host}", "WEBSITE_HOSTNAME", "not set"]);

    let host = "MyApp-b7dqg3fpeyhxa2c.westeurope-01.azurewebsites.net";
    let on_app_service = ok(&file)
        .apply_env(env(&[("WEBSITE_HOSTNAME", host)]))
        .expect("the platform's variables");
    assert_eq!(
        on_app_service
            .redirect_uri_for_port(None)
            .expect("url")
            .as_str(),
        format!("https://{}/oauth2callback", host.to_ascii_lowercase())
    );
    assert_eq!(
        on_app_service
            .post_logout_redirect_uri_for_port(None)
            .expect("ok")
            .expect("set")
            .as_str(),
        format!("https://{}/", host.to_ascii_lowercase())
    );
    let e = ok(&file)
        .apply_env(env(&[("WEBSITE_HOSTNAME", "evil.example/path?")]))
        .expect("loads")
        .redirect_uri_for_port(None)
        .expect_err("not a host name");
    assert_mentions(&e, &["not a host name"]);
    // A plain-http {host} is refused at load, as any non-loopback http URL is.
    err(&file.replace(
        "https://{host}/oauth2callback",
        "http://{host}/oauth2callback",
    ));
}

#[test]
fn canonical_host_is_a_boolean_from_the_file_the_environment_or_code() {
    assert!(!ok(&with_google("")).canonical_host());
    let on = ok(&with_google("").replace("[auth]\n", "[auth]\ncanonical_host = true\n"));
    assert!(on.canonical_host());
    let e = err(&with_google("").replace("[auth]\n", "[auth]\ncanonical_host = \"yes\"\n"));
    assert_mentions(&e, &["auth.canonical_host"]);
    let from_env = ok(&with_google(""))
        .apply_env(env(&[("OIDC_AUTH__CANONICAL_HOST", "true")]))
        .expect("a variable");
    assert!(from_env.canonical_host());
    let built = AuthConfig::builder()
        .redirect_uri("https://app.example.com/oauth2callback")
        .cookie_secret(COOKIE_SECRET)
        .provider(ProviderConfig::new("google", "id", "secret", GOOGLE_URL))
        .canonical_host(true)
        .build()
        .expect("built");
    assert!(built.canonical_host());
}

// ---------------------------------------------------------------- client credentials

const CLIENT_KEY_RSA: &str = include_str!("../testing/client_key_rsa.pem");
const CLIENT_CERT_RSA: &str = include_str!("../testing/client_cert_rsa.pem");
const CLIENT_KEY_EC: &str = include_str!("../testing/client_key_ec.pem");

/// `[auth.google]` with `lines` instead of its `client_secret`.
fn google_without_secret(lines: &str) -> String {
    with_google("").replace(
        &format!("client_secret = \"{CLIENT_SECRET}\"\n"),
        &format!("{}\n", lines.trim()),
    )
}

/// `text` written to `name` in a fresh directory; the directory (keep it) and the path as
/// a TOML string.
fn pem_file(name: &str, text: &str) -> (TempDir, String) {
    let dir = crate::util::scratch::tempdir().expect("a fresh temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    let quoted = toml_quoted(&path.display().to_string());
    (dir, quoted)
}

fn toml_quoted(text: &str) -> String {
    format!("\"{}\"", text.escape_default())
}

fn credential_of(c: &AuthConfig) -> &ClientCredential {
    c.provider("google").expect("google").credential()
}

fn invalid_key(e: &ConfigError) -> &str {
    match e {
        ConfigError::InvalidValue { key, .. } => key,
        other => panic!("expected InvalidValue, got {other:?}"),
    }
}

#[test]
fn client_private_key_file_reads_a_pem_key_instead_of_a_secret() {
    for (pem, alg) in [(CLIENT_KEY_RSA, "RS256"), (CLIENT_KEY_EC, "ES256")] {
        let (_dir, path) = pem_file("key.pem", pem);
        let c = ok(&google_without_secret(&format!(
            "client_private_key_file = {path}"
        )));
        match credential_of(&c) {
            ClientCredential::PrivateKey(key) => assert_eq!(key.algorithm(), alg),
            other => panic!("expected a private key, got {other:?}"),
        }
        assert!(c
            .provider("google")
            .is_some_and(|p| p.client_secret().is_none()));
    }

    // A file that is not there, or holds no private key: the key is named.
    let e = err(&google_without_secret(
        "client_private_key_file = \"no/such/key.pem\"",
    ));
    assert_eq!(invalid_key(&e), "auth.google.client_private_key_file");
    assert_mentions(
        &e,
        &["no/such/key.pem", "relative to the working directory"],
    );
    let (_dir, path) = pem_file("cert.pem", CLIENT_CERT_RSA);
    let e = err(&google_without_secret(&format!(
        "client_private_key_file = {path}"
    )));
    assert_eq!(invalid_key(&e), "auth.google.client_private_key_file");
    assert_mentions(&e, &["not a PEM private key"]);
}

#[test]
fn client_private_key_takes_the_pem_text_with_escaped_newlines_from_a_variable() {
    let d = dirs();
    write_secrets(&d.cwd, &google_without_secret(""));
    let one_line = CLIENT_KEY_EC.trim().replace('\n', "\\n");
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[("OIDC_AUTH__GOOGLE__CLIENT_PRIVATE_KEY", &one_line)]),
    )
    .expect("config");
    let expected = crate::ClientKey::from_pem(CLIENT_KEY_EC).expect("key");
    assert_eq!(
        *credential_of(&c),
        ClientCredential::PrivateKey(expected),
        "the same key as the PEM with real line breaks"
    );
    // In a file, the PEM with its line breaks.
    let c = ok(&google_without_secret(&format!(
        "client_private_key = \"\"\"\n{CLIENT_KEY_RSA}\"\"\""
    )));
    assert!(
        matches!(credential_of(&c), ClientCredential::PrivateKey(k) if k.algorithm() == "RS256")
    );

    let e = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[("OIDC_AUTH__GOOGLE__CLIENT_PRIVATE_KEY", "not a key")]),
    )
    .expect_err("garbage");
    assert_eq!(invalid_key(&e), "auth.google.client_private_key");
    assert_mentions(
        &e,
        &[
            "environment variable OIDC_AUTH__GOOGLE__CLIENT_PRIVATE_KEY",
            "not a PEM private key",
        ],
    );
    assert!(
        !e.to_string().contains("not a key"),
        "the value is not repeated: {e}"
    );
}

#[test]
fn client_certificate_file_gives_the_key_its_thumbprint_and_needs_the_key() {
    let (_k, key) = pem_file("key.pem", CLIENT_KEY_RSA);
    let (_c, cert) = pem_file("cert.pem", CLIENT_CERT_RSA);
    let c = ok(&google_without_secret(&format!(
        "client_private_key_file = {key}\nclient_certificate_file = {cert}"
    )));
    match credential_of(&c) {
        ClientCredential::PrivateKey(k) => assert!(k.certificate_thumbprint().is_some()),
        other => panic!("expected a private key, got {other:?}"),
    }

    let e = err(&with_google(&format!("client_certificate_file = {cert}\n")));
    assert_eq!(invalid_key(&e), "auth.google.client_certificate_file");
    assert_mentions(&e, &["client_private_key_file"]);
    let e = err(&google_without_secret(&format!(
        "client_private_key_file = {key}\nclient_certificate_file = {key}"
    )));
    assert_eq!(invalid_key(&e), "auth.google.client_certificate_file");
    assert_mentions(&e, &["not a PEM certificate"]);
}

#[test]
fn client_assertion_names_a_platform_source() {
    for (value, source) in [
        (
            "azure_managed_identity",
            AssertionSource::AzureManagedIdentity { client_id: None },
        ),
        (
            "azure_workload_identity",
            AssertionSource::AzureWorkloadIdentity,
        ),
    ] {
        let c = ok(&google_without_secret(&format!(
            "client_assertion = \"{value}\""
        )));
        assert_eq!(*credential_of(&c), ClientCredential::Assertion(source));
    }
    let e = err(&google_without_secret(
        "client_assertion = \"github_actions\"",
    ));
    assert_eq!(invalid_key(&e), "auth.google.client_assertion");
    assert_mentions(
        &e,
        &[
            "github_actions",
            "azure_managed_identity",
            "azure_workload_identity",
        ],
    );
}

#[test]
fn managed_identity_client_id_picks_the_user_assigned_identity() {
    let c = ok(&google_without_secret(
        "client_assertion = \"azure_managed_identity\"\nmanaged_identity_client_id = \"mi-id\"",
    ));
    assert_eq!(
        *credential_of(&c),
        ClientCredential::Assertion(AssertionSource::AzureManagedIdentity {
            client_id: Some("mi-id".to_owned())
        })
    );
    assert!(!has_warning(&c, &["system-assigned"]));
    // Without it: the system-assigned identity, which Entra does not trust; a warning.
    let c = ok(&google_without_secret(
        "client_assertion = \"azure_managed_identity\"",
    ));
    assert!(has_warning(
        &c,
        &[
            "auth.google.client_assertion",
            "system-assigned",
            "managed_identity_client_id"
        ]
    ));
    // It belongs to a managed identity only.
    for lines in [
        "client_assertion = \"azure_workload_identity\"\nmanaged_identity_client_id = \"mi-id\"",
        "client_secret = \"s\"\nmanaged_identity_client_id = \"mi-id\"",
    ] {
        let e = err(&google_without_secret(lines));
        assert_eq!(
            invalid_key(&e),
            "auth.google.managed_identity_client_id",
            "{lines}"
        );
        assert_mentions(&e, &["azure_managed_identity"]);
    }
}

#[test]
fn a_provider_takes_exactly_one_kind_of_client_credential() {
    let (_k, key) = pem_file("key.pem", CLIENT_KEY_RSA);
    for (lines, first, second) in [
        (
            format!("client_private_key_file = {key}\n"),
            "client_secret",
            "client_private_key_file",
        ),
        (
            "client_assertion = \"azure_workload_identity\"\n".to_owned(),
            "client_secret",
            "client_assertion",
        ),
    ] {
        let e = err(&with_google(&lines));
        assert_mentions(
            &e,
            &[first, second, "exactly one kind of client credential"],
        );
    }
    let e = err(&google_without_secret(&format!(
        "client_private_key_file = {key}\nclient_assertion = \"azure_managed_identity\""
    )));
    assert_mentions(
        &e,
        &["client_private_key_file", "client_assertion", "exactly one"],
    );
    let e = err(&google_without_secret(&format!(
        "client_private_key_file = {key}\nclient_private_key = {}",
        toml_quoted(CLIENT_KEY_RSA)
    )));
    assert_eq!(invalid_key(&e), "auth.google.client_private_key");
    assert_mentions(&e, &["client_private_key_file", "keep one"]);
    // No credential at all: client_secret is what is missing.
    let e = err(&google_without_secret(""));
    assert!(matches!(e, ConfigError::MissingKeys { .. }), "{e:?}");
    assert_mentions(&e, &["client_secret"]);
}

#[test]
fn a_secret_method_without_a_secret_is_refused() {
    let (_k, key) = pem_file("key.pem", CLIENT_KEY_EC);
    let e = err(&google_without_secret(&format!(
        "client_private_key_file = {key}\n\
         client_kwargs = {{ token_endpoint_auth_method = \"client_secret_post\" }}"
    )));
    assert_eq!(
        invalid_key(&e),
        "auth.google.client_kwargs.token_endpoint_auth_method"
    );
    assert_mentions(&e, &["private_key_jwt"]);
}

#[test]
fn platform_variables_come_from_the_environment_given() {
    let d = dirs();
    write_secrets(&d.cwd, &with_google(""));
    let c = AuthConfig::load_from(
        Some(&d.home),
        &d.cwd,
        env(&[
            ("IDENTITY_ENDPOINT", "http://localhost:8081/msi/token"),
            ("IDENTITY_HEADER", "header-secret-value"),
            ("AZURE_FEDERATED_TOKEN_FILE", "  "),
        ]),
    )
    .expect("config");
    let platform = c.platform();
    assert_eq!(
        platform.get(IDENTITY_ENDPOINT),
        Some("http://localhost:8081/msi/token")
    );
    assert_eq!(platform.get(IDENTITY_HEADER), Some("header-secret-value"));
    assert_eq!(
        platform.get(AZURE_FEDERATED_TOKEN_FILE),
        None,
        "blank is unset"
    );
    assert!(!format!("{platform:?}").contains("header-secret-value"));
    // apply_env hands them in the same way.
    let c = ok(&with_google("")).apply_env(env(&[("IDENTITY_ENDPOINT", "http://x/")]));
    assert_eq!(
        c.expect("config").platform().get(IDENTITY_ENDPOINT),
        Some("http://x/")
    );
}
