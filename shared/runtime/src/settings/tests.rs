use super::*;

const MINIMAL: &str = r#"
    data_dir = "/tmp/pm"
    [amqp]
    url = "amqp://127.0.0.1:5672/%2f"
    [apps.demo.fcm]
    project_id = "p"
"#;

#[test]
fn minimal_file_gets_defaults() {
    let s = Settings::from_toml(MINIMAL).unwrap();
    assert_eq!(s.shards, 1);
    assert_eq!(s.ingest.dedup_window_s, 86_400);
    assert_eq!(s.dispatch_listen(Vendor::Fcm).port(), 9110);
    assert!(s.is_known_app("demo"));
    assert!(!s.is_known_app("Demo"));
}

#[test]
fn errors_name_the_key() {
    let err = Settings::from_toml(&MINIMAL.replace("[amqp]", "[amqpp]")).unwrap_err();
    assert!(err.to_string().contains("amqpp"), "{err}");
    let err = Settings::from_toml(&MINIMAL.replace("amqp://", "http://")).unwrap_err();
    assert!(err.to_string().contains("amqp.url"), "{err}");
    let err = Settings::from_toml(&MINIMAL.replace("apps.demo.fcm", "apps.demo.fcmm")).unwrap_err();
    assert!(err.to_string().contains("apps.demo.fcmm"), "{err}");
    let bad = format!("{MINIMAL}\n[presence]\nshard = 3\n");
    let err = Settings::from_toml(&bad).unwrap_err();
    assert!(err.to_string().contains("presence.shard"), "{err}");
    let bad = format!("{MINIMAL}\n[batch]\nin_flight = 0\n");
    let err = Settings::from_toml(&bad).unwrap_err();
    assert!(err.to_string().contains("batch.in_flight"), "{err}");
}

#[test]
fn vendor_settings_errors_name_app_and_vendor() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Fcm {
        project_id: String,
        service_account_file: String,
    }
    let s = Settings::from_toml(MINIMAL).unwrap();
    let err = s.vendor_apps::<Fcm>(Vendor::Fcm).unwrap_err().to_string();
    assert!(
        err.contains("apps.demo.fcm") && err.contains("service_account_file"),
        "{err}"
    );
}

#[test]
fn ids_are_checked() {
    assert!(check_id("user-1@x").is_ok());
    assert!(check_id("").is_err());
    assert!(check_id("a b").is_err());
    assert!(check_id(&"x".repeat(129)).is_err());
}
