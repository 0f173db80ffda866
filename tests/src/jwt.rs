//! HS256 JSON Web Tokens for the local stack: minted here for test callers, verified by the local gateway the way
//! API Gateway's JWT authorizer verifies the identity provider's tokens (signature, expiry, issuer, audience).
//!
//! Locally the key is a random secret per run (`LOCAL_JWT_SECRET`, hex); in AWS the authorizer checks RS256
//! signatures against the issuer's published keys. What the function sees (the verified claims) is the same.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // Hmac takes keys of any length; a 64-byte block holds every secret this fixture makes.
    let mut key = [0u8; 64];
    let n = secret.len().min(64);
    key[..n].copy_from_slice(&secret[..n]);
    <Hmac<Sha256> as KeyInit>::new(&key.into())
}

/// A signed token carrying `claims`.
pub fn mint(secret: &[u8], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    BadSignature,
    Expired,
    WrongIssuer,
    WrongAudience,
}

/// The claims of a token signed with `secret`, unexpired at `now` (Unix seconds), from `issuer`, whose `aud` or
/// `client_id` is one of `audiences` (Cognito access tokens carry `client_id`, ID tokens `aud`).
pub fn verify(
    secret: &[u8],
    token: &str,
    now: i64,
    issuer: &str,
    audiences: &[String],
) -> Result<Map<String, Value>, Refusal> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(Refusal::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(Refusal::Malformed)?;
    if payload.contains('.') {
        return Err(Refusal::Malformed);
    }
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Refusal::Malformed);
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| Refusal::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(Refusal::Malformed);
    }
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&decode(signature)?)
        .map_err(|_| Refusal::BadSignature)?;
    let claims: Map<String, Value> = serde_json::from_slice(&decode(payload)?).map_err(|_| Refusal::Malformed)?;
    if claims.get("exp").and_then(Value::as_i64).is_none_or(|exp| exp <= now) {
        return Err(Refusal::Expired);
    }
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Refusal::WrongIssuer);
    }
    let named = |claim: &str| match claims.get(claim) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let presented = [named("aud"), named("client_id")].concat();
    if !presented.iter().any(|a| audiences.contains(a)) {
        return Err(Refusal::WrongAudience);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"local test secret";

    fn claims(exp: i64) -> Value {
        json!({"iss": "https://idp", "sub": "patient-a", "client_id": "app", "exp": exp, "scope": "a b"})
    }

    #[test]
    fn a_minted_token_verifies_and_gives_back_its_claims() {
        let token = mint(SECRET, &claims(2_000));
        let verified = verify(SECRET, &token, 1_000, "https://idp", &["app".into()]).unwrap();
        assert_eq!(verified["sub"], "patient-a");
    }

    #[test]
    fn tampered_expired_foreign_and_misaddressed_tokens_are_refused() {
        let token = mint(SECRET, &claims(2_000));
        let audiences = ["app".to_owned()];
        assert_eq!(
            verify(b"other", &token, 1_000, "https://idp", &audiences),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &token, 2_000, "https://idp", &audiences),
            Err(Refusal::Expired)
        );
        assert_eq!(
            verify(SECRET, &token, 1_000, "https://other", &audiences),
            Err(Refusal::WrongIssuer)
        );
        assert_eq!(
            verify(SECRET, &token, 1_000, "https://idp", &["web".into()]),
            Err(Refusal::WrongAudience)
        );
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!(
            "{}.{}",
            head.split('.').next().unwrap(),
            URL_SAFE_NO_PAD.encode(claims(9_999).to_string())
        );
        let forged = format!("{forged}.{}", token.rsplit('.').next().unwrap());
        assert_eq!(
            verify(SECRET, &forged, 1_000, "https://idp", &audiences),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(SECRET, "not a token", 1_000, "https://idp", &audiences),
            Err(Refusal::Malformed)
        );
    }
}
