// The control API under /__control/: what tests do to the provider that a real Dex operator
// would do by other means (rotate keys, revoke a user, change expiry) or that a test needs to
// observe (hit counters) or provoke (endpoint failures). JSON in, JSON out.
import { readJson, sendJson } from './http.mjs';

export class Counters {
  constructor() {
    this.reset();
  }

  reset() {
    this.discovery = 0;
    this.jwks = 0;
    this.authorize = 0;
    this.userinfo = 0;
    this.token = {}; // grant_type -> hits
    this.backchannel = {}; // ok | error -> logout tokens posted
  }

  countBackchannel(result) {
    this.backchannel[result] = (this.backchannel[result] ?? 0) + 1;
  }

  countToken(grantType) {
    const key = grantType ?? 'unknown';
    this.token[key] = (this.token[key] ?? 0) + 1;
  }

  toJSON() {
    const { discovery, jwks, authorize, userinfo, token, backchannel } = this;
    return { discovery, jwks, authorize, userinfo, token, backchannel };
  }
}

// Endpoint faults: `error` answers 500, `hang` never answers (until cleared), `close` drops
// the connection without a response.
export const FAULT_MODES = new Set(['error', 'hang', 'close']);
export const FAULT_ENDPOINTS = new Set(['discovery', 'jwks', 'token', 'authorize', 'userinfo']);

export function controlRoutes(op) {
  return {
    'GET /__control/state': () => op.state(),
    'GET /__control/counters': () => op.counters.toJSON(),
    'POST /__control/counters/reset': () => {
      op.counters.reset();
      return op.counters.toJSON();
    },
    'GET /__control/users': () => op.users.describe(),
    'POST /__control/keys/rotate': () => op.rotateKeys(),
    'POST /__control/keys/drop-old': () => op.dropOldKeys(),
    'POST /__control/users/revoke': (body) => op.revokeUser(body.email),
    'POST /__control/settings': (body) => op.updateSettings(body),
    'POST /__control/faults': (body) => op.setFaults(body),
    'POST /__control/redirect-uris': (body) => op.addRedirectUri(body.client_id, body.redirect_uri),
    'POST /__control/reset': () => op.reset(),
    'POST /__control/backchannel-uri': (body) => op.setBackchannelUri(body.client_id, body.uri),
    'POST /__control/userinfo': (body) => op.setUserinfo(body.email, body.claims),
  };
}

export async function handleControl(routes, req, res) {
  const route = routes[`${req.method} ${new URL(req.url, 'http://x').pathname}`];
  if (!route) {
    sendJson(res, 404, { error: 'no such control route' });
    return;
  }
  try {
    sendJson(res, 200, await route(await readJson(req)));
  } catch (err) {
    // A bad control call is a test bug: say what was wrong.
    sendJson(res, 400, { error: err.message });
  }
}
