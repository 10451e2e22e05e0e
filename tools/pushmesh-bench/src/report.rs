//! The table printed at the end and written to docs/benchmarks.md.

use crate::scenarios::Ceiling;
use std::path::Path;

pub struct Row {
    pub scenario: String,
    pub result: String,
    pub setup: String,
    pub target: String,
    pub met: Option<bool>,
}

impl Row {
    pub fn new(
        scenario: &str,
        result: String,
        setup: String,
        target: &str,
        met: Option<bool>,
    ) -> Self {
        Row {
            scenario: scenario.into(),
            result,
            setup,
            target: target.into(),
            met,
        }
    }
}

/// The ceiling, measured before the peer phase and, unless only the ceiling runs, right after
/// it: the host's speed can move between phases, and the peer ratio takes the mean of the two.
/// With the broker's CPU per message at full speed (the hop latency row gives it at the
/// latency scenario's rate).
pub fn ceiling_row(n: u64, size: usize, before: Ceiling, after: Option<Ceiling>) -> Row {
    let (rate, when) = match after {
        None => (before.rate, String::new()),
        Some(after) => (
            (before.rate + after.rate) / 2.0,
            format!(
                "; the mean of {:.0} before and {:.0} after the peer phase",
                before.rate, after.rate
            ),
        ),
    };
    let broker = match (before.broker_us, after.and_then(|a| a.broker_us)) {
        (Some(b), Some(a)) => format!("; RabbitMQ's CPU {b} and {a} µs a message"),
        (Some(b), None) => format!("; RabbitMQ's CPU {b} µs a message"),
        _ => String::new(),
    };
    Row::new(
        "ceiling",
        format!("{rate:.0} msg/s"),
        format!(
            "raw hop, {n} persistent {size}-byte messages, confirms + manual ack{when}{broker}"
        ),
        "",
        None,
    )
}

/// The peer rate against the mean of the ceilings measured before and after it; when those two
/// differ by more than a quarter the host's speed moved under the run, and the row says so.
/// `spent` says where the phase's CPU went ([`crate::cpu::CpuSpent::per_push`]).
pub fn peer_row(n: u64, users: usize, rate: f64, spent: &str, before: f64, after: f64) -> Row {
    let ratio = rate / ((before + after) / 2.0);
    let moved = (before - after).abs() / before.max(after).max(1.0);
    let caveat = if moved > 0.25 {
        format!(
            "; the two ceilings differ by {:.0}%: the host's speed moved",
            moved * 100.0
        )
    } else {
        String::new()
    };
    Row::new(
        "peer",
        format!("{rate:.0} pushes/s ({ratio:.2} of the ceiling)"),
        format!("{n} messages, {users} FCM devices; {spent}{caveat}"),
        ">= 0.5 x ceiling",
        Some(ratio >= 0.5),
    )
}

/// The peer rate with every message traced against none traced, in one run.
pub fn trace_row(traced: f64, untraced: f64) -> Row {
    let less = 1.0 - traced / untraced.max(1.0);
    Row::new(
        "trace cost",
        format!("{:.0}% fewer pushes/s traced", less * 100.0),
        format!(
            "peer with trace.sample = 1: {traced:.0} pushes/s; with 0, on a mesh started before: {untraced:.0}"
        ),
        "<= 10% less",
        Some(less <= 0.10),
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0);
    format!(
        "{cores} cores ({cpu}), {} GiB, RabbitMQ on the same machine",
        mem_kib / 1024 / 1024
    )
}

pub fn table(rows: &[Row]) -> String {
    let mut out =
        String::from("| scenario | result | setup | target | met |\n|---|---|---|---|---|\n");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {met} |\n",
            r.scenario, r.result, r.setup, r.target
        ));
    }
    out
}

/// Rewrites the measured part of docs/benchmarks.md (between the markers), keeping the prose.
pub fn write(root: &Path, command: &str, rows: &[Row]) -> anyhow::Result<()> {
    let path = root.join("docs/benchmarks.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = ("<!-- results:start -->", "<!-- results:end -->");
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d %H:%M %Z")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let block = format!(
        "{start}\nMeasured {date} on {}.\n\nCommand: `{command}`\n\n{}{end}",
        machine(),
        table(rows)
    );
    let new = match (text.find(start), text.find(end)) {
        (Some(a), Some(b)) => format!("{}{block}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{text}\n{block}\n"),
    };
    std::fs::write(path, new)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_ratio_is_to_the_mean_of_both_ceilings() {
        let spent = "the machine 99% busy, the services' CPU 110 µs (ingest 40) per push";
        let row = peer_row(100_000, 1000, 5_000.0, spent, 8_000.0, 12_000.0);
        assert_eq!(row.result, "5000 pushes/s (0.50 of the ceiling)");
        assert_eq!(row.met, Some(true));
        assert!(row.setup.contains("differ by 33%"), "{}", row.setup);
        assert!(row.setup.contains(spent), "{}", row.setup);
        let steady = peer_row(100_000, 1000, 4_000.0, spent, 10_000.0, 11_000.0);
        assert_eq!(steady.met, Some(false));
        assert!(!steady.setup.contains("differ"), "{}", steady.setup);
    }

    #[test]
    fn the_ceiling_row_gives_both_measurements() {
        let hop = |rate, broker_us| Ceiling { rate, broker_us };
        let row = ceiling_row(
            200_000,
            263,
            hop(8_000.0, Some(90)),
            Some(hop(12_000.0, Some(80))),
        );
        assert_eq!(row.result, "10000 msg/s");
        assert!(
            row.setup.ends_with(
                "the mean of 8000 before and 12000 after the peer phase; \
                 RabbitMQ's CPU 90 and 80 µs a message"
            ),
            "{}",
            row.setup
        );
        let alone = ceiling_row(200_000, 263, hop(8_000.0, Some(90)), None);
        assert_eq!(alone.result, "8000 msg/s");
        assert!(
            alone.setup.ends_with("ack; RabbitMQ's CPU 90 µs a message"),
            "{}",
            alone.setup
        );
        // A broker on another machine: no CPU figure rather than a guess.
        let remote = ceiling_row(200_000, 263, hop(8_000.0, None), Some(hop(9_000.0, None)));
        assert!(!remote.setup.contains("RabbitMQ"), "{}", remote.setup);
    }
}
