//! The settings of one test mesh, and the ports it runs on.

use crate::{repo_root, Vhost};

#[derive(Clone, Copy)]
pub struct Ports {
    pub sim: u16,
    pub apns: u16,
    pub ingest: u16,
    pub presence: u16,
    pub registry: u16,
    /// fcm, apns, huawei, xiaomi, oppo, vivo, honor
    pub dispatch: [u16; 7],
}

impl Ports {
    /// vendor-sim's ports as it bound them; a fixed free port for each service that runs as a
    /// process (it must be known before the process starts), 0 (any) for the others.
    pub fn new(sim: u16, apns: u16, processes: &[&str]) -> Self {
        let fixed = |service: &str| {
            if processes.contains(&service) {
                free_port()
            } else {
                0
            }
        };
        let vendors = ["fcm", "apns", "huawei", "xiaomi", "oppo", "vivo", "honor"];
        Ports {
            sim,
            apns,
            ingest: fixed("ingest"),
            presence: fixed("presence"),
            registry: fixed("registry"),
            dispatch: std::array::from_fn(|i| fixed(&format!("dispatch-{}", vendors[i]))),
        }
    }

    pub fn of(&self, service: &str) -> u16 {
        match service {
            "ingest" => self.ingest,
            "presence" => self.presence,
            "registry" => self.registry,
            other => {
                let vendor: pushmesh_contract::Vendor = other
                    .strip_prefix("dispatch-")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no such service: {other}"));
                let index = pushmesh_contract::Vendor::ALL
                    .iter()
                    .position(|v| *v == vendor)
                    .unwrap();
                self.dispatch[index]
            }
        }
    }
}

/// The test settings, with what `opts` adds.
pub fn settings_toml(
    vhost: &Vhost,
    dir: &std::path::Path,
    ports: Ports,
    opts: &crate::MeshOptions,
) -> String {
    let toml = base_toml(
        vhost,
        dir,
        ports,
        &opts.extra_toml,
        opts.api_keys_file.as_deref(),
    );
    let toml = match &opts.vendor_tls {
        // Every vendor URL is vendor-sim's on 127.0.0.1; the dispatchers trust the test's CA.
        Some(ca) => toml
            .replace("\"http://127.0.0.1:", "\"https://127.0.0.1:")
            .replace(
                "[vendor_sim]\n",
                &format!(
                    "[vendor_sim]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
                    ca.cert_file.display(),
                    ca.key_file.display()
                ),
            )
            .replace(
                "[dispatch]\n",
                &format!("[dispatch]\nca_file = \"{}\"\n", ca.ca_file.display()),
            ),
        None => toml,
    };
    match &opts.amqps {
        Some((broker, ca)) => toml.replace(
            &format!("url = \"{}\"\n", vhost.amqp_url()),
            &format!(
                "url = \"{}\"\nca_file = \"{}\"\n",
                broker.url(vhost),
                ca.ca_file.display()
            ),
        ),
        None => toml,
    }
}

fn base_toml(
    vhost: &Vhost,
    dir: &std::path::Path,
    ports: Ports,
    extra: &str,
    keys_file: Option<&std::path::Path>,
) -> String {
    let Ports {
        sim: sim_port,
        apns: apns_port,
        ingest,
        presence,
        registry,
        dispatch: d,
    } = ports;
    let fixtures = repo_root().join("fixtures");
    // A test that gives its own batch settings replaces these.
    let batch = match extra.contains("[batch]") {
        true => "",
        false => "[batch]\nmax_items = 100\nlinger_ms = 2\n",
    };
    // Tests register devices by the thousand: the device API's rate limit out of the way,
    // unless a test gives its own `[api]`.
    let api = match extra.contains("[api]") {
        true => "",
        false => "[api]\nrate_per_s = 1000000\nburst = 1000000\n",
    };
    format!(
        r#"
log = "warn,pushmesh=info"
data_dir = "{data}"
[amqp]
url = "{url}"
prefetch = 200
{batch}{api}[listen]
ingest = "127.0.0.1:{ingest}"
presence = "127.0.0.1:{presence}"
registry = "127.0.0.1:{registry}"
dispatch = {{ fcm = "127.0.0.1:{}", apns = "127.0.0.1:{}", huawei = "127.0.0.1:{}", xiaomi = "127.0.0.1:{}", oppo = "127.0.0.1:{}", vivo = "127.0.0.1:{}", honor = "127.0.0.1:{}" }}
[dispatch]
retry_tiers_s = [1, 2, 5, 10, 30, 60]
backoff_base_ms = 500
max_attempts = 5
breaker_failures = 3
breaker_cooldown_ms = 1000
breaker_max_cooldown_ms = 4000
quota_day_s = 4
[vendor_sim]
listen = "127.0.0.1:{sim_port}"
apns_listen = "127.0.0.1:{apns_port}"
fcm_public_key_file = "{fixtures}/fcm-demo-public.pem"
apns_public_key_file = "{fixtures}/apns-demo-public.pem"
[api.apps.demo]
keys_file = "{keys}"
token_secret_file = "{fixtures}/demo-token-secret"
[api.apps.other]
keys_file = "{fixtures}/other-api-keys"
token_secret_file = "{fixtures}/other-token-secret"
[apps.demo.fcm]
project_id = "pushmesh-demo"
service_account_file = "{fixtures}/fcm-demo-service-account.json"
base_url = "http://127.0.0.1:{sim_port}/fcm"
token_url = "http://127.0.0.1:{sim_port}/fcm/token"
quota_min_wait_s = 1
[apps.demo.fcm.resources.chat]
channel_id = "messages"
[apps.demo.huawei]
app_id = "10001"
client_secret = "huawei-demo-secret"
base_url = "http://127.0.0.1:{sim_port}/huawei"
auth_url = "http://127.0.0.1:{sim_port}/huawei/oauth2/v3/token"
max_tokens_per_request = 3
[apps.demo.xiaomi]
app_secret = "xiaomi-demo-secret"
package = "com.example.im"
channel_id = "im-private"
base_url = "http://127.0.0.1:{sim_port}/xiaomi"
max_tokens_per_request = 3
[apps.demo.oppo]
app_key = "oppo-demo-key"
master_secret = "oppo-demo-master-secret"
channel_id = "im"
base_url = "http://127.0.0.1:{sim_port}/oppo"
max_tokens_per_request = 3
[apps.demo.vivo]
app_id = 10004
app_key = "vivo-demo-key"
app_secret = "vivo-demo-secret"
base_url = "http://127.0.0.1:{sim_port}/vivo"
max_tokens_per_request = 3
[apps.demo.honor]
app_id = "10005"
client_id = "honor-demo-client"
client_secret = "honor-demo-secret"
base_url = "http://127.0.0.1:{sim_port}/honor"
auth_url = "http://127.0.0.1:{sim_port}/honor/auth/token"
max_tokens_per_request = 3
[apps.demo.apns]
team_id = "TEAMDEMO01"
key_id = "KEYDEMO001"
key_file = "{fixtures}/apns-demo-key.p8"
topic = "com.example.im"
base_url = "http://127.0.0.1:{apns_port}"
[apps.other.huawei]
app_id = "20001"
client_secret = "huawei-other-secret"
base_url = "http://127.0.0.1:{sim_port}/huawei"
auth_url = "http://127.0.0.1:{sim_port}/huawei/oauth2/v3/token"
[apps.other.xiaomi]
app_secret = "xiaomi-other-secret"
package = "com.example.other"
channel_id = "im-private"
base_url = "http://127.0.0.1:{sim_port}/xiaomi"
daily_quota = 3
[apps.other.fcm]
requests_per_s = 20
project_id = "pushmesh-other"
service_account_file = "{fixtures}/fcm-demo-service-account.json"
base_url = "http://127.0.0.1:{sim_port}/fcm"
token_url = "http://127.0.0.1:{sim_port}/fcm/token"
{extra}
"#,
        d[0],
        d[1],
        d[2],
        d[3],
        d[4],
        d[5],
        d[6],
        data = dir.display(),
        url = vhost.amqp_url(),
        fixtures = fixtures.display(),
        keys = keys_file
            .map_or(fixtures.join("demo-api-keys"), Into::into)
            .display(),
    )
}

/// Ports handed to processes, below Linux's ephemeral range (32768-60999): the port is free
/// when chosen but bound only once the process starts, and a port from that range could be
/// taken meanwhile by any connection's source port or any `bind(0)` of a parallel test
/// (CI saw a dispatcher exit so, once). Each port is handed out once per test run.
const PROCESS_PORTS: std::ops::Range<u32> = 20_000..32_000;

pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Starts where this test run's pid points, so two runs at once rarely meet.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = PROCESS_PORTS.end - PROCESS_PORTS.start;
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = (PROCESS_PORTS.start + offset) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PROCESS_PORTS:?}");
}
