#!/usr/bin/env node
// A real, OpenID Certified provider (panva's oidc-provider) on a loopback port, standing in
// for Google or Microsoft in the end-to-end tests.
//
//   node provider.mjs --name google --port 0 --client-id ID --client-secret SECRET \
//        --redirect-uri http://127.0.0.1:8501/oauth2callback [--redirect-uri ...]
//
// Every option can also come from the environment: PROVIDER_NAME, PROVIDER_PORT,
// CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (space separated), and for the options below
// ACCESS_TOKEN_TTL, ID_TOKEN_TTL, REFRESH_TOKEN_TTL, CLOCK_TOLERANCE, ROTATE_REFRESH_TOKENS (1),
// BACKCHANNEL_LOGOUT_URI, CLIENT_JWKS, USERINFO_OTHER_SUBJECT (1).
//
// --name google     one client with token_endpoint_auth_method client_secret_basic
// --name microsoft  one client with token_endpoint_auth_method client_secret_post
//
// Options for session-lifetime and secret-less tests (all off by default, so the defaults
// below hold unless a test asks):
// --access-token-ttl S      access tokens live S seconds (default 600); --id-token-ttl S
//                           and --refresh-token-ttl S likewise (600 and 3600)
// --clock-tolerance S       how long past `exp` oidc-provider still accepts its own tokens
//                           (its default: 15); 0 makes an expired access token fail at
//                           userinfo at once
// --rotate-refresh-tokens   every refresh answers a new refresh token and retires the old
//                           one; reusing a retired one revokes the grant (oidc-provider's
//                           rotateRefreshToken = true). Refresh tokens are issued when the
//                           scope has offline_access (which oidc-provider grants only with
//                           prompt=consent).
// --backchannel-logout-uri URI
//                           registers the client's backchannel_logout_uri (with
//                           backchannel_logout_session_required, so ID tokens carry sid) and
//                           enables back-channel logout; loopback URIs only
// --client-jwks JSON|@FILE  the client authenticates with private_key_jwt against this public
//                           JWK Set (inline JSON, or @path to a file) instead of a secret
// --userinfo-other-subject  a broken provider: userinfo answers about another account
//                           (sub `<login>-other`, and that account's claims) while ID tokens
//                           name the one who signed in (findAccount, oidc-provider's own
//                           account hook, returns the other account for access tokens)
//
// Test-only admin endpoints, answered only to loopback callers, each printing an EVENT:
//   POST /__test/revoke?sub=SUB            ends every grant of SUB (its access and refresh
//                                          tokens): `EVENT test.revoke {"sub","grants"}`
//   POST /__test/backchannel?sub=SUB[&sid=SID]
//                                          sends the client a logout token for SUB (and
//                                          SID): `EVENT test.backchannel {"sub","sid","ok",
//                                          "status"}`; answers JSON {ok, status, error}
// Each authorization code issued prints `EVENT authorization_code.saved {"client_id","sub",
// "sid","grant_id"}` so a test knows the session id of a login.
//
// The issuer is exactly http://HOST:PORT (--host, default 127.0.0.1; any 127.x.y.z). Signing key: a fresh RSA key (RS256) with a
// fresh kid at every start, so restarting the process on the same port is a key rotation.
// Login and consent are oidc-provider's own development pages (devInteractions): any
// login id and any password sign in; the account's claims are
//   sub = <login>, name = "Ada Lovelace <login>", email = <login>@example.com.
// RP-initiated logout is on (its page asks for confirmation).
// Outgoing requests (back-channel logout) go to loopback addresses only: this test provider
// replaces oidc-provider's fetch (whose SSRF guard refuses loopback) with one that refuses
// everything else.
//
// On stdout: one `READY {json}` line once listening ({name, issuer, port, kid}), then one
// line per request (`REQ METHOD /path`) and per interesting event (`EVENT name {json}`), so
// the tests can see what the relying party did. SIGTERM/SIGINT stop it.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    name: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'access-token-ttl': { type: 'string' },
    'id-token-ttl': { type: 'string' },
    'refresh-token-ttl': { type: 'string' },
    'clock-tolerance': { type: 'string' },
    'rotate-refresh-tokens': { type: 'boolean' },
    'backchannel-logout-uri': { type: 'string' },
    'client-jwks': { type: 'string' },
    'userinfo-other-subject': { type: 'boolean' },
  },
});

const name = args.name ?? process.env.PROVIDER_NAME ?? 'google';
const port = Number(args.port ?? process.env.PROVIDER_PORT ?? 0);
// Another loopback address (127.0.0.2) makes the provider another *site* than the app on
// 127.0.0.1, so the redirects between them are cross-site, as with a real provider.
const host = args.host ?? process.env.PROVIDER_HOST ?? '127.0.0.1';
if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) fail(`host ${host} is not a loopback address`);
const clientId = args['client-id'] ?? process.env.CLIENT_ID ?? `${name}-client`;
const clientSecret = args['client-secret'] ?? process.env.CLIENT_SECRET;
const redirectUris = args['redirect-uri']
  ?? (process.env.REDIRECT_URIS ?? '').split(/\s+/).filter(Boolean);

const seconds = (option, env, fallback, min = 1) => {
  const text = args[option] ?? process.env[env];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) fail(`--${option} must be a whole number of seconds >= ${min}, not ${JSON.stringify(text)}`);
  return value;
};
const accessTokenTtl = seconds('access-token-ttl', 'ACCESS_TOKEN_TTL', 600);
const idTokenTtl = seconds('id-token-ttl', 'ID_TOKEN_TTL', 600);
const refreshTokenTtl = seconds('refresh-token-ttl', 'REFRESH_TOKEN_TTL', 3600);
const clockTolerance = seconds('clock-tolerance', 'CLOCK_TOLERANCE', 15, 0);
const rotateRefreshTokens = args['rotate-refresh-tokens'] ?? process.env.ROTATE_REFRESH_TOKENS === '1';
const backchannelLogoutUri = args['backchannel-logout-uri'] ?? process.env.BACKCHANNEL_LOGOUT_URI;
const clientJwksText = args['client-jwks'] ?? process.env.CLIENT_JWKS;
const userinfoOtherSubject = args['userinfo-other-subject'] ?? process.env.USERINFO_OTHER_SUBJECT === '1';

const AUTH_METHODS = { google: 'client_secret_basic', microsoft: 'client_secret_post' };
if (!AUTH_METHODS[name]) fail(`unknown provider name ${JSON.stringify(name)}: use google or microsoft`);
const clientJwks = clientJwksText === undefined ? undefined : readJwks(clientJwksText);
const authMethod = clientJwks ? 'private_key_jwt' : AUTH_METHODS[name];
if (!clientSecret && !clientJwks) fail('a client secret is required (--client-secret or CLIENT_SECRET), or --client-jwks');
if (redirectUris.length === 0) fail('at least one --redirect-uri (or REDIRECT_URIS) is required');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad port ${port}`);
if (backchannelLogoutUri !== undefined && !isLoopbackUrl(backchannelLogoutUri)) {
  fail(`--backchannel-logout-uri ${backchannelLogoutUri} is not an http(s) URL on a loopback address`);
}

/** A public JWK Set from inline JSON or `@path`. */
function readJwks(text) {
  let json = text;
  if (text.startsWith('@')) {
    try {
      json = readFileSync(text.slice(1), 'utf8');
    } catch (err) {
      fail(`cannot read --client-jwks file ${text.slice(1)}: ${err.message}`);
    }
  }
  let jwks;
  try {
    jwks = JSON.parse(json);
  } catch (err) {
    fail(`--client-jwks is not JSON: ${err.message}`);
  }
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) fail('--client-jwks must be a JWK Set: {"keys": [...]}');
  if (jwks.keys.some((k) => k.d !== undefined)) fail('--client-jwks must hold public keys only');
  return jwks;
}

/** 127.0.0.0/8, [::1] or localhost. */
function isLoopbackHost(hostname) {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (host.startsWith('::ffff:')) return isLoopbackHost(host.slice(7));
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function isLoopbackUrl(text) {
  try {
    const url = new URL(text);
    return ['http:', 'https:'].includes(url.protocol) && isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

function log(line) {
  process.stdout.write(`${line}\n`);
}

// A new signing key at every start: the rotation test restarts this process.
const kid = `${name}-${randomUUID()}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

function account(accountId) {
  return {
    accountId,
    async claims(_use, _scope) {
      return {
        sub: accountId,
        name: `Ada Lovelace <${accountId}>`,
        given_name: 'Ada',
        family_name: 'Lovelace',
        email: `${accountId}@example.com`,
        email_verified: true,
      };
    },
  };
}

// Bind first (port 0 picks a free one), so the issuer can carry the real port.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, host, resolve);
});
const actualPort = server.address().port;
const issuer = `http://${host}:${actualPort}`;

const client = {
  client_id: clientId,
  client_name: `tower-oidc-login e2e (${name})`,
  redirect_uris: redirectUris,
  post_logout_redirect_uris: redirectUris,
  response_types: ['code'],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: authMethod,
  id_token_signed_response_alg: 'RS256',
};
if (clientJwks) client.jwks = clientJwks;
else client.client_secret = clientSecret;
if (backchannelLogoutUri) {
  client.backchannel_logout_uri = backchannelLogoutUri;
  client.backchannel_logout_session_required = true;
}

// oidc-provider's own fetch refuses special-use addresses (loopback included) through an
// undici dispatcher it passes in `options.dispatcher`. Everything here is on loopback, so
// this test provider drops that dispatcher and refuses every other address instead.
async function loopbackFetch(url, options) {
  const target = new URL(url);
  if (!isLoopbackHost(target.hostname)) {
    throw new Error(`this test provider only calls loopback addresses, not ${target.hostname}`);
  }
  const { dispatcher: _ssrfGuard, ...rest } = options;
  return globalThis.fetch(target, rest);
}

const provider = new Provider(issuer, {
  clients: [client],
  fetch: loopbackFetch,
  jwks: { keys: [signingKey] },
  // `token` is the access token when userinfo asks (the code or refresh token at the token
  // endpoint, nothing for the login pages).
  findAccount: async (_ctx, sub, token) => account(
    userinfoOtherSubject && token?.kind === 'AccessToken' ? `${sub}-other` : sub,
  ),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // The relying party reads ID token claims only (like Streamlit): put the scopes' claims in
  // the ID token even though an access token for userinfo is issued too.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  clockTolerance,
  // Refresh tokens for offline_access (oidc-provider's default rule, spelled out).
  issueRefreshToken: async (_ctx, forClient, code) => forClient.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
  // With --rotate-refresh-tokens every refresh rotates; otherwise oidc-provider's default
  // (rotate late in a confidential client's token lifetime).
  ...(rotateRefreshTokens ? { rotateRefreshToken: true } : {}),
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    claimsParameter: { enabled: true },
    backchannelLogout: { enabled: Boolean(backchannelLogoutUri) },
  },
  // Both providers share the host 127.0.0.1 with the app (cookies ignore ports): give this
  // one cookie names of its own, as a provider on its own host would effectively have.
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    names: {
      session: `_${name}_session`,
      interaction: `_${name}_interaction`,
      resume: `_${name}_interaction_resume`,
    },
  },
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: idTokenTtl,
    Interaction: 600,
    Session: 3600,
    Grant: Math.max(3600, refreshTokenTtl),
    RefreshToken: refreshTokenTtl,
  },
  renderError: async (ctx, out, _error) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>oops</title></head>`
      + `<body><h1>oops! something went wrong</h1><pre id="error">${JSON.stringify(out)}</pre></body></html>`;
  },
});

// Everything stays on 127.0.0.1: drop the web font that oidc-provider's built-in pages
// @import from the internet, so a browser rendering them makes no outside request.
provider.use(async (ctx, next) => {
  log(`REQ ${ctx.method} ${ctx.path}`);
  await next();
  if (typeof ctx.body === 'string' && ctx.body.includes('@import url(https://')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/[^)]*\);?/g, '');
  }
});

const summary = (ctx) => {
  const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
  return {
    client_id: ctx.oidc?.client?.clientId,
    grant_type: ctx.oidc?.params?.grant_type,
    tokens: Object.keys(body).filter((k) => k.endsWith('_token')).sort(),
    scope: body.scope,
  };
};
provider.on('grant.success', (ctx) => log(`EVENT grant.success ${JSON.stringify(summary(ctx))}`));
provider.on('end_session.success', (ctx) => log(
  `EVENT end_session.success ${JSON.stringify({ client_id: ctx.oidc?.client?.clientId })}`,
));
for (const event of ['authorization.error', 'grant.error', 'end_session.error', 'server_error',
  'userinfo.error', 'jwks.error', 'discovery.error']) {
  provider.on(event, (ctx, err) => log(`EVENT ${event} ${JSON.stringify({
    error: err?.error ?? err?.name, description: err?.error_description ?? err?.message,
  })}`));
}

// The grants of each account, for /__test/revoke.
const grantsOf = new Map();
provider.on('grant.saved', (grant) => {
  if (!grantsOf.has(grant.accountId)) grantsOf.set(grant.accountId, new Set());
  grantsOf.get(grant.accountId).add(grant.jti);
});
provider.on('authorization_code.saved', (code) => log(`EVENT authorization_code.saved ${JSON.stringify({
  client_id: code.clientId, sub: code.accountId, sid: code.sid, grant_id: code.grantId,
})}`));
provider.on('backchannel.success', (_ctx, forClient, sub, sid) => log(
  `EVENT backchannel.success ${JSON.stringify({ client_id: forClient.clientId, sub, sid })}`,
));
provider.on('backchannel.error', (_ctx, err, forClient, sub, sid) => log(
  `EVENT backchannel.error ${JSON.stringify({ client_id: forClient.clientId, sub, sid, error: err?.message })}`,
));

/** Ends every grant of `sub`: its access tokens, refresh tokens and codes. */
async function revokeGrants(sub) {
  const grants = [...(grantsOf.get(sub) ?? [])];
  grantsOf.delete(sub);
  await Promise.all(grants.map((grantId) => Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.AuthorizationCode.revokeByGrantId(grantId),
    provider.Grant.adapter.destroy(grantId),
  ])));
  return grants.length;
}

/** Sends the client a logout token for `sub` (and `sid`); the RP's status when it refused. */
async function backchannelLogout(sub, sid) {
  const found = await provider.Client.find(clientId);
  if (!found?.backchannelLogoutUri) return { ok: false, status: null, error: 'no backchannel_logout_uri is registered (--backchannel-logout-uri)' };
  try {
    await found.backchannelLogout(sub, sid);
    return { ok: true, status: 200, error: null };
  } catch (err) {
    return { ok: false, status: err.response?.status ?? null, error: err.message };
  }
}

/** `/__test/…`: test-only admin endpoints for loopback callers. */
async function admin(req, res) {
  const answer = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (!isLoopbackHost(req.socket.remoteAddress ?? '')) {
    answer(403, { error: 'test endpoints answer loopback callers only' });
    return;
  }
  const url = new URL(req.url, issuer);
  if (req.method !== 'POST') {
    answer(405, { error: 'use POST' });
    return;
  }
  const sub = url.searchParams.get('sub');
  const sid = url.searchParams.get('sid') ?? undefined;
  if (!sub) {
    answer(400, { error: 'sub is required' });
    return;
  }
  switch (url.pathname) {
    case '/__test/revoke': {
      const grants = await revokeGrants(sub);
      log(`EVENT test.revoke ${JSON.stringify({ sub, grants })}`);
      answer(200, { sub, grants });
      return;
    }
    case '/__test/backchannel': {
      const result = await backchannelLogout(sub, sid);
      log(`EVENT test.backchannel ${JSON.stringify({ sub, sid: sid ?? null, ...result })}`);
      answer(result.ok ? 200 : 502, result);
      return;
    }
    default:
      answer(404, { error: 'unknown test endpoint' });
  }
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/__test/')) {
    log(`REQ ${req.method} ${req.url.split('?')[0]}`);
    admin(req, res).catch((err) => {
      log(`EVENT test.error ${JSON.stringify({ error: err.message })}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'test endpoint failed' }));
    });
    return;
  }
  callback(req, res);
});

log(`READY ${JSON.stringify({ name, issuer, port: actualPort, kid })}`);

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
