//! The circuit breaker of one endpoint, a pure state machine driven with explicit instants:
//! closed → (failure_threshold failures in a row) → open → (open_for later) → half-open, where
//! up to half_open_calls trial calls go through; a trial's success closes the circuit, its
//! failure opens it again.

use std::time::Instant;

use super::config::BreakerSettings;

/// The state of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the circuit half-opens.
    Open,
    /// A limited number of trial calls go through.
    HalfOpen,
}

/// What a call admitted by the breaker was, so its outcome is booked right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ticket {
    /// An ordinary call through a closed circuit.
    Normal,
    /// A trial call through a half-open circuit.
    Trial,
}

/// One endpoint's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    settings: BreakerSettings,
    state: CircuitState,
    failures_in_a_row: u32,
    opened_at: Option<Instant>,
    trials: u32,
    opened: u64,
    half_opened: u64,
    closed: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: CircuitState::Closed,
            failures_in_a_row: 0,
            opened_at: None,
            trials: 0,
            opened: 0,
            half_opened: 0,
            closed: 0,
        }
    }

    /// The state at `now` (an open circuit whose time is up is half-open).
    pub fn state(&mut self, now: Instant) -> CircuitState {
        if self.state == CircuitState::Open
            && self
                .opened_at
                .is_some_and(|at| now.duration_since(at) >= self.settings.open_for)
        {
            self.state = CircuitState::HalfOpen;
            self.trials = 0;
            self.half_opened += 1;
        }
        self.state
    }

    /// How many times the circuit has opened.
    pub fn times_opened(&self) -> u64 {
        self.opened
    }

    /// How many times the circuit has entered each state: `[closed, open, half-open]`. A
    /// circuit half-opens when its state is next read after `open_for` has passed.
    pub fn transitions(&self) -> [u64; 3] {
        [self.closed, self.opened, self.half_opened]
    }

    /// Whether a call may go through at `now`, without taking it.
    pub fn admits(&mut self, now: Instant) -> bool {
        match self.state(now) {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen => self.trials < self.settings.half_open_calls,
        }
    }

    /// Takes a call through at `now`, or refuses it.
    pub fn admit(&mut self, now: Instant) -> Option<Ticket> {
        match self.state(now) {
            CircuitState::Closed => Some(Ticket::Normal),
            CircuitState::Open => None,
            CircuitState::HalfOpen if self.trials < self.settings.half_open_calls => {
                self.trials += 1;
                Some(Ticket::Trial)
            }
            CircuitState::HalfOpen => None,
        }
    }

    /// The endpoint answered the call.
    pub fn on_success(&mut self, ticket: Ticket) {
        match (ticket, self.state) {
            (Ticket::Trial, CircuitState::HalfOpen) | (Ticket::Normal, CircuitState::Closed) => {
                if self.state == CircuitState::HalfOpen {
                    self.closed += 1;
                }
                self.state = CircuitState::Closed;
                self.failures_in_a_row = 0;
                self.trials = 0;
            }
            // A call let through before the circuit opened proves nothing about now.
            _ => {}
        }
    }

    /// The endpoint failed the call at `now`.
    pub fn on_failure(&mut self, ticket: Ticket, now: Instant) {
        if self.settings.failure_threshold == 0 {
            return;
        }
        match (ticket, self.state) {
            (Ticket::Normal, CircuitState::Closed) => {
                self.failures_in_a_row += 1;
                if self.failures_in_a_row >= self.settings.failure_threshold {
                    self.open(now);
                }
            }
            (Ticket::Trial, CircuitState::HalfOpen) => self.open(now),
            _ => {}
        }
    }

    /// The call ended without saying anything about the endpoint (deadline, cancellation, a
    /// client error): a trial's place is given back.
    pub fn on_neutral(&mut self, ticket: Ticket) {
        if ticket == Ticket::Trial && self.state == CircuitState::HalfOpen {
            self.trials = self.trials.saturating_sub(1);
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = CircuitState::Open;
        self.opened_at = Some(now);
        self.failures_in_a_row = 0;
        self.trials = 0;
        self.opened += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            failure_threshold: 3,
            open_for: Duration::from_secs(10),
            half_open_calls: 1,
        })
    }

    #[test]
    fn opens_after_the_threshold_of_failures_in_a_row() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..2 {
            let t = b.admit(now).unwrap();
            b.on_failure(t, now);
        }
        // A success in between starts the count again.
        let t = b.admit(now).unwrap();
        b.on_success(t);
        for _ in 0..2 {
            let t = b.admit(now).unwrap();
            b.on_failure(t, now);
        }
        assert_eq!(b.state(now), CircuitState::Closed);
        let t = b.admit(now).unwrap();
        b.on_failure(t, now);
        assert_eq!(b.state(now), CircuitState::Open);
        assert_eq!(b.admit(now + Duration::from_secs(9)), None);
        assert_eq!(b.times_opened(), 1);
    }

    #[test]
    fn half_opens_after_open_for_and_a_trial_success_closes_it() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            let t = b.admit(now).unwrap();
            b.on_failure(t, now);
        }
        let later = now + Duration::from_secs(10);
        assert_eq!(b.state(later), CircuitState::HalfOpen);
        let trial = b.admit(later).unwrap();
        assert_eq!(trial, Ticket::Trial);
        // Only one trial at a time.
        assert_eq!(b.admit(later), None);
        b.on_success(trial);
        assert_eq!(b.state(later), CircuitState::Closed);
        assert_eq!(b.admit(later), Some(Ticket::Normal));
        // Entered closed once, open once, half-open once.
        assert_eq!(b.transitions(), [1, 1, 1]);
    }

    #[test]
    fn a_failed_trial_opens_the_circuit_again_and_a_neutral_one_frees_its_place() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            let t = b.admit(now).unwrap();
            b.on_failure(t, now);
        }
        let later = now + Duration::from_secs(10);
        let trial = b.admit(later).unwrap();
        b.on_neutral(trial);
        let trial = b.admit(later).unwrap();
        b.on_failure(trial, later);
        assert_eq!(b.state(later), CircuitState::Open);
        assert_eq!(b.times_opened(), 2);
        assert_eq!(
            b.state(later + Duration::from_secs(10)),
            CircuitState::HalfOpen
        );
        assert_eq!(b.transitions(), [0, 2, 2]);
    }

    #[test]
    fn late_answers_of_calls_admitted_before_opening_change_nothing() {
        let now = Instant::now();
        let mut b = breaker();
        let early = b.admit(now).unwrap();
        for _ in 0..3 {
            let t = b.admit(now).unwrap();
            b.on_failure(t, now);
        }
        b.on_success(early);
        assert_eq!(b.state(now), CircuitState::Open);
    }

    #[test]
    fn a_threshold_of_zero_never_opens() {
        let now = Instant::now();
        let mut b = Breaker::new(BreakerSettings {
            failure_threshold: 0,
            ..BreakerSettings::default()
        });
        for _ in 0..100 {
            let t = b.admit(now).unwrap();
            b.on_failure(t, now);
        }
        assert_eq!(b.state(now), CircuitState::Closed);
    }
}
