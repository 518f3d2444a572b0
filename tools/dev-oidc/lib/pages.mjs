// HTML pages of the provider: login form, logout confirmation, logout done
// and error page, in Brazilian Portuguese unless the request prefers
// English. Pages load nothing from other hosts.

const MESSAGES = {
  'pt-BR': {
    loginTitle: 'Entrar no Expresso',
    login: 'Usuário ou e-mail',
    password: 'Senha',
    submit: 'Entrar',
    invalidCredentials: 'Usuário ou senha inválidos.',
    missingCredentials: 'Informe o usuário ou e-mail e a senha.',
    sessionNotFound: 'A sessão de login expirou ou não foi encontrada. Volte ao aplicativo e entre de novo.',
    errorTitle: 'Não foi possível concluir a solicitação',
    logoutTitle: 'Sair do Expresso',
    logoutQuestion: 'Deseja sair do Expresso?',
    logoutYes: 'Sair',
    logoutNo: 'Continuar conectado',
    loggedOut: 'Você saiu do Expresso.',
  },
  en: {
    loginTitle: 'Sign in to Expresso',
    login: 'Username or email',
    password: 'Password',
    submit: 'Sign in',
    invalidCredentials: 'Invalid username or password.',
    missingCredentials: 'Enter your username or email and your password.',
    sessionNotFound: 'The login session expired or was not found. Go back to the application and sign in again.',
    errorTitle: 'The request could not be completed',
    logoutTitle: 'Sign out of Expresso',
    logoutQuestion: 'Do you want to sign out of Expresso?',
    logoutYes: 'Sign out',
    logoutNo: 'Stay signed in',
    loggedOut: 'You are signed out of Expresso.',
  },
};

export const DEFAULT_LOCALE = 'pt-BR';

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:48px 16px;color:#1d2330}
main{max-width:360px;margin:0 auto;background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.2);padding:24px 32px}
h1{font-size:1.4em;font-weight:500;margin:0 0 16px}label{display:block;margin:12px 0 4px}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;height:40px;padding:0 8px;font-size:16px;border:1px solid #b8bdc7;border-radius:4px}
button{width:100%;height:40px;margin-top:16px;font-size:15px;border:0;border-radius:4px;background:#1a5fb4;color:#fff;cursor:pointer}
button.secondary{background:#e1e4ea;color:#1d2330}
.error{color:#b00020;background:#fdecee;border-radius:4px;padding:8px 12px;margin:0 0 8px}pre{white-space:pre-wrap;word-break:break-word}`;

function escapeHtml(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

// Parses an Accept-Language header into tags ordered by quality value,
// keeping the header order among equal values.
function acceptedLanguages(header) {
  return String(header ?? '')
    .split(',')
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const quality = q === undefined ? 1 : Number(q.slice(2));
      return { tag: tag.trim(), quality: Number.isFinite(quality) ? quality : 0, index };
    })
    .filter(({ tag, quality }) => tag && quality > 0)
    .sort((a, b) => b.quality - a.quality || a.index - b.index)
    .map(({ tag }) => tag);
}

// Picks the page language from the authorization request's ui_locales,
// then from Accept-Language. Portuguese is the default when neither names
// a supported language.
export function chooseLocale(uiLocales, acceptLanguage) {
  const candidates = [
    ...String(uiLocales ?? '').split(' ').filter(Boolean),
    ...acceptedLanguages(acceptLanguage),
  ];
  for (const tag of candidates) {
    const lower = tag.toLowerCase();
    if (lower === 'pt' || lower.startsWith('pt-')) return 'pt-BR';
    if (lower === 'en' || lower.startsWith('en-')) return 'en';
  }
  return DEFAULT_LOCALE;
}

export function messages(locale) {
  return MESSAGES[locale] ?? MESSAGES[DEFAULT_LOCALE];
}

function page(locale, title, body, script = '') {
  return `<!DOCTYPE html>
<html lang="${locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>${script ? `\n<script>${script}</script>` : ''}
</body>
</html>
`;
}

// Element ids follow Keycloak's login theme, login.ftl (kc-form-login,
// username, password, kc-login, input-error), so browser tests work
// against both.
export function loginPage(locale, { action, login = '', error }) {
  const text = messages(locale);
  const errorHtml = error ? `<p class="error" id="input-error" role="alert">${escapeHtml(error)}</p>\n` : '';
  const body = `${errorHtml}<form id="kc-form-login" method="post" action="${escapeHtml(action)}">
<label for="username">${escapeHtml(text.login)}</label>
<input type="text" id="username" name="username" value="${escapeHtml(login)}" autocomplete="username" autofocus required>
<label for="password">${escapeHtml(text.password)}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="kc-login">${escapeHtml(text.submit)}</button>
</form>`;
  return page(locale, text.loginTitle, body);
}

export function errorPage(locale, message, details = {}) {
  const text = messages(locale);
  const rows = Object.entries(details)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `<pre><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</pre>`)
    .join('\n');
  return page(locale, text.errorTitle, `<p class="error" role="alert">${escapeHtml(message)}</p>\n${rows}`);
}

// `form` is the provider's empty logout form (id op.logoutForm, with its
// xsrf field). With an id_token_hint the page submits itself, as Keycloak
// logs out without asking when the request identifies the session.
export function logoutPage(locale, form, autoSubmit) {
  const text = messages(locale);
  const body = `${form}
<p>${escapeHtml(text.logoutQuestion)}</p>
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="kc-logout">${escapeHtml(text.logoutYes)}</button>
<button type="submit" form="op.logoutForm" class="secondary">${escapeHtml(text.logoutNo)}</button>`;
  const script = autoSubmit ? "document.getElementById('kc-logout').click();" : '';
  return page(locale, text.logoutTitle, body, script);
}

export function loggedOutPage(locale) {
  const text = messages(locale);
  return page(locale, text.logoutTitle, `<p>${escapeHtml(text.loggedOut)}</p>`);
}
