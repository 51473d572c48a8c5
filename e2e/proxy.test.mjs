// The quickstart behind a real TLS-terminating reverse proxy: Debian's nginx with a
// self-signed certificate, in headless Chromium (playwright-core, Debian's /usr/bin/chromium).
// The app itself speaks plain http on a loopback port; its `redirect_uri` names the proxy's
// https origin, which is the only origin the browser ever sees. The provider
// (oidc-provider, OpenID Certified) runs over http on 127.0.0.2, another site.
//
// Proven here: a login through the proxy; every cookie the app sets is `Secure` (and the
// session cookie `__Host-`); `POST /auth/logout` from the page passes the CSRF check and ends
// the session; no request, redirect or page of the app's ever shows the browser an http URL
// of ours; and forwarded headers forged by a client that reaches the app directly
// (`X-Forwarded-Host: evil.example`…) change nothing the app emits.
//
// nginx runs as one process (`master_process off`, `daemon off`) with everything (pid, logs,
// temp files, the certificate) in a temporary directory, started and stopped by its PID.
// `proxy_redirect off`: the app's own Location headers reach the browser as it wrote them,
// so nothing here depends on nginx rewriting them.
//
//   node --test proxy.test.mjs     (after building the examples; see scripts/e2e.sh)

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequestRaw } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  Proc, WAIT_MS, freePort, httpRequest, randomText, secretsToml, startApp, startProvider,
  stopAll, tempDir,
} from './harness.mjs';

const PROVIDER_HOST = '127.0.0.2';
// The names the certificate is for, and so the app's public hosts.
const OUR_HOSTS = new Set(['127.0.0.1', 'localhost']);
const EVIL = 'evil.example';

const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';

/** nginx: E2E_NGINX, else on PATH, else Debian's /usr/sbin/nginx (not on every PATH). */
function nginxBinary() {
  if (process.env.E2E_NGINX) return existsSync(process.env.E2E_NGINX) ? process.env.E2E_NGINX : null;
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin']) {
    if (dir && existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  }
  return null;
}

const NGINX = nginxBinary();
if (!existsSync(CHROMIUM)) {
  // scripts/e2e.sh installs it (and fails under CI=true if it cannot).
  throw new Error(`no browser at ${CHROMIUM} (set E2E_CHROMIUM, or run scripts/e2e.sh)`);
}
if (!NGINX) {
  // Likewise: scripts/e2e.sh installs the Debian package, and fails under CI=true without it.
  throw new Error('no nginx (install the Debian package nginx, set E2E_NGINX, or run scripts/e2e.sh)');
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost (P-256, one day, not a CA) made
 * with the openssl CLI in `dir`: `{ certFile, keyFile, pem, spki }`, `spki` being the
 * base64 SHA-256 of its public key, the form Chromium's
 * `--ignore-certificate-errors-spki-list` takes.
 */
function makeCertificate(dir) {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature',
    '-addext', 'extendedKeyUsage=serverAuth',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const pem = readFileSync(certFile, 'utf8');
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return { certFile, keyFile, pem, spki: createHash('sha256').update(der).digest('base64') };
}

/**
 * nginx terminating TLS on 127.0.0.1:`port` in front of the app on 127.0.0.1:`appPort`,
 * one process in `dir`; resolves once it accepts connections, with `{ proc, origin,
 * accessLog() }`.
 */
async function startNginx({ dir, port, appPort, cert }) {
  // The log line names the scheme and what the app answered, for a failing test's output.
  const conf = `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log stderr notice;
events { worker_connections 128; }
http {
  log_format e2e '$remote_addr "$request" $status location="$upstream_http_location"';
  access_log ${dir}/access.log e2e;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    server_name 127.0.0.1 localhost;
    ssl_certificate ${cert.certFile};
    ssl_certificate_key ${cert.keyFile};
    location / {
      proxy_pass http://127.0.0.1:${appPort};
      proxy_redirect off;
      proxy_set_header Host $host:$server_port;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $host:$server_port;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const proc = new Proc(`nginx:${port}`, NGINX, ['-c', confFile, '-p', `${dir}/`, '-e', 'stderr'], {
    cwd: dir, env: { PATH: process.env.PATH },
  });
  const origin = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await httpsGet(`${origin}/me`, { ca: cert.pem });
      break;
    } catch (err) {
      if (proc.exitCode !== undefined || Date.now() > deadline) {
        throw new Error(`nginx on ${origin} does not answer: ${err}\n${proc.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    proc,
    origin,
    accessLog: () => (existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : ''),
  };
}

/** One https request trusting only `ca`, redirects not followed: `{ status, headers, text }`. */
function httpsGet(url, { ca, method = 'GET', headers = {}, body = null }) {
  return new Promise((res, rej) => {
    const req = httpsRequestRaw(url, { method, headers, ca, agent: false }, (answer) => {
      const chunks = [];
      answer.on('data', (c) => chunks.push(c));
      answer.once('error', rej);
      answer.once('end', () => res({
        status: answer.statusCode, headers: answer.headers, text: Buffer.concat(chunks).toString('utf8'),
      }));
    });
    req.setTimeout(WAIT_MS, () => req.destroy(new Error(`no answer within ${WAIT_MS} ms`)));
    req.once('error', rej);
    req.end(body ?? undefined);
  });
}

describe('quickstart behind nginx terminating TLS, in Chromium', () => {
  let dir;
  let cert;
  let provider;
  let app;
  let proxy;
  let browser;
  let publicOrigin;

  before(async () => {
    dir = tempDir('nginx');
    // The directory is the nginx process's prefix; only it reads the key.
    chmodSync(dir, 0o700);
    cert = makeCertificate(dir);
    const [appPort, proxyPort] = [await freePort(), await freePort()];
    publicOrigin = `https://127.0.0.1:${proxyPort}`;
    const callback = `${publicOrigin}/oauth2callback`;
    provider = await startProvider({
      name: 'google', host: PROVIDER_HOST, clientId: `proxy-${randomText(4)}`, clientSecret: randomText(16),
      redirectUris: [callback],
    });
    app = await startApp({
      port: appPort,
      secrets: secretsToml({
        appPort, providers: [provider], kwargs: { google: '{ prompt = "" }' }, redirectUri: callback,
      }),
    });
    proxy = await startNginx({ dir, port: proxyPort, appPort, cert });
    assert.equal(proxy.origin, publicOrigin);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-quic',
        // Our certificate, and no other, is accepted as if a CA had signed it: the pages
        // are a secure context, so Secure and __Host- cookies behave as in production.
        `--ignore-certificate-errors-spki-list=${cert.spki}`,
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE 127.0.0.2 , EXCLUDE localhost',
      ],
      timeout: WAIT_MS,
      env: { ...process.env, HOME: process.env.E2E_BROWSER_HOME ?? process.env.HOME },
    });
  });

  after(async () => {
    await browser?.close();
    await app?.stop();
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A fresh context recording every request and response: requests to other hosts than ours
   * and the provider's are aborted; `seen()` lists `{ method, url, status, location,
   * setCookies, body }` (body only for documents of our hosts).
   */
  async function newPage() {
    const context = await browser.newContext();
    const blocked = [];
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (OUR_HOSTS.has(url.hostname) || url.hostname === PROVIDER_HOST) return route.continue();
      blocked.push(url.href);
      return route.abort('blockedbyclient');
    });
    const requests = [];
    const responses = [];
    context.on('request', (r) => requests.push({ method: r.method(), url: r.url() }));
    context.on('response', (r) => {
      responses.push((async () => {
        const headers = await r.headersArray();
        const url = new URL(r.url());
        let body = null;
        const isDocument = r.request().resourceType() === 'document';
        if (isDocument && OUR_HOSTS.has(url.hostname) && r.status() < 300) {
          body = await r.text().catch(() => null);
        }
        return {
          method: r.request().method(),
          url: r.url(),
          status: r.status(),
          location: headers.find((h) => h.name.toLowerCase() === 'location')?.value ?? null,
          setCookies: headers.filter((h) => h.name.toLowerCase() === 'set-cookie').map((h) => h.value),
          body,
        };
      })());
    });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.setDefaultNavigationTimeout(WAIT_MS);
    return { context, page, blocked, requests, seen: () => Promise.all(responses) };
  }

  const ours = (url) => OUR_HOSTS.has(new URL(url).hostname);

  /**
   * Everything in a recording that shows the browser an http URL of ours (or our host on
   * another port than the proxy's: the app's own port), and every cookie we set without
   * Secure.
   */
  function leaks(requests, responses) {
    const proxyPort = new URL(publicOrigin).port;
    const wrong = (u) => ours(u.href) && (u.protocol !== 'https:' || u.port !== proxyPort);
    const problems = [];
    for (const r of requests) {
      if (wrong(new URL(r.url))) problems.push(`request ${r.method} ${r.url}`);
    }
    for (const r of responses) {
      if (r.location && wrong(new URL(r.location, r.url))) {
        problems.push(`${r.status} from ${r.method} ${r.url}: Location ${r.location}`);
      }
      for (const m of (r.body ?? '').matchAll(/http:\/\/(?:127\.0\.0\.1|localhost)[^"'<\s]*/g)) {
        problems.push(`page ${r.url} shows ${m[0]}`);
      }
      if (ours(r.url)) {
        for (const sc of r.setCookies) {
          if (!/;\s*secure\s*(;|$)/i.test(sc)) problems.push(`Set-Cookie without Secure from ${r.url}: ${sc.split('=')[0]}`);
        }
      }
    }
    return problems;
  }

  test('log in, Secure cookies, POST logout passes the CSRF check, never an http URL of ours', async () => {
    const { context, page, blocked, requests, seen } = await newPage();
    try {
      // Start on the other name of the certificate: the layer sends the login to
      // redirect_uri's host before anything else (and must say https doing so).
      await page.goto(`https://localhost:${new URL(publicOrigin).port}/`);
      await page.locator('a.login[href="/auth/login?provider=google"]').click();
      await page.waitForURL((u) => u.href.startsWith(`${provider.issuer}/interaction/`));
      await page.locator('input[name=login]').fill('ada');
      await page.locator('input[name=password]').fill('any password');
      await page.locator('button.login-submit').click();
      await page.waitForURL((u) => u.href.startsWith(`${provider.issuer}/interaction/`));
      await page.locator('form:has(input[name=prompt][value=consent]) button[type=submit]').click();

      // Back at the public https origin, logged in.
      await page.waitForURL(`${publicOrigin}/`);
      assert.equal(await page.locator('#name').textContent(), 'Ada Lovelace <ada>');
      const me = await (await page.goto(`${publicOrigin}/me`)).json();
      assert.equal(me.is_logged_in, true, JSON.stringify(me));
      assert.equal(me.sub, 'ada');
      assert.equal(me.iss, provider.issuer);

      // Cookies in the browser: all Secure, the session cookie __Host- (on /, no Domain).
      const jar = (await context.cookies()).filter((c) => OUR_HOSTS.has(c.domain));
      assert.ok(jar.length > 0, 'no cookie of ours in the browser');
      for (const c of jar) assert.equal(c.secure, true, `cookie ${c.name} is not Secure`);
      const session = jar.find((c) => c.name === '__Host-oidc_session');
      assert.ok(session, `no __Host-oidc_session cookie: ${jar.map((c) => c.name).join(', ')}`);
      assert.equal(session.path, '/');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');

      // Logout from the page: a same-origin POST through the proxy, then the provider's
      // confirmation, then back to the public origin.
      await page.goto(`${publicOrigin}/`);
      const logoutAnswer = page.waitForResponse((r) => r.request().method() === 'POST'
        && new URL(r.url()).pathname === '/auth/logout');
      await page.locator('#logout').click();
      const logout = await logoutAnswer;
      assert.notEqual(logout.status(), 403, `POST /auth/logout was refused by the CSRF check: ${await logout.text().catch(() => '')}`);
      assert.equal(logout.status(), 302, `POST /auth/logout answered ${logout.status()}`);
      await page.waitForURL((u) => u.href.startsWith(`${provider.issuer}/session/end`));
      await page.locator('button[name=logout][value=yes]').click();
      await page.waitForURL(`${publicOrigin}/`);
      await page.locator('text=You are not logged in').waitFor();
      assert.deepEqual(await (await page.goto(`${publicOrigin}/me`)).json(), { is_logged_in: false });
      assert.equal(provider.events('end_session.success').length, 1);
      assert.ok(!(await context.cookies()).some((c) => c.name === '__Host-oidc_session'),
        'the session cookie is still in the browser');
      // The session ended on the server too: its old cookie logs no one in.
      const replay = await httpsGet(`${publicOrigin}/me`, {
        ca: cert.pem, headers: { accept: 'application/json', cookie: `${session.name}=${session.value}` },
      });
      assert.deepEqual(JSON.parse(replay.text), { is_logged_in: false });

      // What the browser saw of ours: https on the proxy's port only, in every request,
      // every redirect (whoever sent it) and every page; Secure on every cookie.
      const responses = await seen();
      const problems = leaks(requests, responses);
      assert.deepEqual(problems, [], `nginx access log:\n${proxy.accessLog()}`);
      assert.ok(responses.filter((r) => r.body !== null).length >= 3, 'the pages of ours were not read');
      // The recording did see the whole flow (redirects and their cookies included), and
      // the login started on localhost was sent to redirect_uri's host, on https.
      const alias = responses.find((r) => r.url === `https://localhost:${new URL(publicOrigin).port}/auth/login?provider=google`);
      assert.equal(alias?.status, 302, JSON.stringify(alias));
      assert.equal(alias.location, `${publicOrigin}/auth/login?provider=google`);
      const hops = responses.filter((r) => ours(r.url)).map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`);
      for (const hop of ['GET /auth/login 302', 'GET /oauth2callback 302', 'POST /auth/logout 302']) {
        assert.ok(hops.includes(hop), `${hop} not recorded: ${hops.join(', ')}`);
      }
      const cookieNames = responses.filter((r) => ours(r.url)).flatMap((r) => r.setCookies).map((sc) => sc.split('=')[0]);
      assert.ok(cookieNames.includes('__Host-oidc_session'), cookieNames.join(', '));
      assert.ok(cookieNames.some((n) => n.startsWith('__Host-oidc_session_login_')), cookieNames.join(', '));
      assert.ok(cookieNames.includes('__Host-oidc_session_logout'), cookieNames.join(', '));
      assert.deepEqual(blocked, []);
    } catch (err) {
      // A leak usually shows first as a timeout (a cookie the browser refused, a page that
      // never came): say what the browser was shown.
      const found = leaks(requests, await seen());
      err.message += `\nat ${page.url()}; what the browser was shown of ours that it must not be: ${found.length ? `\n  ${found.join('\n  ')}` : 'nothing'}`
        + `\nnginx access log:\n${proxy.accessLog()}`;
      throw err;
    } finally {
      await context.close();
    }
  });

  test('the logout CSRF check through the proxy: same Origin passes, another site gets 403', async () => {
    // A browser without Sec-Fetch-Site (the Origin comparison's path): the proxy forwards
    // Host as the public host:port, the Origin is the public origin.
    const sameSite = await httpsGet(`${publicOrigin}/auth/logout`, {
      ca: cert.pem, method: 'POST', headers: { origin: publicOrigin, 'content-length': '0' },
    });
    assert.notEqual(sameSite.status, 403, sameSite.text);
    assert.ok([302, 303].includes(sameSite.status), `${sameSite.status}: ${sameSite.text}`);
    const location = new URL(sameSite.headers.location, publicOrigin);
    assert.equal(location.origin, publicOrigin, sameSite.headers.location);

    const crossSite = await httpsGet(`${publicOrigin}/auth/logout`, {
      ca: cert.pem, method: 'POST', headers: { origin: `https://${EVIL}`, 'content-length': '0' },
    });
    assert.equal(crossSite.status, 403, crossSite.text);
  });

  test('forged forwarded headers sent straight to the app change nothing it emits', async () => {
    const forged = {
      'x-forwarded-host': EVIL,
      'x-forwarded-proto': 'http',
      'x-forwarded-for': '203.0.113.7',
      forwarded: `for=203.0.113.7;host=${EVIL};proto=http`,
    };
    const html = { accept: 'text/html', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' };
    const cases = [
      ['GET', '/', html],
      ['GET', '/me', { accept: 'application/json' }],
      ['GET', '/private', html],
      ['GET', '/auth/login', html],
      ['GET', '/auth/login?provider=google', html],
      ['GET', '/auth/login?provider=google&return_to=/private', html],
      ['GET', '/auth/logout', html],
      ['GET', '/oauth2callback?code=x&state=y', html],
      ['GET', '/no-such-page', html],
      // No Sec-Fetch-Site: the Origin comparison, which must not take the forged host for ours.
      ['POST', '/auth/logout', { origin: `https://${EVIL}`, 'content-length': '0' }],
      ['POST', '/auth/logout', { origin: `http://${EVIL}`, 'content-length': '0' }],
    ];
    const problems = [];
    for (const [method, path, headers] of cases) {
      const r = await httpRequest(`${app.origin}${path}`, { method, headers: { ...headers, ...forged } });
      const emitted = [...r.headers].map(([k, v]) => `${k}: ${v}`).join('\n') + r.text;
      if (emitted.toLowerCase().includes(EVIL)) problems.push(`${method} ${path} (${r.status}) emits ${EVIL}:\n${emitted.slice(0, 600)}`);
      if (r.status >= 500) problems.push(`${method} ${path}: ${r.status}`);
      if (method === 'POST' && r.status !== 403) problems.push(`${method} ${path} with Origin ${headers.origin} passed the CSRF check (${r.status})`);
      const location = r.headers.get('location');
      if (location && /^\/auth\/login/.test(path) && path.includes('provider=')) {
        // The provider is told the configured callback, nothing else.
        const sent = new URL(location).searchParams.get('redirect_uri');
        if (sent !== `${publicOrigin}/oauth2callback`) problems.push(`${path}: redirect_uri=${sent}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
