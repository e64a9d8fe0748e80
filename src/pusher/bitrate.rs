//! RTC mode's adaptive bitrate: each `netStatus` interval, the send backlog
//! decides whether the encoder's bitrate goes down, up or stays.

use crate::encoder::BitrateRange;

/// Calm intervals (little backlog) before the bitrate is raised again.
const CALM_INTERVALS_TO_RAISE: u32 = 3;

/// What to do after one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Adaptation {
    /// The bitrate for the next interval, kbps.
    pub(super) target_kbps: u32,
    /// Backlog is building although the bitrate is already at the minimum
    /// (event 1101).
    pub(super) uplink_slow: bool,
}

/// Lowers the bitrate by 30 % (not below the minimum) when more than a
/// quarter second of video waits to be sent; raises it by 10 % (not above
/// the maximum) after three calm intervals in a row.
pub(super) struct AdaptiveBitrate {
    range: BitrateRange,
    calm_intervals: u32,
}

impl AdaptiveBitrate {
    pub(super) fn new(range: BitrateRange) -> Self {
        Self {
            range,
            calm_intervals: 0,
        }
    }

    pub(super) fn update(&mut self, current_kbps: u32, backlog_bytes: usize) -> Adaptation {
        let quarter_second = current_kbps as usize * 1000 / 8 / 4;
        if backlog_bytes > quarter_second {
            self.calm_intervals = 0;
            return Adaptation {
                target_kbps: (current_kbps * 7 / 10).max(self.range.min_kbps),
                uplink_slow: current_kbps <= self.range.min_kbps,
            };
        }
        self.calm_intervals += 1;
        let target_kbps = if self.calm_intervals >= CALM_INTERVALS_TO_RAISE {
            self.calm_intervals = 0;
            (current_kbps * 11 / 10 + 1).min(self.range.max_kbps)
        } else {
            current_kbps
        };
        Adaptation {
            target_kbps,
            uplink_slow: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn congestion_lowers_to_the_minimum_and_calm_recovers_to_the_maximum() {
        let range = BitrateRange {
            min_kbps: 200,
            max_kbps: 1000,
        };
        let mut control = AdaptiveBitrate::new(range);
        let mut kbps = 1000;
        let mut steps = Vec::new();
        // A link that cannot keep up: 200 KB always waiting.
        for _ in 0..8 {
            let step = control.update(kbps, 200_000);
            kbps = step.target_kbps;
            steps.push(kbps);
        }
        assert_eq!(&steps[..5], [700, 490, 343, 240, 200]);
        assert!(control.update(kbps, 200_000).uplink_slow);
        // The link recovers: up again, three calm intervals per step.
        let mut calm = 0;
        while kbps < 1000 {
            let next = control.update(kbps, 0).target_kbps;
            assert!(next >= kbps);
            kbps = next;
            calm += 1;
            assert!(calm < 100, "never recovered");
        }
        assert_eq!(kbps, 1000);
        assert_eq!(control.update(kbps, 0).target_kbps, 1000);
        // A small backlog (under a quarter second) is not congestion.
        assert_eq!(control.update(1000, 20_000).target_kbps, 1000);
    }
}
