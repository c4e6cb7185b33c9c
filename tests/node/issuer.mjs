// A real OpenID Connect provider for the integration tests: oauth2-mock-server serves
// discovery and the JWKS on 127.0.0.1; a small control API beside it signs tokens with any
// claims, rotates and retires keys, and counts JWKS fetches.
//
// Prints one JSON line on stdout once both listen: {"issuer": "...", "control": "..."}.
// Node modules come from MEDGRID_TEST_NODE_MODULES (installed by scripts/node-deps).
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.MEDGRID_TEST_NODE_MODULES;
if (!modules) {
  console.error('MEDGRID_TEST_NODE_MODULES is not set: run scripts/node-deps');
  process.exit(2);
}
const load = (name, file) => import(pathToFileURL(path.join(modules, name, file)).href);
const { OAuth2Server } = await load('oauth2-mock-server', 'dist/index.mjs');
const jose = await load('jose', 'dist/webapi/index.js');

const server = new OAuth2Server();
let current = (await server.issuer.keys.generate('RS256')).kid;
const retired = new Set();
let jwksFetches = 0;

// The JWKS endpoint publishes `keys.toJSON()` (no argument): retired keys leave that set
// (the store itself cannot forget a key), and each call is a fetch to count.
const toJSON = server.issuer.keys.toJSON.bind(server.issuer.keys);
server.issuer.keys.toJSON = (priv) => {
  if (priv === undefined) jwksFetches += 1;
  return toJSON(priv).filter((k) => !retired.has(k.kid));
};

// Browser sign-in (authorization code + PKCE): the provider approves at once and signs
// the tokens for whoever the test says is signing in (POST /login-as); POST /next-nonce
// makes the next ID token carry another nonce (a replayed or forged response).
let loginClaims = { sub: 'browser-user', email: 'browser@example.org', email_verified: true };
let nonceOverride = null;
server.service.on('beforeTokenSigning', (token) => {
  const { aud } = token.payload;
  Object.assign(token.payload, loginClaims);
  if (aud !== undefined) token.payload.aud = aud;
  if (nonceOverride !== null && 'nonce' in token.payload) {
    token.payload.nonce = nonceOverride;
    nonceOverride = null;
  }
});

// How the last token request authenticated its client (Basic header, or form fields).
let tokenAuth = null;
server.service.on('beforeResponse', (_response, req) => {
  const body = req.body ?? {};
  tokenAuth = req.headers.authorization
    ?? (body.client_secret ? `post ${body.client_id}:${body.client_secret}` : null);
});

await server.start(0, '127.0.0.1');
// The library names itself `localhost`; tests bind and speak only 127.0.0.1.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
const issuerUrl = server.issuer.url;

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

async function sign(body) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: issuerUrl, iat: now, nbf: now - 5, exp: now + 600, ...body.claims };
  for (const [k, v] of Object.entries(claims)) if (v === null) delete claims[k];
  const kid = body.kid ?? current;
  if (body.alg === 'none') {
    return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
  }
  if (body.alg === 'HS256-public') {
    // The key-confusion attack: an HMAC whose secret is the provider's public key.
    const pub = server.issuer.keys.toJSON(false).find((k) => k.kid === kid);
    const secret = new TextEncoder().encode(JSON.stringify(pub));
    return new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid }).sign(secret);
  }
  // A kid the store does not hold (a forged or withdrawn key id) still gets a real
  // signature, by the current key, under that kid.
  const known = server.issuer.keys.get(kid) !== undefined;
  return server.issuer.buildToken({
    kid: known ? kid : current,
    scopesOrTransform: (header, payload) => {
      header.kid = kid;
      for (const k of Object.keys(payload)) delete payload[k];
      Object.assign(payload, claims);
    },
  });
}

async function control(req, res) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  const body = raw ? JSON.parse(raw) : {};
  let answer;
  if (req.url === '/token') {
    answer = { token: await sign(body) };
  } else if (req.url === '/rotate') {
    // a new key signs from now on; the old one stays published until retired
    current = (await server.issuer.keys.generate('RS256')).kid;
    answer = { kid: current };
  } else if (req.url === '/retire') {
    retired.add(body.kid);
    answer = { retired: body.kid };
  } else if (req.url === '/login-as') {
    loginClaims = body.claims;
    answer = { ok: true };
  } else if (req.url === '/next-nonce') {
    nonceOverride = body.nonce;
    answer = { ok: true };
  } else if (req.url === '/state') {
    answer = { issuer: issuerUrl, kid: current, jwksFetches, tokenAuth };
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
}

const ctl = http.createServer((req, res) => {
  control(req, res).catch((e) => {
    res.writeHead(500).end(String(e));
  });
});
ctl.listen(0, '127.0.0.1', () => {
  const { port } = ctl.address();
  console.log(JSON.stringify({ issuer: issuerUrl, control: `http://127.0.0.1:${port}` }));
});

// Stop with the test: stdin closes when the test process drops the child.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
