// A Dex-like OpenID provider for the auth-sidecar tests, built on npm `oidc-provider`.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {port (0 = any), issuer (default http://127.0.0.1:<port>), state_dir, id_token_ttl_s,
// refresh_token_ttl_s, jwks_max_age_s, end_session_endpoint (RP-initiated logout), clients: [{client_id, client_name?, client_secret, redirect_uris,
// redirect_uri_patterns}], users: [{email, password, groups, email_verified, name,
// preferred_username, sub?}]}
//
// Prints one line `READY {"issuer": ..., "port": ...}` on stdout once it serves.
// SIGTERM/SIGINT: saves the storage to state_dir (so a restart keeps refresh tokens) and exits.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Store, revokeAccount } from './lib/adapter.mjs';
import { KeyRing } from './lib/keys.mjs';
import { Users } from './lib/users.mjs';
import { buildProvider } from './lib/oidc.mjs';
import { Counters, FAULT_MODES, FAULT_ENDPOINTS, controlRoutes, handleControl } from './lib/control.mjs';
import { renderInteraction, submitInteraction } from './lib/interactions.mjs';
import { sendJson } from './lib/http.mjs';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const defaults = {
  id_token_ttl_s: config.id_token_ttl_s ?? 600,
  refresh_token_ttl_s: config.refresh_token_ttl_s ?? 30 * 24 * 3600,
  jwks_max_age_s: config.jwks_max_age_s ?? 600, // Dex: max-age=600, must-revalidate
};
const storeFile = join(config.state_dir, 'store.json');

// The OpenID provider, as the control API and the HTTP dispatcher see it.
const op = {
  issuer: undefined,
  provider: undefined,
  store: new Store(),
  keys: new KeyRing(join(config.state_dir, 'keys.json')),
  users: new Users(config.users),
  settings: { ...defaults },
  counters: new Counters(),
  faults: {}, // endpoint -> mode
  hanging: new Set(), // responses held open by a `hang` fault
  redirects: new Map(), // client_id -> Set of redirect URIs added at run time
  backchannelUris: new Map(), // client_id -> back-channel logout URI registered at run time
  userinfoOverrides: new Map(), // sub -> claims the userinfo endpoint answers instead (tests)

  rebuild() {
    this.provider = buildProvider({ ...this, config });
  },
  state() {
    const { issuer, settings, faults, counters } = this;
    return { issuer, settings, faults, counters, kids: this.keys.signing.map((k) => k.kid) };
  },
  rotateKeys() {
    const kid = this.keys.rotate();
    this.rebuild();
    return { kid, kids: this.keys.signing.map((k) => k.kid) };
  },
  dropOldKeys() {
    const dropped = this.keys.dropOld();
    this.rebuild();
    return { dropped, kids: this.keys.signing.map((k) => k.kid) };
  },
  revokeUser(email) {
    const user = this.users.byEmail(email);
    if (!user) throw new Error(`unknown user ${email}`);
    return { grants: revokeAccount(this.store, user.sub) };
  },
  updateSettings(changes) {
    for (const [key, value] of Object.entries(changes)) {
      if (!(key in defaults) || !Number.isInteger(value) || value <= 0) {
        throw new Error(`bad setting ${key}`);
      }
      this.settings[key] = value;
    }
    return this.settings;
  },
  setFaults(changes) {
    for (const [endpoint, mode] of Object.entries(changes)) {
      if (!FAULT_ENDPOINTS.has(endpoint) || (mode !== null && !FAULT_MODES.has(mode))) {
        throw new Error(`bad fault ${endpoint}=${mode}`);
      }
      if (mode === null) delete this.faults[endpoint];
      else this.faults[endpoint] = mode;
    }
    if (Object.values(this.faults).every((m) => m !== 'hang')) this.releaseHanging();
    return this.faults;
  },
  releaseHanging() {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  },
  addRedirectUri(clientId, uri) {
    new URL(uri); // throws on garbage
    if (!this.redirects.has(clientId)) this.redirects.set(clientId, new Set());
    this.redirects.get(clientId).add(uri);
    return [...this.redirects.get(clientId)];
  },
  // Client metadata is fixed per instance: a new back-channel URI builds a new one (storage,
  // sessions and keys live outside it and carry over).
  setBackchannelUri(clientId, uri) {
    new URL(uri); // throws on garbage
    this.backchannelUris.set(clientId, uri);
    this.rebuild();
    return Object.fromEntries(this.backchannelUris);
  },
  // The userinfo endpoint's answer for one user differs from the id token (`claims` null: not).
  setUserinfo(email, claims) {
    const user = this.users.byEmail(email);
    if (!user) throw new Error(`unknown user ${email}`);
    if (claims === null) this.userinfoOverrides.delete(user.sub);
    else this.userinfoOverrides.set(user.sub, claims);
    return Object.fromEntries(this.userinfoOverrides);
  },
  // Between tests: counters, faults and settings back to the start; keys and storage kept.
  reset() {
    this.counters.reset();
    this.userinfoOverrides.clear();
    this.faults = {};
    this.releaseHanging();
    Object.assign(this.settings, defaults); // in place: the provider holds this object
    return this.state();
  },
};

// Which counted (and faultable) endpoint a request is for.
function endpointOf(method, path) {
  if (path === '/.well-known/openid-configuration') return 'discovery';
  if (path === '/keys') return 'jwks';
  if (path === '/token' && method === 'POST') return 'token';
  if (path === '/auth') return 'authorize';
  if (path === '/userinfo') return 'userinfo';
  return undefined;
}

// Dex issues a refresh token whenever `offline_access` is asked for; oidc-provider drops that
// scope unless the request also has `prompt=consent` (OpenID Connect Core 1.0 section 11).
// Adding the prompt here lets the sidecar send exactly what it sends to Dex.
function askConsentForOfflineAccess(req) {
  const url = new URL(req.url, 'http://x');
  const scopes = (url.searchParams.get('scope') ?? '').split(' ');
  const prompts = (url.searchParams.get('prompt') ?? '').split(' ').filter(Boolean);
  if (req.method !== 'GET' || !scopes.includes('offline_access') || prompts.includes('consent')) return;
  url.searchParams.set('prompt', [...prompts, 'consent'].join(' '));
  req.url = `${url.pathname}${url.search}`;
}

function applyFault(mode, res) {
  if (mode === 'error') sendJson(res, 500, { error: 'server_error' });
  else if (mode === 'close') res.destroy();
  else op.hanging.add(res); // `hang`: answered (by closing) when the fault is cleared
}

async function dispatch(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  if (path.startsWith('/__control/')) return handleControl(routes, req, res);

  const endpoint = endpointOf(req.method, path);
  if (endpoint && endpoint !== 'token') op.counters[endpoint] += 1;
  if (endpoint && op.faults[endpoint]) {
    if (endpoint === 'token') op.counters.countToken('faulted');
    return applyFault(op.faults[endpoint], res);
  }

  if (endpoint === 'jwks') {
    // Served here rather than by oidc-provider to send Dex's caching header.
    return sendJson(res, 200, op.keys.publicJwks(), {
      'Cache-Control': `max-age=${op.settings.jwks_max_age_s}, must-revalidate`,
    });
  }
  if (endpoint === 'authorize') askConsentForOfflineAccess(req);
  if (path.startsWith('/interaction/')) {
    if (req.method === 'POST') return submitInteraction(op.provider, op.users, req, res);
    return renderInteraction(op.provider, req, res);
  }
  return op.provider.callback()(req, res);
}

const routes = controlRoutes(op);
op.store.load(storeFile);

const server = createServer((req, res) => {
  dispatch(req, res).catch((err) => {
    console.error('request failed', req.method, req.url, err);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  });
});

server.listen(config.port ?? 0, config.host ?? '127.0.0.1', () => {
  const { port } = server.address();
  op.issuer = config.issuer ?? `http://127.0.0.1:${port}`;
  op.rebuild();
  console.log(`READY ${JSON.stringify({ issuer: op.issuer, port })}`);
});

function shutdown() {
  op.store.save(storeFile);
  op.releaseHanging();
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
