// Builds an oidc-provider instance configured like Dex. A new instance is built at every key
// rotation (its keys are fixed at construction); everything that must outlive an instance
// (storage, keys, users, counters, settings) lives outside it and is passed in.
import { Provider } from 'oidc-provider';

import { adapterFor } from './adapter.mjs';

// Dex's claims per scope; `conformIdTokenClaims: false` puts them in the id token, as Dex does.
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username'],
  groups: ['groups'],
};

function clientMetadata(client) {
  return {
    client_id: client.client_id,
    ...(client.client_name ? { client_name: client.client_name } : {}),
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  };
}

export function buildProvider({ issuer, config, store, keys, users, settings, counters, redirects }) {
  const provider = new Provider(issuer, {
    adapter: adapterFor(store),
    jwks: keys.privateJwks(),
    clients: config.clients.map(clientMetadata),
    claims: CLAIMS,
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    conformIdTokenClaims: false,
    findAccount: (ctx, sub) => users.account(sub),
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    pkce: { required: () => true },
    // Dex rotates the refresh token on every use.
    rotateRefreshToken: true,
    routes: { authorization: '/auth', token: '/token', jwks: '/keys', userinfo: '/userinfo' },
    features: {
      devInteractions: { enabled: false }, // replaced by interactions.mjs (checks passwords)
      rpInitiatedLogout: { enabled: Boolean(config.end_session_endpoint) }, // Dex has none
      // Neither exists in Dex: keep discovery close to what the sidecar meets in production.
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // Cookie names distinct from anything the sidecar might use on the same host.
    cookies: {
      names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_resume' },
      keys: keys.cookieKeys,
    },
    ttl: {
      // Dex's access token is an id token: same lifetime.
      AccessToken: () => settings.id_token_ttl_s,
      IdToken: () => settings.id_token_ttl_s,
      AuthorizationCode: 60,
      RefreshToken: () => settings.refresh_token_ttl_s,
      Grant: () => settings.refresh_token_ttl_s,
      Session: 24 * 3600,
      Interaction: 600,
    },
  });

  allowRedirectPatterns(provider, config, redirects);
  countTokenRequests(provider, counters);
  provider.on('server_error', (ctx, err) => console.error('provider server_error', err));
  return provider;
}

// The sidecar's callback port is only known at test time, so a client may also accept URIs
// matching `redirect_uri_patterns` (`*` = any run of characters but `/`) and URIs registered
// at run time through the control API.
function allowRedirectPatterns(provider, config, redirects) {
  const patterns = new Map(
    config.clients.map((c) => [c.client_id, (c.redirect_uri_patterns ?? []).map(globToRegExp)]),
  );
  const strict = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
    return strict.call(this, uri)
      || (redirects.get(this.clientId)?.has(uri) ?? false)
      || (patterns.get(this.clientId) ?? []).some((re) => re.test(uri));
  };
}

function globToRegExp(glob) {
  const quoted = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${quoted.join('[^/]*')}$`);
}

// Token-endpoint hits by grant_type, read after oidc-provider parsed the body.
function countTokenRequests(provider, counters) {
  provider.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      if (ctx.oidc?.route === 'token') counters.countToken(ctx.oidc.body?.grant_type);
    }
  });
}
