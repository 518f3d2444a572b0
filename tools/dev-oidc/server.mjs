// Development OpenID Connect provider for the local stack and the tests,
// configured like the Keycloak realm expresso (see README.md). It serves
// the issuer under its path (default /realms/expresso), a login page, a
// userinfo endpoint for JWT access tokens and GET /health. Production
// uses Keycloak.

import http from 'node:http';

// First, so that notices printed while oidc-provider loads are logged as JSON.
import { log } from './lib/log.mjs';
import { Accounts } from './lib/accounts.mjs';
import { loadConfig } from './lib/config.mjs';
import { loadOrCreateSigningKeys } from './lib/keys.mjs';
import { createLoginHandler } from './lib/login.mjs';
import { AUDIENCE, ROUTES, createProvider } from './lib/provider.mjs';
import { createUserinfoHandler } from './lib/userinfo.mjs';

// Time given to open connections after SIGTERM before they are closed.
const SHUTDOWN_GRACE_MS = 3000;

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

// True when pathname is the issuer path or below it.
function underMount(pathname, mountPath) {
  return mountPath === '' || pathname === mountPath || pathname.startsWith(`${mountPath}/`);
}

function createRouter(config, accounts, jwks) {
  const provider = createProvider(config, accounts, jwks);
  const providerCallback = provider.callback();
  const handleInteraction = createLoginHandler(provider, accounts, config.mountPath);
  const handleUserinfo = createUserinfoHandler({
    issuer: config.issuer, audience: AUDIENCE, jwks, accounts,
  });
  const userinfoPath = `${config.mountPath}${ROUTES.userinfo}`;

  return async function route(req, res) {
    const pathname = req.url.split('?')[0];

    if (pathname === '/health') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (pathname === userinfoPath) {
      await handleUserinfo(req, res);
      return;
    }
    if (await handleInteraction(req, res, pathname)) {
      return;
    }
    if (!underMount(pathname, config.mountPath)) {
      sendJson(res, 404, { error: 'not_found', error_description: `no route for ${pathname}, the issuer is ${config.issuer}` });
      return;
    }

    // oidc-provider routes on the path relative to the issuer and derives
    // its endpoint URLs from the difference between originalUrl and url.
    req.originalUrl = req.url;
    const relative = req.url.slice(config.mountPath.length);
    req.url = relative.startsWith('/') ? relative : `/${relative}`;
    await providerCallback(req, res);
  };
}

function listen(server, config) {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      const hint = err.code === 'EADDRINUSE'
        ? '; stop the process that holds the port or set DEV_OIDC_PORT'
        : '';
      reject(new Error(`cannot listen on ${config.host}:${config.port}: ${err.message}${hint}`));
    });
    server.listen(config.port, config.host, resolve);
  });
}

function stopOnSignals(server) {
  let stopping = false;
  const stop = (signal) => {
    if (stopping) {
      return;
    }
    stopping = true;
    log('info', 'stopping', { signal });
    server.close(() => {
      log('info', 'stopped', { signal });
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main() {
  const config = loadConfig();
  const accounts = Accounts.load(config.accountsPath);
  const { jwks, created } = await loadOrCreateSigningKeys(config.stateDir);
  const route = createRouter(config, accounts, jwks);

  const server = http.createServer((req, res) => {
    route(req, res).catch((err) => {
      log('error', 'request_failed', { method: req.method, path: req.url.split('?')[0], error: err.message, stack: err.stack });
      if (!res.headersSent) {
        sendJson(res, 500, { error: 'server_error', error_description: 'internal error, see the provider log for details' });
      } else {
        res.destroy();
      }
    });
  });

  await listen(server, config);
  stopOnSignals(server);
  log('info', 'started', {
    host: config.host,
    port: config.port,
    issuer: config.issuer,
    accounts_file: config.accountsPath,
    accounts: accounts.size,
    state_dir: config.stateDir,
    signing_key: created ? 'generated' : 'loaded',
    kid: jwks.keys[0].kid,
  });
}

main().catch((err) => {
  log('error', 'start_failed', { error: err.message });
  process.exit(1);
});
