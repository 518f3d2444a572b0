// Settings of the development OpenID Connect provider, read once from
// environment variables. Every error names the variable and what to set.

import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_ACCESS_TOKEN_TTL = 3600;
const MAX_TTL = 7 * 24 * 3600;

export class ConfigError extends Error {}

function parseInteger(name, raw, min, max) {
  if (!/^[0-9]+$/.test(raw)) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is invalid: expected a whole number from ${min} to ${max}`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(`${name}=${raw} is out of range: expected ${min} to ${max}`);
  }
  return value;
}

// The provider serves development accounts with known passwords, so it
// listens on a loopback address only.
function isLoopback(host) {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function parseUrl(name, raw) {
  const url = URL.parse(raw);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is invalid: expected an absolute http:// or https:// URL`);
  }
  return url;
}

export function loadConfig(env = process.env) {
  const port = parseInteger('DEV_OIDC_PORT', env.DEV_OIDC_PORT ?? String(DEFAULT_PORT), 1, 65535);

  const host = env.DEV_OIDC_HOST ?? DEFAULT_HOST;
  if (!isLoopback(host)) {
    throw new ConfigError(`DEV_OIDC_HOST=${host} is not a loopback address: use 127.0.0.1, ::1 or localhost`);
  }

  const issuerUrl = parseUrl('DEV_OIDC_ISSUER', env.DEV_OIDC_ISSUER ?? `http://127.0.0.1:${port}/realms/expresso`);
  if (issuerUrl.search || issuerUrl.hash) {
    throw new ConfigError(`DEV_OIDC_ISSUER=${issuerUrl.href} is invalid: an issuer has no query or fragment`);
  }
  const issuer = issuerUrl.href.replace(/\/$/, '');
  const mountPath = issuerUrl.pathname.replace(/\/$/, '');

  const clientSecret = env.EXPRESSO_OIDC_CLIENT_SECRET;
  if (!clientSecret) {
    throw new ConfigError('EXPRESSO_OIDC_CLIENT_SECRET is not set: the confidential client expresso-auth needs a secret '
      + '(scripts/run-local.sh writes it to $EXPRESSO_STATE_DIR/stack.env)');
  }

  const authRedirectUri = parseUrl('DEV_OIDC_AUTH_REDIRECT_URI',
    env.DEV_OIDC_AUTH_REDIRECT_URI ?? 'http://127.0.0.1:8100/auth/callback').href;
  // The default is the root of the callback's origin, so a port offset
  // applied to the callback applies here too.
  const postLogoutRedirectUri = parseUrl('DEV_OIDC_POST_LOGOUT_REDIRECT_URI',
    env.DEV_OIDC_POST_LOGOUT_REDIRECT_URI ?? `${new URL(authRedirectUri).origin}/`).href;

  const accessTokenTtl = parseInteger('DEV_OIDC_ACCESS_TOKEN_TTL',
    env.DEV_OIDC_ACCESS_TOKEN_TTL ?? String(DEFAULT_ACCESS_TOKEN_TTL), 60, MAX_TTL);

  return {
    port,
    host,
    issuer,
    mountPath,
    accountsPath: resolve(env.DEV_OIDC_ACCOUNTS ?? resolve(REPO_ROOT, '.local', 'accounts.json')),
    stateDir: resolve(env.DEV_OIDC_STATE_DIR ?? resolve(REPO_ROOT, '.local', 'dev-oidc')),
    clientSecret,
    authRedirectUri,
    postLogoutRedirectUri,
    accessTokenTtl,
  };
}
