//! Who is calling the device API: an app's server, with one of the app's API keys, or a user on
//! a phone, with a token the app's server signed (a JWT: `sub` the user id, `app` the app id,
//! `exp`; HS256 or ES256). docs/contract.md gives the rules; `api.rs` applies them.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pushmesh_runtime::settings::{ApiApp, ApiSettings};
use pushmesh_runtime::SettingsError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// The caller of one request, within the app of its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The app's server: everything in its app.
    Server { key: String },
    /// A user's phone: its own devices only.
    User(String),
}

impl Caller {
    /// What its requests are counted under for the rate limit (never the credential itself).
    pub fn id(&self, app_id: &str) -> String {
        match self {
            Caller::Server { key } => format!("key:{key}"),
            Caller::User(user) => format!("user:{app_id}/{user}"),
        }
    }
}

/// Why a request has no caller: no or a bad credential (401), or one for someone else (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized(String),
    Forbidden(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    app: String,
}

/// Every app's API keys (by their SHA-256, so a lookup takes the same time whatever the key)
/// and the keys its user tokens verify with.
pub struct Credentials {
    keys: HashMap<[u8; 32], String>,
    tokens: HashMap<String, (Algorithm, DecodingKey)>,
}

/// How a server key is named in rate-limit keys: its digest's first 8 bytes.
fn key_id(digest: &[u8; 32]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn read(key: String, path: &Path) -> Result<Vec<u8>, SettingsError> {
    std::fs::read(path).map_err(|e| SettingsError::invalid(key, format!("{}: {e}", path.display())))
}

impl Credentials {
    /// Reads every file `[api.apps.*]` names; an error names the key.
    pub fn load(api: &ApiSettings) -> Result<Self, SettingsError> {
        let mut credentials = Credentials {
            keys: HashMap::new(),
            tokens: HashMap::new(),
        };
        for (app, files) in &api.apps {
            credentials.load_app(app, files)?;
        }
        Ok(credentials)
    }

    fn load_app(&mut self, app: &str, files: &ApiApp) -> Result<(), SettingsError> {
        let key = |name: &str| format!("api.apps.{app}.{name}");
        if let Some(path) = &files.keys_file {
            let text = read(key("keys_file"), path)?;
            let text = String::from_utf8_lossy(&text);
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if line.len() < 16 || line.matches('.').count() == 2 {
                    let why = "each key must be at least 16 characters and not look like a token";
                    return Err(SettingsError::invalid(key("keys_file"), why));
                }
                self.keys.insert(digest(line), app.to_owned());
            }
        }
        let verify = match (&files.token_secret_file, &files.token_public_key_file) {
            (Some(_), Some(_)) => {
                let why = "give token_secret_file or token_public_key_file, not both";
                return Err(SettingsError::invalid(key("token_secret_file"), why));
            }
            (Some(path), None) => {
                let secret = read(key("token_secret_file"), path)?;
                let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
                if secret.len() < 32 {
                    let why = "an HS256 secret must be at least 32 bytes";
                    return Err(SettingsError::invalid(key("token_secret_file"), why));
                }
                Some((Algorithm::HS256, DecodingKey::from_secret(&secret)))
            }
            (None, Some(path)) => {
                let pem = read(key("token_public_key_file"), path)?;
                let decoding = DecodingKey::from_ec_pem(&pem).map_err(|e| {
                    SettingsError::invalid(
                        key("token_public_key_file"),
                        format!("not a P-256 public key: {e}"),
                    )
                })?;
                Some((Algorithm::ES256, decoding))
            }
            (None, None) => None,
        };
        if let Some(v) = verify {
            self.tokens.insert(app.to_owned(), v);
        }
        Ok(())
    }

    /// The app whose server key `key` is, and the server as a caller (the console's login).
    pub fn server_of(&self, key: &str) -> Option<(String, Caller)> {
        let digest = digest(key);
        let app = self.keys.get(&digest)?.clone();
        Some((
            app,
            Caller::Server {
                key: key_id(&digest),
            },
        ))
    }

    /// The caller of a request to `app_id`, from its `Authorization` header.
    pub fn caller(&self, app_id: &str, authorization: Option<&str>) -> Result<Caller, Refusal> {
        let unauthorized = |why: &str| Refusal::Unauthorized(why.to_owned());
        let Some(header) = authorization else {
            return Err(unauthorized(
                "no credential: send Authorization: Bearer <API key or user token>",
            ));
        };
        let Some(credential) = header.strip_prefix("Bearer ").map(str::trim) else {
            return Err(unauthorized(
                "the Authorization header must be `Bearer <API key or user token>`",
            ));
        };
        if credential.matches('.').count() == 2 {
            return self.user(app_id, credential);
        }
        let digest = digest(credential);
        match self.keys.get(&digest) {
            Some(app) if app == app_id => Ok(Caller::Server {
                key: key_id(&digest),
            }),
            Some(_) => Err(Refusal::Forbidden(format!(
                "this API key is another app's, not `{app_id}`'s"
            ))),
            None => Err(unauthorized("unknown API key")),
        }
    }

    /// A user token: verified with the key of the app it names, and only good for that app.
    fn user(&self, app_id: &str, token: &str) -> Result<Caller, Refusal> {
        let unauthorized = |why: String| Refusal::Unauthorized(why);
        // The app the token names picks the key it is verified with; an unverified claim
        // decides nothing else.
        let named = peek_app(token).ok_or_else(|| {
            unauthorized("the token is not a JWT with the claims sub, app and exp".into())
        })?;
        let (alg, key) = self.tokens.get(&named).ok_or_else(|| {
            unauthorized(format!(
                "app `{named}` takes no user tokens (api.apps.{named})"
            ))
        })?;
        let mut validation = Validation::new(*alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = false;
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| unauthorized(token_error(&e, *alg)))?
            .claims;
        if claims.app != app_id {
            return Err(Refusal::Forbidden(format!(
                "the token is for app `{}`, not `{app_id}`",
                claims.app
            )));
        }
        Ok(Caller::User(claims.sub))
    }
}

/// The `app` claim, read without verifying: only to choose the key.
fn peek_app(token: &str) -> Option<String> {
    let mut validation = Validation::default();
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = DecodingKey::from_secret(&[]);
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .ok()
        .map(|d| d.claims.app)
}

fn token_error(e: &jsonwebtoken::errors::Error, alg: Algorithm) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token expired".into(),
        ErrorKind::InvalidSignature => {
            "the token's signature does not verify with the app's key".into()
        }
        ErrorKind::InvalidAlgorithm => format!("the app's user tokens are {alg:?}-signed"),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        _ => format!("the token is malformed: {e}"),
    }
}
