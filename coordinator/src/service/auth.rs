//! Bearer-token authentication: every RPC must carry
//! `authorization: Bearer <token>`. The token is compared by its SHA-256
//! digest in constant time, so neither its length nor a prefix leaks
//! through response timing.

use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

/// The shortest token accepted: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Clone)]
pub struct TokenCheck {
    digest: [u8; 32],
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCheck(..)")
    }
}

impl TokenCheck {
    /// Fails for a token too short to be a secret.
    pub fn new(token: &str) -> Result<TokenCheck, String> {
        let token = token.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the token is {} characters long; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)",
                token.len()
            ));
        }
        Ok(TokenCheck { digest: Sha256::digest(token.as_bytes()).into() })
    }

    pub fn check(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let Some(value) = metadata.get("authorization") else {
            return Err(Status::unauthenticated(
                "missing bearer token: set INTERVENE_TOKEN or pass --token-file on the client",
            ));
        };
        let value = value.to_str().map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
        let Some(token) = value.strip_prefix("Bearer ") else {
            return Err(Status::unauthenticated("the authorization header must be `Bearer <token>`"));
        };
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let diff = digest.iter().zip(&self.digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "invalid bearer token: the coordinator was started with a different INTERVENE_TOKEN / --token-file",
            ))
        }
    }

    /// As a tonic interceptor.
    pub fn intercept(&self, request: Request<()>) -> Result<Request<()>, Status> {
        self.check(request.metadata())?;
        Ok(request)
    }
}

/// A fresh random token (256 bits, hex) for `intervene run`.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(value: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Some(v) = value {
            m.insert("authorization", v.parse().unwrap());
        }
        m
    }

    #[test]
    fn only_the_right_token_passes() {
        let check = TokenCheck::new("0123456789abcdef0123").unwrap();
        check.check(&meta(Some("Bearer 0123456789abcdef0123"))).unwrap();
        let wrong = check.check(&meta(Some("Bearer 0123456789abcdef0124"))).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        assert!(wrong.message().starts_with("invalid bearer token"));
        let missing = check.check(&meta(None)).unwrap_err();
        assert!(missing.message().starts_with("missing bearer token"));
        let basic = check.check(&meta(Some("Basic abc"))).unwrap_err();
        assert!(basic.message().contains("Bearer <token>"));
    }

    #[test]
    fn short_tokens_are_refused_and_generated_ones_are_long() {
        assert!(TokenCheck::new("short").unwrap_err().contains("at least 16"));
        let t = generate_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, generate_token());
        TokenCheck::new(&t).unwrap();
    }
}
