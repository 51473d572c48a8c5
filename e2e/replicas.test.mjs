// Three quickstart replicas sharing one Redis (`session_store = "redis://…"`) behind a
// round-robin reverse proxy, logging in against the OpenID Certified oidc-provider: any
// replica finishes any login, every replica knows every user, a logout on one replica
// ends the session on all of them within a second, the replicas restart without logging
// anyone out, Redis going away gives 503s (never a login, never a redirect) to requests
// with a session cookie and recovers by itself, and 10,000 sessions take a load run
// through the proxy with zero errors.
//
// Redis restarts: the server here runs with a save point and keeps its data in its --dir,
// so SIGTERM writes a snapshot and a restart in the same directory keeps every session
// (users stay logged in); a restart in a fresh directory is Redis "restarted empty": the
// sessions are gone, visitors are anonymous, nothing crashes. Both are tested.
//
//   node --test replicas.test.mjs     (after building the examples; see scripts/e2e.sh)
//
// Environment: E2E_SESSIONS (default 10000), E2E_LOGIN_PARALLEL (browsers logging in at
// once, default 24), E2E_LOAD_REQUESTS (default 20000), E2E_LOAD_CONCURRENCY (default 32),
// E2E_REDIS_SERVER (the redis-server binary, default the one on PATH).

import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
  FetchBrowser, cpuMs, freePort, httpRequest, randomText, redisServerBinary, secretsToml, signInAtProvider,
  startApp, startProvider, startProxy, startRedis, stopAll, tempDir,
} from './harness.mjs';

const REPLICAS = 3;
const SESSIONS = Number(process.env.E2E_SESSIONS ?? 10000);
const LOGIN_PARALLEL = Number(process.env.E2E_LOGIN_PARALLEL ?? 24);
const LOAD_REQUESTS = Number(process.env.E2E_LOAD_REQUESTS ?? 20000);
const LOAD_CONCURRENCY = Number(process.env.E2E_LOAD_CONCURRENCY ?? 32);
// How long a replica trusts a session it read from Redis (src/session/cache.rs): a
// session ended elsewhere, or a Redis gone away, shows on a replica after this at most.
const CACHE_TTL_MS = 750;

if (!redisServerBinary()) {
  // scripts/e2e.sh installs it (and fails under CI=true if it cannot).
  throw new Error('no redis-server on PATH (apt-get install redis-server, set E2E_REDIS_SERVER, or run scripts/e2e.sh)');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `/me` of `origin` with exactly this Cookie header (none when null), like an API client. */
async function me(origin, cookie) {
  const headers = { accept: 'application/json' };
  if (cookie) headers.cookie = cookie;
  const answer = await httpRequest(`${origin}/me`, { headers });
  let json;
  try { json = JSON.parse(answer.text); } catch { /* not JSON */ }
  return { ...answer, json };
}

/** A navigation (Accept: text/html) to `url` with this Cookie header, redirects not followed. */
function page(url, cookie) {
  const headers = { accept: 'text/html', 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' };
  if (cookie) headers.cookie = cookie;
  return httpRequest(url, { headers });
}

/** The `oidc_session=…` Cookie header the browser `b` holds for `origin`. */
function sessionCookie(b, origin) {
  const c = b.jar.get(origin, 'oidc_session');
  assert.ok(c, `no session cookie for ${origin}: ${b.jar.names(origin).join(', ')}`);
  return `oidc_session=${c.value}`;
}

/** Whether a response deletes the session cookie. */
const deletesSession = (headers) => headers.getSetCookie()
  .some((c) => c.startsWith('oidc_session=') && /max-age=0|expires=thu, 01 jan 1970/i.test(c));

describe('three quickstart replicas sharing Redis behind a round-robin proxy', () => {
  const ports = {};
  const replicas = [];
  let redis;
  let provider;
  let proxy;
  const dirs = [];

  before(async () => {
    ports.proxy = await freePort();
    ports.replicas = [];
    for (let i = 0; i < REPLICAS; i += 1) ports.replicas.push(await freePort());
    const callback = `http://127.0.0.1:${ports.proxy}/oauth2callback`;
    redis = await startRedis({ persist: true });
    dirs.push(redis.dir);
    provider = await startProvider({
      name: 'google',
      clientId: `replicas-${randomText(4)}`,
      clientSecret: randomText(16),
      redirectUris: [callback],
    });
    // One secrets.toml for every replica: the proxy's callback, one cookie secret, one Redis.
    // No prompt (oidc-provider refuses select_account), so its single sign-on shows.
    const secrets = secretsToml({
      appPort: ports.proxy,
      redirectUri: callback,
      providers: [provider],
      kwargs: { google: '{ prompt = "" }' },
      sessionStore: redis.url,
    });
    replicas.push(...await Promise.all(ports.replicas.map((port) => startApp({ port, secrets }))));
    proxy = await startProxy(ports.proxy, replicas);
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await stopAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A whole login through the proxy as `login`; returns the replicas that served its steps. */
  async function logIn(b, login) {
    const mark = proxy.served.length;
    await b.navigate(`${proxy.origin}/auth/login?provider=google`);
    await signInAtProvider(b, provider, login);
    assert.equal(b.page.url, `${proxy.origin}/`);
    assert.equal(b.page.status, 200, b.page.text.slice(0, 1000));
    assert.match(b.page.text, new RegExp(`<strong id="name">Ada Lovelace &lt;${login}&gt;</strong>`));
    const hops = proxy.served.slice(mark);
    const started = hops.find((h) => h.path === '/auth/login');
    const finished = hops.find((h) => h.path === '/oauth2callback');
    assert.ok(started && finished, JSON.stringify(hops));
    return { started: started.replica, finished: finished.replica };
  }

  function assertUser(answer, login) {
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json?.is_logged_in, true, answer.text);
    assert.equal(answer.json.sub, login);
    assert.equal(answer.json.iss, provider.issuer);
    assert.equal(answer.json.email, `${login}@example.com`);
  }

  /** CPU ms used so far by each process of the setup (for the report lines). */
  const cpuNow = () => ({
    provider: cpuMs(provider.proc.pid),
    replicas: replicas.reduce((sum, r) => sum + cpuMs(r.proc.pid), 0),
    redis: cpuMs(redis.proc.pid),
    'test+proxy': cpuMs(process.pid),
  });
  const cpuSince = (start, n) => Object.entries(cpuNow())
    .map(([k, v]) => `${k} ${((v - start[k]) / n).toFixed(2)}`).join(', ');

  let ada;

  test('a login started through the proxy on one replica is finished by another', async () => {
    const b = new FetchBrowser();
    const { started, finished } = await logIn(b, 'ada');
    assert.notEqual(started, finished, `login and callback both on replica ${started}`);
    // The sealed pending-login cookie carried the login to the other replica: that one made
    // the token request, and the login is logged there.
    assert.ok(replicas[finished].proc.lines.some((l) => /login succeeded/.test(l) && /sub="?ada"?/.test(l)),
      replicas[finished].proc.tail());
    assert.ok(!replicas[started].proc.lines.some((l) => /login succeeded/.test(l)), replicas[started].proc.tail());
    ada = { b, cookie: sessionCookie(b, proxy.origin) };
  });

  test('/me: every replica answers for the user, directly and through the proxy', async () => {
    for (const r of replicas) assertUser(await me(r.origin, ada.cookie), 'ada');
    const mark = proxy.served.length;
    for (let i = 0; i < REPLICAS; i += 1) assertUser(await me(proxy.origin, ada.cookie), 'ada');
    assert.deepEqual(proxy.served.slice(mark).map((h) => h.replica).sort(), [0, 1, 2]);
  });

  test('a logout through one replica ends the session on every replica within 1 s', async () => {
    const { b, cookie } = ada;
    // Every replica has just read the session (its local copy is fresh: the worst case).
    for (const r of replicas) assertUser(await me(r.origin, cookie), 'ada');
    await b.navigate(`${proxy.origin}/`);
    const form = b.forms().find((f) => f.action === `${proxy.origin}/auth/logout`);
    assert.ok(form, b.page.text);
    const mark = proxy.served.length;
    // The form's POST, up to the replica's answer (a redirect to the provider's end-session
    // endpoint): from then on the session is over, and the clock runs.
    assert.deepEqual(form.fields, []);
    await b.navigate(form.action, { method: 'POST', body: '', follow: () => false });
    const ended = performance.now();
    const by = proxy.served.slice(mark).find((h) => h.path === '/auth/logout');
    assert.ok(by, JSON.stringify(proxy.served.slice(mark)));
    assert.ok([302, 303].includes(b.page.status), `logout answered ${b.page.status}`);
    assert.ok(b.page.headers.get('location').startsWith(`${provider.issuer}/session/end`), b.page.headers.get('location'));
    // Poll every replica directly with the old cookie until it reads as logged out.
    const polls = [0, 0, 0];
    const took = await Promise.all(replicas.map(async (r, i) => {
      for (;;) {
        const answer = await me(r.origin, cookie);
        const elapsed = performance.now() - ended;
        polls[i] += 1;
        assert.equal(answer.status, 200, answer.text);
        if (answer.json.is_logged_in === false) return elapsed;
        assertUser(answer, 'ada');
        assert.ok(elapsed < 2000, `replica on ${r.origin} still logged in ${Math.round(elapsed)} ms after the logout`);
        await sleep(20);
      }
    }));
    console.log(`logout on replica ${by.replica}; logged out after ${took.map((t) => `${Math.round(t)} ms`).join(', ')} on replicas 0, 1, 2`);
    assert.equal(polls[by.replica], 1, 'the replica that logged out forgot the session at once');
    for (const t of took) assert.ok(t < 1000, `a replica took ${Math.round(t)} ms (limit 1000)`);
    // And it stays so.
    for (const r of replicas) assert.deepEqual((await me(r.origin, cookie)).json, { is_logged_in: false });
  });

  let grace;

  test('all three replicas restarted (new processes): the user is still logged in', async () => {
    const b = new FetchBrowser();
    await logIn(b, 'grace');
    grace = { b, cookie: sessionCookie(b, proxy.origin) };
    const before = replicas.map((r) => r.proc.pid);
    await Promise.all(replicas.map((r) => r.restart()));
    const after = replicas.map((r) => r.proc.pid);
    for (let i = 0; i < REPLICAS; i += 1) assert.notEqual(after[i], before[i]);
    for (const r of replicas) assertUser(await me(r.origin, grace.cookie), 'grace');
    assertUser(await me(proxy.origin, grace.cookie), 'grace');
    await b.navigate(`${proxy.origin}/private`);
    assert.equal(b.page.status, 200);
    assert.match(b.page.text, /Only logged-in users see this, Ada Lovelace &lt;grace&gt;\./);
  });

  test('Redis stopped: 503 for requests with a session cookie, anonymous requests pass', async () => {
    await redis.stop();
    // A replica's local copy of the session may answer for CACHE_TTL_MS more.
    await sleep(CACHE_TTL_MS + 250);
    for (const origin of [...replicas.map((r) => r.origin), proxy.origin]) {
      const api = await me(origin, grace.cookie);
      assert.equal(api.status, 503, `${origin}/me: ${api.status} ${api.text}`);
      assert.equal(api.json?.error, 'sessions_unavailable', api.text);
      assert.ok(api.headers.get('retry-after'));
      assert.ok(!deletesSession(api.headers), 'the cookie is kept for when Redis is back');
      for (const path of ['/', '/private']) {
        const p = await page(`${origin}${path}`, grace.cookie);
        assert.equal(p.status, 503, `${origin}${path}: ${p.status} ${p.headers.get('location') ?? ''}`);
        assert.equal(p.headers.get('location'), null);
        assert.match(p.text, /Sessions are not available right now/);
        assert.doesNotMatch(p.text, /grace/);
      }
      // Without a session cookie: anonymous, as always.
      assert.deepEqual((await me(origin)).json, { is_logged_in: false });
      const home = await page(`${origin}/`);
      assert.equal(home.status, 200);
      assert.match(home.text, /You are not logged in/);
      const priv = await page(`${origin}/private`);
      assert.ok([302, 303, 307].includes(priv.status), `anonymous /private: ${priv.status}`);
      assert.match(priv.headers.get('location'), /\/auth\/login\?/);
    }
    // A login while Redis is down: the callback cannot store the session and says so.
    const b = new FetchBrowser();
    await b.navigate(`${proxy.origin}/auth/login?provider=google`);
    await signInAtProvider(b, provider, 'hopper');
    assert.equal(new URL(b.page.url).pathname, '/oauth2callback');
    assert.equal(b.page.status, 503, b.page.text.slice(0, 500));
    assert.equal(b.jar.get(proxy.origin, 'oidc_session'), undefined);
  });

  test('Redis restarted in its data directory: sessions kept, every replica recovers by itself', async () => {
    const restartedAt = performance.now();
    redis = await redis.restart();
    assert.ok(await redis.command('DBSIZE') > 0, 'the snapshot was loaded');
    const took = await Promise.all(replicas.map(async (r) => {
      for (;;) {
        const answer = await me(r.origin, grace.cookie);
        const elapsed = performance.now() - restartedAt;
        if (answer.status === 200) {
          assertUser(answer, 'grace');
          return elapsed;
        }
        // Until the replica reconnects: 503, never anonymous (that would delete the cookie).
        assert.equal(answer.status, 503, answer.text);
        assert.ok(!deletesSession(answer.headers));
        assert.ok(elapsed < 15000, `${r.origin} still answers 503 ${Math.round(elapsed)} ms after Redis restarted`);
        await sleep(50);
      }
    }));
    console.log(`recovered after Redis restarted: ${took.map((t) => `${Math.round(t)} ms`).join(', ')}`);
    assertUser(await me(proxy.origin, grace.cookie), 'grace');
  });

  test('Redis restarted empty: the old session reads as anonymous, nothing crashes, logins work', async () => {
    const fresh = tempDir('redis');
    dirs.push(fresh);
    redis = await redis.restart({ dir: fresh });
    assert.equal(await redis.command('DBSIZE'), 0);
    // A replica's local copy of the session may answer for CACHE_TTL_MS more.
    await sleep(CACHE_TTL_MS + 250);
    for (const r of replicas) {
      const deadline = performance.now() + 15000;
      for (;;) {
        const answer = await me(r.origin, grace.cookie);
        if (answer.status === 200) {
          assert.deepEqual(answer.json, { is_logged_in: false });
          assert.ok(deletesSession(answer.headers), 'the stale cookie is deleted');
          break;
        }
        assert.equal(answer.status, 503, answer.text);
        assert.ok(performance.now() < deadline, `${r.origin} still answers 503`);
        await sleep(50);
      }
      assert.equal(r.proc.exitCode, undefined, `${r.origin} exited`);
    }
    const b = new FetchBrowser();
    await logIn(b, 'lovelace');
    for (const r of replicas) assertUser(await me(r.origin, sessionCookie(b, proxy.origin)), 'lovelace');
  });

  test(`${SESSIONS} sessions across the replicas, then a load run over all of them with zero errors`, { timeout: 300000 }, async () => {
    // Real logins through the proxy. Each browser signs in at the provider once (login
    // and consent pages); after that the provider's single sign-on answers its authorize
    // request at once, so each further login is /auth/login → authorize → callback: the
    // replicas do all of their login work (sealed pending login, token request, ID token
    // verification, session and used-state records in Redis), the provider all of its.
    const sessions = [];
    const mark = proxy.served.length;
    const loginsStarted = performance.now();
    const loginCpu = cpuNow();
    let claimed = 0;
    // A user keeps at most 32 sessions (AuthLayerBuilder::max_sessions_per_user's default;
    // a login past it ends that user's oldest session), so each browser hands over to a new
    // browser and user after PER_USER logins: 10,000 sessions are those of 334 users.
    const PER_USER = 30;
    await Promise.all(Array.from({ length: LOGIN_PARALLEL }, async (_, w) => {
      let b;
      let login;
      let signedIn = false;
      let mine = 0;
      while (claimed < SESSIONS) {
        claimed += 1;
        if (mine % PER_USER === 0) {
          b = new FetchBrowser({ transport: 'http' });
          login = `user-${w}-${mine / PER_USER}`;
          signedIn = false;
        }
        mine += 1;
        b.jar.remove(proxy.origin, 'oidc_session');
        // Stop at the callback's redirect to the home page: the session cookie is set.
        await b.navigate(`${proxy.origin}/auth/login?provider=google`, {
          follow: (u) => !(u.origin === proxy.origin && u.pathname === '/'),
        });
        if (!signedIn) {
          await signInAtProvider(b, provider, login);
          signedIn = true;
        } else {
          assert.equal(new URL(b.page.url).pathname, '/oauth2callback',
            `single sign-on did not answer at once: ${b.page.url} ${b.page.status}\n${b.page.text.slice(0, 500)}`);
          assert.ok([302, 303].includes(b.page.status), `callback: ${b.page.status} ${b.page.text.slice(0, 500)}`);
        }
        sessions.push({ cookie: sessionCookie(b, proxy.origin), sub: login });
      }
    }));
    const loginSeconds = (performance.now() - loginsStarted) / 1000;
    assert.equal(sessions.length, SESSIONS);
    assert.equal(new Set(sessions.map((s) => s.cookie)).size, SESSIONS, 'every login is a session of its own');
    const finishedBy = [0, 0, 0];
    for (const h of proxy.served.slice(mark)) if (h.path === '/oauth2callback') finishedBy[h.replica] += 1;
    console.log(`${SESSIONS} logins in ${loginSeconds.toFixed(1)} s (${(SESSIONS / loginSeconds).toFixed(0)}/s, `
      + `${LOGIN_PARALLEL} browsers); callbacks per replica: ${finishedBy.join(', ')}; `
      + `CPU ms per login: ${cpuSince(loginCpu, SESSIONS)}`);
    for (const n of finishedBy) assert.ok(n > SESSIONS / 6, `callbacks per replica: ${finishedBy}`);
    // Every session is in Redis (plus one used-state marker per login).
    assert.ok(await redis.command('DBSIZE') >= SESSIONS);

    // The load run: each request through the proxy with another session's cookie, so
    // replicas mostly read sessions that another replica created.
    const loadMark = proxy.served.length;
    const errors = [];
    let nextRequest = 0;
    const loadStarted = performance.now();
    const loadCpu = cpuNow();
    await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, async () => {
      while (nextRequest < LOAD_REQUESTS) {
        const s = sessions[nextRequest % sessions.length];
        nextRequest += 1;
        try {
          const answer = await me(proxy.origin, s.cookie);
          if (answer.status !== 200 || answer.json?.is_logged_in !== true || answer.json.sub !== s.sub) {
            errors.push(`${answer.status} ${answer.text.slice(0, 200)}`);
          }
        } catch (err) {
          errors.push(String(err));
        }
      }
    }));
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const servedBy = [0, 0, 0];
    for (const h of proxy.served.slice(loadMark)) servedBy[h.replica] += 1;
    console.log(`load: ${LOAD_REQUESTS} requests over ${SESSIONS} sessions, ${LOAD_CONCURRENCY} at a time, in `
      + `${loadSeconds.toFixed(1)} s (${(LOAD_REQUESTS / loadSeconds).toFixed(0)}/s); per replica: ${servedBy.join(', ')}; `
      + `errors: ${errors.length}; CPU ms per request: ${cpuSince(loadCpu, LOAD_REQUESTS)}`);
    assert.deepEqual(errors.slice(0, 5), []);
    assert.equal(errors.length, 0);
    for (const r of replicas) assert.equal(r.proc.exitCode, undefined, `${r.origin} exited`);
  });
});
