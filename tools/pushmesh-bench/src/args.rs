//! The command line: a scenario, then flags. Anything else is an error that names it, since a
//! mistyped scenario or flag would otherwise run minutes of the wrong benchmark.

pub const USAGE: &str = "usage: pushmesh-bench [SCENARIO] [FLAGS]
scenarios: all (default), ceiling, peer, latency, group, call, registry, memory, dedup
flags: --peer N  --rate N  --vendor-ms N  --pushes N  --registry-devices N
       --registry-cache-mb N  --dedup-ids N  --hold  --help";

pub const SCENARIOS: [&str; 9] = [
    "all", "ceiling", "peer", "latency", "group", "call", "registry", "memory", "dedup",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub scenario: String,
    /// Peer messages (`--peer`).
    pub peer: u64,
    /// Latency at this many messages/s; 0 means half the peer rate (`--rate`).
    pub rate: u64,
    /// vendor-sim's FCM answers each request this late (`--vendor-ms`).
    pub vendor_ms: u64,
    /// Pushes of the memory scenario (`--pushes`).
    pub pushes: u64,
    pub registry_devices: u64,
    pub registry_cache_mb: u64,
    pub dedup_ids: u64,
    /// Keep the mesh up after the scenarios until Ctrl-C (`--hold`).
    pub hold: bool,
    /// `--help`: print [`USAGE`] and run nothing.
    pub help: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            scenario: "all".into(),
            peer: 100_000,
            rate: 0,
            vendor_ms: 0,
            pushes: 1_000_000,
            registry_devices: 1_000_000,
            // A registry serving a million devices is given a cache near its store's size, as
            // docs/configuration.md advises; `--registry-cache-mb 64` shows a starved cache.
            registry_cache_mb: 1024,
            dedup_ids: 18_000_000,
            hold: false,
            help: false,
        }
    }
}

pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut rest = args.iter().peekable();
    if let Some(first) = rest.next_if(|a| !a.starts_with('-')) {
        if !SCENARIOS.contains(&first.as_str()) {
            return Err(format!(
                "unknown scenario `{first}`: one of {}",
                SCENARIOS.join(", ")
            ));
        }
        out.scenario = first.clone();
    }
    while let Some(flag) = rest.next() {
        let slot = match flag.as_str() {
            "--hold" => {
                out.hold = true;
                continue;
            }
            "--help" | "-h" => {
                out.help = true;
                continue;
            }
            "--peer" => &mut out.peer,
            "--rate" => &mut out.rate,
            "--vendor-ms" => &mut out.vendor_ms,
            "--pushes" => &mut out.pushes,
            "--registry-devices" => &mut out.registry_devices,
            "--registry-cache-mb" => &mut out.registry_cache_mb,
            "--dedup-ids" => &mut out.dedup_ids,
            other if other.starts_with('-') => return Err(format!("unknown flag `{other}`")),
            other => {
                return Err(format!(
                    "unexpected argument `{other}` (one scenario a run, before the flags)"
                ))
            }
        };
        let value = rest
            .next()
            .ok_or_else(|| format!("`{flag}` takes a number"))?;
        *slot = value
            .parse()
            .map_err(|_| format!("`{flag}` takes a whole number, not `{value}`"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Args, String> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    #[test]
    fn no_arguments_run_every_scenario_with_the_documented_defaults() {
        let a = parse_str("").unwrap();
        assert_eq!(a.scenario, "all");
        assert_eq!((a.peer, a.pushes, a.rate), (100_000, 1_000_000, 0));
        assert_eq!(a.dedup_ids, 18_000_000);
    }

    #[test]
    fn a_scenario_and_its_flags_are_read() {
        let a = parse_str("latency --peer 30000 --rate 2000 --vendor-ms 40 --hold").unwrap();
        assert_eq!(a.scenario, "latency");
        assert_eq!(
            (a.peer, a.rate, a.vendor_ms, a.hold),
            (30_000, 2000, 40, true)
        );
        let a = parse_str("--registry-devices 5000 --registry-cache-mb 64").unwrap();
        assert_eq!(a.scenario, "all");
        assert_eq!((a.registry_devices, a.registry_cache_mb), (5000, 64));
    }

    #[test]
    fn mistakes_are_refused_naming_what_was_wrong() {
        let e = parse_str("lateny").unwrap_err();
        assert!(e.contains("unknown scenario `lateny`"), "{e}");
        let e = parse_str("peer --rates 10").unwrap_err();
        assert!(e.contains("unknown flag `--rates`"), "{e}");
        let e = parse_str("peer --peer 10k").unwrap_err();
        assert!(
            e.contains("`--peer` takes a whole number, not `10k`"),
            "{e}"
        );
        let e = parse_str("peer --peer").unwrap_err();
        assert!(e.contains("`--peer` takes a number"), "{e}");
        let e = parse_str("peer latency").unwrap_err();
        assert!(e.contains("unexpected argument `latency`"), "{e}");
    }

    #[test]
    fn help_is_asked_for_with_or_without_a_scenario() {
        assert!(parse_str("--help").unwrap().help);
        assert!(parse_str("memory -h").unwrap().help);
        assert!(!parse_str("memory").unwrap().help);
    }
}
