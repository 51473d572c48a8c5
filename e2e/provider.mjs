#!/usr/bin/env node
// A real, OpenID Certified provider (panva's oidc-provider) on a loopback port, standing in
// for Google or Microsoft in the end-to-end tests.
//
//   node provider.mjs --name google --port 0 --client-id ID --client-secret SECRET \
//        --redirect-uri http://127.0.0.1:8501/oauth2callback [--redirect-uri ...]
//
// Every option can also come from the environment: PROVIDER_NAME, PROVIDER_PORT,
// CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (space separated).
//
// --name google     one client with token_endpoint_auth_method client_secret_basic
// --name microsoft  one client with token_endpoint_auth_method client_secret_post
//
// The issuer is exactly http://HOST:PORT (--host, default 127.0.0.1; any 127.x.y.z). Signing key: a fresh RSA key (RS256) with a
// fresh kid at every start, so restarting the process on the same port is a key rotation.
// Login and consent are oidc-provider's own development pages (devInteractions): any
// login id and any password sign in; the account's claims are
//   sub = <login>, name = "Ada Lovelace <login>", email = <login>@example.com.
// RP-initiated logout is on (its page asks for confirmation).
//
// On stdout: one `READY {json}` line once listening ({name, issuer, port, kid}), then one
// line per request (`REQ METHOD /path`) and per interesting event (`EVENT name {json}`), so
// the tests can see what the relying party did. SIGTERM/SIGINT stop it.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
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

const AUTH_METHODS = { google: 'client_secret_basic', microsoft: 'client_secret_post' };
const authMethod = AUTH_METHODS[name];
if (!authMethod) fail(`unknown provider name ${JSON.stringify(name)}: use google or microsoft`);
if (!clientSecret) fail('a client secret is required (--client-secret or CLIENT_SECRET)');
if (redirectUris.length === 0) fail('at least one --redirect-uri (or REDIRECT_URIS) is required');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad port ${port}`);

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

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      client_name: `tower-oidc-login e2e (${name})`,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: authMethod,
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  findAccount: async (_ctx, sub) => account(sub),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // The relying party reads ID token claims only (like Streamlit): put the scopes' claims in
  // the ID token even though an access token for userinfo is issued too.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  // Refresh tokens for offline_access (oidc-provider's default rule, spelled out).
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    claimsParameter: { enabled: true },
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
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 3600,
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

server.on('request', provider.callback());

log(`READY ${JSON.stringify({ name, issuer, port: actualPort, kid })}`);

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
