//! When and how often a dropped RTMP connection is tried again: the one
//! [`ReconnectPolicy`] the pusher's uplink and the player's connection both
//! follow.

use std::time::Duration;

use super::RtmpUrl;

/// How the pusher and the player reconnect when the connection drops (or
/// the first connection fails).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// Attempts after a failure before giving up (-1307, -2301).
    pub attempts: u32,
    /// Wait before the first attempt; doubled after each failure.
    pub initial_backoff: Duration,
    /// Longest wait between attempts: a server that comes back is found
    /// again within this (plus the connection's own set-up).
    pub max_backoff: Duration,
    /// Give up when an attempt would start this long after the failure,
    /// even with attempts left (a host that never answers costs the
    /// connect timeout per attempt).
    pub give_up_after: Duration,
}

impl Default for ReconnectPolicy {
    /// Up to ten attempts, 0.5, 1, then every 2 s, for at most 25 s: a
    /// server back from a restart is reached within about 2 s, and the
    /// pusher gives up within about 30 s of losing a server for good.
    fn default() -> Self {
        Self {
            attempts: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(2),
            give_up_after: Duration::from_secs(25),
        }
    }
}

impl ReconnectPolicy {
    /// Whether attempt number `attempt` (1-based) may still be made, an
    /// `outage` after the failure.
    pub fn allows(&self, attempt: u32, outage: Duration) -> bool {
        attempt <= self.attempts && outage + self.backoff(attempt) <= self.give_up_after
    }

    /// `None` while attempt number `attempt` may be made, an `outage`
    /// after the failure; else why the client gives up (-1307 / -2301).
    pub fn give_up(&self, url: &RtmpUrl, attempt: u32, outage: Duration) -> Option<String> {
        if self.allows(attempt, outage) {
            return None;
        }
        let attempts = match attempt.saturating_sub(1) {
            1 => "1 attempt".to_string(),
            n => format!("{n} attempts"),
        };
        Some(format!(
            "disconnected from {url}: gave up after {attempts} in {:.1} s",
            outage.as_secs_f64()
        ))
    }

    /// The wait before attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = ReconnectPolicy::default();
        let waits: Vec<u128> = (1..=5).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 2000, 2000]);
    }

    #[test]
    fn attempts_end_with_the_count_or_the_time_budget() {
        let policy = ReconnectPolicy::default();
        assert!(policy.allows(10, Duration::from_secs(20)));
        assert!(!policy.allows(11, Duration::ZERO));
        assert!(!policy.allows(3, Duration::from_secs(24)));
    }
}
