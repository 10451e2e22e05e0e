//! pushmesh-bench: how fast the mesh moves pushes, against the broker's own ceiling, in one run.
//!
//!   cargo run --release -p pushmesh-bench -- [SCENARIO] [FLAGS]    (`--help` lists them)
//!
//! Builds the release binaries, starts RabbitMQ if needed, runs the whole mesh and vendor-sim as
//! processes in a vhost of their own, runs the scenarios with a progress line each second, prints
//! a table and writes it into docs/benchmarks.md (scenario `all`).

mod args;
mod cpu;
mod dedup;
mod load;
mod mesh;
mod report;
mod scenarios;

use anyhow::Context;
use report::Row;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let opts = match args::parse(&raw) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("pushmesh-bench: {e}\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    if opts.help {
        println!("{}", args::USAGE);
        return Ok(());
    }
    let scenario = opts.scenario.clone();
    let (pushes, peer_n) = (opts.pushes, opts.peer);
    let devices = opts.registry_devices as usize;
    let registry_cache = opts.registry_cache_mb << 20;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()?;

    let mut rows: Vec<Row> = Vec::new();
    if scenario == "dedup" {
        rows.extend(dedup::dedup(opts.dedup_ids)?);
        print!("{}", report::table(&rows));
        return Ok(());
    }
    // The registry scenario runs the registry's store in this process and needs no mesh, so it
    // runs before the mesh starts, alone on the machine. (Run last, beside the mesh and a broker
    // that had just taken the memory phase's million pushes, it measured 197,655 lookups/s
    // where two runs alone measured 229,695 and 256,646.)
    let registry_rows = match scenario.as_str() {
        "all" | "registry" => scenarios::registry(devices, registry_cache)?,
        _ => Vec::new(),
    };
    if scenario == "registry" {
        print!("{}", report::table(&registry_rows));
        return Ok(());
    }
    println!("building release binaries...");
    let built = std::process::Command::new("cargo")
        .args(["build", "--release", "--workspace", "--bins", "-q"])
        .current_dir(&root)
        .status()
        .context("cargo build")?;
    anyhow::ensure!(built.success(), "the release build failed");
    mesh::ensure_broker(&root)?;
    // What tracing every message costs: the peer scenario on a mesh that traces none, before
    // the mesh the other scenarios run on, which traces all (the default).
    let untraced = match scenario.as_str() {
        "all" | "peer" => Some(untraced_peer(&root, peer_n).await?),
        _ => None,
    };
    let m = mesh::Mesh::start(&root, 1.0).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = m.rss_kib();
    for v in ["fcm", "apns", "huawei", "xiaomi", "oppo", "vivo", "honor"] {
        load::sim_post(
            &m,
            &format!("/sim/{v}/compact"),
            serde_json::json!({"on": true}),
        )
        .await;
    }
    let users = 1000;
    println!("registering {users} FCM devices for the peer scenarios");
    load::register(&m, 0..users, |_| "fcm").await?;

    if scenario == "call" {
        rows.extend(scenarios::call(&m, 20_000).await?);
        return finish(&m, &rows, opts.hold).await;
    }
    const CEILING_N: u64 = 200_000;
    let size = load::peer_message("ceiling-sized", "u0").len();
    let ceiling = scenarios::ceiling(&m, CEILING_N).await?;
    println!("ceiling: {:.0} msg/s", ceiling.rate);
    if scenario == "ceiling" {
        rows.push(report::ceiling_row(CEILING_N, size, ceiling, None));
        return finish(&m, &rows, opts.hold).await;
    }
    let (peer_rate, peer_spent) = scenarios::peer(&m, peer_n, users).await?;
    let ceiling_after = scenarios::ceiling(&m, CEILING_N).await?;
    println!(
        "ceiling after the peer phase: {:.0} msg/s",
        ceiling_after.rate
    );
    rows.push(report::ceiling_row(
        CEILING_N,
        size,
        ceiling,
        Some(ceiling_after),
    ));
    rows.push(report::peer_row(
        peer_n,
        users,
        peer_rate,
        &peer_spent,
        ceiling.rate,
        ceiling_after.rate,
    ));
    if let Some(untraced) = untraced {
        rows.push(report::trace_row(peer_rate, untraced));
    }
    if matches!(scenario.as_str(), "all" | "latency") {
        // Half the peer rate unless `--rate` asks for another (a quiet mesh, say).
        let rate = match opts.rate {
            0 => peer_rate / 2.0,
            r => r as f64,
        };
        let n = (rate * 20.0) as u64;
        let vendor_ms = opts.vendor_ms;
        rows.extend(scenarios::latency(&m, rate, n, users, vendor_ms).await?);
        rows.extend(scenarios::hop_latency(&m, rate, n).await?);
    }
    if matches!(scenario.as_str(), "all" | "group") {
        rows.extend(scenarios::group(&m, 10_000, users).await?);
    }
    if scenario == "all" {
        rows.extend(scenarios::call(&m, 20_000).await?);
    }
    if matches!(scenario.as_str(), "all" | "memory") {
        rows.push(scenarios::memory(&m, &idle, pushes, users).await?);
    }
    rows.extend(registry_rows);
    finish(&m, &rows, opts.hold).await?;
    if scenario == "all" {
        let command = format!(
            "cargo run --release -p pushmesh-bench -- all{}",
            raw.iter()
                .filter(|a| *a != "all")
                .map(|a| format!(" {a}"))
                .collect::<String>()
        );
        report::write(&root, &command, &rows)?;
        println!("written to docs/benchmarks.md");
    }
    Ok(())
}

/// The peer rate of a mesh that traces no message; the mesh is stopped after.
async fn untraced_peer(root: &std::path::Path, n: u64) -> anyhow::Result<f64> {
    let m = mesh::Mesh::start(root, 0.0).await?;
    let users = 1000;
    load::register(&m, 0..users, |_| "fcm").await?;
    let (rate, _) = scenarios::peer(&m, n, users).await?;
    println!("peer with tracing off: {rate:.0} pushes/s");
    Ok(rate)
}

/// Ends a run with the mesh up: what the services logged, the table, and with `--hold` a wait
/// for Ctrl-C, to look inside the services as the scenarios left them (/proc, gdb, /metrics).
async fn finish(m: &mesh::Mesh, rows: &[Row], hold: bool) -> anyhow::Result<()> {
    for (service, lines) in m.warnings() {
        println!(
            "{service} logged {} warnings or errors; the first:",
            lines.len()
        );
        for line in lines.iter().take(5) {
            println!("  {line}");
        }
    }
    println!();
    print!("{}", report::table(rows));
    if hold {
        println!("--hold: the mesh stays up until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
