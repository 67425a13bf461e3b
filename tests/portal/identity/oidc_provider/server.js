// A real OpenID provider for the identity tests: panva's oidc-provider, with
// its users, groups and the client's redirect URIs read from a JSON file at
// each use, so a test changes someone's groups, disables them or makes the
// provider misbehave by rewriting the file (see tests/portal/identity/oidc.py).
//
//   STATE_FILE=/tmp/idp.json PORT=8123 node server.js
//
// The state file:
//   {"client": {"client_id": "...", "client_secret": "...", "redirect_uris": [...]},
//    "users": [{"sub", "username", "password", "email", "name", "given_name",
//               "family_name", "groups": [...], "disabled": false}],
//    "tamper": null | "audience" | "issuer" | "nonce" | "signature" | "expired"
//              | "hs256" | "unsigned" | "token-garbage" | "discovery-garbage"
//              | "discovery-issuer" | "userinfo-sub" | "userinfo-garbage"}

import fs from 'node:fs';
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';

const port = Number(process.env.PORT);
const stateFile = process.env.STATE_FILE;
const issuer = `http://127.0.0.1:${port}`;

function state() {
  return JSON.parse(fs.readFileSync(stateFile, 'utf8'));
}

function userBySub(sub) {
  return state().users.find((user) => user.sub === sub);
}

async function signingKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

const key = await signingKey();
// Signs as the provider would, with a key the provider never published.
const foreignKey = { ...(await signingKey()), kid: key.kid };

const client = state().client;
const provider = new Provider(issuer, {
  clients: [{
    client_id: client.client_id,
    client_secret: client.client_secret,
    // Replaced below by the state file's list, read at each authorization.
    redirect_uris: ['http://127.0.0.1/unused'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  jwks: { keys: [key] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    groups: ['groups'],
  },
  // Squadron gets the claims from the ID token, as Keycloak and Entra ID send them.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  // Refresh tokens for every login (offline_access or not), as Keycloak does:
  // a refresh is how Squadron learns that someone was disabled.
  issueRefreshToken: async (ctx, cl) => cl.grantTypeAllowed('refresh_token'),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = userBySub(sub);
    if (!user || user.disabled) return undefined;
    return {
      accountId: sub,
      async claims() {
        const { username, password, disabled, ...claims } = userBySub(sub) ?? user;
        return { ...claims, preferred_username: username, email_verified: true };
      },
    };
  },
});
provider.proxy = false;

const allowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
  return state().client.redirect_uris.includes(uri) || allowed.call(this, uri);
};

async function resign(token, changes, jwk) {
  const header = decodeProtectedHeader(token);
  const payload = { ...decodeJwt(token), ...changes };
  return new SignJWT(payload).setProtectedHeader(header).sign(await importJWK(jwk, 'RS256'));
}

// The ways a provider (or whoever stands in its place) answers wrong.
provider.use(async (ctx, next) => {
  const tamper = state().tamper;
  if (tamper === 'discovery-garbage' && ctx.path === '/.well-known/openid-configuration') {
    ctx.type = 'text/html';
    ctx.body = '<html><body>Bad gateway</body></html>';
    return;
  }
  await next();
  if (tamper === 'discovery-issuer' && ctx.path === '/.well-known/openid-configuration') {
    ctx.body = { ...ctx.body, issuer: 'http://evil.example' };
  }
  if (ctx.oidc?.route === 'token' && ctx.body?.id_token && ctx.oidc.params?.grant_type === 'authorization_code') {
    const token = ctx.body.id_token;
    const now = Math.floor(Date.now() / 1000);
    if (tamper === 'audience') ctx.body.id_token = await resign(token, { aud: 'another-client' }, key);
    if (tamper === 'issuer') ctx.body.id_token = await resign(token, { iss: 'http://evil.example' }, key);
    if (tamper === 'nonce') ctx.body.id_token = await resign(token, { nonce: 'replayed-nonce' }, key);
    if (tamper === 'expired') ctx.body.id_token = await resign(token, { iat: now - 7200, exp: now - 3600 }, key);
    if (tamper === 'signature') ctx.body.id_token = await resign(token, {}, foreignKey);
    if (tamper === 'hs256') {
      // The key confusion attack: an HMAC keyed with what the client knows.
      const secret = new TextEncoder().encode(state().client.client_secret);
      ctx.body.id_token = await new SignJWT(decodeJwt(token))
        .setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(secret);
    }
    if (tamper === 'unsigned') {
      const encode = (part) => Buffer.from(JSON.stringify(part)).toString('base64url');
      ctx.body.id_token = `${encode({ alg: 'none' })}.${encode(decodeJwt(token))}.`;
    }
    if (tamper === 'token-garbage') {
      ctx.type = 'text/html';
      ctx.body = '<html><body>Bad gateway</body></html>';
    }
  }
  if (tamper === 'userinfo-garbage' && ctx.path === '/me') {
    ctx.type = 'application/json';
    ctx.body = '["not", "claims"]';
  }
  if (tamper === 'userinfo-sub' && ctx.path === '/me' && ctx.body?.sub) {
    ctx.body = { ...ctx.body, sub: 'someone-else' };
  }
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(res, uid, message = '') {
  res.statusCode = message ? 401 : 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html lang="en"><head><title>Test provider: log in</title></head><body>
<h1>Test identity provider</h1>${message ? `<p role="alert">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    if (req.method === 'GET') return loginPage(res, uid);
    const form = await readForm(req);
    const user = state().users.find((u) => u.username === form.get('username'));
    if (!user || user.password !== form.get('password')) return loginPage(res, uid, 'Wrong username or password.');
    if (user.disabled) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'This account is disabled.',
      }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  }
  // Consent: Squadron is a first-party client, granted what it asks.
  const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
http.createServer(async (req, res) => {
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    res.statusCode = 400;
    res.end(`Interaction failed: ${escape(error.message)}`);
  }
}).listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
