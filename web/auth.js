// Sign-in with the authorization code flow and PKCE (S256), the same requests for Cognito's hosted UI and the local
// stand-in. The tokens live in this module's memory only: never in localStorage, sessionStorage or cookies, so a
// reload or a closed tab forgets them and another script on the origin cannot find them in storage.

const PENDING_KEY = "pendingSignIn";

/** The signed-in session: { accessToken, idToken, expiresAt (ms), claims } or null. */
let session = null;

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(byteCount) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The page's root: the redirect URI registered with the identity provider, and where sign-out returns. */
export function pageRoot() {
  return location.origin + "/";
}

/** Sends the browser to the identity provider's sign-in page. */
export async function beginSignIn(config) {
  const state = randomString(16);
  const verifier = randomString(32);
  // A full-page redirect loses this page's memory, so the pending sign-in's state and code_verifier (and nothing
  // else) wait in sessionStorage for the round trip; completeSignIn deletes them on return. The tokens never go there.
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, verifier }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: pageRoot(),
    scope: config.scopes,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${config.authorizeUrl}?${query}`);
}

/** A sign-in that could not be completed; its message is for people. */
export class SignInError extends Error {}

/**
 * Completes a sign-in when the identity provider sent the browser back with ?code&state (or ?error): checks the
 * state, exchanges the code for tokens and removes the parameters from the address. Returns true when signed in.
 */
export async function completeSignIn(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, "", location.pathname + location.hash);

  if (params.has("error")) {
    throw new SignInError(`The sign-in was not completed (${params.get("error")}). Sign in again.`);
  }
  if (!pending || pending.state !== params.get("state")) {
    throw new SignInError("This sign-in answer does not belong to a sign-in started here. Sign in again.");
  }
  let response;
  try {
    response = await fetch(config.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: config.clientId,
        code: params.get("code"),
        redirect_uri: pageRoot(),
        code_verifier: pending.verifier,
      }),
    });
  } catch {
    throw new SignInError("The sign-in service could not be reached. Check your connection and sign in again.");
  }
  if (!response.ok) {
    throw new SignInError(`The sign-in service refused the sign-in (HTTP ${response.status}). Sign in again.`);
  }
  const tokens = await response.json();
  session = {
    accessToken: tokens.access_token,
    idToken: tokens.id_token,
    expiresAt: Date.now() + Number(tokens.expires_in || 3600) * 1000,
    claims: payloadOf(tokens.access_token),
    idClaims: tokens.id_token ? payloadOf(tokens.id_token) : {},
  };
  return true;
}

/** The claims of a JWT, read but not verified: the API verifies the token; the page only needs the grants. */
function payloadOf(jwt) {
  const part = String(jwt).split(".")[1] || "";
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The access token while it is valid, else null (an expired session is forgotten). */
export function accessToken() {
  if (session && Date.now() >= session.expiresAt) session = null;
  return session ? session.accessToken : null;
}

export function signedIn() {
  return accessToken() !== null;
}

/** What to call the signed-in person: a name from the tokens, never their opaque subject id. */
export function displayName() {
  if (!session) return "";
  const c = { ...session.claims, ...session.idClaims };
  return c.name || c.email || c["cognito:username"] || c.username || "Signed in";
}

/**
 * The person's site grants from the groups claim: `site:CARDIO-7/S01` is study CARDIO-7, site S01. Sorted, without
 * duplicates or malformed entries.
 */
export function grants(config) {
  if (!session) return [];
  const groups = session.claims[config.groupsClaim];
  const list = Array.isArray(groups) ? groups : typeof groups === "string" ? groups.split(/[\s,]+/) : [];
  const seen = new Map();
  for (const group of list) {
    if (typeof group !== "string" || !group.startsWith(config.sitePrefix)) continue;
    const [study, site, ...rest] = group.slice(config.sitePrefix.length).split("/");
    if (!study || !site || rest.length) continue;
    seen.set(`${study}/${site}`, { study, site });
  }
  return [...seen.values()].sort((a, b) => a.study.localeCompare(b.study) || a.site.localeCompare(b.site));
}

/** Forgets the tokens (memory only), then leaves through the identity provider's sign-out. */
export function signOut(config) {
  forget();
  const query = new URLSearchParams({ client_id: config.clientId, logout_uri: pageRoot() });
  location.assign(`${config.logoutUrl}?${query}`);
}

/** Forgets the tokens without leaving the page (an expired or refused token). */
export function forget() {
  session = null;
}
