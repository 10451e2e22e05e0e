//! The actor's scheduling against a scripted vendor client: what it sends, when, and with
//! which credential. (The vendors' own wire protocols are tested against vendor-sim, in each
//! vendor crate's `tests/`.)

use super::*;
use crate::sent::DiskSent;
use crate::testing::pushes;
use crate::{Built, VendorEnv};
use actix::{Actor, Addr};
use pushmesh_contract::Vendor;
use pushmesh_runtime::SettingsError;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

type AnswerFn = dyn Fn(&str, &[DevicePush]) -> Answer + Send + Sync;

/// A vendor client that answers from a script, after `delay`, and keeps count.
struct Scripted {
    answer: Box<AnswerFn>,
    auth_fails: Option<AuthError>,
    delay: Duration,
    authorizations: AtomicU32,
    out: AtomicUsize,
    most_out: AtomicUsize,
    /// (credential, devices) of every send, in order.
    sends: Mutex<Vec<(String, usize)>>,
}

impl Scripted {
    fn new(answer: impl Fn(&str, &[DevicePush]) -> Answer + Send + Sync + 'static) -> Self {
        Scripted {
            answer: Box::new(answer),
            auth_fails: None,
            delay: Duration::ZERO,
            authorizations: AtomicU32::new(0),
            out: AtomicUsize::new(0),
            most_out: AtomicUsize::new(0),
            sends: Mutex::new(Vec::new()),
        }
    }
}

fn delivered(_: &str, p: &[DevicePush]) -> Answer {
    let ok = Attempt::Delivered {
        vendor_message_id: None,
    };
    Answer::Done(vec![ok; p.len()])
}

impl VendorApi for Arc<Scripted> {
    const VENDOR: Vendor = Vendor::Huawei;
    type Settings = ();

    fn new(_: (), _: &VendorEnv) -> Result<Self, SettingsError> {
        Err(SettingsError::invalid("", "built by the test"))
    }

    fn max_devices_per_request(&self) -> usize {
        1000
    }

    async fn authorize(&self) -> Result<Credential, AuthError> {
        let n = self.authorizations.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        match &self.auth_fails {
            Some(e) => Err(e.clone()),
            None => Ok(Credential::expiring(
                format!("t{n}"),
                Duration::from_secs(3600),
                Duration::ZERO,
            )),
        }
    }

    async fn send(&self, credential: &str, pushes: &[DevicePush]) -> Answer {
        let out = self.out.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_out.fetch_max(out, Ordering::SeqCst);
        let sends = &self.sends;
        sends
            .lock()
            .unwrap()
            .push((credential.to_owned(), pushes.len()));
        tokio::time::sleep(self.delay).await;
        self.out.fetch_sub(1, Ordering::SeqCst);
        (self.answer)(credential, pushes)
    }

    fn requests(&self, credential: &str, pushes: &[DevicePush]) -> Result<Vec<Built>, Attempt> {
        let tokens: Vec<&str> = pushes.iter().map(|p| p.token.as_str()).collect();
        let request = reqwest::Client::new()
            .post("https://vendor.example/send")
            .bearer_auth(credential)
            .json(&serde_json::json!({ "tokens": tokens }));
        Ok(vec![request.build()])
    }
}

struct Setup {
    concurrency: usize,
    requests_per_s: Option<u32>,
    quota: Option<u64>,
    breaker: Breaker,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            concurrency: 64,
            requests_per_s: None,
            quota: None,
            breaker: Breaker::new(3, Duration::from_millis(200), Duration::from_secs(1)),
        }
    }
}

fn start(
    api: &Arc<Scripted>,
    setup: Setup,
    dir: &tempfile::TempDir,
) -> Addr<VendorActor<Arc<Scripted>>> {
    let store: Arc<dyn SentStore> = Arc::new(DiskSent::open(dir.path(), "dispatch-test").unwrap());
    let settings = ActorSettings {
        concurrency: setup.concurrency,
        limits: RateLimits::new(setup.requests_per_s, None, 1000),
        quota: setup
            .quota
            .map(|q| DailyQuota::new(q, 86_400_000, 0, "quota/a".into())),
        breaker: setup.breaker,
        request_seconds: Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap(),
        credential_key: "credential/a".into(),
        gauges: super::ActorGauges {
            breaker: prometheus::IntGauge::new("b", "b").unwrap(),
            quota_used_percent: prometheus::IntGauge::new("q", "q").unwrap(),
            dead_token_guard: prometheus::IntGauge::new("g", "g").unwrap(),
        },
        guard: super::DeadTokenGuard::new(50, 0.5, Duration::from_secs(300)),
        suspect: "[apps.a.huawei] app_id".into(),
    };
    VendorActor::new(api.clone(), store, settings).start()
}

async fn send(actor: &Addr<VendorActor<Arc<Scripted>>>, tokens: &[&str]) -> Vec<&'static str> {
    let (_, attempts) = actor
        .send(SendRequest(pushes(Vendor::Huawei, tokens)))
        .await
        .unwrap()
        .unwrap();
    attempts.iter().map(Attempt::label).collect()
}

#[actix_rt::test]
async fn one_credential_for_requests_at_once_and_a_refused_one_is_renewed_once() {
    let dir = tempfile::tempdir().unwrap();
    // t1 is refused, t2 accepted; t3 would never be asked for.
    let api = Arc::new(Scripted::new(|credential, p| match credential {
        "t1" => Answer::AuthExpired,
        _ => delivered(credential, p),
    }));
    let actor = start(&api, Setup::default(), &dir);
    let all = futures_util::future::join_all((0..10).map(|_| send(&actor, &["a"]))).await;
    assert!(all.iter().all(|a| *a == ["delivered"]), "{all:?}");
    assert_eq!(
        api.authorizations.load(Ordering::SeqCst),
        2,
        "one fetch each time"
    );
    let sends = api.sends.lock().unwrap().clone();
    assert!(sends.iter().filter(|(c, _)| c == "t1").count() <= 10);
    assert_eq!(sends.iter().filter(|(c, _)| c == "t2").count(), 10);
}

#[actix_rt::test]
async fn a_credential_refused_twice_is_a_retry_not_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(Scripted::new(|_, _| Answer::AuthExpired));
    let actor = start(&api, Setup::default(), &dir);
    assert_eq!(send(&actor, &["a", "b"]).await, ["retry", "retry"]);
    assert_eq!(
        api.sends.lock().unwrap().len(),
        2,
        "sent once more, then given back"
    );
}

#[actix_rt::test]
async fn a_bad_credential_rejects_and_an_unreachable_auth_endpoint_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut scripted = Scripted::new(delivered);
    scripted.auth_fails = Some(AuthError::Refused {
        status: 401,
        body: "bad secret".into(),
    });
    let actor = start(&Arc::new(scripted), Setup::default(), &dir);
    assert_eq!(send(&actor, &["a"]).await, ["rejected"]);

    let mut scripted = Scripted::new(delivered);
    scripted.auth_fails = Some(AuthError::Http("connection refused".into()));
    let api = Arc::new(scripted);
    let dir = tempfile::tempdir().unwrap();
    let actor = start(&api, Setup::default(), &dir);
    assert_eq!(send(&actor, &["a"]).await, ["retry"]);
    assert!(
        api.sends.lock().unwrap().is_empty(),
        "nothing sent without a credential"
    );
}

#[actix_rt::test]
async fn no_more_requests_out_than_the_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let mut scripted = Scripted::new(delivered);
    scripted.delay = Duration::from_millis(30);
    let api = Arc::new(scripted);
    let setup = Setup {
        concurrency: 2,
        ..Setup::default()
    };
    let actor = start(&api, setup, &dir);
    let all = futures_util::future::join_all((0..6).map(|_| send(&actor, &["a"]))).await;
    assert_eq!(all.len(), 6);
    assert_eq!(api.most_out.load(Ordering::SeqCst), 2);
}

#[actix_rt::test]
async fn requests_are_spaced_by_the_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(Scripted::new(delivered));
    let setup = Setup {
        requests_per_s: Some(20),
        ..Setup::default()
    };
    let actor = start(&api, setup, &dir);
    send(&actor, &["warm"]).await;
    let started = std::time::Instant::now();
    futures_util::future::join_all((0..4).map(|_| send(&actor, &["a"]))).await;
    // 1.05 s / 20 apart: four more take at least 4 x 52 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn the_quota_splits_a_request_and_defers_the_rest_unsent() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(Scripted::new(delivered));
    let setup = Setup {
        quota: Some(3),
        ..Setup::default()
    };
    let actor = start(&api, setup, &dir);
    let labels = send(&actor, &["a", "b", "c", "d", "e"]).await;
    assert_eq!(
        labels,
        [
            "delivered",
            "delivered",
            "delivered",
            "deferred",
            "deferred"
        ]
    );
    assert_eq!(send(&actor, &["f"]).await, ["deferred"]);
    let sends = api.sends.lock().unwrap().clone();
    assert_eq!(
        sends.iter().map(|(_, n)| n).collect::<Vec<_>>(),
        [&3],
        "{sends:?}"
    );
}

#[actix_rt::test]
async fn an_open_breaker_defers_without_sending_then_one_probe_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let fails = failing.clone();
    let mut scripted = Scripted::new(move |c, p| match fails.load(Ordering::SeqCst) {
        true => Answer::Done(vec![Attempt::retry("503"); p.len()]),
        false => delivered(c, p),
    });
    scripted.delay = Duration::from_millis(20);
    let api = Arc::new(scripted);
    let actor = start(&api, Setup::default(), &dir);
    for _ in 0..3 {
        assert_eq!(send(&actor, &["a"]).await, ["retry"]);
    }
    // Open: answered at once, nothing reaches the vendor.
    assert_eq!(send(&actor, &["b"]).await, ["deferred"]);
    assert_eq!(api.sends.lock().unwrap().len(), 3);

    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Half-open: one request goes first, the others wait for its answer.
    let all = futures_util::future::join_all((0..4).map(|_| send(&actor, &["c"]))).await;
    assert!(all.iter().all(|a| *a == ["delivered"]), "{all:?}");
    assert_eq!(api.sends.lock().unwrap().len(), 7);
    assert!(
        api.most_out.load(Ordering::SeqCst) > 1,
        "closed again: the rest at once"
    );
}

#[actix_rt::test]
async fn a_failed_probe_uses_no_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(Scripted::new(|_, p| {
        Answer::Done(vec![Attempt::retry("503"); p.len()])
    }));
    let actor = start(&api, Setup::default(), &dir);
    for _ in 0..3 {
        send(&actor, &["a"]).await;
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(send(&actor, &["probe"]).await, ["deferred"]);
    assert_eq!(api.sends.lock().unwrap().len(), 4, "the probe went out");
}

#[actix_rt::test]
async fn a_dry_run_is_built_not_sent_and_waits_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut scripted = Scripted::new(delivered);
    // No credential could be had, and the quota is spent: a dry run needs neither.
    scripted.auth_fails = Some(AuthError::Http("down".into()));
    let api = Arc::new(scripted);
    let setup = Setup {
        quota: Some(0),
        ..Setup::default()
    };
    let actor = start(&api, setup, &dir);
    let mut dry = pushes(Vendor::Huawei, &["tok-a", "tok-b"]);
    dry.iter_mut().for_each(|p| p.dry_run = true);
    let (_, attempts) = actor.send(SendRequest(dry)).await.unwrap().unwrap();
    let Attempt::DryRun { requests } = &attempts[1] else {
        panic!("{attempts:?}");
    };
    assert_eq!(
        requests[0].body,
        r#"{"tokens":["<token of p-tok-a>","<token of p-tok-b>"]}"#
    );
    let auth = requests[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization");
    assert_eq!(auth.map(|(_, v)| v.as_str()), Some("<redacted>"));
    assert!(api.sends.lock().unwrap().is_empty());
    assert_eq!(api.authorizations.load(Ordering::SeqCst), 0);
}
