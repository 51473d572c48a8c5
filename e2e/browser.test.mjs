// The quickstart in a real browser: headless Debian Chromium driven by playwright-core,
// against oidc-provider (OpenID Certified) and against the crate's embedded development
// provider. Nothing but loopback addresses (the app on 127.0.0.1, oidc-provider on 127.0.0.2)
// is ever contacted: host names do not resolve, and any
// request for another host fails the test.
//
//   node --test browser.test.mjs     (after building the examples; see scripts/e2e.sh)

import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  WAIT_MS, freePort, randomText, secretsToml, startApp, startProvider, stopAll,
} from './harness.mjs';

// The providers run on another loopback address: 127.0.0.2 is another site than the app's
// 127.0.0.1, so every redirect between them is a cross-site navigation and the session
// cookie's SameSite=Lax, path and flags are exercised as with a real provider.
const PROVIDER_HOST = '127.0.0.2';

const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  // Belt and braces: no host name resolves, so nothing can leave the machine.
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE 127.0.0.2',
];

if (!existsSync(CHROMIUM)) {
  // scripts/e2e.sh installs it (and fails under CI=true if it cannot).
  throw new Error(`no browser at ${CHROMIUM} (set E2E_CHROMIUM, or run scripts/e2e.sh)`);
}

let browser;
const apps = [];

before(async () => {
  // launch() gives the browser a fresh temporary --user-data-dir and removes it on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    timeout: WAIT_MS,
    env: { ...process.env, HOME: process.env.E2E_BROWSER_HOME ?? process.env.HOME },
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(apps.map((a) => a.stop()));
  await stopAll();
});

/**
 * A fresh browser context (no cookies) whose requests may only go to the app (127.0.0.1) and
 * the providers (PROVIDER_HOST, another loopback address and so another site); any other
 * request is aborted and reported by `outside()`.
 */
async function newPage() {
  const context = await browser.newContext();
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.hostname === PROVIDER_HOST) return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  return { context, page, outside: () => blocked };
}

/** Waits until the page's URL starts with `prefix`. */
async function waitForUrlPrefix(page, prefix) {
  await page.waitForURL((u) => u.href.startsWith(prefix), { waitUntil: 'load' });
}

/** Fills oidc-provider's sign-in page (any login and password) and its consent page. */
async function signInAtOidcProvider(page, provider, login) {
  await waitForUrlPrefix(page, `${provider.issuer}/interaction/`);
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button.login-submit').click();
  // The consent page (first login of this account with this client).
  await waitForUrlPrefix(page, `${provider.issuer}/interaction/`);
  await page.locator('form:has(input[name=prompt][value=consent]) button[type=submit]').click();
}

describe('quickstart in Chromium with oidc-provider', () => {
  const providers = {};
  let app;

  before(async () => {
    const port = await freePort();
    const callback = `http://127.0.0.1:${port}/oauth2callback`;
    const [google, microsoft] = await Promise.all(['google', 'microsoft'].map((name) => startProvider({
      name, host: PROVIDER_HOST, clientId: `${name}-client`, clientSecret: randomText(16), redirectUris: [callback],
    })));
    Object.assign(providers, { google, microsoft });
    app = await startApp({
      example: 'quickstart',
      port,
      secrets: secretsToml({
        appPort: port,
        providers: [google, microsoft],
        kwargs: {
          google: '{ prompt = "" }',
          microsoft: '{ token_endpoint_auth_method = "client_secret_post", prompt = "login" }',
        },
      }),
    });
    apps.push(app);
  });

  test('log in from the home page, reload, log out at the app and at the provider', async () => {
    const { context, page, outside } = await newPage();
    try {
      await page.goto(`${app.origin}/`);
      await page.locator('a.login[href="/auth/login?provider=google"]').click();
      await signInAtOidcProvider(page, providers.google, 'ada');

      // Back on the page it started from, logged in.
      await page.waitForURL(`${app.origin}/`);
      assert.equal(await page.locator('#name').textContent(), 'Ada Lovelace <ada>');
      assert.equal(await page.locator('#email').textContent(), 'ada@example.com');
      await page.reload();
      assert.equal(await page.locator('#name').textContent(), 'Ada Lovelace <ada>');
      const me = await (await page.goto(`${app.origin}/me`)).json();
      assert.equal(me.is_logged_in, true);
      assert.equal(me.iss, providers.google.issuer);
      assert.equal(me.sub, 'ada');

      await page.goto(`${app.origin}/`);
      await page.locator('#logout').click();
      // oidc-provider asks whether to sign out; say yes.
      await waitForUrlPrefix(page, `${providers.google.issuer}/session/end`);
      await page.locator('button[name=logout][value=yes]').click();
      await page.waitForURL(`${app.origin}/`);
      await page.locator('text=You are not logged in').waitFor();
      assert.equal(await page.locator('#name').count(), 0);
      assert.equal(providers.google.events('end_session.success').length, 1);

      // The provider's session is gone too: the next login asks for credentials again.
      await page.locator('a.login[href="/auth/login?provider=google"]').click();
      await waitForUrlPrefix(page, `${providers.google.issuer}/interaction/`);
      assert.equal(await page.locator('input[name=login]').count(), 1);
      assert.deepEqual(outside(), []);
    } finally {
      await context.close();
    }
  });

  test('a login-only page sends the browser through the provider list and back to it', async () => {
    const { context, page, outside } = await newPage();
    try {
      await page.goto(`${app.origin}/private`);
      // Two providers and none named: the layer lists them.
      await page.waitForURL((u) => u.pathname === '/auth/login');
      await page.locator('a', { hasText: 'microsoft' }).first().click();
      await signInAtOidcProvider(page, providers.microsoft, 'grace');
      await page.waitForURL(`${app.origin}/private`);
      await page.locator('text=Only logged-in users see this, Ada Lovelace <grace>.').waitFor();
      await page.goto(`${app.origin}/`);
      assert.equal(await page.locator('#email').textContent(), 'grace@example.com');
      assert.deepEqual(outside(), []);
    } finally {
      await context.close();
    }
  });
});

describe('quickstart in Chromium with the embedded development provider', () => {
  let app;

  before(async () => {
    // No secrets file, and HOME an empty directory: the development provider starts.
    app = await startApp({ example: 'quickstart', port: await freePort(), secrets: null });
    apps.push(app);
    await app.proc.waitForLine(/using the embedded development provider at http:\/\/127\.0\.0\.1:\d+/);
  });

  test('log in with a name and email, reload, log out', async () => {
    const { context, page, outside } = await newPage();
    try {
      await page.goto(`${app.origin}/`);
      await page.locator('a.login').first().click();
      await page.locator('#name').fill('Grace Hopper');
      await page.locator('#email').fill('grace@example.com');
      await page.locator('button[value=sign_in]').click();

      await page.waitForURL(`${app.origin}/`);
      assert.equal(await page.locator('strong#name').textContent(), 'Grace Hopper');
      assert.equal(await page.locator('#email').textContent(), 'grace@example.com');
      await page.reload();
      assert.equal(await page.locator('strong#name').textContent(), 'Grace Hopper');

      await page.locator('#logout').click();
      // Through the provider's end_session endpoint and the callback, back to the start.
      await page.locator('text=You are not logged in').waitFor();
      assert.equal(page.url(), `${app.origin}/`);
      const me = await (await page.goto(`${app.origin}/me`)).json();
      assert.deepEqual(me, { is_logged_in: false });
      assert.deepEqual(outside(), []);
    } finally {
      await context.close();
    }
  });
});
