//! The mesh under test: RabbitMQ (started if needed), a vhost of its own, and every service and
//! vendor-sim as release processes with generous vendor limits.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const SERVICES: [&str; 11] = [
    "vendor-sim",
    "ingest",
    "presence",
    "registry",
    "dispatch-fcm",
    "dispatch-apns",
    "dispatch-huawei",
    "dispatch-xiaomi",
    "dispatch-oppo",
    "dispatch-vivo",
    "dispatch-honor",
];
const BASE_PORT: u16 = 19_100;

pub struct Mesh {
    pub vhost: String,
    /// Holds the settings file, data and logs until the mesh is dropped.
    pub dir: tempfile::TempDir,
    pub children: Vec<(&'static str, Child)>,
    pub http: reqwest::Client,
}

pub fn port(service: &str) -> u16 {
    BASE_PORT
        + SERVICES
            .iter()
            .position(|s| *s == service)
            .expect("a known service") as u16
}

pub fn sim() -> String {
    format!("http://127.0.0.1:{}", port("vendor-sim"))
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("rabbitmqctl")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .context("rabbitmqctl")?;
    if !status.success() {
        bail!("rabbitmqctl {args:?} failed");
    }
    Ok(())
}

/// Starts RabbitMQ the way scripts/rabbitmq.sh does when nothing answers on 5672.
pub fn ensure_broker(root: &Path) -> anyhow::Result<()> {
    if std::net::TcpStream::connect("127.0.0.1:5672").is_ok() {
        return Ok(());
    }
    println!("RabbitMQ is not answering: starting it");
    let status = Command::new("bash")
        .arg("-c")
        .arg(". scripts/rabbitmq.sh && ensure_rabbitmq")
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("could not start RabbitMQ");
    }
    Ok(())
}

fn config(vhost: &str, data: &Path, fixtures: &Path, trace_sample: f64) -> String {
    let listen: Vec<String> = ["ingest", "presence", "registry"]
        .iter()
        .map(|s| format!("{s} = \"127.0.0.1:{}\"", port(s)))
        .collect();
    let dispatch: Vec<String> = ["fcm", "apns", "huawei", "xiaomi", "oppo", "vivo", "honor"]
        .iter()
        .map(|v| format!("{v} = \"127.0.0.1:{}\"", port(&format!("dispatch-{v}"))))
        .collect();
    let sim = sim();
    let apns = port("vendor-sim") + 50;
    let f = fixtures.display();
    format!(
        r#"log = "warn"
data_dir = "{data}"
[amqp]
url = "amqp://guest:guest@127.0.0.1:5672/{vhost}"
[listen]
{listen}
dispatch = {{ {dispatch} }}
[dispatch]
concurrency = 128
[trace]
sample = {trace_sample}
[vendor_sim]
listen = "127.0.0.1:{sim_port}"
apns_listen = "127.0.0.1:{apns}"
fcm_public_key_file = "{f}/fcm-demo-public.pem"
apns_public_key_file = "{f}/apns-demo-public.pem"
[api]
rate_per_s = 1000000
burst = 1000000
[api.apps.bench]
keys_file = "{f}/bench-api-keys"
[apps.bench.fcm]
project_id = "bench"
service_account_file = "{f}/fcm-demo-service-account.json"
base_url = "{sim}/fcm"
token_url = "{sim}/fcm/token"
requests_per_s = 1000000
[apps.bench.apns]
team_id = "TEAMDEMO01"
key_id = "KEYDEMO001"
key_file = "{f}/apns-demo-key.p8"
topic = "com.example.im"
base_url = "http://127.0.0.1:{apns}"
[apps.bench.huawei]
app_id = "10001"
client_secret = "s"
base_url = "{sim}/huawei"
auth_url = "{sim}/huawei/oauth2/v3/token"
requests_per_s = 1000000
[apps.bench.xiaomi]
app_secret = "s"
package = "com.example.im"
channel_id = "im"
base_url = "{sim}/xiaomi"
requests_per_s = 1000000
[apps.bench.oppo]
app_key = "k"
master_secret = "s"
channel_id = "im"
base_url = "{sim}/oppo"
requests_per_s = 1000000
[apps.bench.vivo]
app_id = 10004
app_key = "k"
app_secret = "s"
base_url = "{sim}/vivo"
requests_per_s = 1000000
[apps.bench.honor]
app_id = "10005"
client_id = "c"
client_secret = "s"
base_url = "{sim}/honor"
auth_url = "{sim}/honor/auth/token"
requests_per_s = 1000000
"#,
        data = data.display(),
        listen = listen.join("\n"),
        sim_port = port("vendor-sim"),
        dispatch = dispatch.join(", "),
    )
}

impl Mesh {
    /// Starts every service, tracing `trace_sample` of the messages (`trace.sample`).
    pub async fn start(root: &Path, trace_sample: f64) -> anyhow::Result<Mesh> {
        let vhost = format!("pushmesh-bench-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["-q", "add_vhost", &vhost])?;
        rabbitmqctl(&[
            "-q",
            "set_permissions",
            "-p",
            &vhost,
            "guest",
            ".*",
            ".*",
            ".*",
        ])?;
        let dir = tempfile::tempdir()?;
        let cfg = dir.path().join("pushmesh.toml");
        std::fs::write(
            &cfg,
            config(
                &vhost,
                &dir.path().join("data"),
                &root.join("fixtures"),
                trace_sample,
            ),
        )?;
        let bin: PathBuf = root.join("target/release");
        let mut children = Vec::new();
        for service in SERVICES {
            let log = std::fs::File::create(dir.path().join(format!("{service}.log")))?;
            let child = Command::new(bin.join(service))
                .env("PUSHMESH_CONFIG", &cfg)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| {
                    format!("start {service} (cargo build --release --workspace --bins)")
                })?;
            children.push((service, child));
        }
        let mesh = Mesh {
            vhost,
            dir,
            children,
            http: reqwest::Client::new(),
        };
        for service in SERVICES {
            mesh.wait_ready(service).await?;
        }
        Ok(mesh)
    }

    async fn wait_ready(&self, service: &str) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/readyz", port(service));
        for _ in 0..300 {
            if self
                .http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = self.log(service);
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(20)..];
        bail!(
            "{service} did not become ready; its log ends:\n{}",
            tail.join("\n")
        )
    }

    fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{service}.log"))).unwrap_or_default()
    }

    /// Every warning and error the services logged (they log at `warn`), by service: a
    /// scenario's outlier often has its reason there, and the logs go with the mesh.
    pub fn warnings(&self) -> Vec<(&'static str, Vec<String>)> {
        SERVICES
            .iter()
            .map(|service| {
                let lines = self
                    .log(service)
                    .lines()
                    .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                    .map(str::to_owned)
                    .collect();
                (*service, lines)
            })
            .filter(|(_, lines): &(_, Vec<String>)| !lines.is_empty())
            .collect()
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.vhost)
    }

    /// CPU time each process has used so far, user and system, in clock ticks (USER_HZ: 100 a
    /// second on Linux).
    pub fn cpu_ticks(&self) -> Vec<(&'static str, u64)> {
        self.each_proc("stat", ticks_in)
    }

    /// Resident memory of each service, in KiB, from /proc.
    pub fn rss_kib(&self) -> Vec<(&'static str, u64)> {
        self.each_proc("status", |status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
    }

    /// One figure per process from `/proc/<pid>/<file>`; 0 where the file or the figure is
    /// missing (a process that has exited).
    fn each_proc(&self, file: &str, figure: fn(&str) -> Option<u64>) -> Vec<(&'static str, u64)> {
        self.children
            .iter()
            .map(|(name, child)| {
                let text = std::fs::read_to_string(format!("/proc/{}/{file}", child.id()))
                    .unwrap_or_default();
                (*name, figure(&text).unwrap_or(0))
            })
            .collect()
    }
}

/// utime + stime from a `/proc/<pid>/stat` text. The command may hold spaces, so count from
/// its closing parenthesis: they are the 14th and 15th fields, the 12th and 13th after it.
fn ticks_in(stat: &str) -> Option<u64> {
    stat.rsplit_once(')').map(|(_, rest)| {
        rest.split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse::<u64>().ok())
            .sum()
    })
}

/// CPU ticks `pid` has used so far, if it is still there.
pub fn ticks_of(pid: u32) -> Option<u64> {
    ticks_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// RabbitMQ's server process: the `beam.smp` that has used the most CPU (`rabbitmqctl` starts
/// short-lived ones of its own). `None` where the broker runs elsewhere.
pub fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "beam.smp")
        })
        .max_by_key(|pid| ticks_of(*pid).unwrap_or(0))
}

impl Drop for Mesh {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = rabbitmqctl(&["-q", "delete_vhost", &self.vhost]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_counted_from_the_commands_closing_parenthesis() {
        // utime 250 and stime 30, behind a command that holds a space and a parenthesis.
        let stat = "4242 (beam (x) smp) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 30 0 0 20 0";
        assert_eq!(ticks_in(stat), Some(280));
        assert_eq!(ticks_in("garbage"), None);
        assert_eq!(ticks_of(std::process::id()).map(|_| ()), Some(()));
    }
}
