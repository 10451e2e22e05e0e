//! Headless Chromium for the console's browser test, driven through chromedriver over W3C
//! WebDriver: the eight commands the test uses, on the reqwest the tests already have.

use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:{port}/session/{id}`
    session: String,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Its own process group, so Chromium goes with it however the test ends.
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver)");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        crate::wait_for("chromedriver", Duration::from_secs(20), || async {
            let status = http.get(format!("{base}/status")).send().await.ok()?;
            let body: Value = status.json().await.ok()?;
            (body["value"]["ready"] == true).then_some(())
        })
        .await;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1100"]
            }
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a session");
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {resp}"));
        Browser {
            session: format!("{base}/session/{id}"),
            http,
            driver,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp: Value = req
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        resp["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn element(&self, css: &str) -> Option<String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    async fn must(&self, css: &str) -> String {
        match self.element(css).await {
            Some(e) => e,
            None => panic!("no `{css}` on the page: {}", self.text("body").await),
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.must(css).await;
        let path = format!("/element/{e}");
        self.command(
            reqwest::Method::POST,
            &format!("{path}/clear"),
            Some(json!({})),
        )
        .await;
        let body = json!({ "text": text });
        self.command(reqwest::Method::POST, &format!("{path}/value"), Some(body))
            .await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.must(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// The element's visible text, or "" when there is none.
    pub async fn text(&self, css: &str) -> String {
        let Some(e) = self.element(css).await else {
            return String::new();
        };
        let text = self
            .command(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until `css`'s text contains `wanted`; fails at once if the page shows an error
    /// (`#error`).
    pub async fn wait_text(&self, css: &str, wanted: &str) -> String {
        self.wait_until(css, &format!("`{wanted}`"), |t| t.contains(wanted))
            .await
    }

    /// Waits until `css`'s text is other than `before` (a view replaced by the next).
    pub async fn wait_changed(&self, css: &str, before: &str) -> String {
        self.wait_until(css, "a change", |t| t != before).await
    }

    async fn wait_until(&self, css: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let error = self.text("#error").await;
            assert!(error.is_empty(), "the console shows an error: {error}");
            let text = self.text(css).await;
            if done(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in `{css}` after 30 s: {text}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Saves a PNG of the page to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        std::fs::write(path, bytes).expect("the screenshot is written");
    }

    /// Closes the browser; chromedriver goes on drop.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-9", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
