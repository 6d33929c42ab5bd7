//! The retry budget of one backend: every call pays `budget_percent` % of a retry into it and
//! each retry takes one out, so retries add at most that share to the calls made, whatever
//! fails. It starts with `min_retries` so a quiet backend can retry at all, and saves at most
//! the pay of 100 calls on top of that, so a long calm cannot fund a retry storm.

use std::sync::atomic::{AtomicI64, Ordering};

use super::config::RetrySettings;

/// One retry, in the budget's unit.
const RETRY: i64 = 1000;

/// A lock-free retry budget.
#[derive(Debug)]
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: i64,
    cap: i64,
}

impl RetryBudget {
    /// A budget for `settings`.
    pub fn new(settings: &RetrySettings) -> Self {
        let reserve = i64::from(settings.min_retries) * RETRY;
        let deposit = i64::from(settings.budget_percent) * RETRY / 100;
        Self {
            balance: AtomicI64::new(reserve),
            deposit,
            cap: reserve + deposit * 100,
        }
    }

    /// A call was made: it pays its share.
    pub fn deposit(&self) {
        if self.deposit == 0 {
            return;
        }
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |balance| {
                (balance < self.cap).then(|| (balance + self.deposit).min(self.cap))
            });
    }

    /// Whether a retry can be paid for now (without paying).
    pub fn can_withdraw(&self) -> bool {
        self.balance.load(Ordering::Acquire) >= RETRY
    }

    /// Pays for one retry, or says there is not enough.
    pub fn withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |balance| {
                (balance >= RETRY).then_some(balance - RETRY)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(percent: u32, min: u32) -> RetryBudget {
        RetryBudget::new(&RetrySettings {
            budget_percent: percent,
            min_retries: min,
            ..RetrySettings::default()
        })
    }

    #[test]
    fn every_fifth_call_pays_for_a_retry_at_twenty_percent() {
        let b = budget(20, 0);
        let mut retries = 0;
        for _ in 0..100 {
            b.deposit();
            while b.withdraw() {
                retries += 1;
            }
        }
        assert_eq!(retries, 20);
    }

    #[test]
    fn the_reserve_comes_first_and_savings_are_capped() {
        let b = budget(20, 3);
        assert!(b.withdraw() && b.withdraw() && b.withdraw());
        assert!(!b.withdraw());
        for _ in 0..10_000 {
            b.deposit();
        }
        let mut retries = 0;
        while b.withdraw() {
            retries += 1;
        }
        // The reserve plus the pay of 100 calls.
        assert_eq!(retries, 3 + 20);
    }

    #[test]
    fn a_zero_budget_never_pays() {
        let b = budget(0, 0);
        for _ in 0..100 {
            b.deposit();
        }
        assert!(!b.can_withdraw());
        assert!(!b.withdraw());
    }
}
