// Development accounts read from accounts.json (written by
// scripts/run-local.sh): lookup by subject or login name, password check,
// and the claims that Keycloak's realm expresso puts into tokens.

import { readFileSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';

export class AccountsError extends Error {}

function requireString(value, where, field) {
  if (typeof value !== 'string' || value.length === 0) {
    throw new AccountsError(`${where}: "${field}" is missing or not a non-empty string`);
  }
  return value;
}

function parseTenants(tenants, path) {
  if (!Array.isArray(tenants) || tenants.length === 0) {
    throw new AccountsError(`${path}: "tenants" is missing or empty`);
  }
  const bySlug = new Map();
  tenants.forEach((tenant, index) => {
    const where = `${path}: tenants[${index}]`;
    const slug = requireString(tenant?.slug, where, 'slug');
    bySlug.set(slug, requireString(tenant.id, where, 'id'));
  });
  return bySlug;
}

function parseUser(user, where, tenantIds) {
  const tenant = requireString(user?.tenant, where, 'tenant');
  const tenantId = tenantIds.get(tenant);
  if (!tenantId) {
    throw new AccountsError(`${where}: tenant "${tenant}" is not in "tenants"`);
  }
  if (!Array.isArray(user.roles) || !user.roles.every((role) => typeof role === 'string')) {
    throw new AccountsError(`${where}: "roles" must be an array of strings`);
  }
  return {
    id: requireString(user.id, where, 'id'),
    tenantId,
    email: requireString(user.email, where, 'email'),
    username: requireString(user.username, where, 'username'),
    name: requireString(user.name, where, 'name'),
    roles: [...user.roles],
    password: requireString(user.password, where, 'password'),
  };
}

// Keycloak matches the login name case-insensitively against both the
// username and the email address.
function addLogin(byLogin, login, account, where) {
  const key = login.toLowerCase();
  const other = byLogin.get(key);
  if (other && other !== account) {
    throw new AccountsError(`${where}: login name "${login}" is already used by user ${other.id}`);
  }
  byLogin.set(key, account);
}

function digest(text) {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class Accounts {
  constructor(byId, byLogin) {
    this.byId = byId;
    this.byLogin = byLogin;
  }

  static load(path) {
    let document;
    try {
      document = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new AccountsError(`cannot read accounts file ${path}: ${err.message} `
        + '(set DEV_OIDC_ACCOUNTS to the accounts.json that scripts/run-local.sh writes)');
    }

    const tenantIds = parseTenants(document?.tenants, path);
    if (!Array.isArray(document.users) || document.users.length === 0) {
      throw new AccountsError(`${path}: "users" is missing or empty`);
    }

    const byId = new Map();
    const byLogin = new Map();
    document.users.forEach((user, index) => {
      const where = `${path}: users[${index}]`;
      const account = parseUser(user, where, tenantIds);
      if (byId.has(account.id)) {
        throw new AccountsError(`${where}: id ${account.id} is used twice`);
      }
      byId.set(account.id, account);
      addLogin(byLogin, account.username, account, where);
      addLogin(byLogin, account.email, account, where);
    });
    return new Accounts(byId, byLogin);
  }

  get size() {
    return this.byId.size;
  }

  findById(id) {
    return this.byId.get(id);
  }

  // Returns the account when `login` (username or email) and `password`
  // match, else undefined. Compares digests so the time does not depend on
  // where the passwords differ.
  authenticate(login, password) {
    const account = this.byLogin.get(String(login).trim().toLowerCase());
    const expected = digest(account ? account.password : '');
    const matches = timingSafeEqual(expected, digest(String(password)));
    return account && matches ? account : undefined;
  }
}

// Claims released per scope into ID tokens and userinfo. tenant_id and
// realm_access go with openid, so every ID token carries them. Keycloak's
// default roles mapper puts realm roles into access tokens only.
export const SCOPE_CLAIMS = {
  openid: ['sub', 'tenant_id', 'realm_access'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
};

// Claims of the ID token, userinfo and access token. Keycloak derives
// given_name and family_name from the first and last name fields, while
// the accounts file has one display name, split here at its first space.
export function accountClaims(account) {
  const space = account.name.indexOf(' ');
  return {
    sub: account.id,
    tenant_id: account.tenantId,
    email: account.email,
    email_verified: true,
    preferred_username: account.username,
    name: account.name,
    given_name: space > 0 ? account.name.slice(0, space) : account.name,
    family_name: space > 0 ? account.name.slice(space + 1) : undefined,
    realm_access: { roles: [...account.roles] },
  };
}
