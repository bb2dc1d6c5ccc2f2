//! Send scheduling without coordinated omission.
//!
//! At a fixed rate every message has an *intended* send time, `start + i × interval`, fixed
//! before the run starts. When the sender falls behind (a stalled broker, a full queue) it does
//! not move the schedule: it sends the late messages at once, and their latency is measured from
//! the intended time, so the stall shows up in the percentiles instead of being hidden by the
//! sender waiting. Without a rate the intended time is the actual send time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic clock whose readings are nanoseconds since the UNIX epoch, so that timestamps
/// written into payloads can be compared across threads (and, roughly, across processes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// The monotonic instant the readings count from.
    base: Instant,
    /// Wall-clock nanoseconds since the epoch at `base`.
    base_unix_ns: u64,
}

impl Clock {
    /// Starts a clock aligned with the wall clock now.
    pub(crate) fn new() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            base: Instant::now(),
            base_unix_ns: duration_ns(unix),
        }
    }

    /// Nanoseconds since the UNIX epoch, never going backwards.
    pub(crate) fn now_ns(&self) -> u64 {
        self.base_unix_ns + duration_ns(self.base.elapsed())
    }
}

/// A duration in nanoseconds, saturating (585 years fit).
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What a sender should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing is due yet: wait until this time (ns since the epoch), then ask again.
    WaitUntil(u64),
    /// Send one message now; its latency counts from this intended time (ns since the epoch).
    Send(u64),
}

/// The send schedule of one sender.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    /// Intended time of message 0 (ns since the epoch).
    start_ns: u64,
    /// Nanoseconds between two intended send times; `None` sends as fast as possible.
    interval_ns: Option<f64>,
    /// Messages handed out so far.
    issued: u64,
}

impl Pacer {
    /// A schedule starting at `start_ns` with `rate` messages per second (`None`: no limit).
    pub(crate) fn new(start_ns: u64, rate: Option<f64>) -> Pacer {
        Pacer {
            start_ns,
            interval_ns: rate.filter(|r| *r > 0.0).map(|r| 1e9 / r),
            issued: 0,
        }
    }

    /// The next step at time `now_ns`. Late messages are due at once, one per call, each with
    /// its own intended time.
    pub(crate) fn next(&mut self, now_ns: u64) -> Step {
        let Some(interval) = self.interval_ns else {
            self.issued += 1;
            return Step::Send(now_ns);
        };
        // f64 keeps fractional intervals exact enough: 2^53 ns is 104 days.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let intended = self.start_ns + (self.issued as f64 * interval) as u64;
        if intended > now_ns {
            Step::WaitUntil(intended)
        } else {
            self.issued += 1;
            Step::Send(intended)
        }
    }
}

/// Latency of a message acknowledged (or received) at `done_ns` that was due at `intended_ns`.
pub(crate) fn latency_ns(intended_ns: u64, done_ns: u64) -> u64 {
    done_ns.saturating_sub(intended_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn unlimited_rate_sends_at_the_actual_time() {
        let mut p = Pacer::new(0, None);
        assert_eq!(p.next(5), Step::Send(5));
        assert_eq!(p.next(9), Step::Send(9));
    }

    #[test]
    fn fixed_rate_waits_for_the_schedule() {
        // 1000 msg/s: one message per millisecond from t = 100 ms.
        let mut p = Pacer::new(100 * MS, Some(1000.0));
        assert_eq!(p.next(50 * MS), Step::WaitUntil(100 * MS));
        assert_eq!(p.next(100 * MS), Step::Send(100 * MS));
        assert_eq!(p.next(100 * MS), Step::WaitUntil(101 * MS));
        assert_eq!(p.next(101 * MS + 10), Step::Send(101 * MS));
    }

    /// A sender that stalls for 50 ms at 1000 msg/s: the 50 messages that were due during the
    /// stall keep their intended times, so their latencies include the time they waited for the
    /// sender, from 50 ms down to about 1 ms. Measuring from the actual send time would report
    /// ~0 for all of them (coordinated omission).
    #[test]
    fn a_stall_is_charged_to_the_messages_that_were_due() {
        let mut p = Pacer::new(0, Some(1000.0));
        assert_eq!(p.next(0), Step::Send(0));
        // The sender is blocked until t = 50 ms; the broker acks instantly after that.
        let resume = 50 * MS;
        let mut latencies = Vec::new();
        while let Step::Send(intended) = p.next(resume) {
            let actual_send = resume;
            latencies.push((latency_ns(intended, actual_send), intended));
        }
        assert_eq!(latencies.len(), 50, "messages 1..=50 were due by 50 ms");
        assert_eq!(latencies[0], (49 * MS, MS));
        assert_eq!(latencies[49], (0, 50 * MS));
        let mean = latencies.iter().map(|(l, _)| l).sum::<u64>() / 50;
        assert_eq!(
            mean, 24_500_000,
            "mean wait of the backlog is ~25 ms, not 0"
        );
        // Back on schedule afterwards.
        assert_eq!(p.next(resume), Step::WaitUntil(51 * MS));
    }

    #[test]
    fn latency_never_underflows() {
        assert_eq!(latency_ns(10, 5), 0);
        assert_eq!(latency_ns(5, 10), 5);
    }

    #[test]
    fn clock_is_monotonic_and_unix_aligned() {
        let c = Clock::new();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
        assert!(a > 1_600_000_000 * 1_000_000_000, "after 2020");
    }
}
