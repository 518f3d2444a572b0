// oidc-provider configured like the Keycloak realm expresso: the same
// endpoint paths, clients, claims, JWT access tokens for the audience
// expresso, PKCE S256 for every client and refresh tokens without
// offline_access.

import { randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
// NOTE: internal modules of oidc-provider 9.13.3, pinned in package.json.
// Check these two paths when upgrading.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

import { SCOPE_CLAIMS, accountClaims } from './accounts.mjs';
import { log } from './log.mjs';
import {
  chooseLocale, errorPage, loggedOutPage, logoutPage,
} from './pages.mjs';

export const AUDIENCE = 'expresso';
export const AUTH_CLIENT_ID = 'expresso-auth';
export const DEV_CLIENT_ID = 'expresso-dev';
export const DEV_REDIRECT_URI = 'http://127.0.0.1/dev-token/callback';

// Keycloak has no resource parameter. Every authorization request here gets
// this resource indicator by default, so every access token is a JWT for the
// audience expresso.
export const RESOURCE_INDICATOR = 'urn:expresso';
const RESOURCE_SCOPE = 'openid email profile offline_access';

// Endpoint paths below the issuer, as Keycloak names them.
export const ROUTES = {
  authorization: '/protocol/openid-connect/auth',
  token: '/protocol/openid-connect/token',
  jwks: '/protocol/openid-connect/certs',
  userinfo: '/protocol/openid-connect/userinfo',
  end_session: '/protocol/openid-connect/logout',
  revocation: '/protocol/openid-connect/revoke',
  pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
};

// Sessions, grants, codes and refresh tokens live in memory and are lost on
// restart. The store keeps at most this many entries, evicting the least
// recently used.
const MAX_STORED_ENTRIES = 100_000;
const CLOCK_TOLERANCE_SECONDS = 15;

// Keycloak's defaults: SSO session max 10 hours, login timeout 30 minutes,
// authorization code 1 minute.
const SESSION_TTL = 10 * 3600;
const INTERACTION_TTL = 30 * 60;
const AUTHORIZATION_CODE_TTL = 60;

const LOGGED_EVENTS = [
  'authorization.error',
  'grant.error',
  'end_session.error',
  'revocation.error',
  'discovery.error',
  'jwks.error',
  'pushed_authorization_request.error',
];

function requestLocale(ctx) {
  return chooseLocale(ctx.oidc?.params?.ui_locales, ctx.get('accept-language'));
}

function buildClients(config) {
  return [
    {
      client_id: AUTH_CLIENT_ID,
      client_name: 'Expresso',
      client_secret: config.clientSecret,
      // oidc-provider accepts client_secret_post too, because it treats the
      // two client secret methods as interchangeable.
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [config.authRedirectUri],
      post_logout_redirect_uris: [config.postLogoutRedirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      client_id: DEV_CLIENT_ID,
      client_name: 'Expresso development tokens',
      token_endpoint_auth_method: 'none',
      redirect_uris: [DEV_REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
  ];
}

// Loads or creates the grant without asking for consent. Both clients are
// first-party, so the grant takes every OpenID and resource scope the
// request names, as Keycloak does for clients without "Consent required".
async function loadFirstPartyGrant(ctx) {
  const { oidc } = ctx;
  const accountId = oidc.session.accountId;
  if (!accountId) {
    return undefined;
  }

  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== accountId) {
    grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId });
  }

  const openidScope = [...oidc.requestParamOIDCScopes].join(' ');
  if (openidScope) {
    grant.addOIDCScope(openidScope);
  }
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
    const scope = [...oidc.requestParamScopes].filter((s) => resourceServer.scopes.has(s)).join(' ');
    if (scope) {
      grant.addResourceScope(indicator, scope);
    }
  }
  await grant.save();
  return grant;
}

export function createProvider(config, accounts, jwks) {
  const store = new LRU({ maxSize: MAX_STORED_ENTRIES });

  const configuration = {
    adapter: (model) => new MemoryAdapter(model, store, CLOCK_TOLERANCE_SECONDS),
    clients: buildClients(config),
    jwks,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      acr: null, sid: null, auth_time: null, iss: null, ...SCOPE_CLAIMS,
    },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    // Keycloak puts the profile and email claims into the ID token of the
    // code flow too, not only into userinfo.
    conformIdTokenClaims: false,
    discovery: { ui_locales_supported: ['pt-BR', 'en'] },
    routes: ROUTES,
    // Keycloak clients have the implicit and hybrid flows off by default.
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = logoutPage(requestLocale(ctx), form, Boolean(ctx.oidc.params.id_token_hint));
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = loggedOutPage(requestLocale(ctx));
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE_INDICATOR,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, indicator) {
          if (indicator !== RESOURCE_INDICATOR) {
            throw new errors.InvalidTarget(`unknown resource indicator, use ${RESOURCE_INDICATOR} or omit the resource parameter`);
          }
          return {
            audience: AUDIENCE,
            scope: RESOURCE_SCOPE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: config.accessTokenTtl,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // RFC 9068 sets the header typ to at+jwt. Keycloak writes JWT, and
        // libjwt 1.10 (Debian 12) rejects at+jwt.
        async jwt(ctx, token, structured) {
          structured.header = { typ: 'JWT' };
        },
      },
    },
    async extraTokenClaims(ctx, token) {
      const account = token.accountId ? accounts.findById(token.accountId) : undefined;
      if (!account) {
        return { azp: token.clientId };
      }
      const { sub, ...claims } = accountClaims(account);
      return { typ: 'Bearer', azp: token.clientId, ...claims };
    },
    async findAccount(ctx, sub) {
      const account = accounts.findById(sub);
      if (!account) {
        return undefined;
      }
      return { accountId: account.id, claims: async () => accountClaims(account) };
    },
    loadExistingGrant: loadFirstPartyGrant,
    // Keycloak issues a refresh token with every code exchange, without the
    // offline_access scope, and a new one on each refresh. Here the old one
    // then stops working, as with Keycloak's "Revoke Refresh Token" on.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    interactions: {
      url: async (ctx, interaction) => `${config.mountPath}/interaction/${interaction.uid}`,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = errorPage(requestLocale(ctx), out.error_description ?? out.error, out);
    },
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: () => config.accessTokenTtl,
      IdToken: () => config.accessTokenTtl,
      AuthorizationCode: () => AUTHORIZATION_CODE_TTL,
      RefreshToken: () => SESSION_TTL,
      Session: () => SESSION_TTL,
      Grant: () => SESSION_TTL,
      Interaction: () => INTERACTION_TTL,
    },
  };

  const provider = new Provider(config.issuer, configuration);

  provider.on('server_error', (ctx, err) => {
    log('error', 'server_error', { route: ctx.oidc?.route, error: err.message, stack: err.stack });
  });
  for (const event of LOGGED_EVENTS) {
    provider.on(event, (ctx, err) => {
      log('warn', event.replace('.', '_'), {
        route: ctx.oidc?.route,
        client_id: ctx.oidc?.client?.clientId,
        error: err.error ?? err.message,
        error_description: err.error_description,
        error_detail: err.error_detail ?? err.cause?.message,
      });
    });
  }
  return provider;
}
