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

// Until a test registers a client's back-channel logout URI (control API), a URI nobody
// listens on stands in: with `backchannel_logout_session_required` it makes the id tokens carry
// `sid`, as Dex's do with DEX_SESSIONS_ENABLED; the provider's post to it fails harmlessly.
const UNREGISTERED_BACKCHANNEL_URI = 'http://127.0.0.1:9/.auth/backchannel-logout';

function clientMetadata(client, backchannelUris) {
  return {
    client_id: client.client_id,
    ...(client.client_name ? { client_name: client.client_name } : {}),
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
    // OpenID Connect Back-Channel Logout 1.0 section 2.2
    backchannel_logout_uri: backchannelUris.get(client.client_id) ?? UNREGISTERED_BACKCHANNEL_URI,
    backchannel_logout_session_required: true,
  };
}

// RP-Initiated Logout 1.0: the provider's own "sign out?" page, without the default page's
// external font (no network here). The confirm button posts `logout=yes` with the xsrf field.
async function logoutSource(ctx, form) {
  ctx.body = `<!doctype html><html><head><title>Sign out of the provider</title></head><body>
${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></body></html>`;
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = '<!doctype html><html><body><p>Signed out of the provider.</p></body></html>';
}

export function buildProvider({
  issuer, config, store, keys, users, settings, counters, redirects, backchannelUris,
  userinfoOverrides,
}) {
  const provider = new Provider(issuer, {
    adapter: adapterFor(store),
    jwks: keys.privateJwks(),
    clients: config.clients.map((client) => clientMetadata(client, backchannelUris)),
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
      // Dex has neither in a release (main branch: behind DEX_SESSIONS_ENABLED); the logout
      // tests start a provider with `end_session_endpoint: true`.
      rpInitiatedLogout: {
        enabled: Boolean(config.end_session_endpoint),
        logoutSource,
        postLogoutSuccessSource,
      },
      backchannelLogout: { enabled: true },
      // `userinfo: false` in the config: a provider without a userinfo endpoint.
      userinfo: { enabled: config.userinfo !== false },
      // Neither exists in Dex: keep discovery close to what the sidecar meets in production.
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
    },
    // oidc-provider refuses to post to special-use addresses (SSRF protection); the sidecar it
    // posts Logout Tokens to runs on 127.0.0.1 here, so the test provider drops that guard.
    fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
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
  allowPostLogoutRedirectPatterns(provider, config);
  provider.on('backchannel.error', (ctx, err, client) => {
    counters.countBackchannel('error');
    if (!String(client.backchannelLogoutUri).startsWith('http://127.0.0.1:9/')) {
      console.error('backchannel logout failed', client.clientId, client.backchannelLogoutUri, err.message, err.cause?.message ?? '');
    }
  });
  provider.on('backchannel.success', () => counters.countBackchannel('ok'));
  countTokenRequests(provider, counters);
  overrideUserinfo(provider, userinfoOverrides);
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

// `post_logout_redirect_uri`: the sidecar's `/.auth/logout/done` on the port of the test, i.e.
// each callback pattern with `/.auth/callback` replaced by `/.auth/logout/done`.
function allowPostLogoutRedirectPatterns(provider, config) {
  const patterns = new Map(config.clients.map((c) => [
    c.client_id,
    (c.redirect_uri_patterns ?? []).map((p) => globToRegExp(p.replace(/\/\.auth\/callback$/, '/.auth/logout/done'))),
  ]));
  const strict = provider.Client.prototype.postLogoutRedirectUriAllowed;
  provider.Client.prototype.postLogoutRedirectUriAllowed = function allowed(uri) {
    return strict.call(this, uri) || (patterns.get(this.clientId) ?? []).some((re) => re.test(uri));
  };
}

function globToRegExp(glob) {
  const quoted = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${quoted.join('[^/]*')}$`);
}

// The control API's userinfo overrides, applied to the answer oidc-provider made (which
// always carries the account's own `sub`): what a provider whose userinfo disagrees sends.
function overrideUserinfo(provider, overrides) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'userinfo' || !ctx.body || typeof ctx.body !== 'object') return;
    const override = overrides?.get(ctx.oidc.account?.accountId);
    if (override) ctx.body = { ...ctx.body, ...override };
  });
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
