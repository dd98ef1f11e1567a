// A relying party on openid-client 6, which implements PAR, private_key_jwt
// and DPoP (with nonces) itself, driven by TestOpenIDClientRP. It prints one
// JSON line per step; it reads the URL the browser reached the partner at
// from standard input.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_KEY (the private JWK, with kid),
// REDIRECT_URI, SCOPE.
import * as client from 'openid-client'
import { createInterface } from 'node:readline'

const say = (step, data) => console.log(JSON.stringify({ step, ...data }))
const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

const jwk = JSON.parse(env('CLIENT_KEY'))
const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
const config = await client.discovery(new URL(env('ISSUER')), env('CLIENT_ID'),
  { id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'private_key_jwt' },
  client.PrivateKeyJwt({ key, kid: jwk.kid }), { execute: [client.allowInsecureRequests] })
const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))

const verifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const nonce = client.randomNonce()
const url = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: env('REDIRECT_URI'), scope: env('SCOPE'), state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  authorization_details: process.env.AUTHORIZATION_DETAILS ?? '',
}, { DPoP: dpop })
say('authorize', { url: url.href })

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const callback = (await lines.next()).value

const tokens = await client.authorizationCodeGrant(config, new URL(callback),
  { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }, undefined, { DPoP: dpop })
say('token', { token_type: tokens.token_type, grant_id: tokens.grant_id, scope: tokens.scope, sub: tokens.claims()?.sub,
  has_refresh: Boolean(tokens.refresh_token), authorization_details: tokens.authorization_details })

const base = new URL(env('ISSUER'))
const fetchJSON = async (token, path, method = 'GET') => {
  let res
  try {
    res = await client.fetchProtectedResource(config, token, new URL(path, base), method, undefined, undefined, { DPoP: dpop })
  } catch (err) {
    if (err?.code !== 'OAUTH_WWW_AUTHENTICATE_CHALLENGE') throw err
    return { status: err.status, body: null, challenge: err.cause }
  }
  const text = await res.text()
  return { status: res.status, body: text ? (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) : null }
}
const list = await fetchJSON(tokens.access_token, '/api/v1/documents')
say('documents', { status: list.status, count: list.body?.documents?.length })
const doc = await fetchJSON(tokens.access_token, '/api/v1/documents/id_card')
say('document', { status: doc.status, jws_parts: typeof doc.body === 'string' ? doc.body.split('.').length : 0 })

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop })
say('refresh', { token_type: refreshed.token_type })
const again = await fetchJSON(refreshed.access_token, '/api/v1/documents')
say('documents_after_refresh', { status: again.status })

const cc = await client.clientCredentialsGrant(config, undefined, { DPoP: dpop })
const grant = await fetchJSON(cc.access_token, `/grants/${tokens.grant_id}`)
say('grant', { status: grant.status, grant_status: grant.body?.status, documents: grant.body?.documents })
const ended = await fetchJSON(cc.access_token, `/grants/${tokens.grant_id}`, 'DELETE')
say('grant_deleted', { status: ended.status })
const after = await fetchJSON(refreshed.access_token, '/api/v1/documents')
say('documents_after_delete', { status: after.status, error: after.challenge?.[0]?.parameters?.error })
process.exit(0)
