//! Where a phase's CPU went: the machine's busy share (/proc/stat), the services' and the
//! broker's CPU time per push (/proc/<pid>/stat).

use crate::mesh::{self, Mesh};

/// The machine's CPU time so far, from the first line of /proc/stat (all cores).
pub struct CpuTime {
    busy: u64,
    total: u64,
}

impl CpuTime {
    pub fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|t| t.parse().ok())
            .collect();
        let total = ticks.iter().sum::<u64>();
        let idle = ticks.iter().skip(3).take(2).sum::<u64>();
        CpuTime {
            busy: total - idle,
            total,
        }
    }

    /// The share of the machine's CPU time spent busy since `self` was taken (0 to 1).
    pub fn busy_since(&self) -> f64 {
        let now = Self::now();
        now.busy.saturating_sub(self.busy) as f64
            / now.total.saturating_sub(self.total).max(1) as f64
    }
}

/// RabbitMQ's CPU time from [`BrokerCpu::start`] on; nothing where the broker is not a process
/// of this machine.
pub struct BrokerCpu(Option<(u32, u64)>);

impl BrokerCpu {
    pub fn start() -> Self {
        BrokerCpu(mesh::broker_pid().and_then(|pid| Some((pid, mesh::ticks_of(pid)?))))
    }

    /// µs of the broker's CPU per message (or push) over `n` since the start.
    pub fn per(&self, n: u64) -> Option<u64> {
        let (pid, before) = self.0?;
        Some(us_per_push(mesh::ticks_of(pid)?.saturating_sub(before), n))
    }
}

/// Where a phase's CPU went: the machine's busy share, and per push the services' and the
/// broker's CPU time.
pub struct CpuSpent {
    machine: CpuTime,
    services: Vec<(&'static str, u64)>,
    broker: BrokerCpu,
}

impl CpuSpent {
    pub fn start(m: &Mesh) -> Self {
        CpuSpent {
            machine: CpuTime::now(),
            services: m.cpu_ticks(),
            broker: BrokerCpu::start(),
        }
    }

    /// `the machine 87% busy, the services' CPU 353 µs (dispatch-fcm 159, ingest 116, registry
    /// 40) and RabbitMQ's 266 µs per push`: the CPU per push is steadier than the busy share
    /// when other tenants share the host, so the figure to compare across builds and rates.
    pub fn per_push(&self, m: &Mesh, pushes: u64) -> String {
        let busy = self.machine.busy_since() * 100.0;
        let services = cpu_per_push(&self.services, &m.cpu_ticks(), pushes);
        let broker = self
            .broker
            .per(pushes)
            .map(|us| format!(" and RabbitMQ's {us} µs"))
            .unwrap_or_default();
        format!("the machine {busy:.0}% busy, the services' CPU {services}{broker} per push")
    }
}

/// Clock ticks (USER_HZ, 100 a second) spread over `pushes`, in µs each.
fn us_per_push(ticks: u64, pushes: u64) -> u64 {
    ticks * 10_000 / pushes.max(1)
}

/// The services' CPU time per push between two [`Mesh::cpu_ticks`] readings, vendor-sim left
/// out: `180 µs (dispatch-fcm 80, ingest 45, registry 20)`, the total and the three largest.
/// Steadier than the machine's busy share when other tenants share the host.
pub fn cpu_per_push(before: &[(&str, u64)], after: &[(&str, u64)], pushes: u64) -> String {
    let us = |ticks: u64| us_per_push(ticks, pushes);
    let mut ticks: Vec<(&str, u64)> = before
        .iter()
        .zip(after)
        .filter(|((name, _), _)| *name != "vendor-sim")
        .map(|((name, b), (_, a))| (*name, a.saturating_sub(*b)))
        .collect();
    ticks.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    // The total from the ticks, not from the rounded shares.
    let total = us(ticks.iter().map(|(_, t)| t).sum());
    let per: Vec<(&str, u64)> = ticks.iter().map(|(name, t)| (*name, us(*t))).collect();
    let top: Vec<String> = per
        .iter()
        .take(3)
        .map(|(name, us)| format!("{name} {us}"))
        .collect();
    format!("{total} µs ({})", top.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_push_counts_the_services_not_vendor_sim() {
        let before = [
            ("vendor-sim", 0),
            ("ingest", 100),
            ("dispatch-fcm", 50),
            ("presence", 7),
        ];
        // 100 ticks are 1 s; over 10,000 pushes, 100 µs each.
        let after = [
            ("vendor-sim", 900),
            ("ingest", 150),
            ("dispatch-fcm", 150),
            ("presence", 12),
        ];
        assert_eq!(
            cpu_per_push(&before, &after, 10_000),
            "155 µs (dispatch-fcm 100, ingest 50, presence 5)"
        );
        // Over 30,000 the shares round down (33 + 16 + 1); the total, from the ticks, does not.
        assert_eq!(
            cpu_per_push(&before, &after, 30_000),
            "51 µs (dispatch-fcm 33, ingest 16, presence 1)"
        );
    }
}
