// Sessions that live as long as the provider says, end to end: the quickstart against the
// OpenID Certified oidc-provider (provider.mjs) with access tokens that live 4 s, rotated
// refresh tokens and back-channel logout on.
//
// - GET /token (expose_tokens = ["id", "access"], scope offline_access): 20 concurrent
//   calls after the access token expired make one refresh grant at the provider and all get
//   the same fresh token, which later calls take too (a token that lives under two minutes
//   is refreshed once it has less than half its lifetime left, not at every call);
//   refreshes in a row each use the refresh token the last one returned (oidc-provider
//   revokes the grant when a rotated-out one is used again); a grant revoked at the provider
//   ends the session at the next refresh (401, then anonymous).
// - session_idle_timeout = "3s" ends a session left idle, not one in use; session_max_age =
//   "4s" ends it whatever the requests, and is the session cookie's Max-Age.
// - Back-channel logout from the provider (its admin endpoint /__test/backchannel) by sid
//   and by sub; the real logout tokens replayed, unsigned or altered are refused; three
//   replicas on one Redis behind a round-robin proxy: a logout token delivered to one
//   replica ends the session on all of them within a second.
// - fetch_userinfo = true: one more request per login and per refresh; a provider whose
//   userinfo is about another `sub` (provider.mjs --userinfo-other-subject) gets no login.
// - The provider requests per login and per refresh, from the provider's own request log,
//   printed as `FIGURES` lines.
//
// The provider posts logout tokens to a relay written here, which hands them to the app
// (or the replicas' proxy) and keeps each token and the app's whole answer, so the tests can
// read the answer's headers and send a real token again.
//
//   node --test lifetimes.test.mjs     (after building the examples; see scripts/e2e.sh)

import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  FetchBrowser, fetchText, freePort, httpRequest, randomText, redisServerBinary, secretsToml, signInAtProvider,
  startApp, startProvider, startProxy, startRedis, stopAll,
} from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));
const b64url = (data) => Buffer.from(data).toString('base64url');

/** Seconds an access token lives at the provider; the app refreshes it past half of that. */
const ACCESS_TOKEN_TTL = 4;
/** Until a token the app got now needs a refresh. */
const REFRESH_DUE_MS = (ACCESS_TOKEN_TTL / 2) * 1000 + 200;
/** How long a replica trusts its local copy of a session read from Redis (src/session/cache.rs). */
const CACHE_TTL_MS = 750;
const THIRTY_DAYS = 30 * 24 * 3600;
const REPLICAS = 3;

// scripts/e2e.sh installs redis-server and fails under CI=true when it cannot; run by hand
// without it, only the replicas' test is skipped (and says so).
const inCi = ['true', '1'].includes(process.env.CI ?? '');
const noRedis = redisServerBinary() === null
  ? 'no redis-server (apt-get install redis-server, set E2E_REDIS_SERVER, or run scripts/e2e.sh)' : false;
if (noRedis && inCi) throw new Error(`${noRedis}; CI=true: the end-to-end tests must run`);

/** Refresh tokens at oidc-provider: offline_access, which it grants only with prompt=consent. */
const REFRESHING = '{ prompt = "consent", scope = "openid email profile offline_access" }';
/** No prompt (oidc-provider refuses the default select_account) and no refresh token. */
const PLAIN = '{ prompt = "" }';
const EXPOSE = 'expose_tokens = ["id", "access"]';

/** What the app itself asks the provider (the browser's own requests are everything else). */
const APP_REQUESTS = new Set([
  'GET /.well-known/openid-configuration', 'GET /jwks', 'POST /token', 'GET /me', 'POST /me',
]);

/** The provider's request log from line `mark` on: the app's requests by kind, and the rest. */
function requestsSince(provider, mark) {
  const app = {};
  let browser = 0;
  for (const line of provider.proc.lines.slice(mark)) {
    if (!line.startsWith('REQ ')) continue;
    const request = line.slice(4);
    if (request.startsWith('POST /__test/')) continue;
    if (APP_REQUESTS.has(request)) app[request] = (app[request] ?? 0) + 1;
    else browser += 1;
  }
  return { app, browser };
}

const refreshGrants = (p) => p.events('grant.success').filter((e) => e.grant_type === 'refresh_token');
const grantErrors = (p) => p.events('grant.error');

/** The figures this file measures, printed at the end. */
const figures = [];

/**
 * A loopback server at the provider's registered back-channel logout URI: it hands each
 * request to `relay.target` as it came and answers what the target answered, keeping
 * `{ token, answer: { status, headers, text } }` per delivery.
 */
async function startRelay(port) {
  const relay = { target: null, deliveries: [] };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const delivery = { token: new URLSearchParams(body).get('logout_token'), answer: null };
      relay.deliveries.push(delivery);
      try {
        delivery.answer = await httpRequest(relay.target, {
          method: 'POST', headers: { 'content-type': req.headers['content-type'] }, body,
        });
        res.writeHead(delivery.answer.status, { 'content-type': delivery.answer.headers.get('content-type') ?? 'text/plain' });
        res.end(delivery.answer.text);
      } catch (err) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`relay: ${err.message}`);
      }
    });
  });
  await new Promise((res) => server.listen(port, '127.0.0.1', res));
  relay.uri = `http://127.0.0.1:${port}/auth/backchannel-logout`;
  relay.close = () => new Promise((res) => {
    server.closeAllConnections();
    server.close(res);
  });
  return relay;
}

/** `GET origin+path` with exactly this Cookie header, as an API client: status, headers, JSON. */
async function api(origin, path, cookie) {
  const headers = { accept: 'application/json' };
  if (cookie) headers.cookie = cookie;
  const answer = await httpRequest(`${origin}${path}`, { headers });
  let json;
  try { json = JSON.parse(answer.text); } catch { /* not JSON */ }
  return { ...answer, json };
}

async function loggedIn(origin, cookie) {
  const me = await api(origin, '/me', cookie);
  assert.equal(me.status, 200, me.text);
  return me.json.is_logged_in;
}

/** A `POST /auth/backchannel-logout` carrying `token`, straight to the app. */
function postLogoutToken(origin, token) {
  return httpRequest(`${origin}/auth/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }).toString(),
  });
}

const ports = {};
const apps = {};
let p1; // access tokens of 2 s, rotation, back-channel logout through the relay
let p2; // --userinfo-other-subject
let relay;
let redis;
let proxy;
const replicas = [];

before(async () => {
  for (const name of ['main', 'idle', 'maxAge', 'userinfo', 'otherSubject', 'proxy', 'relay']) {
    ports[name] = await freePort();
  }
  ports.replicas = [];
  for (let i = 0; i < REPLICAS; i += 1) ports.replicas.push(await freePort());
  const callback = (port) => `http://127.0.0.1:${port}/oauth2callback`;
  relay = await startRelay(ports.relay);
  [p1, p2, redis] = await Promise.all([
    startProvider({
      name: 'google',
      clientId: `lifetimes-${randomText(4)}`,
      clientSecret: randomText(16),
      redirectUris: ['main', 'idle', 'maxAge', 'userinfo', 'proxy'].map((n) => callback(ports[n])),
      extraArgs: ['--access-token-ttl', String(ACCESS_TOKEN_TTL), '--clock-tolerance', '0',
        '--rotate-refresh-tokens', '--backchannel-logout-uri', relay.uri],
    }),
    startProvider({
      name: 'google',
      clientId: `other-subject-${randomText(4)}`,
      clientSecret: randomText(16),
      redirectUris: [callback(ports.otherSubject)],
      extraArgs: ['--userinfo-other-subject'],
    }),
    noRedis ? null : startRedis({ persist: false }),
  ]);
  const secrets = {
    main: secretsToml({ appPort: ports.main, providers: [p1], kwargs: { google: REFRESHING }, auth: EXPOSE }),
    idle: secretsToml({
      appPort: ports.idle, providers: [p1], kwargs: { google: PLAIN }, auth: 'session_idle_timeout = "3s"',
    }),
    maxAge: secretsToml({
      appPort: ports.maxAge, providers: [p1], kwargs: { google: PLAIN }, auth: 'session_max_age = "4s"',
    }),
    userinfo: secretsToml({
      appPort: ports.userinfo,
      providers: [p1],
      kwargs: { google: REFRESHING },
      auth: EXPOSE,
      providerKeys: { google: 'fetch_userinfo = true' },
    }),
    otherSubject: secretsToml({
      appPort: ports.otherSubject, providers: [p2], kwargs: { google: PLAIN }, providerKeys: { google: 'fetch_userinfo = true' },
    }),
  };
  const started = Object.entries(secrets).map(async ([name, text]) => {
    apps[name] = await startApp({ port: ports[name], secrets: text });
  });
  if (redis) {
    // One secrets.toml for every replica: the proxy's callback, one cookie secret, one Redis.
    const shared = secretsToml({
      appPort: ports.proxy,
      redirectUri: callback(ports.proxy),
      providers: [p1],
      kwargs: { google: PLAIN },
      sessionStore: redis.url,
    });
    started.push(...ports.replicas.map(async (port, i) => {
      replicas[i] = await startApp({ port, secrets: shared });
    }));
  }
  await Promise.all(started);
  if (redis) proxy = await startProxy(ports.proxy, replicas);
});

after(async () => {
  if (figures.length) console.log(figures.map((f) => `FIGURES ${f}`).join('\n'));
  await proxy?.stop();
  await relay?.close();
  await Promise.all([...Object.values(apps), ...replicas].map((a) => a.stop()));
  await stopAll();
  if (redis) rmSync(redis.dir, { recursive: true, force: true });
});

/**
 * A whole login of `login` at `origin` with `provider`, in a browser of its own (a new
 * provider session, so a new sid): the session cookie, its Max-Age, the sid, when the
 * login was done (`performance.now()`), and what the provider received for it (exact only
 * when no other login runs meanwhile).
 */
async function logIn(origin, provider, login) {
  const b = new FetchBrowser();
  const mark = provider.proc.lines.length;
  await b.navigate(`${origin}/auth/login?provider=google`);
  await signInAtProvider(b, provider, login);
  const at = performance.now();
  assert.equal(b.page.url, `${origin}/`, `${b.page.url} ${b.page.status}\n${b.page.text.slice(0, 1000)}`);
  assert.equal(b.page.status, 200);
  const set = b.jar.get(origin, 'oidc_session');
  assert.ok(set, `no session cookie: ${b.jar.names(origin)}`);
  const cookie = `oidc_session=${set.value}`;
  const me = (await api(origin, '/me', cookie)).json;
  assert.equal(me.is_logged_in, true, JSON.stringify(me));
  assert.equal(me.sub, login);
  // The provider prints its log lines as it goes: wait for the code grant's.
  await provider.proc.waitForLine(/^EVENT grant\.success /, { from: mark });
  return {
    b, cookie, at, maxAge: Number(set.attrs['max-age']), sid: me.sid, requests: requestsSince(provider, mark),
  };
}

/** The cookie's Max-Age is `seconds`, counted from the login like the session's end. */
function assertMaxAge(maxAge, seconds) {
  assert.equal(maxAge, seconds, `Max-Age ${maxAge}, expected ${seconds}`);
}

describe('refresh, revocation and back-channel logout (access tokens of 4 s, rotated refresh tokens)', () => {
  let ada;
  let grace;

  test('a login: one token request by the app; the cookie lives as long as the session (30 days)', async () => {
    // Each app process fetched discovery and the key set once, at start-up (warm_up).
    const startup = requestsSince(p1, 0).app;
    const processes = 4 + (noRedis ? 0 : REPLICAS);
    assert.deepEqual(startup, { 'GET /.well-known/openid-configuration': processes, 'GET /jwks': processes });
    figures.push(`start-up: app -> provider ${JSON.stringify(startup)} for ${processes} app processes`);
    ada = await logIn(apps.main.origin, p1, 'ada');
    assertMaxAge(ada.maxAge, THIRTY_DAYS);
    // Discovery and the key set were fetched when the app started (warm_up).
    assert.deepEqual(ada.requests.app, { 'POST /token': 1 });
    figures.push(`login (fetch_userinfo off): app -> provider ${JSON.stringify(ada.requests.app)}; `
      + `browser -> provider ${ada.requests.browser} requests (authorize, login and consent pages)`);
    // Grace's grant is revoked at the provider at once (checked below, once her access
    // token needs a refresh): until then the app hands out the token it has.
    grace = await logIn(apps.main.origin, p1, 'grace');
    const revoked = await fetchText(`${p1.issuer}/__test/revoke?sub=grace`, { method: 'POST' });
    assert.deepEqual(revoked.json, { sub: 'grace', grants: 1 });
    const still = await api(apps.main.origin, '/token', grace.cookie);
    assert.equal(still.status, 200, still.text);
  });

  test('20 concurrent GET /token after the access token expired: one refresh grant, the same new token for all', async () => {
    await sleep(ACCESS_TOKEN_TTL * 1000 + 300);
    const before = refreshGrants(p1).length;
    const errors = grantErrors(p1).length;
    const mark = p1.proc.lines.length;
    const answers = await Promise.all(Array.from({ length: 20 }, () => api(apps.main.origin, '/token', ada.cookie)));
    for (const a of answers) assert.equal(a.status, 200, a.text);
    const tokens = new Set(answers.map((a) => a.json.access_token));
    assert.equal(tokens.size, 1, 'one token for all');
    const [token] = tokens;
    const expiresAt = answers[0].json.expires_at;
    const now = Date.now() / 1000;
    assert.ok(expiresAt > now && expiresAt <= now + ACCESS_TOKEN_TTL + 1, `expires_at ${expiresAt}, now ${now}`);
    await p1.proc.waitForLine(/^EVENT grant\.success .*"grant_type":"refresh_token"/, { from: mark });
    await sleep(300); // a second refresh would show by now
    assert.equal(refreshGrants(p1).length - before, 1, 'exactly one refresh grant');
    assert.equal(grantErrors(p1).length, errors);
    // Calls just after the refresh take its token too.
    for (let i = 0; i < 5; i += 1) {
      await sleep(100);
      const later = await api(apps.main.origin, '/token', ada.cookie);
      assert.equal(later.json?.access_token, token, later.text);
    }
    const requests = requestsSince(p1, mark);
    assert.deepEqual(requests.app, { 'POST /token': 1 });
    assert.equal(refreshGrants(p1).length - before, 1);
    figures.push(`refresh (fetch_userinfo off), 20 concurrent GET /token then 5 more: app -> provider ${JSON.stringify(requests.app)}`);
    // A real, fresh token: the provider's userinfo takes it.
    const info = await fetchText(`${p1.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(info.status, 200);
    assert.equal(info.json.sub, 'ada');
  });

  test('rotated refresh tokens: three refreshes in a row, each with the token the last one returned', async () => {
    const before = refreshGrants(p1).length;
    const errors = grantErrors(p1).length;
    const seen = new Set();
    for (let i = 0; i < 3; i += 1) {
      await sleep(REFRESH_DUE_MS);
      const mark = p1.proc.lines.length;
      const answer = await api(apps.main.origin, '/token', ada.cookie);
      assert.equal(answer.status, 200, `refresh ${i + 1}: ${answer.text}`);
      assert.ok(!seen.has(answer.json.access_token), 'a new access token');
      seen.add(answer.json.access_token);
      const line = await p1.proc.waitForLine(/^EVENT grant\.success .*"grant_type":"refresh_token"/, { from: mark });
      // Each refresh answered a new refresh token (rotation); reusing a rotated-out one
      // would have revoked the grant and failed every later refresh.
      assert.ok(JSON.parse(line.slice('EVENT grant.success '.length)).tokens.includes('refresh_token'), line);
    }
    assert.equal(refreshGrants(p1).length - before, 3);
    assert.equal(grantErrors(p1).length, errors, JSON.stringify(grantErrors(p1)));
    assert.equal(await loggedIn(apps.main.origin, ada.cookie), true);
  });

  test('a grant revoked at the provider: the next refresh is refused, GET /token is 401 and the session is over', async () => {
    const mark = apps.main.proc.lines.length;
    const answer = await api(apps.main.origin, '/token', grace.cookie);
    assert.equal(answer.status, 401, answer.text);
    assert.equal(answer.json.error, 'session_ended');
    assert.deepEqual((await api(apps.main.origin, '/me', grace.cookie)).json, { is_logged_in: false });
    const warned = apps.main.proc.lines.slice(mark).filter((l) => /WARN/.test(l) && /refresh refused by the provider/.test(l));
    assert.equal(warned.length, 1, apps.main.proc.tail());
    // Ada's grant is another one: untouched.
    assert.equal(await loggedIn(apps.main.origin, ada.cookie), true);
  });

  let lin;

  test('back-channel logout by sid: only that login ends; 200, never cached, no cookie', async () => {
    relay.target = `${apps.main.origin}/auth/backchannel-logout`;
    const first = await logIn(apps.main.origin, p1, 'lin');
    const second = await logIn(apps.main.origin, p1, 'lin');
    assert.ok(first.sid && second.sid && first.sid !== second.sid, `${first.sid} ${second.sid}`);
    const saved = p1.events('authorization_code.saved').filter((e) => e.sub === 'lin').map((e) => e.sid);
    assert.deepEqual(saved.slice(-2), [first.sid, second.sid]);

    const sent = await fetchText(`${p1.issuer}/__test/backchannel?sub=lin&sid=${first.sid}`, { method: 'POST' });
    assert.deepEqual(sent.json, { ok: true, status: 200, error: null });
    const delivery = relay.deliveries.at(-1);
    assert.equal(claimsOf(delivery.token).sid, first.sid);
    assert.equal(delivery.answer.status, 200);
    assert.equal(delivery.answer.headers.get('cache-control'), 'no-store');
    assert.deepEqual(delivery.answer.headers.getSetCookie(), []);
    assert.equal(await loggedIn(apps.main.origin, first.cookie), false);
    assert.equal(await loggedIn(apps.main.origin, second.cookie), true, 'the other login stays');
    assert.equal(await loggedIn(apps.main.origin, ada.cookie), true, 'another user stays');
    lin = second;
  });

  test('back-channel logout by sub: every session of the user ends', async () => {
    const third = await logIn(apps.main.origin, p1, 'lin');
    const sent = await fetchText(`${p1.issuer}/__test/backchannel?sub=lin`, { method: 'POST' });
    assert.deepEqual(sent.json, { ok: true, status: 200, error: null });
    const claims = claimsOf(relay.deliveries.at(-1).token);
    assert.equal(claims.sub, 'lin');
    assert.equal(claims.sid, undefined);
    assert.equal(await loggedIn(apps.main.origin, lin.cookie), false);
    assert.equal(await loggedIn(apps.main.origin, third.cookie), false);
    assert.equal(await loggedIn(apps.main.origin, ada.cookie), true, 'another user stays');
  });

  test('the provider\'s logout token replayed, unsigned or altered: 400 JSON, nothing ends', async () => {
    // Lin logs in again; the token that ended all of her sessions names her `sub`, so
    // accepting it again would end this one too.
    const again = await logIn(apps.main.origin, p1, 'lin');
    const real = relay.deliveries.at(-1).token;
    const [header, payload] = real.split('.');
    const claims = claimsOf(real);
    const cases = [
      ['the same token again', real, /jti/],
      ['unsigned (alg none)', `${b64url(JSON.stringify({ alg: 'none', typ: 'logout+jwt' }))}.${payload}.`, /algorithm/],
      ['another aud, the signature kept', `${header}.${b64url(JSON.stringify({ ...claims, aud: 'someone-else' }))}.${real.split('.')[2]}`, /signature/],
      ['a nonce added, the signature kept', `${header}.${b64url(JSON.stringify({ ...claims, nonce: 'n' }))}.${real.split('.')[2]}`, /signature/],
    ];
    for (const [what, token, reason] of cases) {
      const answer = await postLogoutToken(apps.main.origin, token);
      assert.equal(answer.status, 400, `${what}: ${answer.status} ${answer.text}`);
      assert.equal(answer.headers.get('content-type'), 'application/json', what);
      const json = JSON.parse(answer.text);
      assert.equal(json.error, 'invalid_request', what);
      assert.match(json.error_description, reason, what);
      assert.equal(await loggedIn(apps.main.origin, again.cookie), true, `${what} ended nothing`);
    }
  });
});

describe('fetch_userinfo = true', () => {
  test('one more request per login and per refresh, and the userinfo claims in the session', async () => {
    const kay = await logIn(apps.userinfo.origin, p1, 'kay');
    assert.deepEqual(kay.requests.app, { 'POST /token': 1, 'GET /me': 1 });
    await sleep(REFRESH_DUE_MS);
    const mark = p1.proc.lines.length;
    const answer = await api(apps.userinfo.origin, '/token', kay.cookie);
    assert.equal(answer.status, 200, answer.text);
    await p1.proc.waitForLine(/^EVENT grant\.success .*"grant_type":"refresh_token"/, { from: mark });
    const refresh = requestsSince(p1, mark);
    assert.deepEqual(refresh.app, { 'POST /token': 1, 'GET /me': 1 });
    figures.push(`login (fetch_userinfo on): app -> provider ${JSON.stringify(kay.requests.app)}`);
    figures.push(`refresh (fetch_userinfo on): app -> provider ${JSON.stringify(refresh.app)}`);
    const me = (await api(apps.userinfo.origin, '/me', kay.cookie)).json;
    assert.equal(me.sub, 'kay');
    assert.equal(me.given_name, 'Ada');
  });

  test('userinfo about another sub than the ID token\'s: the login is refused, no session', async () => {
    const b = new FetchBrowser();
    const origin = apps.otherSubject.origin;
    const mark = apps.otherSubject.proc.lines.length;
    await b.navigate(`${origin}/auth/login?provider=google`);
    await signInAtProvider(b, p2, 'ada');
    assert.equal(new URL(b.page.url).pathname, '/oauth2callback');
    assert.equal(b.page.status, 400, b.page.text.slice(0, 500));
    assert.match(b.page.text, /userinfo/);
    assert.equal(b.jar.get(origin, 'oidc_session'), undefined);
    assert.ok(p2.proc.lines.includes('REQ GET /me') || p2.proc.lines.includes('REQ POST /me'), 'userinfo was asked');
    const warned = apps.otherSubject.proc.lines.slice(mark).filter((l) => /WARN/.test(l) && /userinfo/i.test(l));
    assert.ok(warned.length >= 1, apps.otherSubject.proc.tail());
    assert.deepEqual((await b.api(`${origin}/me`)).json, { is_logged_in: false });
  });
});

// The two lifetimes run side by side (each waits on the clock for several seconds).
describe('session lifetimes', { concurrency: true }, () => {
  test('session_idle_timeout = "3s": requests keep the session going, 3 s without one end it', async () => {
    const { cookie, maxAge } = await logIn(apps.idle.origin, p1, 'idle');
    assertMaxAge(maxAge, THIRTY_DAYS);
    // Five seconds of a request a second: past the idle timeout, still logged in.
    for (let i = 0; i < 5; i += 1) {
      await sleep(1000);
      assert.equal(await loggedIn(apps.idle.origin, cookie), true, `request ${i + 1}`);
    }
    // Idle for longer than 3 s (whole seconds: up to one more).
    await sleep(4300);
    const me = await api(apps.idle.origin, '/me', cookie);
    assert.deepEqual(me.json, { is_logged_in: false });
  });

  test('session_max_age = "4s": the session ends 4 s after the login whatever the requests; it is the cookie\'s Max-Age', async () => {
    const { cookie, maxAge, at } = await logIn(apps.maxAge.origin, p1, 'max');
    assertMaxAge(maxAge, 4);
    // A request every 400 ms, with the cookie as it was (the browser would drop it after
    // Max-Age; the server must end the session on its own). The session ends at the
    // login's second + 4: 3 to 4 s after the callback.
    let lastLoggedIn = 0;
    for (;;) {
      await sleep(400);
      const since = performance.now() - at;
      if (!await loggedIn(apps.maxAge.origin, cookie)) {
        assert.ok(since >= 2500, `ended already ${Math.round(since)} ms after the login`);
        break;
      }
      lastLoggedIn = since;
      assert.ok(since < 5000, `still logged in ${Math.round(since)} ms after the login`);
    }
    assert.ok(lastLoggedIn >= 2000, `requests kept it only ${Math.round(lastLoggedIn)} ms`);
  });
});

describe('three quickstart replicas on Redis behind a round-robin proxy', { skip: noRedis }, () => {
  /** Polls every replica with `cookie` until each reads it as logged out; ms each took. */
  async function untilLoggedOutEverywhere(cookie, since) {
    const polls = replicas.map(() => 0);
    const took = await Promise.all(replicas.map(async (r, i) => {
      for (;;) {
        const answer = await api(r.origin, '/me', cookie);
        const elapsed = performance.now() - since;
        polls[i] += 1;
        assert.equal(answer.status, 200, answer.text);
        if (answer.json.is_logged_in === false) return elapsed;
        assert.ok(elapsed < 2000, `${r.origin} still logged in ${Math.round(elapsed)} ms after the logout`);
        await sleep(20);
      }
    }));
    return { took, polls };
  }

  async function logInThroughProxy(login) {
    const s = await logIn(proxy.origin, p1, login);
    // Every replica reads the session now: their local copies are fresh, the worst case.
    for (const r of replicas) assert.equal(await loggedIn(r.origin, s.cookie), true, r.origin);
    return s;
  }

  /** Sends a logout token for `params` through the relay to the proxy; the replica it reached. */
  async function backchannel(params) {
    relay.target = `${proxy.origin}/auth/backchannel-logout`;
    const mark = proxy.served.length;
    const sent = await fetchText(`${p1.issuer}/__test/backchannel?${new URLSearchParams(params)}`, { method: 'POST' });
    const ended = performance.now();
    assert.deepEqual(sent.json, { ok: true, status: 200, error: null });
    const by = proxy.served.slice(mark).find((h) => h.path === '/auth/backchannel-logout');
    assert.ok(by, JSON.stringify(proxy.served.slice(mark)));
    return { by: by.replica, ended };
  }

  test('a back-channel logout delivered to one replica ends the session on all of them within 1 s', async () => {
    const mo = await logInThroughProxy('mo');
    const other = await logInThroughProxy('mo');
    const { by, ended } = await backchannel({ sub: 'mo', sid: mo.sid });
    const { took, polls } = await untilLoggedOutEverywhere(mo.cookie, ended);
    console.log(`back-channel logout by sid on replica ${by}; logged out after ${took.map((t) => `${Math.round(t)} ms`).join(', ')} on replicas 0, 1, 2`);
    assert.equal(polls[by], 1, 'the replica told forgot the session at once');
    for (const t of took) assert.ok(t < 1000, `a replica took ${Math.round(t)} ms (limit 1000)`);
    // The other login stays; read again past the local copies' lifetime, every replica
    // holds a fresh copy of it (the worst case again).
    await sleep(CACHE_TTL_MS);
    for (const r of replicas) assert.equal(await loggedIn(r.origin, other.cookie), true, 'the other login stays');

    // By sub: the other login ends everywhere too.
    const bySub = await backchannel({ sub: 'mo' });
    const after = await untilLoggedOutEverywhere(other.cookie, bySub.ended);
    console.log(`back-channel logout by sub on replica ${bySub.by}; logged out after ${after.took.map((t) => `${Math.round(t)} ms`).join(', ')} on replicas 0, 1, 2`);
    assert.equal(after.polls[bySub.by], 1);
    for (const t of after.took) assert.ok(t < 1000, `a replica took ${Math.round(t)} ms (limit 1000)`);
    figures.push(`back-channel logout on one of three replicas (Redis), ended on all after: by sid ${took.map(Math.round).join('/')} ms, `
      + `by sub ${after.took.map(Math.round).join('/')} ms (local copies live ${CACHE_TTL_MS} ms)`);
  });
});
