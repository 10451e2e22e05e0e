//! dispatch-huawei: Huawei Push Kit (HMS, Android and HarmonyOS 3/4) over its v1 REST API, up to
//! 1000 tokens per request. Same parts as every vendor module: `settings`, `request`,
//! `response` (its one table) and `client`, whose `authorize` is the core's OAuth 2.0 client
//! credentials.

mod client;
mod request;
mod response;
mod settings;

pub use client::HuaweiClient;
pub use settings::HuaweiSettings;

#[cfg(test)]
mod tests {
    use super::*;
    use pushmesh_runtime::{Settings, Shutdown};

    /// The core checks every vendor's `*_url` keys before the vendor module sees its table.
    #[test]
    fn a_vendor_url_that_is_not_one_stops_the_start_naming_its_key() {
        // Should the check go, the start would open its store here rather than fail.
        let dir = tempfile::tempdir().unwrap();
        let toml = r#"
            data_dir = "DATA"
            [amqp]
            url = "amqp://127.0.0.1:5672/%2f"
            [apps.demo.huawei]
            app_id = "10086"
            client_secret = "s"
            auth_url = "oauth-login.cloud.huawei.com/oauth2/v3/token"
        "#;
        let toml = toml.replace("DATA", &dir.path().display().to_string());
        let settings = Settings::from_toml(&toml).unwrap();
        let built = pushmesh_dispatch::build::<HuaweiClient>(settings, dir.path(), Shutdown::new());
        let Err(err) = built else {
            panic!("the dispatcher started with an auth_url that is not a URL");
        };
        let err = err.to_string();
        assert!(err.contains("apps.demo.huawei.auth_url"), "{err}");
        assert!(err.contains("relative URL without a base"), "{err}");
    }
}
