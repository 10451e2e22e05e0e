//! The settings files the repository ships (the local mesh's, docker-compose's and the k8s
//! ConfigMap's) load, and every vendor URL in them passes the check a dispatcher makes at start.
//! Docker and Kubernetes do not run in CI, so this is where a key that drifted would show.

use pushmesh_dispatch::support::check_urls;
use pushmesh_runtime::Settings;
use std::path::Path;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The TOML under `pushmesh.toml: |` in the ConfigMap: the block's lines, unindented.
fn configmap_toml() -> String {
    let yaml = repo_file("k8s/configmap.yaml");
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "pushmesh.toml: |");
    let header = lines
        .next()
        .expect("k8s/configmap.yaml has a `pushmesh.toml: |` block");
    let outer = header.len() - header.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > outer)
        .map(|l| l.get(outer + 2..).unwrap_or("").to_owned() + "\n")
        .collect()
}

fn check(name: &str, text: &str) {
    let settings = Settings::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!settings.apps.is_empty(), "{name} configures no app");
    for (app, vendors) in &settings.apps {
        for (vendor, table) in vendors {
            check_urls(&format!("apps.{app}.{vendor}"), table)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// Deployments give the broker URL, which holds its password, from a Secret
/// (`PUSHMESH__AMQP__URL`), not in the file.
fn with_secret_amqp_url(name: &str, text: &str) -> String {
    assert!(!text.contains("guest"), "{name} names the guest user");
    assert!(
        !text.contains("url = \"amqp"),
        "{name} holds the broker URL"
    );
    text.replace(
        "[amqp]\n",
        "[amqp]\nurl = \"amqp://pushmesh:secret@rabbitmq:5672/%2f\"\n",
    )
}

#[test]
fn the_shipped_settings_files_load_and_their_vendor_urls_pass() {
    check("config/pushmesh.toml", &repo_file("config/pushmesh.toml"));
    let docker = repo_file("config/docker.toml");
    check(
        "config/docker.toml",
        &with_secret_amqp_url("config/docker.toml", &docker),
    );
    let k8s = configmap_toml();
    check(
        "k8s/configmap.yaml",
        &with_secret_amqp_url("k8s/configmap.yaml", &k8s),
    );
}
