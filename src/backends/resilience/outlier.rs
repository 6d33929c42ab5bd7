//! Passive outlier ejection of one endpoint, a pure state machine: `consecutive_failures`
//! failed calls in a row eject it for `base_ejection` × the number of times it was ejected
//! (at most `max_ejection`); a passed active health check brings it back at once.

use std::time::Instant;

use super::config::OutlierSettings;

/// One endpoint's ejection state.
#[derive(Debug, Clone, Default)]
pub struct Outlier {
    failures_in_a_row: u32,
    ejected_until: Option<Instant>,
    ejections: u64,
}

impl Outlier {
    /// Whether the endpoint is ejected at `now`.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| now < until)
    }

    /// How many times the endpoint was ejected.
    pub fn ejections(&self) -> u64 {
        self.ejections
    }

    /// The endpoint answered a call.
    pub fn on_success(&mut self) {
        self.failures_in_a_row = 0;
    }

    /// The endpoint failed a call at `now`; `may_eject` says whether the share of ejected
    /// endpoints leaves room for one more. Returns whether this failure ejected it.
    pub fn on_failure(
        &mut self,
        settings: &OutlierSettings,
        now: Instant,
        may_eject: bool,
    ) -> bool {
        if settings.consecutive_failures == 0 || self.is_ejected(now) {
            return false;
        }
        self.failures_in_a_row += 1;
        if self.failures_in_a_row < settings.consecutive_failures || !may_eject {
            return false;
        }
        self.ejections += 1;
        let factor = u32::try_from(self.ejections).unwrap_or(u32::MAX);
        let length = settings
            .base_ejection
            .saturating_mul(factor)
            .min(settings.max_ejection);
        self.ejected_until = Some(now + length);
        self.failures_in_a_row = 0;
        true
    }

    /// An active health check passed after failing: the endpoint is back.
    pub fn uneject(&mut self) {
        self.ejected_until = None;
        self.failures_in_a_row = 0;
    }
}

/// Whether one more of `total` endpoints may be ejected while `ejected` are: the share stays
/// within `max_percent`, and one endpoint may always be.
pub fn room_to_eject(ejected: usize, total: usize, max_percent: u32) -> bool {
    ejected == 0 || (ejected + 1) * 100 <= total * max_percent as usize
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> OutlierSettings {
        OutlierSettings {
            consecutive_failures: 2,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(75),
            max_ejected_percent: 50,
        }
    }

    #[test]
    fn failures_in_a_row_eject_for_longer_each_time_up_to_the_maximum() {
        let s = settings();
        let now = Instant::now();
        let mut o = Outlier::default();
        assert!(!o.on_failure(&s, now, true));
        assert!(o.on_failure(&s, now, true));
        assert!(o.is_ejected(now + Duration::from_secs(29)));
        assert!(!o.is_ejected(now + Duration::from_secs(30)));
        let later = now + Duration::from_secs(30);
        o.on_failure(&s, later, true);
        o.on_failure(&s, later, true);
        assert!(o.is_ejected(later + Duration::from_secs(59)));
        assert!(!o.is_ejected(later + Duration::from_secs(60)));
        let third = later + Duration::from_secs(60);
        o.on_failure(&s, third, true);
        o.on_failure(&s, third, true);
        // 3 × 30 s is capped at 75 s.
        assert!(!o.is_ejected(third + Duration::from_secs(75)));
        assert_eq!(o.ejections(), 3);
    }

    #[test]
    fn a_success_resets_the_count_and_a_health_check_unejects() {
        let s = settings();
        let now = Instant::now();
        let mut o = Outlier::default();
        o.on_failure(&s, now, true);
        o.on_success();
        assert!(!o.on_failure(&s, now, true));
        assert!(o.on_failure(&s, now, true));
        o.uneject();
        assert!(!o.is_ejected(now));
    }

    #[test]
    fn no_room_means_no_ejection_and_zero_turns_it_off() {
        let now = Instant::now();
        let mut o = Outlier::default();
        assert!(!o.on_failure(&settings(), now, false));
        assert!(!o.on_failure(&settings(), now, false));
        assert!(!o.is_ejected(now));
        let off = OutlierSettings {
            consecutive_failures: 0,
            ..settings()
        };
        for _ in 0..10 {
            assert!(!o.on_failure(&off, now, true));
        }
    }

    #[test]
    fn the_ejected_share_is_bounded_but_one_may_always_go() {
        assert!(room_to_eject(0, 1, 0));
        assert!(room_to_eject(0, 3, 10));
        assert!(!room_to_eject(1, 3, 50));
        assert!(room_to_eject(1, 4, 50));
        assert!(!room_to_eject(2, 4, 50));
    }
}
