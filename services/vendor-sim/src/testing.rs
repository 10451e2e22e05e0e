//! vendor-sim inside a test process, for a vendor client's own tests: no broker, no mesh. The
//! sim answers over HTTP as it does in the mesh; what a test tells it and reads back goes
//! straight to its state, as the `/sim` routes do.

use crate::state::{Fault, SimState};
use crate::Application;
use actix_web::web;
use pushmesh_runtime::{Settings, Shutdown};
use std::path::PathBuf;

pub use crate::state::Recorded;

/// A running vendor-sim; stopped when dropped.
pub struct TestSim {
    port: u16,
    apns_port: u16,
    state: web::Data<SimState>,
    apps_toml: String,
    shutdown: Shutdown,
}

/// The repository's demo credentials (`fixtures/`).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

impl TestSim {
    /// Starts vendor-sim on free ports; it accepts the credentials in `apps_toml` (`[apps...]`
    /// tables, where `{sim}` and `{apns}` stand for its URLs). Must run in an actix system.
    pub fn start(apps_toml: &str) -> TestSim {
        let f = fixtures();
        let toml = format!(
            "data_dir = \"unused\"\n[amqp]\nurl = \"amqp://unused\"\n[vendor_sim]\n\
             listen = \"127.0.0.1:0\"\napns_listen = \"127.0.0.1:0\"\n\
             fcm_public_key_file = \"{}/fcm-demo-public.pem\"\n\
             apns_public_key_file = \"{}/apns-demo-public.pem\"\n{}",
            f.display(),
            f.display(),
            apps_toml
                .replace("{sim}", "http://unused")
                .replace("{apns}", "http://unused"),
        );
        let settings = Settings::from_toml(&toml).expect("the test's settings are valid");
        let shutdown = Shutdown::new();
        let app = Application::build(&settings, &f, shutdown.clone()).expect("vendor-sim starts");
        let (port, apns_port, state) = (app.port(), app.apns_port(), app.state.clone());
        actix_rt::spawn(app.run_until_stopped());
        TestSim {
            port,
            apns_port,
            state,
            apps_toml: apps_toml.to_owned(),
            shutdown,
        }
    }

    /// `[apps.<app>.<vendor>]` of the TOML it started with, its URLs pointing here.
    pub fn table(&self, app: &str, vendor: &str) -> serde_json::Value {
        let toml = format!(
            "data_dir = \"unused\"\n[amqp]\nurl = \"amqp://unused\"\n{}",
            self.apps_toml
                .replace("{sim}", &format!("http://127.0.0.1:{}", self.port))
                .replace("{apns}", &format!("http://127.0.0.1:{}", self.apns_port)),
        );
        let settings = Settings::from_toml(&toml).expect("the test's settings are valid");
        settings.apps[app][vendor].clone()
    }

    /// Every send request `vendor` received, oldest first, as it answered it.
    pub fn requests(&self, vendor: &str) -> Vec<Recorded> {
        self.state.with(vendor, |v| v.requests.clone())
    }

    /// How many access tokens `vendor`'s auth endpoint has issued.
    pub fn tokens_issued(&self, vendor: &str) -> u64 {
        self.state.with(vendor, |v| v.tokens_issued)
    }

    /// From now on `vendor` answers pushes to these tokens as a dead device.
    pub fn kill_tokens(&self, vendor: &str, tokens: &[&str]) {
        let tokens = tokens.iter().map(|t| (*t).to_owned());
        self.state.with(vendor, |v| v.dead_tokens.extend(tokens));
    }

    /// The next `count` send requests are answered with `status`, as the vendor answers it.
    pub fn fail(&self, vendor: &str, status: u16, count: u32) {
        let fault = Fault {
            status,
            count: Some(count),
            for_ms: None,
            retry_after_s: None,
            until_ms: None,
        };
        self.state.with(vendor, |v| v.fault = Some(fault));
    }

    /// Every access token issued so far is expired, as if its hour had passed.
    pub fn expire_access_tokens(&self, vendor: &str) {
        self.state.with(vendor, |v| {
            v.access_tokens.values_mut().for_each(|(exp, _)| *exp = 0)
        });
    }
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}
