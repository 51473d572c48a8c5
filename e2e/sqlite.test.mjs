// The quickstart with its sessions in a SQLite file (`session_store = "sqlite://…"`, a
// path relative to its working directory) against the OpenID Certified oidc-provider: a
// login survives a restart of the process, a logout too, and the file (with SQLite's own
// -wal and -shm files beside it) is readable by its owner only, even under umask 000.
//
//   node --test sqlite.test.mjs     (after building the examples; see scripts/e2e.sh)

import { strict as assert } from 'node:assert';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  FetchBrowser, fetchText, freePort, randomText, secretsToml, signInAtProvider, startApp, startProvider, stopAll,
} from './harness.mjs';

const STORE_PATH = '.streamlit/sessions.db';

describe('quickstart with session_store = "sqlite://.streamlit/sessions.db"', () => {
  let app;
  let provider;

  before(async () => {
    const port = await freePort();
    provider = await startProvider({
      name: 'google',
      clientId: `sqlite-${randomText(4)}`,
      clientSecret: randomText(16),
      redirectUris: [`http://127.0.0.1:${port}/oauth2callback`],
    });
    const secrets = secretsToml({
      appPort: port,
      providers: [provider],
      kwargs: { google: '{ prompt = "" }' },
      sessionStore: `sqlite://${STORE_PATH}`,
    });
    // The app creates the file itself: with umask 000 any mode it did not choose would show.
    const umask = process.umask(0);
    try {
      app = await startApp({ port, secrets });
    } finally {
      process.umask(umask);
    }
  });

  after(async () => {
    await app?.stop();
    await stopAll();
  });

  /** The permission bits of the sessions file and of SQLite's files beside it. */
  function modes() {
    const out = {};
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      const file = join(app.cwd, `${STORE_PATH}${suffix}`);
      if (existsSync(file)) out[`sessions.db${suffix}`] = (statSync(file).mode & 0o777).toString(8);
    }
    return out;
  }

  const me = async (b) => (await b.api(`${app.origin}/me`)).json;

  test('the sessions file is created in the working directory, mode 0600, and no in-memory warning', () => {
    assert.deepEqual(modes(), { 'sessions.db': '600' });
    assert.ok(!app.proc.lines.some((l) => /sessions are kept in memory/.test(l)), app.proc.tail());
  });

  let b;

  test('a login survives a restart of the process', async () => {
    b = new FetchBrowser();
    await b.navigate(`${app.origin}/auth/login?provider=google`);
    await signInAtProvider(b, provider, 'ada');
    assert.equal(b.page.url, `${app.origin}/`);
    assert.equal((await me(b)).sub, 'ada');
    const pid = app.proc.pid;
    await app.restart();
    assert.notEqual(app.proc.pid, pid);
    const user = await me(b);
    assert.equal(user.is_logged_in, true, JSON.stringify(user));
    assert.equal(user.sub, 'ada');
    assert.equal(user.iss, provider.issuer);
    await b.navigate(`${app.origin}/private`);
    assert.equal(b.page.status, 200);
    assert.match(b.page.text, /Only logged-in users see this, Ada Lovelace &lt;ada&gt;\./);
  });

  test('the file and SQLite\'s files beside it are mode 0600 once sessions are written', () => {
    const m = modes();
    assert.ok(Object.keys(m).length >= 1, JSON.stringify(m));
    for (const [file, mode] of Object.entries(m)) assert.equal(mode, '600', `${file}: ${mode}`);
  });

  test('a logout survives a restart too', async () => {
    const cookie = b.jar.get(app.origin, 'oidc_session').value;
    await b.navigate(`${app.origin}/`);
    const form = b.forms().find((f) => f.action === `${app.origin}/auth/logout`);
    assert.ok(form, b.page.text);
    await b.submit(form);
    assert.deepEqual(await me(b), { is_logged_in: false });
    await app.restart();
    // The old cookie, sent again after the restart, no longer logs anyone in.
    const r = await fetchText(`${app.origin}/me`, { headers: { accept: 'application/json', cookie: `oidc_session=${cookie}` } });
    assert.deepEqual(r.json, { is_logged_in: false });
  });
});
