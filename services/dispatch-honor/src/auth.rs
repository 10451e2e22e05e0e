//! Honor auth: OAuth 2.0 client credentials at `auth_url`; the core's `ClientCredentials` caches
//! the token until shortly before it ends.

use crate::settings::HonorSettings;
use pushmesh_dispatch::auth::ClientCredentials;

pub type Auth = ClientCredentials;

pub fn auth(s: &HonorSettings, http: reqwest::Client) -> Auth {
    ClientCredentials::new(&s.auth_url, &s.client_id, &s.client_secret, http)
}
