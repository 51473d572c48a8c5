// The test provider's own options (provider.mjs), checked against the provider directly
// with fetch, so the end-to-end tests of refresh, back-channel logout, userinfo and
// private_key_jwt can rely on them: short-lived access tokens, rotated refresh tokens,
// revocation, back-channel logout to a loopback URI, userinfo about another account, a
// private_key_jwt client, the admin endpoints.
//
//   node --test provider.test.mjs     (no app needed; see scripts/e2e.sh)

import { strict as assert } from 'node:assert';
import {
  createHash, generateKeyPairSync, randomUUID, sign,
} from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import {
  FetchBrowser, fetchText, randomText, startProvider, stopAll, tempDir,
} from './harness.mjs';

const b64url = (data) => Buffer.from(data).toString('base64url');
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));
const headerOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A loopback HTTP server standing in for the app: it records every request (method, path,
 * query, content type, body) and answers `status` (200 unless told otherwise).
 */
async function startReceiver() {
  const received = [];
  const receiver = { received, status: 200 };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://127.0.0.1');
      received.push({
        method: req.method, path: url.pathname, query: url.searchParams, type: req.headers['content-type'], body,
      });
      res.writeHead(receiver.status, { 'content-type': 'text/plain' });
      res.end('received');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.origin = `http://127.0.0.1:${server.address().port}`;
  receiver.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });
  return receiver;
}

const receivers = [];
const scratch = [];
after(async () => {
  await stopAll();
  await Promise.all(receivers.map((r) => r.close()));
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** The app stand-in whose /oauth2callback ends the provider's redirects. */
const app = await startReceiver();
receivers.push(app);
const CALLBACK = `${app.origin}/oauth2callback`;

function provider(extraArgs = [], { secret = true } = {}) {
  return startProvider({
    name: 'google',
    clientId: `google-client-${randomText(4)}`,
    clientSecret: secret ? `${randomText(12)}+/:%&=` : undefined,
    redirectUris: [CALLBACK],
    extraArgs,
  });
}

/**
 * Signs `login` in at the provider's own pages (login, consent) for `scope`: the code, with
 * the PKCE verifier and the nonce it was asked with.
 */
async function authorize(p, { login = 'ada', scope = 'openid email profile', prompt } = {}) {
  const verifier = randomText(32);
  const nonce = randomText(8);
  const url = new URL(`${p.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: p.clientId,
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope,
    state: randomText(8),
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...(prompt ? { prompt } : {}),
  }).toString();
  const b = new FetchBrowser();
  await b.navigate(url.href);
  for (let i = 0; i < 5 && b.page.url.startsWith(`${p.issuer}/`); i += 1) {
    const forms = b.forms();
    const loginForm = forms.find((f) => f.fields.some((x) => x.name === 'login'));
    const consentForm = forms.find((f) => f.fields.some((x) => x.name === 'prompt' && x.value === 'consent'));
    if (loginForm) await b.submit(loginForm, { login, password: 'any password' });
    else if (consentForm) await b.submit(consentForm);
    else throw new Error(`unexpected page: ${b.page.url} (${b.page.status})\n${b.page.text.slice(0, 2000)}`);
  }
  const back = new URL(b.page.url);
  assert.equal(`${back.origin}${back.pathname}`, CALLBACK, b.page.text.slice(0, 500));
  const code = back.searchParams.get('code');
  assert.ok(code, `no code in ${back}`);
  return { code, verifier, nonce };
}

/** POST /token with client_secret_basic (or the given form fields only, with `basic: false`). */
async function token(p, form, { basic = true } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) {
    const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${enc(p.clientId)}:${enc(p.clientSecret)}`).toString('base64')}`;
  }
  const response = await fetchText(`${p.issuer}/token`, {
    method: 'POST', headers, body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, json: response.json };
}

const codeForm = ({ code, verifier }) => ({
  grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier,
});

async function userinfo(p, accessToken) {
  const response = await fetchText(`${p.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  return response.status;
}

async function admin(p, path, params) {
  const response = await fetchText(`${p.issuer}${path}?${new URLSearchParams(params)}`, { method: 'POST' });
  return { status: response.status, json: response.json };
}

describe('provider.mjs options', () => {
  test('--access-token-ttl and --id-token-ttl: tokens that expire in seconds', async () => {
    // Without --clock-tolerance 0, oidc-provider accepts its tokens 15 s past `exp`.
    const p = await provider(['--access-token-ttl', '2', '--id-token-ttl', '3', '--clock-tolerance', '0']);
    const tokens = await token(p, codeForm(await authorize(p)));
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    assert.equal(tokens.json.expires_in, 2);
    const claims = claimsOf(tokens.json.id_token);
    assert.equal(claims.exp - claims.iat, 3);
    assert.equal(await userinfo(p, tokens.json.access_token), 200);
    await sleep(2600);
    assert.equal(await userinfo(p, tokens.json.access_token), 401);
  });

  test('default: no rotation and the usual lifetimes (existing tests rely on it)', async () => {
    const p = await provider();
    const first = await token(p, codeForm(await authorize(p, { scope: 'openid offline_access', prompt: 'consent' })));
    assert.equal(first.json.expires_in, 600);
    assert.ok(first.json.refresh_token, 'offline_access brings a refresh token');
    const refreshed = await token(p, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token });
    assert.equal(refreshed.status, 200);
    assert.equal(refreshed.json.refresh_token, first.json.refresh_token, 'not rotated');
    const plain = await token(p, codeForm(await authorize(p)));
    assert.equal(plain.json.refresh_token, undefined, 'no offline_access, no refresh token');
  });

  test('--rotate-refresh-tokens: a new refresh token each time, reuse revokes the grant', async () => {
    const p = await provider(['--rotate-refresh-tokens', '--access-token-ttl', '5']);
    const login = await authorize(p, { login: 'grace', scope: 'openid email offline_access', prompt: 'consent' });
    const first = await token(p, codeForm(login));
    assert.equal(first.status, 200);
    const original = claimsOf(first.json.id_token);
    assert.equal(original.nonce, login.nonce);

    const second = await token(p, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token });
    assert.equal(second.status, 200, JSON.stringify(second.json));
    assert.equal(second.json.expires_in, 5);
    assert.ok(second.json.refresh_token && second.json.refresh_token !== first.json.refresh_token);
    const refreshed = claimsOf(second.json.id_token);
    for (const claim of ['iss', 'sub', 'aud']) assert.deepEqual(refreshed[claim], original[claim], claim);
    // oidc-provider repeats the original nonce in refreshed ID tokens, which OpenID Connect
    // Core 12.2 (errata set 2) allows: a relying party must accept it.
    assert.equal(refreshed.nonce, login.nonce);
    assert.ok(p.events('grant.success').some((e) => e.grant_type === 'refresh_token'));

    const third = await token(p, { grant_type: 'refresh_token', refresh_token: second.json.refresh_token });
    assert.equal(third.status, 200);
    const reused = await token(p, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token });
    assert.equal(reused.status, 400);
    assert.equal(reused.json.error, 'invalid_grant');
    const after = await token(p, { grant_type: 'refresh_token', refresh_token: third.json.refresh_token });
    assert.equal(after.json.error, 'invalid_grant', 'the whole grant is revoked');
  });

  test('POST /__test/revoke ends every grant of a user', async () => {
    const p = await provider(['--rotate-refresh-tokens']);
    const ada = await token(p, codeForm(await authorize(p, { login: 'ada', scope: 'openid offline_access', prompt: 'consent' })));
    const bob = await token(p, codeForm(await authorize(p, { login: 'bob', scope: 'openid offline_access', prompt: 'consent' })));
    const revoked = await admin(p, '/__test/revoke', { sub: 'ada' });
    assert.equal(revoked.status, 200);
    assert.deepEqual(revoked.json, { sub: 'ada', grants: 1 });
    assert.deepEqual(p.events('test.revoke'), [{ sub: 'ada', grants: 1 }]);
    const refused = await token(p, { grant_type: 'refresh_token', refresh_token: ada.json.refresh_token });
    assert.equal(refused.json.error, 'invalid_grant');
    assert.equal(await userinfo(p, ada.json.access_token), 401);
    const fine = await token(p, { grant_type: 'refresh_token', refresh_token: bob.json.refresh_token });
    assert.equal(fine.status, 200);

    assert.equal((await admin(p, '/__test/revoke', {})).status, 400);
    assert.equal((await admin(p, '/__test/nothing', { sub: 'x' })).status, 404);
    const get = await fetchText(`${p.issuer}/__test/revoke?sub=ada`);
    assert.equal(get.status, 405);
  });

  test('--userinfo-other-subject: userinfo answers about another account than the ID token', async () => {
    const claimsAtUserinfo = async (p, accessToken) => {
      const response = await fetchText(`${p.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      assert.equal(response.status, 200);
      return response.json;
    };
    const broken = await provider(['--userinfo-other-subject']);
    const tokens = await token(broken, codeForm(await authorize(broken, { login: 'ada' })));
    assert.equal(claimsOf(tokens.json.id_token).sub, 'ada');
    const info = await claimsAtUserinfo(broken, tokens.json.access_token);
    assert.equal(info.sub, 'ada-other');
    assert.equal(info.email, 'ada-other@example.com');
    // Off by default: userinfo is about the one who signed in.
    const p = await provider();
    const fine = await token(p, codeForm(await authorize(p, { login: 'ada' })));
    assert.equal((await claimsAtUserinfo(p, fine.json.access_token)).sub, 'ada');
  });

  test('--backchannel-logout-uri: logout tokens reach a loopback URI, sid in ID tokens', async () => {
    const rp = await startReceiver();
    receivers.push(rp);
    const p = await provider(['--backchannel-logout-uri', `${rp.origin}/auth/backchannel-logout`]);
    const discovery = (await fetchText(`${p.issuer}/.well-known/openid-configuration`)).json;
    assert.equal(discovery.backchannel_logout_supported, true);
    assert.equal(discovery.backchannel_logout_session_supported, true);

    const tokens = await token(p, codeForm(await authorize(p, { login: 'ada' })));
    const { sid } = claimsOf(tokens.json.id_token);
    assert.ok(sid, 'the ID token carries sid');
    const saved = p.events('authorization_code.saved').at(-1);
    assert.equal(saved.sid, sid);
    assert.equal(saved.sub, 'ada');

    const sent = await admin(p, '/__test/backchannel', { sub: 'ada', sid });
    assert.equal(sent.status, 200, JSON.stringify(sent.json));
    assert.deepEqual(sent.json, { ok: true, status: 200, error: null });
    const request = rp.received.at(-1);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/auth/backchannel-logout');
    assert.equal(request.type, 'application/x-www-form-urlencoded');
    const logoutToken = new URLSearchParams(request.body).get('logout_token');
    assert.equal(headerOf(logoutToken).typ, 'logout+jwt');
    const claims = claimsOf(logoutToken);
    assert.equal(claims.iss, p.issuer);
    assert.equal(claims.aud, p.clientId);
    assert.equal(claims.sub, 'ada');
    assert.equal(claims.sid, sid);
    assert.ok(claims.jti && claims.iat);
    assert.deepEqual(claims.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
    assert.equal(claims.nonce, undefined);
    assert.deepEqual(p.events('test.backchannel').at(-1), { sub: 'ada', sid, ok: true, status: 200, error: null });

    // By sub only; and an app that refuses is reported, not hidden.
    await admin(p, '/__test/backchannel', { sub: 'ada' });
    const bySub = claimsOf(new URLSearchParams(rp.received.at(-1).body).get('logout_token'));
    assert.equal(bySub.sub, 'ada');
    assert.equal(bySub.sid, undefined);
    rp.status = 400;
    const refused = await admin(p, '/__test/backchannel', { sub: 'ada', sid });
    assert.equal(refused.status, 502);
    assert.equal(refused.json.ok, false);
    assert.equal(refused.json.status, 400);
  });

  test('without --backchannel-logout-uri there is no back-channel logout', async () => {
    const p = await provider();
    const discovery = (await fetchText(`${p.issuer}/.well-known/openid-configuration`)).json;
    assert.equal(discovery.backchannel_logout_supported, undefined);
    const sent = await admin(p, '/__test/backchannel', { sub: 'ada' });
    assert.equal(sent.status, 502);
    assert.match(sent.json.error, /no backchannel_logout_uri/);
  });

  test('--client-jwks: a private_key_jwt client (ES256 from a file, RS256 inline)', async () => {
    const dir = tempDir('jwks');
    scratch.push(dir);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecKid = `ec-${randomUUID()}`;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaKid = `rsa-${randomUUID()}`;
    const file = join(dir, 'client-jwks.json');
    writeFileSync(file, JSON.stringify({
      keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: ecKid, alg: 'ES256', use: 'sig' }],
    }));
    const inline = JSON.stringify({
      keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: rsaKid, alg: 'RS256', use: 'sig' }],
    });

    const assertion = (p, { key, kid, alg, aud = `${p.issuer}/token` }) => {
      const now = Math.floor(Date.now() / 1000);
      const input = `${b64url(JSON.stringify({ alg, kid, typ: 'JWT' }))}.${b64url(JSON.stringify({
        iss: p.clientId, sub: p.clientId, aud, jti: randomUUID(), iat: now, exp: now + 300,
      }))}`;
      const signature = alg === 'ES256'
        ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', Buffer.from(input), key);
      return `${input}.${b64url(signature)}`;
    };
    const withAssertion = (p, login, jwt) => token(p, {
      ...codeForm(login),
      client_id: p.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
    }, { basic: false });

    const fromFile = await provider(['--client-jwks', `@${file}`], { secret: false });
    const discovery = (await fetchText(`${fromFile.issuer}/.well-known/openid-configuration`)).json;
    assert.ok(discovery.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
    const ok = await withAssertion(fromFile, await authorize(fromFile), assertion(fromFile, { key: ec.privateKey, kid: ecKid, alg: 'ES256' }));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.ok(ok.json.id_token);
    // Signed with a key it does not know: refused.
    const wrong = await withAssertion(fromFile, await authorize(fromFile), assertion(fromFile, { key: rsa.privateKey, kid: rsaKid, alg: 'RS256' }));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, 'invalid_client');

    const fromArg = await provider(['--client-jwks', inline], { secret: false });
    const rsaOk = await withAssertion(fromArg, await authorize(fromArg), assertion(fromArg, { key: rsa.privateKey, kid: rsaKid, alg: 'RS256', aud: fromArg.issuer }));
    assert.equal(rsaOk.status, 200, JSON.stringify(rsaOk.json));
    // A client secret is no way in for this client.
    const secretTry = await fetchText(`${fromArg.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        ...codeForm(await authorize(fromArg)), client_id: fromArg.clientId, client_secret: 'guess',
      }).toString(),
    });
    assert.equal(secretTry.status, 401);
  });
});
