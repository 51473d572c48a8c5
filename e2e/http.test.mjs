// The examples against two real OpenID providers (oidc-provider, OpenID Certified), driven
// with plain fetch and a browser-like cookie jar through the providers' own login, consent
// and logout pages.
//
//   node --test http.test.mjs     (after building the examples; see scripts/e2e.sh)

import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';

import {
  FetchBrowser, fetchText, freePort, randomText, secretsToml, signInAtProvider, startApp, startProvider, stopAll,
} from './harness.mjs';

// Both providers know the callbacks of every app these tests start.
const ports = {
  quickstart: await freePort(),
  hyper: await freePort(),
  defaults: await freePort(),
};
const callbacks = Object.values(ports).map((p) => `http://127.0.0.1:${p}/oauth2callback`);

// Mutable: the rotation test replaces the google provider by a restarted one.
const providers = {};
const apps = {};

// google: no prompt (so the provider's single sign-on shows), client_secret_basic;
// microsoft: client_secret_post, offline_access (a refresh token comes back) and
// prompt=consent (offline_access needs it at oidc-provider).
const KWARGS = {
  google: '{ prompt = "" }',
  microsoft: '{ token_endpoint_auth_method = "client_secret_post", prompt = "consent", scope = "openid email profile offline_access" }',
};

before(async () => {
  const [google, microsoft] = await Promise.all(['google', 'microsoft'].map((name) => startProvider({
    name,
    clientId: `${name}-client-${randomText(4)}`,
    // Characters that client_secret_basic must form-encode before Base64 (RFC 6749 2.3.1).
    clientSecret: `${randomText(12)}+/:%&=`,
    redirectUris: callbacks,
  })));
  providers.google = google;
  providers.microsoft = microsoft;
});

after(async () => {
  await Promise.all(Object.values(apps).map((a) => a.stop()));
  await stopAll();
});

/** Logs `b` in at `app` with `provider` as `login`; returns the pages seen at the provider. */
async function logIn(b, app, provider, login, returnTo) {
  const url = new URL('/auth/login', app.origin);
  url.searchParams.set('provider', provider.name);
  if (returnTo) url.searchParams.set('return_to', returnTo);
  await b.navigate(url.href);
  const first = b.page.chain[0];
  assert.ok([302, 303, 307].includes(first.status), `login answered ${first.status}`);
  const authz = new URL(first.location);
  assert.equal(`${authz.origin}${authz.pathname}`, `${provider.issuer}/auth`);
  assert.equal(authz.searchParams.get('client_id'), provider.clientId);
  assert.equal(authz.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authz.searchParams.get('nonce'), 'a nonce is sent');
  assert.ok(authz.searchParams.get('state'), 'a state is sent');
  const seen = await signInAtProvider(b, provider, login);
  // Back through the callback (with RFC 9207 iss), then to return_to.
  const callback = b.page.chain.find((h) => new URL(h.url).pathname === '/oauth2callback');
  assert.ok(callback, `no callback in ${JSON.stringify(b.page.chain)}`);
  const cb = new URL(callback.url);
  assert.equal(cb.searchParams.get('iss'), provider.issuer);
  assert.ok(cb.searchParams.get('code'));
  assert.equal(b.page.status, 200, `after login: ${b.page.url} ${b.page.status}\n${b.page.text.slice(0, 2000)}`);
  assert.equal(b.page.url, new URL(returnTo ?? '/', app.origin).href);
  return seen;
}

function assertUser(me, provider, login) {
  assert.equal(me.status, 200);
  const u = me.json;
  assert.equal(u.is_logged_in, true, JSON.stringify(u));
  assert.equal(u.provider, provider.name);
  assert.equal(u.iss, provider.issuer);
  assert.equal(u.sub, login);
  assert.equal(u.email, `${login}@example.com`);
  assert.equal(u.email_verified, true);
  assert.equal(u.name, `Ada Lovelace <${login}>`);
  assert.deepEqual([u.aud].flat(), [provider.clientId]);
}

/** Logs out with the page's logout button, confirms at the provider, lands on `/`. */
async function logOut(b, app, provider, { confirm = true } = {}) {
  await b.navigate(`${app.origin}/`);
  const form = b.forms().find((f) => f.action === `${app.origin}/auth/logout`);
  assert.ok(form, `no logout form on ${b.page.text}`);
  assert.equal(form.method, 'POST');
  const idTokenOf = (await b.api(`${app.origin}/me`)).json;
  assert.equal(idTokenOf.is_logged_in, true);
  const endedBefore = provider.events('end_session.success').length;
  await b.submit(form);
  const first = b.page.chain[0];
  assert.ok([302, 303].includes(first.status), `logout answered ${first.status}: ${b.page.text.slice(0, 500)}`);
  const end = new URL(first.location);
  assert.equal(`${end.origin}${end.pathname}`, `${provider.issuer}/session/end`);
  assert.equal(end.searchParams.get('client_id'), provider.clientId);
  assert.equal(end.searchParams.get('post_logout_redirect_uri'), `${app.origin}/oauth2callback`);
  assert.ok(end.searchParams.get('state'));
  const hint = end.searchParams.get('id_token_hint');
  assert.ok(hint, 'id_token_hint is sent');
  const hintClaims = JSON.parse(Buffer.from(hint.split('.')[1], 'base64url'));
  assert.equal(hintClaims.sub, idTokenOf.sub);
  assert.equal(hintClaims.iss, provider.issuer);
  // The provider asks for confirmation; the app's own session is already gone.
  assert.equal(b.page.url.startsWith(`${provider.issuer}/session/end`), true, b.page.url);
  assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
  if (!confirm) return;
  const confirmForm = b.forms().find((f) => f.buttons.some((x) => x.name === 'logout' && x.value === 'yes'));
  assert.ok(confirmForm, `no confirmation form at the provider:\n${b.page.text.slice(0, 2000)}`);
  await b.submit(confirmForm, {}, confirmForm.buttons.find((x) => x.name === 'logout'));
  const back = b.page.chain.find((h) => h.url.startsWith(`${app.origin}/oauth2callback`));
  assert.ok(back, `not sent back to the app: ${JSON.stringify(b.page.chain)}`);
  assert.equal(new URL(back.url).searchParams.get('state'), end.searchParams.get('state'));
  assert.equal(b.page.url, `${app.origin}/`);
  assert.equal(b.page.status, 200);
  assert.match(b.page.text, /You are not logged in/);
  assert.equal(provider.events('end_session.success').length, endedBefore + 1);
}

describe('quickstart with two oidc-providers', () => {
  let app;
  before(async () => {
    app = await startApp({
      example: 'quickstart',
      port: ports.quickstart,
      secrets: secretsToml({ appPort: ports.quickstart, providers: [providers.google, providers.microsoft], kwargs: KWARGS }),
    });
    apps.quickstart = app;
  });

  test('anonymous: login links for both providers, /me logged out, /private refused', async () => {
    const b = new FetchBrowser();
    const home = await b.navigate(`${app.origin}/`);
    assert.equal(home.status, 200);
    assert.match(home.text, /<a class="login" href="\/auth\/login\?provider=google">/);
    assert.match(home.text, /<a class="login" href="\/auth\/login\?provider=microsoft">/);
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
    const api = await b.api(`${app.origin}/private`);
    assert.equal(api.status, 401);
    assert.ok(api.json, `401 body is JSON: ${api.text}`);
    await b.navigate(`${app.origin}/private`);
    const hop = b.page.chain[0];
    assert.ok([302, 303, 307].includes(hop.status));
    const to = new URL(hop.location, app.origin);
    assert.equal(`${to.origin}${to.pathname}`, `${app.origin}/auth/login`);
    assert.equal(to.searchParams.get('return_to'), '/private');
  });

  test('google: real sign-in and consent pages, back to return_to=/private, ID token claims in /me', async () => {
    const b = new FetchBrowser();
    const seen = await logIn(b, app, providers.google, 'ada', '/private');
    assert.deepEqual(seen, ['login', 'consent']);
    assert.match(b.page.text, /Only logged-in users see this, Ada Lovelace &lt;ada&gt;\./);
    assertUser(await b.api(`${app.origin}/me`), providers.google, 'ada');
    const home = await b.navigate(`${app.origin}/`);
    assert.match(home.text, /<strong id="name">Ada Lovelace &lt;ada&gt;<\/strong>/);
    assert.match(home.text, /<span id="email">ada@example.com<\/span>/);
    // client_secret_basic worked (oidc-provider enforces the registered method).
    const grants = providers.google.events('grant.success');
    assert.ok(grants.some((g) => g.client_id === providers.google.clientId && g.tokens.includes('id_token')));
  });

  test('microsoft in the same app: client_secret_post, refresh token issued, replaces the google session', async () => {
    const b = new FetchBrowser();
    await logIn(b, app, providers.google, 'ada');
    assertUser(await b.api(`${app.origin}/me`), providers.google, 'ada');
    const sessionBefore = b.jar.get(app.origin, 'oidc_session')?.value;
    const seen = await logIn(b, app, providers.microsoft, 'grace');
    assert.deepEqual(seen, ['login', 'consent']);
    assertUser(await b.api(`${app.origin}/me`), providers.microsoft, 'grace');
    // A new login is a new session (no fixation).
    assert.notEqual(b.jar.get(app.origin, 'oidc_session')?.value, sessionBefore);
    const grant = providers.microsoft.events('grant.success').at(-1);
    assert.equal(grant.client_id, providers.microsoft.clientId);
    assert.deepEqual(grant.tokens, ['access_token', 'id_token', 'refresh_token']);
  });

  test('google logout ends the session at the app and at the provider', async () => {
    const b = new FetchBrowser();
    await logIn(b, app, providers.google, 'ada');
    // The provider's session lets a second login straight through (no page)...
    assert.deepEqual(await logIn(b, app, providers.google, 'ada'), []);
    await logOut(b, app, providers.google);
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
    // ... and after logout the provider asks for credentials again (and, as its logout also
    // revoked the grant, for consent).
    const seen = await logIn(b, app, providers.google, 'ada');
    assert.deepEqual(seen, ['login', 'consent']);
    assertUser(await b.api(`${app.origin}/me`), providers.google, 'ada');
  });

  test('microsoft logout ends the provider session too', async () => {
    const b = new FetchBrowser();
    await logIn(b, app, providers.microsoft, 'grace');
    assert.deepEqual(await logIn(b, app, providers.microsoft, 'grace'), ['consent']);
    await logOut(b, app, providers.microsoft);
    assert.deepEqual(await logIn(b, app, providers.microsoft, 'grace'), ['login', 'consent']);
  });

  test('a logout not confirmed at the provider still ends the app session', async () => {
    const b = new FetchBrowser();
    await logIn(b, app, providers.google, 'ada');
    await logOut(b, app, providers.google, { confirm: false });
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
  });

  test('logout by GET: at once from the app itself, only after confirming from another site', async () => {
    const b = new FetchBrowser();
    await logIn(b, app, providers.google, 'ada');
    // A link on another site: a page asking to confirm, and the session stays.
    await b.navigate(`${app.origin}/auth/logout`, { from: 'http://elsewhere.test/page' });
    assert.equal(b.page.status, 200);
    assert.equal(b.page.chain.length, 1, JSON.stringify(b.page.chain));
    assertUser(await b.api(`${app.origin}/me`), providers.google, 'ada');
    // A cross-site POST is refused outright.
    await b.navigate(`${app.origin}/auth/logout`, { method: 'POST', body: '', from: 'http://elsewhere.test/page' });
    assert.equal(b.page.status, 403, `cross-site POST answered ${b.page.status}`);
    assertUser(await b.api(`${app.origin}/me`), providers.google, 'ada');
    // The confirmation page's button logs out (a same-origin POST).
    await b.navigate(`${app.origin}/auth/logout`, { from: 'http://elsewhere.test/page' });
    const confirm = b.forms().find((f) => f.method === 'POST' && f.action === `${app.origin}/auth/logout`);
    assert.ok(confirm, `no logout button on the confirmation page:\n${b.page.text}`);
    await b.submit(confirm);
    assert.ok(b.page.url.startsWith(`${providers.google.issuer}/session/end`), b.page.url);
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });

    // From the app's own page (Streamlit's st.logout redirect): at once.
    await logIn(b, app, providers.google, 'ada');
    await b.navigate(`${app.origin}/auth/logout`, { from: `${app.origin}/` });
    assert.ok(b.page.url.startsWith(`${providers.google.issuer}/session/end`), b.page.url);
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
  });

  test('return_to outside the app lands on /', async () => {
    for (const returnTo of ['//elsewhere.test/x', 'https://elsewhere.test/x', '/\\elsewhere.test/x']) {
      const b = new FetchBrowser();
      const url = new URL('/auth/login', app.origin);
      url.searchParams.set('provider', 'google');
      url.searchParams.set('return_to', returnTo);
      await b.navigate(url.href);
      await signInAtProvider(b, providers.google, 'ada');
      assert.equal(b.page.url, `${app.origin}/`, `return_to=${returnTo} went to ${b.page.url}`);
      assertUser(await b.api(`${app.origin}/me`), providers.google, 'ada');
    }
  });

  test('cancel at the provider\'s sign-in page: an error page at the app, nobody logged in', async () => {
    const b = new FetchBrowser();
    await b.navigate(`${app.origin}/auth/login?provider=google&return_to=/private`);
    assert.ok(b.page.url.startsWith(`${providers.google.issuer}/interaction/`), b.page.url);
    const cancel = b.page.text.match(/<a href="([^"]*\/abort)">\[ Cancel \]<\/a>/);
    assert.ok(cancel, 'the sign-in page has a cancel link');
    await b.navigate(new URL(cancel[1], b.page.url).href);
    const callback = b.page.chain.find((h) => new URL(h.url).pathname === '/oauth2callback');
    assert.ok(callback, JSON.stringify(b.page.chain));
    assert.equal(new URL(callback.url).searchParams.get('error'), 'access_denied');
    assert.ok(b.page.status >= 400 && b.page.status < 500, `status ${b.page.status}`);
    assert.equal(new URL(b.page.url).pathname, '/oauth2callback');
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
    // Trying again works.
    await logIn(b, app, providers.google, 'ada', '/private');
  });

  test('provider restarts with a new signing key while the app runs: the next login works', async () => {
    const stayer = new FetchBrowser();
    await logIn(stayer, app, providers.google, 'ada');
    const oldKid = providers.google.kid;
    const oldJwks = (await fetchText(`${providers.google.issuer}/jwks`)).json;
    assert.deepEqual(oldJwks.keys.map((k) => k.kid), [oldKid]);

    providers.google = await providers.google.restart();
    assert.notEqual(providers.google.kid, oldKid);
    const newJwks = (await fetchText(`${providers.google.issuer}/jwks`)).json;
    assert.deepEqual(newJwks.keys.map((k) => k.kid), [providers.google.kid]);

    const b = new FetchBrowser();
    const seen = await logIn(b, app, providers.google, 'babbage');
    assert.deepEqual(seen, ['login', 'consent']);
    assertUser(await b.api(`${app.origin}/me`), providers.google, 'babbage');
    // The app fetched the new key set (our fetch above was the other one).
    const jwksFetches = providers.google.requests().filter((r) => r === 'GET /jwks').length;
    assert.equal(jwksFetches, 2, providers.google.requests().join('\n'));
    // Sessions made before the rotation are the app's own: they go on.
    assertUser(await stayer.api(`${app.origin}/me`), providers.google, 'ada');
  });
});

describe('hyper example with two oidc-providers', () => {
  let app;
  before(async () => {
    app = await startApp({
      example: 'hyper',
      port: ports.hyper,
      secrets: secretsToml({ appPort: ports.hyper, providers: [providers.google, providers.microsoft], kwargs: KWARGS }),
    });
    apps.hyper = app;
  });

  test('login with each provider, /me, /private, logout', async () => {
    const b = new FetchBrowser();
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
    assert.equal((await b.api(`${app.origin}/private`)).status, 401);
    await logIn(b, app, providers.google, 'ada', '/private');
    assert.match(b.page.text, /Only logged-in users see this, Ada Lovelace &lt;ada&gt;\./);
    assertUser(await b.api(`${app.origin}/me`), providers.google, 'ada');
    await logOut(b, app, providers.google);
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });

    await logIn(b, app, providers.microsoft, 'grace');
    assertUser(await b.api(`${app.origin}/me`), providers.microsoft, 'grace');
    await logOut(b, app, providers.microsoft);
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
  });
});

describe('default client_kwargs (prompt=select_account) against oidc-provider', () => {
  test('the provider refuses select_account; the app shows an error and logs nobody in', async () => {
    const app = await startApp({
      example: 'quickstart',
      port: ports.defaults,
      secrets: secretsToml({ appPort: ports.defaults, providers: [providers.google] }),
    });
    apps.defaults = app;
    const b = new FetchBrowser();
    const url = `${app.origin}/auth/login?provider=google`;
    await b.navigate(url);
    const authz = new URL(b.page.chain[0].location);
    assert.equal(authz.searchParams.get('prompt'), 'select_account');
    const callback = b.page.chain.find((h) => new URL(h.url).pathname === '/oauth2callback');
    assert.ok(callback, `the provider did not answer through the callback: ${JSON.stringify(b.page.chain)}\n${b.page.text.slice(0, 1000)}`);
    const cb = new URL(callback.url);
    assert.equal(cb.searchParams.get('error'), 'invalid_request');
    assert.match(cb.searchParams.get('error_description'), /prompt/);
    assert.ok(b.page.status >= 400 && b.page.status < 500, `error page status ${b.page.status}`);
    assert.deepEqual((await b.api(`${app.origin}/me`)).json, { is_logged_in: false });
  });
});
