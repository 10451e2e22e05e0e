//! A real Prometheus (Debian's package) scraping a test mesh every second, with the shipped
//! rules; the test asks its HTTP API what it saw.

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Prometheus {
    process: Child,
    pub url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (host:port) as job `pushmesh`, evaluating `rules`
    /// (the text of a rules file) every second.
    pub async fn start(targets: &[String], rules: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("rules.yml"), rules).expect("rules written");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [rules.yml]\n\
             scrape_configs:\n  - job_name: pushmesh\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("config written");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (Debian: apt-get install prometheus)");
        let prometheus = Prometheus {
            process,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _dir: dir,
        };
        crate::wait_for("prometheus ready", Duration::from_secs(30), || async {
            let ready = prometheus
                .http
                .get(format!("{}/-/ready", prometheus.url))
                .send()
                .await;
            ready.ok().filter(|r| r.status().is_success()).map(|_| ())
        })
        .await;
        prometheus
    }

    /// The result vector of an instant query.
    pub async fn query(&self, query: &str) -> Vec<Value> {
        let resp = self
            .http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await
            .expect("prometheus answers");
        let body: Value = resp.json().await.expect("JSON");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The alerts pending or firing now.
    pub async fn alerts(&self) -> Vec<Value> {
        let resp = self.http.get(format!("{}/api/v1/alerts", self.url)).send();
        let body: Value = resp
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("JSON");
        body["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
