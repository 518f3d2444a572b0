// RS256 signing keys kept as a private JWKS file in the state directory.
// The key pair is generated on the first start and reused afterwards, so
// tokens signed before a restart still verify against the JWKS.

import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';

export const JWKS_FILE = 'jwks.json';

// Keycloak's default realm key is RSA with a 2048-bit modulus.
const RSA_MODULUS_BITS = 2048;

function checkJwks(jwks, path) {
  const keys = jwks?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`${path} has no "keys" array. Delete it to generate a new key`);
  }
  keys.forEach((key, index) => {
    if (key.kty !== 'RSA' || !key.d || key.alg !== 'RS256' || typeof key.kid !== 'string') {
      throw new Error(`${path}: keys[${index}] is not an RS256 private key with a kid. Delete the file to generate a new key`);
    }
  });
  return jwks;
}

async function generateJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS });
  const jwk = privateKey.export({ format: 'jwk' });
  jwk.kid = await calculateJwkThumbprint(jwk, 'sha256');
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return { keys: [jwk] };
}

// Returns { jwks, created }, where jwks contains the provider's private keys.
export async function loadOrCreateSigningKeys(stateDir) {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, JWKS_FILE);

  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') {
      throw new Error(`cannot read signing keys ${path}: ${err.message}`);
    }
  }
  if (text !== undefined) {
    let jwks;
    try {
      jwks = JSON.parse(text);
    } catch (err) {
      throw new Error(`${path} is not valid JSON (${err.message}). Delete it to generate a new key`);
    }
    return { jwks: checkJwks(jwks, path), created: false };
  }

  const jwks = await generateJwks();
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(jwks)}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, path);
  return { jwks, created: true };
}
