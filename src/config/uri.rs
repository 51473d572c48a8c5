//! The URL rules: `redirect_uri`, `post_logout_redirect_uri` (with their `{port}` and
//! `{host}` placeholders), the port the app serves on, and `server_metadata_url`.
//!
//! The redirect URLs are checked when the configuration is loaded with a stand-in port, and
//! resolved again with the real port when the layer is built; both go through
//! [`resolve_redirect_uri`], so the two can never disagree.

use url::Url;

use super::error::ConfigError;
use super::platform::WEBSITE_HOSTNAME;
use super::values::At;
use crate::util::is_loopback_url;

/// Stands in for `{port}` while validating, since the real port is only known at serve time.
pub(crate) const PLACEHOLDER_PORT: u16 = 8501;

/// Which URL rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UriKind {
    /// `redirect_uri`: the callback route, so it needs its own path and no query.
    Redirect,
    /// `post_logout_redirect_uri`: any page of the app.
    PostLogout,
}

/// Replaces `{port}`; `None` with a placeholder present is [`ConfigError::PortRequired`].
pub(crate) fn substitute_port(value: &str, port: Option<u16>) -> Result<String, ConfigError> {
    if !value.contains("{port}") {
        return Ok(value.to_owned());
    }
    match port {
        Some(p) => Ok(value.replace("{port}", &p.to_string())),
        None => Err(ConfigError::PortRequired {
            value: redact_userinfo(value),
        }),
    }
}

/// Stands in for `{host}` while validating: the platform's host name is only read when the
/// layer is built.
const PLACEHOLDER_HOST: &str = "app.example.com";

/// Replaces `{host}` with `host` (App Service's `WEBSITE_HOSTNAME`, the app's default host
/// name such as `<name>-<hash>.<region>-01.azurewebsites.net`). Without one, or with one that
/// is not a host name, the placeholder cannot be filled: an error naming the variable.
pub(crate) fn substitute_host(
    at: At<'_>,
    value: &str,
    host: Option<&str>,
) -> Result<String, ConfigError> {
    if !value.contains("{host}") {
        return Ok(value.to_owned());
    }
    let invalid = |reason: String| ConfigError::InvalidRedirectUri {
        key: at.key.to_owned(),
        value: redact_userinfo(value),
        reason,
        origin: at.origin.clone(),
    };
    let host = host.map(str::trim).unwrap_or("");
    if host.is_empty() {
        return Err(invalid(format!(
            "{{host}} is filled from the {WEBSITE_HOSTNAME} variable, which App Service sets \
             to the app's default host name, and it is not set here; outside App Service write \
             the public host name itself"
        )));
    }
    let is_host_name = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !is_host_name {
        return Err(invalid(format!(
            "{WEBSITE_HOSTNAME} is \"{}\", which is not a host name",
            host.escape_debug()
        )));
    }
    Ok(value.replace("{host}", &host.to_ascii_lowercase()))
}

/// Checks a redirect URL as it will be used, with `{port}` and `{host}` filled in by
/// stand-ins.
pub(crate) fn check_redirect_uri(
    at: At<'_>,
    value: &str,
    kind: UriKind,
) -> Result<(), ConfigError> {
    let concrete = substitute_port(value, Some(PLACEHOLDER_PORT))?;
    let concrete = substitute_host(at, &concrete, Some(PLACEHOLDER_HOST))?;
    resolve_redirect_uri(at, value, &concrete, kind).map(|_| ())
}

/// Parses and checks `concrete` (the URL with the real port); errors quote `written`.
pub(crate) fn resolve_redirect_uri(
    at: At<'_>,
    written: &str,
    concrete: &str,
    kind: UriKind,
) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidRedirectUri {
        key: at.key.to_owned(),
        value: redact_userinfo(written),
        reason,
        origin: at.origin.clone(),
    };
    let example = match kind {
        UriKind::Redirect => "https://app.example.com/oauth2callback",
        UriKind::PostLogout => "https://app.example.com/",
    };
    let url = Url::parse(concrete).map_err(|e| {
        invalid(format!(
            "it is not an absolute URL ({e}); write the full URL, e.g. {example}"
        ))
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(format!(
            "the scheme must be https (or http on localhost), not \"{}\"",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(invalid(format!("it has no host; e.g. {example}")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it must not contain a user name or password".into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("it must not have a #fragment".into()));
    }
    if kind == UriKind::Redirect {
        if url.query().is_some() {
            return Err(invalid(
                "it must not have a ?query; providers compare the redirect URI exactly".into(),
            ));
        }
        if url.path().is_empty() || url.path() == "/" {
            return Err(invalid(format!(
                "it needs a path of its own such as /oauth2callback (e.g. {example}): the \
                 login callback is served on that path"
            )));
        }
    }
    if url.scheme() == "http" && !is_loopback_url(&url) {
        return Err(invalid(
            "plain http is only allowed on localhost, 127.0.0.0/8 or [::1]; use https so the \
             login code and session cookie cannot be intercepted"
                .into(),
        ));
    }
    Ok(url)
}

/// A loopback `redirect_uri` is served by this very app, so its port must be the one the app
/// listens on (`port`, given to the layer's builder): otherwise the provider sends every
/// login back to a port nobody (or another program) answers, found only at the first login.
/// A proxy on the same machine is the exception, hence the way out in the message.
pub(crate) fn check_served_port(
    at: At<'_>,
    written: &str,
    url: &Url,
    port: Option<u16>,
) -> Result<(), ConfigError> {
    let (Some(port), Some(uri_port)) = (port, url.port_or_known_default()) else {
        return Ok(());
    };
    if uri_port == port || !is_loopback_url(url) {
        return Ok(());
    }
    let with_placeholder = format!(
        "{}://{}:{{port}}{}",
        url.scheme(),
        url.host_str().unwrap_or("localhost"),
        url.path()
    );
    Err(ConfigError::InvalidRedirectUri {
        key: at.key.to_owned(),
        value: redact_userinfo(written),
        reason: format!(
            "its port is {uri_port} but the app listens on port {port} (given to \
             AuthLayerBuilder::port), so the provider would send every login back to a port \
             this app does not serve; write the app's port, or {with_placeholder} to use the \
             port given to the builder (a proxy on this machine that serves the app at port \
             {uri_port}, or another replica there: leave out .port())"
        ),
        origin: at.origin.clone(),
    })
}

/// Checks `server_metadata_url` and returns it parsed, so nothing later parses it again.
/// A URL that does not look like a discovery document's is accepted with a warning.
pub(crate) fn check_metadata_url(
    at: At<'_>,
    value: &str,
    notes: &mut Vec<String>,
) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| {
        at.invalid(format!(
            "\"{}\" is not an absolute URL ({e}); it must be the provider's discovery URL, e.g. \
             https://accounts.google.com/.well-known/openid-configuration",
            redact_userinfo(value)
        ))
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(at.invalid(format!(
            "the scheme must be https (or http on localhost), not \"{}\"",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(at.invalid("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(at.invalid("the URL must not contain a user name or password"));
    }
    if url.scheme() == "http" && !is_loopback_url(&url) {
        return Err(at.invalid(format!(
            "\"{value}\" uses plain http on a host that is not localhost; use https, since the \
             provider's signing keys are fetched from there"
        )));
    }
    if !url.path().contains("/.well-known/") {
        notes.push(format!(
            "`{}` in {} (\"{value}\") does not look like a discovery URL; it usually ends in \
             /.well-known/openid-configuration (the issuer URL alone is not enough)",
            at.key, at.origin
        ));
    }
    Ok(url)
}

/// Microsoft Entra ID's sign-in hosts (global, US government, China).
const ENTRA_HOSTS: [&str; 6] = [
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn",
];

/// `common` or `organizations` when `url` is one of Microsoft Entra ID's discovery documents
/// that admit users of *every* Entra tenant (their issuer is the template
/// `https://login.microsoftonline.com/{tenantid}/v2.0`, checked per token by
/// `provider::discovery`). Admitting the whole world's tenants is the classic multi-tenant
/// mistake, so such a provider needs `allowed_tenants` or an explicit `allow_any_tenant`.
/// (`/consumers` is one fixed tenant, personal Microsoft accounts, and needs neither.)
pub(crate) fn entra_multi_tenant_segment(url: &Url) -> Option<&str> {
    let host = url.host_str()?;
    if !ENTRA_HOSTS.iter().any(|h| host.eq_ignore_ascii_case(h)) {
        return None;
    }
    let segment = url.path_segments()?.next()?;
    super::schema::ADMITS_EVERY_TENANT
        .iter()
        .any(|s| segment.eq_ignore_ascii_case(s))
        .then_some(segment)
}

/// Why a `/common` or `/organizations` provider without a tenant rule is refused, and the
/// three ways out.
pub(crate) fn entra_multi_tenant_reason(value: &str, url: &Url, segment: &str) -> String {
    let rest: Vec<&str> = url.path_segments().into_iter().flatten().skip(1).collect();
    let own = format!(
        "{}://{}/<tenant ID>/{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        rest.join("/")
    );
    format!(
        "\"{}\" is Microsoft Entra ID's multi-tenant document (/{segment}): it signs in users of \
         every Entra tenant in the world, and no tenant rule limits who may log in; set \
         `allowed_tenants = [\"<tenant ID>\", ...]` (in this provider's table or in [auth]), or \
         `allow_any_tenant = true` if every tenant is really welcome, or use your own tenant's \
         document for a single-tenant app: {own}",
        redact_userinfo(value)
    )
}

/// Hides a `user:password@` part so a credential written into a URL is never echoed.
pub(crate) fn redact_userinfo(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = value.get(authority_start..).unwrap_or("");
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or("");
    match authority.rfind('@') {
        Some(at) => format!(
            "{}***{}",
            value.get(..authority_start).unwrap_or(""),
            value.get(authority_start + at..).unwrap_or("")
        ),
        None => value.to_owned(),
    }
}
