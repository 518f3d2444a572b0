// Login interaction: the username-or-email and password form that the
// provider redirects to, and its submission. Consent is granted without a
// page, because both clients are first-party. The provider's
// loadExistingGrant normally grants it before any prompt, so this handler
// sees the consent prompt only when a client sends prompt=consent.

import { errors } from 'oidc-provider';

import { log } from './log.mjs';
import { chooseLocale, errorPage, loginPage, messages } from './pages.mjs';

const MAX_FORM_BYTES = 16 * 1024;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  });
  res.end(html);
}

async function readForm(req) {
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new HttpError(415, `expected an application/x-www-form-urlencoded body, got "${type}"`);
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) {
      throw new HttpError(413, `form body exceeds ${MAX_FORM_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function createLoginHandler(provider, accounts, mountPath) {
  const prefix = `${mountPath}/interaction/`;

  async function showForm(req, res, details, locale) {
    const action = `${prefix}${details.uid}/login`;
    sendHtml(res, 200, loginPage(locale, { action, login: details.params.login_hint ?? '' }));
  }

  async function submitLogin(req, res, details, locale) {
    const form = await readForm(req);
    const login = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const text = messages(locale);
    const action = `${prefix}${details.uid}/login`;

    if (!login || !password) {
      sendHtml(res, 200, loginPage(locale, { action, login, error: text.missingCredentials }));
      return;
    }
    const account = accounts.authenticate(login, password);
    if (!account) {
      log('warn', 'login_failed', { login, client_id: details.params.client_id, reason: 'invalid_credentials' });
      sendHtml(res, 200, loginPage(locale, { action, login, error: text.invalidCredentials }));
      return;
    }

    log('info', 'login_succeeded', { sub: account.id, client_id: details.params.client_id });
    await provider.interactionFinished(req, res, { login: { accountId: account.id } }, {
      mergeWithLastSubmission: false,
    });
  }

  // Grants what the consent prompt lists as missing and resumes the
  // authorization, as Keycloak does for clients without "Consent required".
  async function grantConsent(req, res, details) {
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });

    if (missingOIDCScope) {
      grant.addOIDCScope(missingOIDCScope.join(' '));
    }
    if (missingOIDCClaims) {
      grant.addOIDCClaims(missingOIDCClaims);
    }
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  // Serves GET <mount>/interaction/<uid> and POST <mount>/interaction/<uid>/login.
  // Returns false when the path is not an interaction path.
  return async function handleInteraction(req, res, pathname) {
    if (!pathname.startsWith(prefix)) {
      return false;
    }
    const [uid, step, ...rest] = pathname.slice(prefix.length).split('/');
    let locale = chooseLocale(undefined, req.headers['accept-language']);

    try {
      const isForm = step === undefined && req.method === 'GET';
      const isSubmit = step === 'login' && rest.length === 0 && req.method === 'POST';
      if (!uid || (!isForm && !isSubmit)) {
        throw new HttpError(404, `no interaction route for ${req.method} ${pathname}`);
      }

      const details = await provider.interactionDetails(req, res);
      locale = chooseLocale(details.params.ui_locales, req.headers['accept-language']);
      if (details.uid !== uid) {
        throw new errors.SessionNotFound('interaction cookie does not match the login page');
      }
      if (details.prompt.name === 'consent' && isForm) {
        await grantConsent(req, res, details);
      } else if (details.prompt.name === 'login') {
        await (isForm ? showForm(req, res, details, locale) : submitLogin(req, res, details, locale));
      } else {
        throw new HttpError(400, `unexpected interaction prompt "${details.prompt.name}" for ${req.method} ${pathname}`);
      }
    } catch (err) {
      if (err instanceof errors.SessionNotFound) {
        log('warn', 'interaction_failed', { uid, status: 400, error: err.error_description });
        sendHtml(res, 400, errorPage(locale, messages(locale).sessionNotFound, { error: err.error_description }));
      } else if (err instanceof HttpError) {
        log('warn', 'interaction_failed', { uid, status: err.status, error: err.message });
        sendHtml(res, err.status, errorPage(locale, err.message));
      } else {
        throw err;
      }
    }
    return true;
  };
}
