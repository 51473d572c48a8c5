//! The development provider's HTML: the sign-in form, the signed-out page and error pages.
//!
//! Everything echoed from a request goes through [`escape`]; the pages carry no script.

use std::fmt::Write as _;

/// Names of the sign-in form's own fields; never resubmitted as authorization parameters.
pub(crate) const FORM_FIELDS: [&str; 5] = ["name", "email", "claims", "userinfo_claims", "action"];

/// What the sign-in form shows and carries.
pub(crate) struct SignIn<'a> {
    /// Absolute URL of the authorization endpoint (the form posts back to it).
    pub(crate) action: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) redirect_uri: &'a str,
    /// The authorization request's parameters, resubmitted unchanged as hidden fields.
    pub(crate) hidden: &'a [(String, String)],
    pub(crate) name: &'a str,
    pub(crate) email: &'a str,
    pub(crate) claims: &'a str,
    /// Claims for the userinfo response only.
    pub(crate) userinfo_claims: &'a str,
    /// Why the previous submission was refused, shown above the form.
    pub(crate) problem: Option<&'a str>,
}

pub(crate) fn sign_in(page: &SignIn<'_>) -> String {
    let mut hidden = String::new();
    for (name, value) in page.hidden {
        // Writing to a String cannot fail.
        let _ = writeln!(
            hidden,
            r#"<input type="hidden" name="{}" value="{}">"#,
            escape(name),
            escape(value)
        );
    }
    let problem = page
        .problem
        .map(|p| format!(r#"<p class="problem" role="alert">{}</p>"#, escape(p)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Sign in to <code>{client_id}</code></h1>
{NOTICE}
{problem}<form method="post" action="{action}">
{hidden}<label for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="name" value="{name}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required autofocus value="{email}">
<label for="claims">Extra claims (JSON object, optional)</label>
<textarea id="claims" name="claims" rows="4" spellcheck="false" placeholder='{{"groups": ["admin"]}}'>{claims}</textarea>
<label for="userinfo_claims">Userinfo-only claims (JSON object, optional)</label>
<textarea id="userinfo_claims" name="userinfo_claims" rows="2" spellcheck="false" placeholder='{{"department": "R&amp;D"}}'>{userinfo_claims}</textarea>
<div class="buttons">
<button type="submit" name="action" value="sign_in">Sign in</button>
<button type="submit" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button>
</div>
</form>
<p class="meta">After signing in you return to <code>{redirect_uri}</code>.</p>"#,
        client_id = escape(page.client_id),
        action = escape(page.action),
        name = escape(page.name),
        email = escape(page.email),
        claims = escape(page.claims),
        userinfo_claims = escape(page.userinfo_claims),
        redirect_uri = escape(page.redirect_uri),
    );
    layout("Sign in", &body)
}

pub(crate) fn signed_out() -> String {
    let body =
        format!("<h1>You have been signed out</h1>\n{NOTICE}\n<p>You can close this page.</p>");
    layout("Signed out", &body)
}

/// A request the provider refuses without redirecting anywhere (unknown client, redirect URI
/// that is not registered, …): redirecting would send the browser to an unvetted place.
pub(crate) fn error(title: &str, message: &str) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"problem\" role=\"alert\">{}</p>\n{NOTICE}",
        escape(title),
        escape(message)
    );
    layout(title, &body)
}

const NOTICE: &str = r#"<p class="notice">This is the <strong>development OpenID provider</strong> built into <code>tower-oidc-login</code>. No password is needed: any name and email sign you in. Never use it in production.</p>"#;

const STYLE: &str = "body{margin:0;min-height:100vh;display:flex;align-items:center;\
justify-content:center;background:#f4f5f7;color:#1f2328;\
font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif}\
main{background:#fff;width:min(28rem,92vw);padding:2rem;border-radius:12px;\
box-shadow:0 2px 12px rgba(0,0,0,.08)}\
h1{font-size:1.35rem;margin:0 0 .75rem}\
.badge{margin:0 0 1rem;padding:.5rem .75rem;border-radius:6px;border:1px solid #d4a72c;\
background:#fff3cd;color:#6b4e00;font-size:.85rem;font-weight:600}\
.notice{font-size:.9rem;color:#57606a}\
.problem{padding:.5rem .75rem;border-radius:6px;background:#ffebe9;color:#82071e}\
label{display:block;margin:.9rem 0 .25rem;font-weight:600;font-size:.9rem}\
input,textarea{box-sizing:border-box;width:100%;padding:.5rem .6rem;font:inherit;\
border:1px solid #d0d7de;border-radius:6px}\
textarea{font-family:ui-monospace,monospace;font-size:.85rem}\
.buttons{display:flex;gap:.75rem;margin-top:1.25rem}\
button{flex:1;padding:.6rem;font:inherit;font-weight:600;border-radius:6px;cursor:pointer;\
border:1px solid #1f6feb;background:#1f6feb;color:#fff}\
button.secondary{background:#fff;color:#1f2328;border-color:#d0d7de}\
.meta{margin-top:1.25rem;font-size:.8rem;color:#57606a;word-break:break-all}\
code{font-size:.9em}";

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · tower-oidc-login development provider</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<p class="badge" role="note">Development provider: anyone can sign in as anyone. Never deploy it.</p>
{body}
</main>
</body>
</html>
"#,
        title = escape(title),
    )
}

pub(crate) use crate::pages::escape;
