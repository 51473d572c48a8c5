// Shared pieces of the end-to-end tests: starting, restarting and stopping the processes
// (apps, providers, redis-server; by PID), free loopback ports, the .streamlit/secrets.toml
// of an app, a round-robin reverse proxy in front of replicas, and a small "browser" made
// of fetch (or node:http) plus a cookie jar that follows redirects and submits HTML forms
// the way a browser does (cookies by host, ignoring ports; Sec-Fetch-Site and Origin on
// every request).

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync, existsSync, mkdtempSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync,
  writeSync,
} from 'node:fs';
import { Agent, createServer as createHttpServer, request as httpRequestRaw } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import {
  basename, dirname, join, resolve,
} from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = resolve(E2E_DIR, '..');
/** Where the examples were built (`cargo build --all-features --example quickstart --example hyper`). */
export const BIN_DIR = process.env.E2E_BIN_DIR
  ?? join(process.env.CARGO_TARGET_DIR ?? join(REPO_DIR, 'target'), 'debug', 'examples');
/** Seconds any single wait may take before the test fails. */
export const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 20000);

// ---------------------------------------------------------------------------------------
// Steps: what each test file did, and what it is waiting for

const STEPS_FILE = process.env.E2E_LOG_DIR ? join(process.env.E2E_LOG_DIR, 'steps.txt') : null;
const TEST_FILE = basename(process.argv[1] ?? 'node');
/** What this file is waiting for now (HTTP exchanges, lines from processes), by id. */
const pending = new Map();
let nextPending = 0;

/**
 * Appends one line to E2E_LOG_DIR/steps.txt (synchronously, so it is there even if the
 * process is killed a moment later): scripts/e2e.sh prints a failed file's last steps at the
 * end of its output. URLs are written without their query (codes, states).
 */
export function step(text) {
  if (!STEPS_FILE) return;
  appendFileSync(STEPS_FILE, `${new Date().toISOString()} ${TEST_FILE} ${text}\n`);
}

// Every 15 s, what is still awaited. Unref'd: it never keeps a finished file running. A
// stretch without these lines while something is awaited means the event loop was blocked.
if (STEPS_FILE) {
  setInterval(() => {
    if (pending.size === 0) return;
    const now = Date.now();
    for (const { what, since } of pending.values()) step(`still waiting (${now - since} ms): ${what}`);
  }, 15000).unref();
}

/** Records that this file now awaits `what` (for the 15 s report); call the result when done. */
function awaiting(what) {
  const id = nextPending;
  nextPending += 1;
  pending.set(id, { what, since: Date.now() });
  return () => pending.delete(id);
}

const withoutQuery = (url) => {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
};

/**
 * `work(signal)` with a deadline of `ms`: the signal aborts it then, and the returned promise
 * rejects then whether or not `work` listens. The timer is an ordinary (ref'd) one that this
 * holds itself, unlike AbortSignal.timeout's, which holds its signal weakly and does not keep
 * the process's event loop alive.
 */
async function withDeadline(what, ms, work) {
  const over = awaiting(what);
  const controller = new AbortController();
  let timer;
  const expired = new Promise((_, rej) => {
    timer = setTimeout(() => {
      const err = new Error(`${what}: no answer within ${ms} ms`);
      controller.abort(err);
      rej(err);
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
    over();
  }
}

/**
 * fetch with a deadline (WAIT_MS by default) that covers reading the body: `{ status, headers,
 * text, json }`.
 */
export async function fetchText(url, init = {}, ms = WAIT_MS) {
  const what = `${init.method ?? 'GET'} ${withoutQuery(url)}`;
  const started = Date.now();
  try {
    const answer = await withDeadline(what, ms, async (signal) => {
      const response = await fetch(url, { ...init, signal });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        text,
        /** The body as JSON (throws if it is not JSON, as Response.json does). */
        get json() { return JSON.parse(text); },
      };
    });
    step(`${what} -> ${answer.status} (${Date.now() - started} ms)`);
    return answer;
  } catch (err) {
    step(`${what} failed after ${Date.now() - started} ms: ${err.message}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Processes

const running = new Set();

/** Stops every process this file started that is still running (also on exit). */
export async function stopAll() {
  await Promise.all([...running].map((p) => p.stop()));
}
process.on('exit', () => {
  for (const p of running) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * A started child process: its output is kept (and echoed with E2E_VERBOSE=1) so tests can
 * wait for lines and read what it printed.
 */
export class Proc {
  constructor(label, command, args, options) {
    this.label = label;
    this.lines = [];
    this.waiters = [];
    this.child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    step(`started ${label} (pid ${this.pid})`);
    // With E2E_LOG_DIR, every line also goes to LABEL-PID.log there (scripts/e2e.sh shows
    // them when a test fails).
    if (process.env.E2E_LOG_DIR && this.pid) {
      this.logFile = join(process.env.E2E_LOG_DIR, `${label.replace(/[^\w.-]/g, '_')}-${this.pid}.log`);
      // Opened once: some tests make processes print tens of thousands of lines.
      this.logFd = openSync(this.logFile, 'w');
      writeSync(this.logFd, `$ ${command} ${args.join(' ')}\n`);
    }
    this.exited = new Promise((res) => {
      this.child.once('exit', (code, signal) => {
        step(`${label} (pid ${this.pid}) exited (${code ?? signal})`);
        running.delete(this);
        this.exitCode = code;
        this.exitSignal = signal;
        res({ code, signal });
        for (const w of this.waiters) w.check();
      });
    });
    this.child.once('error', (err) => this.lines.push(`spawn error: ${err.message}`));
    running.add(this);
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          this.addLine(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
        }
      });
    }
  }

  addLine(line) {
    // Strip ANSI colours (tracing's) so tests can match plain text.
    const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
    this.lines.push(plain);
    if (this.logFd !== undefined) writeSync(this.logFd, `${plain}\n`);
    if (process.env.E2E_VERBOSE) process.stderr.write(`[${this.label}] ${plain}\n`);
    for (const w of this.waiters) w.check();
  }

  /** Resolves with the first line (from `from` on) that matches, or fails after `ms`. */
  waitForLine(pattern, { from = 0, ms = WAIT_MS } = {}) {
    const over = awaiting(`${this.label} (pid ${this.pid}) to print ${pattern}`);
    return new Promise((res, rej) => {
      const waiter = {
        check: () => {
          const hit = this.lines.slice(from).find((l) => pattern.test(l));
          if (hit !== undefined) {
            done();
            res(hit);
          } else if (this.exitCode !== undefined || this.exitSignal !== undefined) {
            done();
            rej(new Error(`${this.label} (pid ${this.pid}) exited (${this.exitCode ?? this.exitSignal}) before printing ${pattern}:\n${this.tail()}`));
          }
        },
      };
      const timer = setTimeout(() => {
        done();
        rej(new Error(`${this.label} (pid ${this.pid}) printed no ${pattern} within ${ms} ms:\n${this.tail()}`));
      }, ms);
      const done = () => {
        over();
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      this.waiters.push(waiter);
      waiter.check();
    });
  }

  tail(n = 40) {
    return this.lines.slice(-n).map((l) => `  | ${l}`).join('\n');
  }

  /** SIGTERM by PID, SIGKILL after a grace period; resolves once the process is gone. */
  async stop(graceMs = 3000) {
    if (this.exitCode !== undefined || this.exitSignal !== undefined) return;
    try { process.kill(this.pid, 'SIGTERM'); } catch { /* gone */ }
    const timer = setTimeout(() => {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * CPU time (user + system, ms) that process `pid` has used so far, from /proc (Linux);
 * NaN elsewhere. For reports, never for assertions.
 */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** Random URL-safe text. */
export const randomText = (bytes = 16) => randomBytes(bytes).toString('hex');

/**
 * One oidc-provider (`google` or `microsoft`): `port` 0 picks a free one. Resolves once it
 * printed READY, with `{ proc, issuer, port, kid, name, clientId, clientSecret, restart() }`.
 * `extraArgs` are more provider.mjs options (`--access-token-ttl 2`, `--client-jwks @FILE`…);
 * `clientSecret` may be left out with `--client-jwks`.
 */
export async function startProvider({
  name, port = 0, host = '127.0.0.1', clientId, clientSecret, redirectUris, extraArgs = [],
}) {
  const args = [join(E2E_DIR, 'provider.mjs'), '--name', name, '--port', String(port),
    '--host', host, '--client-id', clientId];
  if (clientSecret !== undefined) args.push('--client-secret', clientSecret);
  for (const uri of redirectUris) args.push('--redirect-uri', uri);
  args.push(...extraArgs);
  const proc = new Proc(`${name}-provider`, process.execPath, args, { cwd: E2E_DIR, env: process.env });
  const ready = JSON.parse((await proc.waitForLine(/^READY /)).slice('READY '.length));
  const provider = {
    ...ready,
    proc,
    clientId,
    clientSecret,
    redirectUris,
    /** Requests it received (`GET /jwks`, ...), from its log. */
    requests: () => proc.lines.filter((l) => l.startsWith('REQ ')).map((l) => l.slice(4)),
    events: (event) => proc.lines
      .filter((l) => l.startsWith(`EVENT ${event} `))
      .map((l) => JSON.parse(l.slice(`EVENT ${event} `.length))),
    /** Stops this process and starts a new one on the same port: a new signing key. */
    async restart() {
      await proc.stop();
      return startProvider({
        name, port: ready.port, host, clientId, clientSecret, redirectUris, extraArgs,
      });
    },
    stop: () => proc.stop(),
  };
  return provider;
}

/** A fresh temporary directory, removed by `cleanup()`. */
export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), `tower-oidc-e2e-${prefix}-`));
}

/**
 * The secrets.toml text for `providers` (entries of startProvider), with Streamlit's schema.
 * `kwargs` maps a provider name to its `client_kwargs` TOML inline table text;
 * `redirectUri` replaces the app's own callback (e.g. a proxy's in front of replicas);
 * `sessionStore` sets `[auth] session_store` ("redis://…", "sqlite://…", "memory");
 * `auth` is more `[auth]` lines (e.g. `session_max_age = "4s"`), `providerKeys` maps a
 * provider name to more lines of its table (e.g. `fetch_userinfo = true`).
 */
export function secretsToml({
  appPort, providers, kwargs = {}, cookieSecret = randomText(32),
  redirectUri = `http://127.0.0.1:${appPort}/oauth2callback`, sessionStore = null,
  auth = '', providerKeys = {},
}) {
  let toml = `[auth]\nredirect_uri = "${redirectUri}"\ncookie_secret = "${cookieSecret}"\n`;
  if (sessionStore !== null) toml += `session_store = "${sessionStore}"\n`;
  if (auth) toml += `${auth.trim()}\n`;
  for (const p of providers) {
    toml += `\n[auth.${p.name}]\nclient_id = "${p.clientId}"\nclient_secret = "${p.clientSecret}"\n`
      + `server_metadata_url = "${p.issuer}/.well-known/openid-configuration"\n`;
    if (kwargs[p.name]) toml += `client_kwargs = ${kwargs[p.name]}\n`;
    if (providerKeys[p.name]) toml += `${providerKeys[p.name].trim()}\n`;
  }
  return toml;
}

/**
 * Starts an example (`quickstart` or `hyper`) on `port`, in a fresh working directory that
 * holds `.streamlit/secrets.toml` = `secrets` (none when `secrets` is null), with HOME an
 * empty directory so `$HOME/.streamlit/secrets.toml` of the machine is never read. Resolves
 * once it answers HTTP, with `{ proc, origin, port, cwd, restart(), stop() }`: `restart()`
 * stops the process and starts a new one on the same port in the same working directory
 * (so a sessions file there is kept), `stop()` also removes the directory.
 */
export async function startApp({ example = 'quickstart', port, secrets, env = {} }) {
  const cwd = tempDir(example);
  const home = join(cwd, 'home');
  mkdirSync(home);
  if (secrets !== null) {
    mkdirSync(join(cwd, '.streamlit'));
    writeFileSync(join(cwd, '.streamlit', 'secrets.toml'), secrets, { mode: 0o600 });
  }
  const childEnv = { PATH: process.env.PATH, HOME: home, PORT: String(port), RUST_BACKTRACE: '1', ...env };
  if (!childEnv.RUST_LOG) childEnv.RUST_LOG = 'info,tower_oidc_login=debug';
  const origin = `http://127.0.0.1:${port}`;
  const app = {
    proc: await launchApp({ example, cwd, env: childEnv, origin }),
    origin,
    port,
    cwd,
    async restart() {
      await app.proc.stop();
      app.proc = await launchApp({ example, cwd, env: childEnv, origin });
      return app;
    },
    async stop() {
      await app.proc.stop();
      rmSync(cwd, { recursive: true, force: true });
    },
  };
  return app;
}

/** One process of an example in `cwd`; resolves once it answers HTTP at `origin`. */
async function launchApp({ example, cwd, env, origin }) {
  const proc = new Proc(`${example}:${env.PORT}`, join(BIN_DIR, example), [], { cwd, env });
  await proc.waitForLine(/Open http:\/\/127\.0\.0\.1:\d+\//);
  // Printing comes just before serving: wait until it answers.
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await fetchText(`${origin}/me`, {}, 2000);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${example} on ${origin} does not answer: ${err}\n${proc.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return proc;
}

// ---------------------------------------------------------------------------------------
// Replicas

/**
 * A round-robin reverse proxy on 127.0.0.1:`port`: each request goes to the next replica,
 * whatever its cookies (no sticky sessions), with its Host header kept as a proxy would.
 * `served` records which replica answered what: `{ method, path, replica }`.
 */
export async function startProxy(port, replicas) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const served = [];
  let next = 0;
  const server = createHttpServer((req, res) => {
    const replica = next;
    next = (next + 1) % replicas.length;
    served.push({ method: req.method, path: req.url.split('?')[0], replica });
    const upstream = httpRequestRaw({
      host: '127.0.0.1', port: replicas[replica].port, method: req.method, path: req.url, headers: req.headers, agent,
    }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: replica ${replica} failed: ${err.message}`);
    });
    req.pipe(upstream);
  });
  // Idle client connections are kept a minute, as reverse proxies do (nginx: 75 s).
  server.keepAliveTimeout = 60000;
  await new Promise((res) => server.listen(port, '127.0.0.1', res));
  return {
    origin: `http://127.0.0.1:${port}`,
    served,
    stop: () => new Promise((res) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(res);
    }),
  };
}

// ---------------------------------------------------------------------------------------
// Redis

/** The redis-server binary (E2E_REDIS_SERVER, else `redis-server` on PATH), or null. */
export function redisServerBinary() {
  const named = process.env.E2E_REDIS_SERVER;
  if (named) return existsSync(named) ? named : null;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  }
  return null;
}

/**
 * A redis-server on 127.0.0.1:`port` (0 = a free one) with its data in `dir` (a fresh
 * directory when omitted). `persist`: it writes its data to `dir` when stopped (SIGTERM)
 * and reads it back at the next start there; without it, a restart starts empty.
 * Resolves once it accepts connections, with `{ proc, port, url, dir, command(), stop(),
 * restart({ dir }) }`.
 */
export async function startRedis({ port = 0, dir = tempDir('redis'), persist = true } = {}) {
  const binary = redisServerBinary();
  if (!binary) throw new Error('no redis-server (install the Debian package redis-server, or set E2E_REDIS_SERVER)');
  const actualPort = port || await freePort();
  const args = ['--port', String(actualPort), '--bind', '127.0.0.1', '--protected-mode', 'yes',
    '--dir', dir, '--dbfilename', 'dump.rdb', '--appendonly', 'no', '--daemonize', 'no',
    '--save', persist ? '3600 1' : '', '--logfile', '', '--loglevel', 'notice'];
  const proc = new Proc(`redis:${actualPort}`, binary, args, { cwd: dir, env: { PATH: process.env.PATH } });
  await proc.waitForLine(/Ready to accept connections/);
  const redis = {
    proc,
    port: actualPort,
    dir,
    url: `redis://127.0.0.1:${actualPort}`,
    /** One command (e.g. 'DBSIZE'); resolves with its reply (a number or a string). */
    command: (...words) => redisCommand(actualPort, ...words),
    /** SIGTERM by PID: with `persist`, Redis saves its data to `dir` first. */
    stop: () => proc.stop(10000),
    /** Stopped and started again on the same port, in `dir` (another one starts empty). */
    async restart({ dir: nextDir = dir } = {}) {
      await proc.stop(10000);
      return startRedis({ port: actualPort, dir: nextDir, persist });
    },
  };
  return redis;
}

/**
 * Sends one command to the Redis on 127.0.0.1:`port` and resolves with its reply: an
 * integer or simple/bulk string (RESP2), or rejects with the server's error.
 */
export function redisCommand(port, ...words) {
  return new Promise((res, rej) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let data = Buffer.alloc(0);
    socket.setTimeout(WAIT_MS, () => socket.destroy(new Error(`redis :${port} did not answer ${words[0]}`)));
    socket.once('error', rej);
    const answer = (err, reply) => {
      socket.destroy();
      if (err) rej(err); else res(reply);
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const nl = data.indexOf('\r\n');
      if (nl < 0) return;
      const kind = String.fromCharCode(data[0]);
      const head = data.subarray(1, nl).toString('utf8');
      if (kind === '+') answer(null, head);
      else if (kind === ':') answer(null, Number(head));
      else if (kind === '-') answer(new Error(`redis: ${head}`));
      else if (kind === '$') {
        const len = Number(head);
        if (len < 0) answer(null, null);
        else if (data.length >= nl + 2 + len + 2) answer(null, data.subarray(nl + 2, nl + 2 + len).toString('utf8'));
      } else answer(new Error(`redis: a reply this client does not read: ${JSON.stringify(head.slice(0, 80))}`));
    });
    const arg = (w) => {
      const b = Buffer.from(String(w));
      return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
    };
    socket.write(Buffer.concat([Buffer.from(`*${words.length}\r\n`), ...words.map(arg)]));
  });
}

// ---------------------------------------------------------------------------------------
// A browser made of fetch

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };
export function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

function parseAttributes(text) {
  const attrs = {};
  const re = /([^\s=/"'>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  let m;
  while ((m = re.exec(text))) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

/**
 * The forms of an HTML page: `{ id, action (absolute), method, fields: [{name, value, type}],
 * buttons: [{name, value, text}] }`, with buttons outside a form that name it by `form=`.
 */
export function parseForms(html, pageUrl) {
  const forms = [];
  const loose = [];
  let current = null;
  const re = /<(\/?)(form|input|button|textarea)\b([^>]*)>/gi;
  let m;
  while ((m = re.exec(html))) {
    const [, closing, tag, rest] = m;
    const t = tag.toLowerCase();
    if (t === 'form') {
      if (closing) {
        current = null;
      } else {
        const a = parseAttributes(rest);
        current = {
          id: a.id,
          action: new URL(a.action ?? '', pageUrl).href,
          method: (a.method ?? 'get').toUpperCase(),
          fields: [],
          buttons: [],
        };
        forms.push(current);
      }
      continue;
    }
    if (closing) continue;
    const a = parseAttributes(rest);
    const owner = a.form ? null : current;
    if (t === 'button' || (t === 'input' && a.type === 'submit')) {
      const end = t === 'button' ? html.indexOf('</button>', re.lastIndex) : -1;
      const text = end >= 0 ? html.slice(re.lastIndex, end).replace(/<[^>]*>/g, '').trim() : a.value;
      const button = { name: a.name, value: a.value ?? '', text, id: a.id, type: a.type ?? 'submit' };
      if (owner) owner.buttons.push(button);
      else if (a.form) loose.push({ form: a.form, button });
    } else if (a.name !== undefined) {
      const field = { name: a.name, value: a.value ?? '', type: (a.type ?? 'text').toLowerCase(), required: 'required' in a };
      if (owner) owner.fields.push(field);
      else if (a.form) loose.push({ form: a.form, field });
    }
  }
  for (const { form, button, field } of loose) {
    const f = forms.find((x) => x.id === form);
    if (!f) continue;
    if (button) f.buttons.push(button);
    if (field) f.fields.push(field);
  }
  return forms;
}

function siteOf(url) {
  return `${url.protocol}//${url.hostname}`;
}

/** Sec-Fetch-Site of a request to `target` made from `initiator` through `chain` redirects. */
function secFetchSite(initiator, chain, target) {
  if (!initiator) return 'none';
  let worst = 'same-origin';
  for (const u of [initiator, ...chain]) {
    if (u.origin === target.origin) continue;
    if (siteOf(u) === siteOf(target)) {
      if (worst === 'same-origin') worst = 'same-site';
    } else {
      worst = 'cross-site';
    }
  }
  return worst;
}

/** A cookie jar with a browser's rules: by host (not port) and path; Max-Age/Expires. */
export class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  setFrom(url, setCookie) {
    const parts = setCookie.split(';');
    const eq = parts[0].indexOf('=');
    if (eq < 0) return;
    const name = parts[0].slice(0, eq).trim();
    const value = parts[0].slice(eq + 1).trim();
    let path = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/';
    let expires = Infinity;
    let domain = url.hostname;
    let hostOnly = true;
    const attrs = {};
    for (const p of parts.slice(1)) {
      const i = p.indexOf('=');
      const k = (i < 0 ? p : p.slice(0, i)).trim().toLowerCase();
      const v = i < 0 ? '' : p.slice(i + 1).trim();
      attrs[k] = v;
      if (k === 'path' && v.startsWith('/')) path = v;
      else if (k === 'max-age') expires = Date.now() + Number(v) * 1000;
      else if (k === 'expires' && !('max-age' in attrs)) expires = Date.parse(v);
      else if (k === 'domain' && v) {
        const d = v.replace(/^\./, '').toLowerCase();
        if (d !== url.hostname) return; // a browser refuses another host's domain
        domain = d;
        hostOnly = false;
      }
    }
    if ('max-age' in attrs) expires = Date.now() + Number(attrs['max-age']) * 1000;
    const key = `${domain}|${path}|${name}`;
    if (expires <= Date.now()) {
      this.cookies.delete(key);
      return;
    }
    this.cookies.set(key, { name, value, domain, path, expires, hostOnly, attrs });
  }

  headerFor(url) {
    const now = Date.now();
    const hits = [];
    for (const [key, c] of this.cookies) {
      if (c.expires <= now) {
        this.cookies.delete(key);
        continue;
      }
      if (c.domain !== url.hostname) continue;
      const p = url.pathname;
      if (!(p === c.path || (p.startsWith(c.path) && (c.path.endsWith('/') || p[c.path.length] === '/')))) continue;
      hits.push(c);
    }
    hits.sort((a, b) => b.path.length - a.path.length);
    return hits.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** Names of the cookies stored for `url`'s host. */
  names(url) {
    const host = new URL(url).hostname;
    return [...this.cookies.values()].filter((c) => c.domain === host).map((c) => c.name);
  }

  get(url, name) {
    const host = new URL(url).hostname;
    return [...this.cookies.values()].find((c) => c.domain === host && c.name === name);
  }

  /** Forgets the cookie `name` of `url`'s host (whatever its path), as clearing it would. */
  remove(url, name) {
    const host = new URL(url).hostname;
    for (const [key, c] of this.cookies) {
      if (c.domain === host && c.name === name) this.cookies.delete(key);
    }
  }
}

// Connections kept open between requests made with httpRequest.
const keepAlive = new Agent({ keepAlive: true, maxSockets: 256 });

/**
 * One HTTP/1.1 request with node:http over kept-alive connections, redirects not followed:
 * resolves with `{ status, headers (a Headers), text }`. A few times cheaper in CPU than
 * fetch, for the tests that make tens of thousands of requests; fails after `timeoutMs`
 * without an answer.
 */
export async function httpRequest(url, { method = 'GET', headers = {}, body = null, timeoutMs = WAIT_MS } = {}) {
  try {
    return await sendOnce(url, { method, headers, body, timeoutMs });
  } catch (err) {
    // A kept-alive connection that the server closed as it idled out, at the moment it was
    // reused (the race Node's docs describe for request.reusedSocket): the server never
    // read the request, so it is sent again, on a new connection.
    if (err.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
      return sendOnce(url, { method, headers, body, timeoutMs });
    }
    throw err;
  }
}

function sendOnce(url, { method, headers, body, timeoutMs }) {
  return new Promise((res, rej) => {
    const req = httpRequestRaw(url, { method, headers, agent: keepAlive }, (answer) => {
      const chunks = [];
      answer.on('data', (c) => chunks.push(c));
      answer.once('error', rej);
      answer.once('end', () => {
        const h = new Headers();
        for (let i = 0; i < answer.rawHeaders.length; i += 2) h.append(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
        res({ status: answer.statusCode, headers: h, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', (err) => {
      const e = new Error(`${method} ${url}: ${err.message}`, { cause: err });
      e.code = err.code;
      e.reusedSocket = req.reusedSocket;
      rej(e);
    });
    req.end(body ?? undefined);
  });
}

/**
 * Navigations and form posts with a cookie jar, following redirects like a browser. Each
 * result: `{ url, status, headers, text, chain }` where `chain` lists every hop
 * (`{ method, url, status, location }`). `transport: 'http'` sends the requests with
 * httpRequest instead of fetch (same headers and cookies; for many logins).
 */
export class FetchBrowser {
  constructor({ transport = 'fetch' } = {}) {
    this.jar = new CookieJar();
    this.page = null;
    this.transport = transport;
  }

  /** One request without following redirects: `{ status, headers, text }`. */
  async send(target, { method, headers, body }) {
    if (this.transport === 'http') return httpRequest(target, { method, headers, body });
    return fetchText(target, {
      method, headers, body: body ?? undefined, redirect: 'manual',
    });
  }

  /**
   * A top-level navigation. `from` is the page it starts from (its URL is the initiator;
   * none = typed into the address bar); `body` makes it a form POST. `follow(url)` false
   * stops before that redirect: the redirect itself is then the page.
   */
  async navigate(url, {
    method = 'GET', body = null, from = this.page?.url ?? null, maxRedirects = 20, follow = () => true,
  } = {}) {
    let target = new URL(url);
    const initiator = from ? new URL(from) : null;
    const visited = [];
    const chain = [];
    for (let hop = 0; hop <= maxRedirects; hop += 1) {
      const headers = {
        accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
        'user-agent': 'tower-oidc-login-e2e (fetch)',
        'sec-fetch-site': secFetchSite(initiator, visited, target),
        'sec-fetch-mode': 'navigate',
        'sec-fetch-dest': 'document',
        'upgrade-insecure-requests': '1',
      };
      const cookie = this.jar.headerFor(target);
      if (cookie) headers.cookie = cookie;
      if (method === 'POST') {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        // A browser's Origin on a POST after a cross-origin redirect is "null".
        headers.origin = initiator && visited.every((u) => u.origin === initiator.origin)
          ? initiator.origin : 'null';
      }
      const response = await this.send(target, { method, headers, body: method === 'POST' ? body : null });
      for (const sc of response.headers.getSetCookie()) this.jar.setFrom(target, sc);
      const location = response.headers.get('location');
      chain.push({ method, url: target.href, status: response.status, location });
      if ([301, 302, 303, 307, 308].includes(response.status) && location
          && follow(new URL(location, target))) {
        visited.push(target);
        target = new URL(location, target);
        if (response.status !== 307 && response.status !== 308) {
          method = 'GET';
          body = null;
        }
        continue;
      }
      this.page = { url: target.href, status: response.status, headers: response.headers, text: response.text, chain };
      return this.page;
    }
    throw new Error(`more than ${maxRedirects} redirects from ${url}: ${JSON.stringify(chain, null, 1)}`);
  }

  /** Submits `form` of the current page, with `values` over its fields, pressing `button`. */
  async submit(form, values = {}, button = form.buttons.find((b) => b.type === 'submit') ?? null) {
    const data = new URLSearchParams();
    for (const f of form.fields) {
      if ((f.type === 'checkbox' || f.type === 'radio') && !(f.name in values)) continue;
      if (f.type === 'submit') continue;
      data.append(f.name, f.name in values ? values[f.name] : f.value);
    }
    for (const [k, v] of Object.entries(values)) {
      if (!form.fields.some((f) => f.name === k)) data.append(k, v);
    }
    if (button?.name) data.append(button.name, button.value);
    if (form.method === 'POST') {
      return this.navigate(form.action, { method: 'POST', body: data.toString() });
    }
    const url = new URL(form.action);
    url.search = data.toString();
    return this.navigate(url.href);
  }

  forms() {
    return parseForms(this.page.text, this.page.url);
  }

  /** A non-navigation request (like an API client) with this browser's cookies. */
  async api(url, { method = 'GET', headers = {} } = {}) {
    const target = new URL(url);
    const h = { accept: 'application/json', ...headers };
    const cookie = this.jar.headerFor(target);
    if (cookie) h.cookie = cookie;
    const response = await this.send(target, { method, headers: h, body: null });
    for (const sc of response.headers.getSetCookie()) this.jar.setFrom(target, sc);
    const { text } = response;
    let json;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: response.status, headers: response.headers, text, json };
  }
}

// ---------------------------------------------------------------------------------------
// At the provider

/**
 * Goes through the provider's pages (sign-in with `login`, consent) until the browser leaves
 * the provider; returns which pages it saw, e.g. ['login', 'consent'], or [] when the
 * provider's session let it straight through.
 */
export async function signInAtProvider(b, provider, login) {
  const seen = [];
  for (let i = 0; i < 5 && b.page.url.startsWith(`${provider.issuer}/`); i += 1) {
    const forms = b.forms();
    const loginForm = forms.find((f) => f.fields.some((x) => x.name === 'login'));
    const consentForm = forms.find((f) => f.fields.some((x) => x.name === 'prompt' && x.value === 'consent'));
    if (loginForm) {
      seen.push('login');
      await b.submit(loginForm, { login, password: 'any password' });
    } else if (consentForm) {
      seen.push('consent');
      await b.submit(consentForm);
    } else {
      throw new Error(`unexpected page at ${provider.name}: ${b.page.url} (${b.page.status})\n${b.page.text.slice(0, 3000)}`);
    }
  }
  assert.ok(!b.page.url.startsWith(`${provider.issuer}/`), `still at the provider: ${b.page.url}`);
  return seen;
}
