//! Property tests: the configuration parser, the callback, the return path and cookie
//! reading hold their invariants for every input, and nothing panics.
//!
//! HTTP cases run in process (`tower::ServiceExt::oneshot` on the layered app) except the
//! return-path one, which needs a real loopback app for a complete login.

mod support;

use std::fmt::Debug;

use axum::body::Body;
use http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, COOKIE, HOST, LOCATION, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use tower::ServiceExt;
use tower_oidc_login::testing::{DevProvider, DevUser};
use tower_oidc_login::{AuthConfig, AuthLayer, AuthService};

/// A runner without regression files in the source tree (a failure prints its input).
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })
}

/// Runs `test` on `cases` inputs of `strategy`, panicking with the minimal failing input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: Debug,
{
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{e}");
    }
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every byte outside RFC 3986's unreserved set percent-encoded: always a valid query.
fn percent_encode_all(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Configuration parser
// ---------------------------------------------------------------------------------------

/// Secret values carry a prefix no key, message or generated value ever contains.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{12,24}".prop_map(|s| format!("S3cr3t-{s}"))
}

#[derive(Clone, Debug)]
struct Secrets {
    client: String,
    cookie: String,
    password: String,
}

impl Secrets {
    fn all(&self) -> [(&'static str, &str); 3] {
        [
            ("client_secret", &self.client),
            ("cookie_secret", &self.cookie),
            ("URL password", &self.password),
        ]
    }
}

fn secrets() -> impl Strategy<Value = Secrets> {
    (secret(), secret(), secret()).prop_map(|(client, cookie, password)| Secrets {
        client,
        cookie,
        password,
    })
}

/// A TOML value; the secret markers are rendered with the case's [`Secrets`].
#[derive(Clone, Debug)]
enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime,
    Array(Vec<Val>),
    Inline(Vec<(String, Val)>),
    ClientSecret,
    CookieSecret,
    /// `scheme://user:PASSWORD@host path`.
    PasswordUrl {
        scheme: &'static str,
        user: &'static str,
        host: &'static str,
        path: &'static str,
    },
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        toml_string(k)
    }
}

impl Val {
    fn render(&self, s: &Secrets) -> String {
        match self {
            Val::Str(v) => toml_string(v),
            Val::Int(i) => i.to_string(),
            Val::Float(f) if f.is_nan() => "nan".into(),
            Val::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
            Val::Float(f) => format!("{f:?}"),
            Val::Bool(b) => b.to_string(),
            Val::Datetime => "1979-05-27T07:32:00Z".into(),
            Val::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|v| v.render(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Val::Inline(entries) => {
                let mut keys: Vec<&str> = Vec::new();
                let mut items: Vec<String> = Vec::new();
                for (k, v) in entries {
                    if !keys.contains(&k.as_str()) {
                        keys.push(k);
                        items.push(format!("{} = {}", toml_key(k), v.render(s)));
                    }
                }
                format!("{{ {} }}", items.join(", "))
            }
            Val::ClientSecret => toml_string(&s.client),
            Val::CookieSecret => toml_string(&s.cookie),
            Val::PasswordUrl {
                scheme,
                user,
                host,
                path,
            } => toml_string(&format!("{scheme}://{user}:{}@{host}{path}", s.password)),
        }
    }
}

const SAMPLE_STRINGS: &[&str] = &[
    "",
    " ",
    "http://localhost:{port}/oauth2callback",
    "http://127.0.0.1:{port}/oauth2callback",
    "https://app.example.com/oauth2callback",
    "https://app.example.com/",
    "http://app.example.com/oauth2callback",
    "http://127.0.0.1:8501/",
    "https://accounts.google.com/.well-known/openid-configuration",
    "http://127.0.0.1:9/.well-known/openid-configuration",
    "https://login.example.com/tenant",
    "ftp://example.com/x",
    "javascript:alert(1)",
    "not a url",
    "http://[::1",
    "https://app.example.com/cb?x=1",
    "https://app.example.com/cb#f",
    "{port}",
    "id",
    "access",
    "S256",
    "plain",
    "client_secret_post",
    "client_secret_basic",
    "private_key_jwt",
    "login",
    "select_account",
    "openid email profile",
    "email",
    "10",
    "-1",
    "a_b",
    "default",
    "é😀\u{202e}",
];

const KEYS: &[&str] = &[
    "redirect_uri",
    "cookie_secret",
    "client_id",
    "client_secret",
    "server_metadata_url",
    "client_kwargs",
    "authorize_params",
    "expose_tokens",
    "post_logout_redirect_uri",
    "session_lifetime_days",
    "default",
    "google",
    "a_b",
    "authorize_url",
    "api_base_url",
    "scope",
    "prompt",
    "timeout",
];

const KWARGS_KEYS: &[&str] = &[
    "scope",
    "prompt",
    "token_endpoint_auth_method",
    "code_challenge_method",
    "timeout",
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "code_challenge",
    "domain_hint",
    "login_hint",
    "hd",
    "authorize_params",
    "access_token_url",
];

fn key_from(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(list).prop_map(str::to_owned),
        1 => "[a-z_-]{1,10}",
        1 => "\\PC{0,8}",
    ]
}

/// Any value, nested a little.
fn val() -> impl Strategy<Value = Val> {
    let leaf = prop_oneof![
        3 => prop::sample::select(SAMPLE_STRINGS).prop_map(|s| Val::Str(s.to_owned())),
        2 => "\\PC{0,24}".prop_map(Val::Str),
        1 => any::<i64>().prop_map(Val::Int),
        1 => prop::sample::select(vec![0i64, 1, 30, 400, 401, 300, 301, -5]).prop_map(Val::Int),
        1 => any::<f64>().prop_map(Val::Float),
        1 => any::<bool>().prop_map(Val::Bool),
        1 => Just(Val::Datetime),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Val::Array),
            prop::collection::vec((key_from(KWARGS_KEYS), inner), 0..4).prop_map(Val::Inline),
        ]
    })
}

fn password_url() -> impl Strategy<Value = Val> {
    (
        prop::sample::select(vec!["http", "https", "ftp"]),
        prop::sample::select(vec!["u", "", "admin"]),
        prop::sample::select(vec![
            "127.0.0.1:{port}",
            "localhost",
            "app.example.com",
            "exa mple.com",
            "[::1",
            "",
        ]),
        prop::sample::select(vec![
            "/oauth2callback",
            "/",
            "",
            "/.well-known/openid-configuration",
            "?q=1",
            "#f",
        ]),
    )
        .prop_map(|(scheme, user, host, path)| Val::PasswordUrl {
            scheme,
            user,
            host,
            path,
        })
}

/// A secret in its place, or in the wrong shape there.
fn secret_slot(marker: Val) -> impl Strategy<Value = Val> {
    prop_oneof![
        6 => Just(marker.clone()),
        1 => Just(Val::Array(vec![marker.clone()])),
        1 => Just(Val::Inline(vec![("value".into(), marker)])),
        1 => val(),
    ]
}

fn url_slot() -> impl Strategy<Value = Val> {
    prop_oneof![
        3 => prop::sample::select(SAMPLE_STRINGS).prop_map(|s| Val::Str(s.to_owned())),
        2 => password_url(),
        1 => val(),
    ]
}

type Entries = Vec<(String, Val)>;

const GOOD_REDIRECTS: &[&str] = &[
    "http://localhost:{port}/oauth2callback",
    "http://127.0.0.1:{port}/oauth2callback",
    "https://app.example.com/oauth2callback",
    "https://app.example.com/sub/path/oauth2callback",
];

const GOOD_METADATA: &[&str] = &[
    "https://accounts.google.com/.well-known/openid-configuration",
    "http://127.0.0.1:9/.well-known/openid-configuration",
    "https://login.example.com/tenant",
];

fn good_or(list: &'static [&'static str], other: BoxedStrategy<Val>) -> BoxedStrategy<Val> {
    prop_oneof![
        1 => prop::sample::select(list).prop_map(|s| Val::Str(s.to_owned())),
        1 => other,
    ]
    .boxed()
}

/// A table that is a provider (or `[auth]` with its provider): half the time with every
/// usual key valid (the errors then come from the extras, the `client_kwargs` and the other
/// providers), else with the usual keys often present and often valid.
fn section(shared_keys: bool) -> impl Strategy<Value = Entries> {
    prop_oneof![
        1 => valid_section(shared_keys).boxed(),
        1 => random_section(shared_keys).boxed(),
    ]
}

fn extras() -> impl Strategy<Value = Entries> {
    prop_oneof![
        1 => Just(Vec::new()),
        2 => prop::collection::vec((key_from(KEYS), val()), 1..3),
    ]
    .prop_map(|extra| {
        // The secret keys only ever hold the secrets (or wrong shapes of them).
        extra
            .into_iter()
            .filter(|(k, _)| k != "client_secret" && k != "cookie_secret")
            .collect()
    })
}

fn valid_section(shared_keys: bool) -> impl Strategy<Value = Entries> {
    (
        prop::sample::select(GOOD_REDIRECTS),
        prop::sample::select(GOOD_METADATA),
        extras(),
    )
        .prop_map(move |(redirect, metadata, extra)| {
            let mut entries: Entries = Vec::new();
            if shared_keys {
                entries.push(("redirect_uri".into(), Val::Str(redirect.into())));
                entries.push(("cookie_secret".into(), Val::CookieSecret));
            }
            entries.push(("client_id".into(), Val::Str("dev-client".into())));
            entries.push(("client_secret".into(), Val::ClientSecret));
            entries.push(("server_metadata_url".into(), Val::Str(metadata.into())));
            entries.extend(extra);
            entries
        })
}

fn random_section(shared_keys: bool) -> impl Strategy<Value = Entries> {
    let maybe = |k: &'static str, v: BoxedStrategy<Val>| {
        prop::option::weighted(0.95, v).prop_map(move |v| v.map(|v| (k.to_owned(), v)))
    };
    (
        maybe("redirect_uri", good_or(GOOD_REDIRECTS, url_slot().boxed())),
        maybe("cookie_secret", secret_slot(Val::CookieSecret).boxed()),
        maybe(
            "client_id",
            good_or(&["dev-client", "1234.apps.example.com"], val().boxed()),
        ),
        maybe("client_secret", secret_slot(Val::ClientSecret).boxed()),
        maybe(
            "server_metadata_url",
            good_or(GOOD_METADATA, url_slot().boxed()),
        ),
        prop::option::weighted(0.3, url_slot()),
        extras(),
    )
        .prop_map(
            move |(redirect, cookie, id, client, metadata, post_logout, extra)| {
                let mut entries: Entries = Vec::new();
                if shared_keys {
                    entries.extend(redirect);
                    entries.extend(cookie);
                    entries.extend(post_logout.map(|v| ("post_logout_redirect_uri".into(), v)));
                }
                entries.extend(id);
                entries.extend(client);
                entries.extend(metadata);
                entries.extend(extra);
                entries
            },
        )
}

fn kwargs_table() -> impl Strategy<Value = Option<Entries>> {
    prop::option::weighted(
        0.4,
        prop::collection::vec((key_from(KWARGS_KEYS), val()), 0..5),
    )
}

#[derive(Clone, Debug)]
struct Document {
    secrets: Secrets,
    auth: Entries,
    auth_kwargs: Option<Entries>,
    providers: Vec<(String, Entries, Option<Entries>)>,
    /// The app's own secrets outside `[auth]`.
    other: bool,
}

fn document() -> impl Strategy<Value = Document> {
    (
        secrets(),
        section(true),
        kwargs_table(),
        prop::collection::vec(
            (
                prop_oneof![
                    3 => prop::sample::select(vec!["default", "google", "a_b", "x-y", "MS"]).prop_map(str::to_owned),
                    1 => "[a-z0-9_-]{1,8}",
                ],
                section(false),
                kwargs_table(),
            ),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(secrets, auth, auth_kwargs, providers, other)| Document {
            secrets,
            auth,
            auth_kwargs,
            providers,
            other,
        })
}

impl Document {
    /// The document as TOML. Duplicate keys and tables are left out, so that most documents
    /// get past the TOML parser to the validation of `[auth]`.
    fn render(&self) -> String {
        let s = &self.secrets;
        let lines = |entries: &Entries| -> (String, Vec<String>) {
            let mut keys: Vec<String> = Vec::new();
            let mut text = String::new();
            for (k, v) in entries {
                if !keys.contains(k) {
                    keys.push(k.clone());
                    text += &format!("{} = {}\n", toml_key(k), v.render(s));
                }
            }
            (text, keys)
        };
        let (auth, mut taken) = lines(&self.auth);
        let mut out = format!("[auth]\n{auth}");
        let mut subtable = |out: &mut String, name: &str, entries: &Entries| {
            if !taken.iter().any(|k| k == name) {
                taken.push(name.to_owned());
                *out += &format!("\n[auth.{}]\n{}", toml_key(name), lines(entries).0);
                true
            } else {
                false
            }
        };
        if let Some(kw) = &self.auth_kwargs {
            subtable(&mut out, "client_kwargs", kw);
        }
        for (name, entries, kwargs) in &self.providers {
            if subtable(&mut out, name, entries) {
                let inline_kwargs = entries.iter().any(|(k, _)| k == "client_kwargs");
                if let Some(kw) = kwargs.as_ref().filter(|_| !inline_kwargs) {
                    out += &format!("\n[auth.{}.client_kwargs]\n{}", toml_key(name), lines(kw).0);
                }
            }
        }
        if self.other {
            out += &format!(
                "\n[database]\npassword = {}\nclient_secret = {}\n",
                toml_string(&s.password),
                toml_string(&s.client)
            );
        }
        out
    }
}

fn assert_no_secret(what: &str, text: &str, secrets: &Secrets, input: &str) {
    for (kind, value) in secrets.all() {
        assert!(
            !text.contains(value),
            "{what} contains the {kind} {value:?}: {text}\n--- input:\n{input}"
        );
    }
}

/// What a parse (and a layer build) shows of a document must not hold its secrets.
fn assert_parse_keeps_secrets(text: &str, secrets: &Secrets) {
    match AuthConfig::from_toml_str(text) {
        Err(e) => {
            let display = e.to_string();
            assert!(!display.is_empty(), "an error says something");
            assert_no_secret("error Display", &display, secrets, text);
            assert_no_secret("error Debug", &format!("{e:?}"), secrets, text);
        }
        Ok(config) => {
            assert_no_secret("config Debug", &format!("{config:?}"), secrets, text);
            for w in config.warnings() {
                assert_no_secret("config warning", w, secrets, text);
            }
            if let Err(e) = AuthLayer::builder(config).port(8501).build() {
                assert_no_secret("layer build error", &e.to_string(), secrets, text);
                assert_no_secret("layer build error Debug", &format!("{e:?}"), secrets, text);
            }
        }
    }
}

#[test]
fn config_parser_never_panics_on_arbitrary_text() {
    check(
        1024,
        prop_oneof![any::<String>(), "\\PC{0,200}", toml_noise()],
        |text| {
            let result = AuthConfig::from_toml_str(&text);
            if let Err(e) = result {
                prop_assert!(!e.to_string().is_empty());
                let _ = format!("{e:?}");
            }
            Ok(())
        },
    );
}

/// TOML-shaped garbage: section headers, keys, quotes, brackets and escapes in any order.
fn toml_noise() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec![
                "[auth]", "[auth.google]", "[auth.client_kwargs]", "[[auth]]", "[auth", "]",
                "\n", "\n", "\n", " = ", "=", "\"", "'", "\"\"\"", "'''", "{", "}", "[", "]",
                ",", ".", "#", "\\", "\\u00", "\\U0010FFFF", "\\x", "redirect_uri",
                "cookie_secret", "client_id", "client_secret", "server_metadata_url",
                "client_kwargs", "expose_tokens", "timeout", "1979-05-27", "T07:32:00Z",
                "+inf", "nan", "0x1F", "1_000", "true", "http://localhost:{port}/cb",
            ])
            .prop_map(str::to_owned),
            1 => "\\PC{1,6}",
        ],
        0..60,
    )
    .prop_map(|v| v.concat())
}

/// A line assigning a secret, broken or not, among TOML garbage that never opens a string
/// across lines (so the secret stays the value of its own key).
fn noise_with_secrets() -> impl Strategy<Value = (Secrets, String)> {
    let garbage = prop::collection::vec(
        prop::sample::select(vec![
            "[auth]",
            "[auth.google]",
            "[[auth]]",
            "[auth",
            "]",
            " = ",
            "=",
            "{",
            "}",
            "[",
            ",",
            ".",
            "#",
            "1979-05-27",
            "+inf",
            "0x1F",
            "true",
            "redirect_uri",
            "client_id",
            "x",
        ]),
        0..6,
    )
    .prop_map(|v| v.concat());
    let close = prop::sample::select(vec![
        "\"", "", "\\\"", "\\q", "\\u12", "\" x", "\",", "'", "\"\"", " # c",
    ]);
    let line = (
        prop::sample::select(vec!["client_secret", "cookie_secret", "password"]),
        prop::sample::select(vec!["\"", "'", "", "[\"", "{ v = \""]),
        close,
        garbage.clone(),
    );
    (secrets(), prop::collection::vec((line, garbage), 1..6)).prop_map(|(s, lines)| {
        let mut text = String::new();
        for ((key, open, close, before), after) in lines {
            let value = match key {
                "client_secret" => &s.client,
                "cookie_secret" => &s.cookie,
                _ => &s.password,
            };
            text += &format!("{before}\n{key} = {open}{value}{close}\n{after}\n");
        }
        (s, text)
    })
}

#[test]
fn toml_syntax_errors_never_quote_the_secret_lines() {
    check(512, noise_with_secrets(), |(secrets, text)| {
        if let Err(e @ tower_oidc_login::ConfigError::Toml { .. }) =
            AuthConfig::from_toml_str(&text)
        {
            assert_no_secret("TOML error Display", &e.to_string(), &secrets, &text);
            assert_no_secret("TOML error Debug", &format!("{e:?}"), &secrets, &text);
        }
        Ok(())
    });
}

#[test]
fn config_errors_and_warnings_never_contain_secret_values() {
    check(1024, document(), |doc| {
        let text = doc.render();
        assert_parse_keeps_secrets(&text, &doc.secrets);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// In-process app
// ---------------------------------------------------------------------------------------

type App = AuthService<axum::Router>;

/// The support app with the layer in front, for `oneshot`; `{port}` is a port nothing
/// listens on (requests never leave the process except to the provider).
fn in_process_app(secrets: &str) -> App {
    let config = AuthConfig::from_toml_str(secrets).expect("valid config");
    let layer = AuthLayer::builder(config)
        .port(8501)
        .build()
        .expect("layer");
    tower::Layer::layer(&layer, support::router(""))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &App, req: Request<Body>) -> Answer {
    let response = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Every `Set-Cookie` for exactly `name`, as its value.
fn set_cookie_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Callback query
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Name {
    Known(&'static str),
    /// Written percent-encoded (`%73tate` is `state` once decoded).
    Encoded(&'static str),
    Random(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Value {
    Bytes(Vec<u8>),
    Text(String),
    /// Written as is: broken or non-UTF-8 percent sequences.
    Raw(&'static str),
    Script(&'static str),
    Huge(usize),
    /// The state of a login this browser really started.
    RealState,
    /// The dev provider's issuer.
    RealIssuer,
}

#[derive(Clone, Debug)]
struct Param {
    name: Name,
    /// `None`: the bare name without `=`.
    value: Option<Value>,
}

#[derive(Clone, Debug)]
struct CallbackCase {
    params: Vec<Param>,
    separator: &'static str,
    /// Start a real login first and send its binding cookie.
    real_login: bool,
}

fn param_name() -> impl Strategy<Value = Name> {
    let known = || prop::sample::select(vec!["code", "state", "error", "error_description", "iss"]);
    prop_oneof![
        8 => known().prop_map(Name::Known),
        1 => known().prop_map(Name::Encoded),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(Name::Random),
    ]
}

fn param_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Value::Bytes),
        2 => "\\PC{0,40}".prop_map(Value::Text),
        2 => prop::sample::select(vec![
            "%", "%G1", "%zz", "%FF%FE", "%C3", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%00",
            "%0D%0ASet-Cookie:%20oidc_session=x", "+", "%2B", "a=b", "%26state%3Dx",
        ])
        .prop_map(Value::Raw),
        2 => prop::sample::select(vec![
            "<script>alert(1)</script>",
            "<ScRiPt src=//evil.example>",
            "\"><script>alert(1)</script>",
            "'><svg onload=alert(1)>",
            "javascript:alert(1)",
        ])
        .prop_map(Value::Script),
        1 => (1000usize..6000).prop_map(Value::Huge),
        3 => Just(Value::RealState),
        2 => Just(Value::RealIssuer),
    ]
}

fn callback_case() -> impl Strategy<Value = CallbackCase> {
    let random = (
        prop::collection::vec(
            (param_name(), prop::option::weighted(0.9, param_value()))
                .prop_map(|(name, value)| Param { name, value }),
            0..7,
        ),
        prop::sample::select(vec!["&", "&", "&", "&&", ";"]),
        prop::bool::weighted(0.6),
    )
        .prop_map(|(params, separator, real_login)| CallbackCase {
            params,
            separator,
            real_login,
        });
    // A well-formed answer to a real login, but with a code the provider never issued:
    // these reach the token endpoint.
    let forged_code = (param_value(), any::<prop::sample::Index>()).prop_map(|(code, at)| {
        let mut params = vec![
            Param {
                name: Name::Known("state"),
                value: Some(Value::RealState),
            },
            Param {
                name: Name::Known("iss"),
                value: Some(Value::RealIssuer),
            },
        ];
        let code = Param {
            name: Name::Known("code"),
            value: Some(match code {
                Value::RealState | Value::RealIssuer => Value::Text("forged".into()),
                other => other,
            }),
        };
        params.insert(at.index(3), code);
        CallbackCase {
            params,
            separator: "&",
            real_login: true,
        }
    });
    prop_oneof![3 => random, 1 => forged_code]
}

impl CallbackCase {
    fn query(&self, real_state: &str, issuer: &str) -> String {
        self.params
            .iter()
            .map(|p| {
                let name = match &p.name {
                    Name::Known(n) => (*n).to_owned(),
                    Name::Encoded(n) => percent_encode_all(n.as_bytes()).replacen(
                        &n[..1],
                        &format!("%{:02X}", n.as_bytes()[0]),
                        1,
                    ),
                    Name::Random(b) => percent_encode_all(b),
                };
                let value = match &p.value {
                    None => return name,
                    Some(Value::Bytes(b)) => percent_encode_all(b),
                    Some(Value::Text(t)) => percent_encode_all(t.as_bytes()),
                    Some(Value::Raw(r)) => (*r).to_owned(),
                    Some(Value::Script(s)) => percent_encode_all(s.as_bytes()),
                    Some(Value::Huge(n)) => "A".repeat(*n),
                    Some(Value::RealState) => form_encode(real_state),
                    Some(Value::RealIssuer) => form_encode(issuer),
                };
                format!("{name}={value}")
            })
            .collect::<Vec<_>>()
            .join(self.separator)
    }
}

/// Starts a login in process: the state the provider will send back and the pending-login
/// cookie (`name=value`) the browser keeps.
async fn start_login(app: &App) -> (String, String) {
    let answer = send(
        app,
        Request::get("/auth/login").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.body);
    let authorize = url::Url::parse(answer.headers[LOCATION].to_str().unwrap()).unwrap();
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let pending = answer
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("oidc_session_login_"))
        .and_then(|c| c.split(';').next())
        .expect("pending-login cookie")
        .to_owned();
    (state, pending)
}

#[test]
fn callback_answers_any_query_without_5xx_session_or_markup() {
    let rt = tokio_runtime();
    let provider = rt.block_on(DevProvider::start()).expect("provider");
    let app = in_process_app(&provider.secrets_toml(support::REDIRECT, support::COOKIE_SECRET));
    let issuer = provider.issuer();
    check(256, callback_case(), |case| {
        rt.block_on(async {
            let (state, binding) = if case.real_login {
                start_login(&app).await
            } else {
                ("no-login-started".to_owned(), String::new())
            };
            let query = case.query(&state, &issuer);
            let uri = format!("/oauth2callback?{query}");
            let mut req = Request::get(uri.as_str());
            if !binding.is_empty() {
                req = req.header(COOKIE, binding.as_str());
            }
            let Ok(req) = req.body(Body::empty()) else {
                panic!("generated an invalid request URI: {uri}");
            };
            let answer = send(&app, req).await;

            prop_assert!(
                matches!(answer.status.as_u16(), 302 | 400 | 403),
                "status {} for {uri}: {}",
                answer.status,
                answer.body
            );
            if answer.status == StatusCode::FOUND {
                prop_assert_eq!(&answer.headers[LOCATION], "/", "{}", uri);
            }
            prop_assert_eq!(&answer.headers[CACHE_CONTROL], "no-store");
            for value in set_cookie_values(&answer.headers, "oidc_session") {
                prop_assert!(value.is_empty(), "session cookie {value:?} set for {uri}");
            }
            prop_assert!(
                !answer.body.to_ascii_lowercase().contains("<script")
                    && !answer.body.contains("<svg"),
                "markup from the query in the page for {uri}: {}",
                answer.body
            );
            Ok(())
        })
    });
    // The well-formed cases with a forged code did reach the token endpoint: the 400s for
    // them come from the provider's answer, not from an earlier check.
    let counts = provider.request_counts();
    assert!(
        counts.token >= 1,
        "no case reached the token endpoint: {counts:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Return path after a complete login
// ---------------------------------------------------------------------------------------

fn return_to() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => prop::sample::select(vec![
            "/", "//", "\\", "%2f", "%2F", "%5c", "%5C", ".", "..", "/./", "/../", "%2e",
            "\t", "\r", "\n", " ", "\u{0}", "\u{a0}", "\u{2028}", "\u{feff}", "\u{ff0f}",
            ":", "@", "?", "#", "&", "%", "%00", "%0a", "javascript:", "https://",
            "evil.example", "user:pw@", "é", "😀",
        ])
        .prop_map(str::to_owned),
        2 => "[a-zA-Z0-9_-]{1,6}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        3 => prop::collection::vec(piece.clone(), 0..10).prop_map(|v| v.concat()),
        3 => prop::collection::vec(piece, 0..10).prop_map(|v| format!("/{}", v.concat())),
        2 => prop::sample::select(vec![
            "/.//evil.example",
            "/..//evil.example",
            "/a/..//evil.example",
            "/%2e//evil.example",
            "/./\\evil.example",
            "/.%2f%2fevil.example",
            "/private?x=1#top",
            "//evil.example",
            "javascript:alert(1)",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// The invariants of a `Location` that stays on the site.
fn assert_same_origin_location(location: &str, input: &str) -> Result<(), TestCaseError> {
    let bytes = location.as_bytes();
    prop_assert_eq!(
        bytes.first(),
        Some(&b'/'),
        "{:?} from {:?}",
        location,
        input
    );
    prop_assert!(
        !matches!(bytes.get(1), Some(b'/') | Some(b'\\')),
        "{location:?} from return_to {input:?} is a network-path reference"
    );
    prop_assert!(
        !location
            .chars()
            .any(|c| c.is_ascii_control() || c.is_whitespace()),
        "{location:?} from {input:?} holds a control character or whitespace"
    );
    let base = url::Url::parse("http://app.invalid/").unwrap();
    let joined = base.join(location);
    prop_assert!(
        joined
            .as_ref()
            .is_ok_and(|u| u.host_str() == Some("app.invalid")),
        "{location:?} from return_to {input:?} resolves to {joined:?}"
    );
    Ok(())
}

#[test]
fn return_to_after_a_full_login_is_a_same_origin_path() {
    let rt = tokio_runtime();
    let (provider, app) = rt.block_on(support::one_provider_app());
    let user = DevUser::new("R", "r@example.com");
    check(48, return_to(), |input| {
        let login_url = app.url(&format!("/auth/login?return_to={}", form_encode(&input)));
        let login = rt
            .block_on(provider.login_as(&login_url, &user))
            .unwrap_or_else(|e| panic!("login with return_to {input:?} failed: {e}"));
        assert_same_origin_location(&login.location, &input)
    });
}

// ---------------------------------------------------------------------------------------
// Cookie header
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum CookieHeader {
    Text(String),
    Bytes(Vec<u8>),
}

fn cookie_pairs() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        3 => prop::sample::select(vec![
            "oidc_session", "oidc_session_login", "oidc_session_logout", "OIDC_SESSION",
            " oidc_session", "oidc_session ",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,12}",
    ];
    let value = prop_oneof![
        2 => "[ -~]{0,60}",
        // Shaped like a signed value: 44 characters of base64 signature, then an id.
        2 => "[A-Za-z0-9+/]{43}=[A-Za-z0-9_-]{0,40}",
        1 => "%[0-9A-Fa-f]{0,2}[%a-z]{0,6}",
        1 => (1usize..20_000).prop_map(|n| "x".repeat(n)),
        1 => Just(String::new()),
    ];
    prop::collection::vec((name, value), 0..40).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

fn cookie_headers() -> impl Strategy<Value = Vec<CookieHeader>> {
    let header_byte = prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff,];
    prop::collection::vec(
        prop_oneof![
            4 => cookie_pairs().prop_map(CookieHeader::Text),
            1 => (15_000usize..17_500).prop_map(|n| CookieHeader::Text(format!("oidc_session={}", "A".repeat(n)))),
            2 => prop::collection::vec(header_byte, 0..300).prop_map(CookieHeader::Bytes),
        ],
        0..4,
    )
}

#[test]
fn any_cookie_header_on_me_is_an_anonymous_200() {
    let rt = tokio_runtime();
    // Never contacted: an anonymous request does not need the provider.
    let app = in_process_app(&format!(
        "[auth]\nredirect_uri = \"{}\"\ncookie_secret = \"{}\"\nclient_id = \"c\"\n\
         client_secret = \"s\"\nserver_metadata_url = \"http://127.0.0.1:9/.well-known/openid-configuration\"\n",
        support::REDIRECT,
        support::COOKIE_SECRET
    ));
    check(256, cookie_headers(), |headers| {
        rt.block_on(async {
            let mut req = Request::get("/me")
                .header(HOST, "127.0.0.1:8501")
                .body(Body::empty())
                .unwrap();
            for h in &headers {
                let value = match h {
                    CookieHeader::Text(t) => HeaderValue::from_str(t),
                    CookieHeader::Bytes(b) => HeaderValue::from_bytes(b),
                }
                .expect("generated a valid header value");
                req.headers_mut().append(COOKIE, value);
            }
            let answer = send(&app, req).await;
            prop_assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            let me: serde_json::Value = serde_json::from_str(&answer.body)
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", answer.body)))?;
            prop_assert_eq!(me, serde_json::json!({"is_logged_in": false}));
            for value in set_cookie_values(&answer.headers, "oidc_session") {
                prop_assert!(value.is_empty(), "a session cookie {value:?} was set");
            }
            Ok(())
        })
    });
}
