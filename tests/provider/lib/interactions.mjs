// The login and consent pages. oidc-provider's built-in devInteractions accept any password,
// so these replace them with the same form shape (FIELD-NOTES): the login form posts
// `prompt=login`, `login` (the email) and `password` to /interaction/{uid}; the consent form
// posts `prompt=consent`. A wrong password re-renders the login form with 200, like Dex.
import { readBody, sendHtml } from './http.mjs';

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid, prompt, fields, message = '') {
  const inputs = fields.map(([name, type]) => `<input name="${name}" type="${type}">`).join('');
  return `<!doctype html><html><head><title>${prompt}</title></head><body>
<form method="post" action="/interaction/${escape(uid)}">
<input type="hidden" name="prompt" value="${prompt}">${inputs}
<p class="error">${escape(message)}</p><button type="submit">${prompt}</button>
</form></body></html>`;
}

const LOGIN_FIELDS = [['login', 'email'], ['password', 'password']];

// GET /interaction/{uid}
export async function renderInteraction(provider, req, res) {
  const { uid, prompt } = await provider.interactionDetails(req, res);
  const fields = prompt.name === 'login' ? LOGIN_FIELDS : [];
  sendHtml(res, 200, page(uid, prompt.name, fields));
}

// POST /interaction/{uid}
export async function submitInteraction(provider, users, req, res) {
  const details = await provider.interactionDetails(req, res);
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  const { uid, prompt } = details;

  if (form.get('prompt') === 'login' && prompt.name === 'login') {
    const user = users.byEmail(form.get('login'));
    if (!user || user.password !== form.get('password')) {
      sendHtml(res, 200, page(uid, 'login', LOGIN_FIELDS, 'Invalid Email Address and password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }

  if (form.get('prompt') === 'consent' && prompt.name === 'consent') {
    const grantId = await grantEverythingAsked(provider, details);
    await provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  sendHtml(res, 400, page(uid, prompt.name, [], 'unexpected form'));
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
