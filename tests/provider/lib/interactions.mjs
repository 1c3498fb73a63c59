// The login and consent pages, laid out like Dex's (a card "Log in to <app>", labelled fields,
// then "Grant Access"): the demo provider stands in for Dex. oidc-provider's built-in
// devInteractions accept any password, so these replace them with the same form shape
// (FIELD-NOTES): the login form posts `prompt=login`, `login` (the email) and `password` to
// /interaction/{uid}; the consent form posts `prompt=consent` (and `deny` to refuse). A wrong
// password re-renders the login form with 200, like Dex.
import { readBody, sendHtml } from './http.mjs';

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// What Dex's approval screen says for each scope.
const SCOPE_TEXT = {
  openid: 'Know who you are',
  email: 'View your email address',
  profile: 'View basic profile information',
  groups: 'View your groups',
  offline_access: 'Have offline access',
};

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;color:#222}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:6px;
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem;margin:0 0 1.5rem;text-align:center}
label{display:block;margin:.8rem 0 .3rem;font-weight:600}input:not([type=hidden]){width:100%;
box-sizing:border-box;padding:.5rem;border:1px solid #bbb;border-radius:4px}
button{width:100%;margin-top:1.2rem;padding:.6rem;border:0;border-radius:4px;background:#2f6fdc;
color:#fff;font-size:1rem}button.secondary{background:#e3e5e8;color:#222}
.error{color:#b00020}.note{color:#666;font-size:.8rem;text-align:center;margin-top:1.5rem}`;

function layout(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title><style>${STYLE}</style></head><body><main>
${body}
<p class="note">Demo provider: a stand-in for Dex, for local use only.</p>
</main></body></html>`;
}

function loginPage(uid, app, message = '') {
  const error = message ? `<p class="error" role="alert">${escape(message)}</p>` : '';
  return layout(`Log in to ${app}`, `<h1>Log in to ${escape(app)}</h1>${error}
<form method="post" action="/interaction/${escape(uid)}">
<input type="hidden" name="prompt" value="login">
<label for="login">Email Address</label>
<input id="login" name="login" type="email" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Login</button>
</form>`);
}

function consentPage(uid, app, scopes) {
  const items = scopes.map((s) => `<li>${escape(SCOPE_TEXT[s] ?? s)}</li>`).join('');
  return layout(`Grant access to ${app}`, `<h1>Grant Access</h1>
<p><strong>${escape(app)}</strong> would like to:</p><ul>${items}</ul>
<form method="post" action="/interaction/${escape(uid)}">
<input type="hidden" name="prompt" value="consent">
<button type="submit">Grant Access</button>
<button type="submit" name="deny" value="1" class="secondary">Cancel</button>
</form>`);
}

// The name the pages show: the client's client_name, else its client_id.
async function appName(provider, clientId) {
  const client = await provider.Client.find(String(clientId));
  return client?.clientName || String(clientId);
}

// GET /interaction/{uid}
export async function renderInteraction(provider, req, res) {
  const { uid, prompt, params } = await provider.interactionDetails(req, res);
  const app = await appName(provider, params.client_id);
  if (prompt.name === 'login') {
    sendHtml(res, 200, loginPage(uid, app));
    return;
  }
  const scopes = prompt.details.missingOIDCScope ?? String(params.scope ?? '').split(' ');
  sendHtml(res, 200, consentPage(uid, app, scopes.filter(Boolean)));
}

// POST /interaction/{uid}
export async function submitInteraction(provider, users, req, res) {
  const details = await provider.interactionDetails(req, res);
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  const { uid, prompt, params } = details;

  if (form.get('prompt') === 'login' && prompt.name === 'login') {
    const user = users.byEmail(form.get('login'));
    if (!user || user.password !== form.get('password')) {
      const app = await appName(provider, params.client_id);
      sendHtml(res, 200, loginPage(uid, app, 'Invalid Email Address and password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }

  if (form.get('prompt') === 'consent' && prompt.name === 'consent') {
    if (form.get('deny')) {
      await provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'the user refused access',
      }, { mergeWithLastSubmission: false });
      return;
    }
    const grantId = await grantEverythingAsked(provider, details);
    await provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  sendHtml(res, 400, layout('Unexpected form', '<p class="error">unexpected form</p>'));
}

// Approves what the consent prompt says is missing (scopes, claims), as a user clicking
// "Grant Access" on Dex's approval screen would.
async function grantEverythingAsked(provider, { grantId, session, params, prompt }) {
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const { missingOIDCScope, missingOIDCClaims } = prompt.details;
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  return grant.save();
}
