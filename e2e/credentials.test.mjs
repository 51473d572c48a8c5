// Client authentication without a shared secret (issue 15): the quickstart against
// oidc-provider (OpenID Certified) registered as a private_key_jwt client (`--client-jwks`),
// with no client_secret anywhere:
//   (a) the app's own key in `client_private_key_file` (ES256 and RS256, PKCS#8 PEM);
//   (b) `client_assertion = "azure_managed_identity"`: the assertion comes from a stand-in
//       for the App Service managed identity endpoint, a node:http server here on 127.0.0.1
//       that checks `X-IDENTITY-HEADER`, the API version, the resource and the identity's
//       client id, as App Service does, and signs the assertion with a key the provider has
//       registered; the quickstart gets IDENTITY_ENDPOINT and IDENTITY_HEADER in its
//       environment, as on App Service; a wrong header fails the login with a 503;
//   (c) a key the provider does not know: no session and a page that says so.
// Keys are made here with node:crypto.
//
//   node --test credentials.test.mjs     (after building the quickstart; see scripts/e2e.sh)

import { strict as assert } from 'node:assert';
import {
  createHash, generateKeyPairSync, randomUUID, sign,
} from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import {
  FetchBrowser, freePort, randomText, signInAtProvider, startApp, startProvider, stopAll, tempDir,
} from './harness.mjs';

const b64url = (data) => Buffer.from(data).toString('base64url');
const TOKEN_EXCHANGE = 'api://AzureADTokenExchange';

const scratch = [];
const apps = [];
const servers = [];

after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
  await stopAll();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** RFC 7638 thumbprint of a public JWK: the `kid` the crate puts in its assertions. */
function thumbprint(jwk) {
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['e', 'kty', 'n'];
  const json = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',')}}`;
  return createHash('sha256').update(json).digest('base64url');
}

/**
 * A new key pair: `ec` (P-256, ES256) or `rsa` (2048, RS256). `pem` is the private key as
 * PKCS#8 (what `openssl genpkey` writes), `jwk` the public key as the provider registers it.
 */
function keyPair(type) {
  const pair = type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = pair.publicKey.export({ format: 'jwk' });
  return {
    privateKey: pair.privateKey,
    alg: type === 'ec' ? 'ES256' : 'RS256',
    pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    jwk: {
      ...publicJwk, kid: thumbprint(publicJwk), alg: type === 'ec' ? 'ES256' : 'RS256', use: 'sig',
    },
  };
}

const jwks = (...keys) => JSON.stringify({ keys: keys.map((k) => k.jwk) });

/** A private key file, readable by its owner only. */
function keyFile(key) {
  const dir = tempDir('client-key');
  scratch.push(dir);
  const file = join(dir, 'client-key.pem');
  writeFileSync(file, key.pem, { mode: 0o600 });
  return file;
}

/** oidc-provider with one private_key_jwt client whose keys are `keys`' public halves. */
async function provider(appPort, ...keys) {
  return startProvider({
    name: 'google',
    clientId: `keyed-client-${randomText(4)}`,
    redirectUris: [`http://127.0.0.1:${appPort}/oauth2callback`],
    extraArgs: ['--client-jwks', jwks(...keys)],
  });
}

/** secrets.toml for `p` as the app's only provider (`[auth]`), without client_secret. */
function secrets(appPort, p, credentialLines) {
  return `[auth]
redirect_uri = "http://127.0.0.1:${appPort}/oauth2callback"
cookie_secret = "${randomText(32)}"
client_id = "${p.clientId}"
server_metadata_url = "${p.issuer}/.well-known/openid-configuration"
client_kwargs = { prompt = "" }
${credentialLines.trim()}
`;
}

async function app(port, toml, env = {}) {
  const a = await startApp({ port, secrets: toml, env });
  apps.push(a);
  return a;
}

/** Logs `b` in at `a` through `p`'s own pages as `login`; the page it ends on. */
async function logIn(b, a, p, login) {
  await b.navigate(`${a.origin}/auth/login`);
  assert.ok(b.page.url.startsWith(`${p.issuer}/`), `sent to the provider: ${b.page.url} ${b.page.status}\n${b.page.text.slice(0, 2000)}`);
  await signInAtProvider(b, p, login);
  return b.page;
}

async function assertLoggedIn(b, a, p, login) {
  assert.equal(b.page.status, 200, `after login: ${b.page.url} ${b.page.status}\n${b.page.text.slice(0, 2000)}`);
  assert.equal(b.page.url, `${a.origin}/`);
  const me = await b.api(`${a.origin}/me`);
  assert.equal(me.status, 200);
  assert.equal(me.json.is_logged_in, true, JSON.stringify(me.json));
  assert.equal(me.json.iss, p.issuer);
  assert.equal(me.json.sub, login);
  assert.equal(me.json.email, `${login}@example.com`);
}

/** The login ended on an error page of `a` with `status`: no session. */
async function assertNoSession(b, a, status) {
  assert.equal(b.page.status, status, `${b.page.url}\n${b.page.text.slice(0, 2000)}`);
  assert.equal(new URL(b.page.url).pathname, '/oauth2callback');
  assert.match(b.page.headers.get('content-type') ?? '', /text\/html/);
  assert.ok(!(b.jar.headerFor(new URL(a.origin)) ?? '').includes('oidc_session='), 'no session cookie');
  const me = await b.api(`${a.origin}/me`);
  assert.equal(me.json.is_logged_in, false, JSON.stringify(me.json));
}

/** The provider's record of the token requests' client authentication, when it logs one. */
const tokenCalls = (p) => p.requests().filter((r) => r.includes('/token'));

/**
 * A stand-in for the App Service managed identity endpoint (IDENTITY_ENDPOINT) on
 * 127.0.0.1: `GET /msi/token?api-version=2019-08-01&resource=api://AzureADTokenExchange
 * &client_id=…` with `X-IDENTITY-HEADER` answers `{ access_token, expires_on, … }`, the
 * token being a client assertion for `p`'s client (iss = sub = client id, aud = the token
 * endpoint, jti, exp) signed with `key`, which `p` has registered. Anything else: 400.
 */
async function identityEndpoint({ header, clientId, key, p }) {
  const endpoint = { calls: [], refused: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const q = url.searchParams;
    endpoint.calls.push({ path: url.pathname, query: Object.fromEntries(q), header: req.headers['x-identity-header'] });
    const refuse = (message) => {
      endpoint.refused += 1;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ statusCode: 400, message }));
    };
    if (url.pathname !== '/msi/token') return refuse('no such path');
    if (req.headers['x-identity-header'] !== header) return refuse('Unable to validate the request header');
    if (q.get('api-version') !== '2019-08-01') return refuse('unsupported api-version');
    if (q.get('resource') !== TOKEN_EXCHANGE) return refuse('this stand-in serves token exchange only');
    if (q.get('client_id') !== clientId) return refuse('no such identity is assigned');
    const now = Math.floor(Date.now() / 1000);
    const exp = now + 300;
    const input = `${b64url(JSON.stringify({ alg: key.alg, kid: key.jwk.kid, typ: 'JWT' }))}.${b64url(JSON.stringify({
      iss: p.clientId, sub: p.clientId, aud: `${p.issuer}/token`, jti: randomUUID(), iat: now, nbf: now, exp,
    }))}`;
    const signature = key.alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), key.privateKey);
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({
      access_token: `${input}.${b64url(signature)}`,
      expires_on: String(exp),
      resource: TOKEN_EXCHANGE,
      token_type: 'Bearer',
      client_id: clientId,
    }));
  });
  servers.push(server);
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  endpoint.url = `http://127.0.0.1:${server.address().port}/msi/token`;
  return endpoint;
}

describe('client authentication without a secret', () => {
  for (const type of ['ec', 'rsa']) {
    test(`(a) private_key_jwt: the app's ${type === 'ec' ? 'ES256' : 'RS256'} key in client_private_key_file`, async () => {
      const port = await freePort();
      const key = keyPair(type);
      const p = await provider(port, key);
      const a = await app(port, secrets(port, p, `client_private_key_file = "${keyFile(key)}"`));
      const b = new FetchBrowser();
      await logIn(b, a, p, `keyed-${type}`);
      await assertLoggedIn(b, a, p, `keyed-${type}`);
      assert.ok(!a.proc.lines.join('\n').includes('BEGIN PRIVATE KEY'), 'the key is never printed');
    });
  }

  test('(b) azure_managed_identity: the assertion from a stand-in identity endpoint', async () => {
    const port = await freePort();
    const key = keyPair('rsa');
    const p = await provider(port, key);
    const header = randomText(16);
    const identityClientId = randomUUID();
    const endpoint = await identityEndpoint({
      header, clientId: identityClientId, key, p,
    });
    const a = await app(port, secrets(port, p, `client_assertion = "azure_managed_identity"
managed_identity_client_id = "${identityClientId}"`), {
      IDENTITY_ENDPOINT: endpoint.url,
      IDENTITY_HEADER: header,
    });
    assert.equal(endpoint.calls.length, 0, 'nothing is fetched before a login');
    const b = new FetchBrowser();
    await logIn(b, a, p, 'managed');
    await assertLoggedIn(b, a, p, 'managed');
    assert.equal(endpoint.calls.length, 1, JSON.stringify(endpoint.calls));
    assert.equal(endpoint.refused, 0, JSON.stringify(endpoint.calls));
    assert.deepEqual(endpoint.calls[0].query, {
      'api-version': '2019-08-01', resource: TOKEN_EXCHANGE, client_id: identityClientId,
    });
    assert.ok(!a.proc.lines.join('\n').includes(header), 'IDENTITY_HEADER is never printed');
  });

  test('(b) azure_managed_identity: a header the endpoint refuses is a 503, no session', async () => {
    const port = await freePort();
    const key = keyPair('ec');
    const p = await provider(port, key);
    const identityClientId = randomUUID();
    const endpoint = await identityEndpoint({
      header: randomText(16), clientId: identityClientId, key, p,
    });
    const wrongHeader = randomText(16);
    const a = await app(port, secrets(port, p, `client_assertion = "azure_managed_identity"
managed_identity_client_id = "${identityClientId}"`), {
      IDENTITY_ENDPOINT: endpoint.url,
      IDENTITY_HEADER: wrongHeader,
    });
    const b = new FetchBrowser();
    await logIn(b, a, p, 'refused');
    await assertNoSession(b, a, 503);
    assert.match(b.page.text, /managed identity did not give it a credential/);
    assert.ok(!b.page.text.includes('127.0.0.1'), 'no internal address on the page');
    assert.equal(endpoint.refused, 1);
    assert.equal(tokenCalls(p).length, 0, 'no token request without a credential');
    const failed = a.proc.lines.filter((l) => l.includes('login failed'));
    assert.equal(failed.length, 1, a.proc.tail());
    assert.match(failed[0], /managed identity endpoint/);
    assert.ok(!a.proc.lines.join('\n').includes(wrongHeader), 'IDENTITY_HEADER is never printed');
  });

  test('(c) a key the provider does not know: no session, a clear page', async () => {
    const port = await freePort();
    const registered = keyPair('ec');
    const other = keyPair('ec');
    const p = await provider(port, registered);
    const a = await app(port, secrets(port, p, `client_private_key_file = "${keyFile(other)}"`));
    const b = new FetchBrowser();
    await logIn(b, a, p, 'stranger');
    await assertNoSession(b, a, 400);
    assert.match(b.page.text, /invalid_client/);
    assert.match(b.page.text, /does not accept this app&#x27;s client credential/);
    const failed = a.proc.lines.filter((l) => l.includes('login failed'));
    assert.equal(failed.length, 1, a.proc.tail());
    assert.match(failed[0], /invalid_client/);
  });
});
