// Userinfo endpoint for the JWT access tokens this provider issues.
// oidc-provider's own userinfo endpoint accepts only opaque tokens without
// an audience, while Keycloak's accepts its access tokens. This handler
// verifies the token against the provider's signing keys and returns the
// account's claims for the token's scopes.

import { createLocalJWKSet, jwtVerify } from 'jose';

import { SCOPE_CLAIMS, accountClaims } from './accounts.mjs';

const CLOCK_TOLERANCE_SECONDS = 15;

// Public members of the provider's private RSA keys.
export function publicJwks(jwks) {
  return {
    keys: jwks.keys.map(({
      kty, n, e, kid, alg, use,
    }) => ({
      kty, n, e, kid, alg, use,
    })),
  };
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

// RFC 6750 section 3: the error code goes into WWW-Authenticate, and a
// request without a token gets no error code.
function sendBearerError(res, status, error, description) {
  const params = ['realm="expresso"'];
  if (error !== 'invalid_request') {
    params.push(`error="${error}"`, `error_description="${description.replace(/["\\]/g, '')}"`);
  }
  sendJson(res, status, { error, error_description: description }, {
    'WWW-Authenticate': `Bearer ${params.join(', ')}`,
  });
}

function claimsForScopes(account, scopes) {
  const all = accountClaims(account);
  const released = {};
  for (const scope of scopes) {
    for (const name of SCOPE_CLAIMS[scope] ?? []) {
      if (all[name] !== undefined) {
        released[name] = all[name];
      }
    }
  }
  return released;
}

export function createUserinfoHandler({
  issuer, audience, jwks, accounts,
}) {
  const keySet = createLocalJWKSet(publicJwks(jwks));

  return async function handleUserinfo(req, res) {
    if (req.method !== 'GET' && req.method !== 'POST') {
      sendJson(res, 405, { error: 'invalid_request', error_description: 'use GET or POST' }, { Allow: 'GET, POST' });
      return;
    }
    const match = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(req.headers.authorization ?? '');
    if (!match) {
      sendBearerError(res, 401, 'invalid_request', 'missing access token: send it as "Authorization: Bearer <token>"');
      return;
    }

    let payload;
    try {
      ({ payload } = await jwtVerify(match[1], keySet, {
        issuer,
        audience,
        algorithms: ['RS256'],
        typ: 'JWT',
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (err) {
      sendBearerError(res, 401, 'invalid_token', `access token rejected: ${err.message}`);
      return;
    }

    const scopes = String(payload.scope ?? '').split(' ');
    if (!scopes.includes('openid')) {
      sendBearerError(res, 403, 'insufficient_scope', 'access token lacks the openid scope');
      return;
    }
    const account = accounts.findById(payload.sub);
    if (!account) {
      sendBearerError(res, 401, 'invalid_token', `access token subject ${payload.sub} is not a known account`);
      return;
    }
    sendJson(res, 200, claimsForScopes(account, scopes));
  };
}
