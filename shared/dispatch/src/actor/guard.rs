//! The dead-token guard of one (app, vendor). A wrong APNs topic or Huawei app id makes the
//! vendor call every token dead, and deleting on each answer would empty the app's registry
//! in minutes. When an unusual share of recent answers say "dead token", the guard trips:
//! from then on (until the dispatcher restarts, with corrected settings) those answers hold
//! their pushes as failed, parked and replayable, and no device is deleted.

use crate::Attempt;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

pub struct DeadTokenGuard {
    min: u32,
    ratio: f64,
    window: Duration,
    /// Answers per second of the window: (second since `start`, answers, dead-token answers).
    /// Counted per second, not kept one by one: at a vendor's full rate a window holds millions.
    seconds: VecDeque<(u64, u64, u64)>,
    start: Instant,
    tripped: bool,
}

impl DeadTokenGuard {
    pub fn new(min: u32, ratio: f64, window: Duration) -> Self {
        DeadTokenGuard {
            min: min.max(1),
            ratio,
            window,
            seconds: VecDeque::new(),
            start: Instant::now(),
            tripped: false,
        }
    }

    pub fn tripped(&self) -> bool {
        self.tripped
    }

    /// Counts a request's answers; true when they trip the guard. Deferrals say nothing of
    /// tokens and are not counted.
    pub fn observe(&mut self, attempts: &[Attempt], now: Instant) -> bool {
        let second = now.saturating_duration_since(self.start).as_secs();
        if self.seconds.back().is_none_or(|(s, _, _)| *s != second) {
            self.seconds.push_back((second, 0, 0));
        }
        if let Some((_, answers, dead)) = self.seconds.back_mut() {
            for a in attempts
                .iter()
                .filter(|a| !matches!(a, Attempt::Defer { .. }))
            {
                *answers += 1;
                *dead += u64::from(matches!(a, Attempt::InvalidToken { .. }));
            }
        }
        let oldest = second.saturating_sub(self.window.as_secs());
        while self.seconds.front().is_some_and(|(s, _, _)| *s < oldest) {
            self.seconds.pop_front();
        }
        let (answers, dead) = self
            .seconds
            .iter()
            .fold((0, 0), |(a, d), (_, sa, sd)| (a + sa, d + sd));
        let share = dead as f64 / answers.max(1) as f64;
        let trips = !self.tripped && dead >= u64::from(self.min) && share >= self.ratio;
        self.tripped |= trips;
        trips
    }

    /// While tripped, a dead-token answer holds its push instead.
    pub fn hold(&self, attempt: Attempt, suspect: &str) -> Attempt {
        match attempt {
            Attempt::InvalidToken { detail } if self.tripped => Attempt::Held {
                detail: format!(
                    "held, not deleted: most recent answers say the token is dead, so the \
                     settings are suspect ({suspect}); fix them, restart the dispatcher and \
                     replay: {detail}"
                ),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead() -> Attempt {
        Attempt::InvalidToken {
            detail: "400 BadDeviceToken".into(),
        }
    }

    fn ok() -> Attempt {
        Attempt::Delivered {
            vendor_message_id: None,
        }
    }

    #[test]
    fn trips_on_a_share_of_dead_answers_and_holds_from_then_on() {
        let mut g = DeadTokenGuard::new(3, 0.5, Duration::from_secs(60));
        let t0 = Instant::now();
        // A few dead tokens among many deliveries are ordinary churn.
        assert!(!g.observe(&[ok(), ok(), dead(), ok(), ok(), dead()], t0));
        assert!(matches!(
            g.hold(dead(), "topic"),
            Attempt::InvalidToken { .. }
        ));
        assert!(g.observe(&[dead(), dead(), dead(), dead()], t0));
        let held = g.hold(dead(), "apps.demo.apns.topic");
        let Attempt::Held { detail } = held else {
            panic!("{held:?}")
        };
        assert!(detail.contains("apps.demo.apns.topic"), "{detail}");
        assert!(matches!(g.hold(ok(), "topic"), Attempt::Delivered { .. }));
    }
}
