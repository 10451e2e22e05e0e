//! Huawei auth: OAuth 2.0 client credentials with the app id (as client id) and the app secret,
//! at `auth_url`; the core's `ClientCredentials` caches the token until shortly before it ends.

use crate::settings::HuaweiSettings;
use pushmesh_dispatch::auth::ClientCredentials;

pub type Auth = ClientCredentials;

pub fn auth(s: &HuaweiSettings, http: reqwest::Client) -> Auth {
    ClientCredentials::new(&s.auth_url, &s.app_id, &s.client_secret, http)
}
