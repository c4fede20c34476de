// A running OpenID Provider for rampart's peer tests: oidc-provider 8 (OpenID-certified)
// on loopback https. Signing keys RS256, ES256 and EdDSA are made at start; three public
// native clients (PKCE, loopback redirect on any port, RFC 8252) get ID tokens signed with
// one algorithm each; their ID tokens carry the email and groups claims. The dev login form accepts any username; the account's claims carry
// an email and groups. Prints the issuer URL on stdout once listening. A line `rotate` on
// stdin rotates the keys: a new RS256 key signs from then on, the old ones stay published
// (the overlap window); `rotated` is printed when done.
//
//   node provider.mjs CERT_PEM KEY_PEM
import https from "node:https";
import fs from "node:fs";
import * as jose from "jose";
import Provider from "oidc-provider";

const [certFile, keyFile] = process.argv.slice(2);
const jwk = async (alg, options, generation = 1) => {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true, ...options });
  return { ...(await jose.exportJWK(privateKey)), alg, use: "sig", kid: `${alg.toLowerCase()}-${generation}` };
};
const keys = [await jwk("RS256", { modulusLength: 2048 }), await jwk("ES256"), await jwk("EdDSA", { crv: "Ed25519" })];

const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) });
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `https://127.0.0.1:${server.address().port}`;

const client = (alg) => ({
  client_id: `rampart-${alg.toLowerCase()}`,
  application_type: "native",
  token_endpoint_auth_method: "none",
  redirect_uris: ["http://127.0.0.1/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  id_token_signed_response_alg: alg,
});

const configuration = (keys) => ({
  clients: ["RS256", "ES256", "EdDSA"].map(client),
  jwks: { keys },
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email", "email_verified"], groups: ["groups"] },
  scopes: ["openid", "email", "groups", "offline_access"],
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: `${sub}@example.test`, email_verified: true, groups: ["developers"] }),
  }),
  enabledJWA: { idTokenSigningAlgValues: ["RS256", "ES256", "EdDSA"] },
  ttl: { IdToken: 600, AccessToken: 600 },
  // Put the scopes' claims (email, groups) into the ID token, as kube-apiserver needs them.
  conformIdTokenClaims: false,
});
server.on("request", new Provider(issuer, configuration(keys)).callback());
console.log(issuer);

let buffered = "";
process.stdin.on("data", async (chunk) => {
  buffered += chunk;
  if (!buffered.includes("rotate\n")) return;
  buffered = "";
  // oidc-provider signs with the first key of an algorithm: the new one goes first.
  const rotated = [await jwk("RS256", { modulusLength: 2048 }, 2), ...keys];
  server.removeAllListeners("request");
  server.on("request", new Provider(issuer, configuration(rotated)).callback());
  console.log("rotated");
});
