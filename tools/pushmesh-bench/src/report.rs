//! The table printed at the end and written to docs/benchmarks.md.

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
