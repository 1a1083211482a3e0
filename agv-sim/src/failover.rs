//! Where a simulated AGV connects next (docs/protocol.md 4.4): its ordered list of RCS
//! addresses (the `--server` values, replaced by each configuration push that carries a list),
//! round robin after a lost link or a refused connection with a backoff of 0.2 s doubling to
//! 2 s, and straight to the active instance a standby names in its `Close` (`NotActive`).
//! When the instance a live standby named does not answer, a failover is under way (the
//! standby takes over when the lease lapses): the AGV tries again every 0.5 s rather than
//! backing off, so it is back soon after the takeover. Every pause is spread ±25 % per AGV, so a
//! fleet does not come back in one burst.

use std::time::Duration;

/// The first pause before a new attempt.
pub const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause.
pub const MAX_PAUSE: Duration = Duration::from_secs(2);
/// The pause while a failover is under way (a standby named an instance that did not answer).
pub const TRANSITION_PAUSE: Duration = Duration::from_millis(500);
/// Redirects followed at once in a row; after these the backoff applies to the next one too,
/// so two instances that name each other cannot make an AGV spin.
pub const FREE_REDIRECTS: u32 = 2;

/// One AGV's failover state.
#[derive(Debug, Clone)]
pub struct Failover {
    list: Vec<String>,
    /// Index in `list` of the address the last attempt from the list used (or of a redirect
    /// target that is in the list).
    at: usize,
    /// The address of the attempt under way (or the last one).
    target: String,
    /// Where the next attempt goes instead of the list (a standby named the active instance).
    redirect: Option<String>,
    redirects_in_row: u32,
    pause: Duration,
    /// The attempt under way goes where a standby sent it.
    to_redirect: bool,
    /// The jitter's state (xorshift).
    rng: u64,
}

impl Failover {
    /// A list to start with (at least one address).
    pub fn new(list: Vec<String>) -> Self {
        assert!(!list.is_empty(), "at least one RCS address");
        Self {
            target: list[0].clone(),
            list,
            at: 0,
            redirect: None,
            redirects_in_row: 0,
            pause: FIRST_PAUSE,
            to_redirect: false,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Seeds the jitter (each AGV its own, e.g. its id), so a fleet spreads its attempts.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = (seed ^ 0x9e37_79b9_7f4a_7c15).max(1);
        self
    }

    /// The address list in force.
    pub fn list(&self) -> &[String] {
        &self.list
    }

    /// Starts an attempt: the address to connect to (a pending redirect, else the list's
    /// current entry).
    pub fn attempt(&mut self) -> &str {
        self.to_redirect = self.redirect.is_some();
        self.target = match self.redirect.take() {
            Some(active) => {
                if let Some(i) = self.list.iter().position(|a| *a == active) {
                    self.at = i;
                }
                active
            }
            None => self.list[self.at].clone(),
        };
        &self.target
    }

    /// The attempt's session registered: the backoff and the redirect count start over.
    pub fn registered(&mut self) {
        self.pause = FIRST_PAUSE;
        self.redirects_in_row = 0;
    }

    /// A configuration push brought `list` (non-empty): it replaces the list. The next address
    /// after a loss is the one after the address in use, or the first when that one is not in
    /// the new list.
    pub fn learn(&mut self, list: Vec<String>) {
        if list.is_empty() {
            return;
        }
        self.at = list
            .iter()
            .position(|a| *a == self.target)
            .unwrap_or(list.len() - 1);
        self.list = list;
    }

    /// The attempt ended without a redirect (link lost, connection refused or broken, handshake
    /// timeout, any other close): moves to the next address and returns the pause to wait.
    pub fn failed(&mut self) -> Duration {
        self.at = (self.at + 1) % self.list.len();
        if std::mem::take(&mut self.to_redirect) {
            // A live standby named an instance that is gone: the takeover is near. Not a loop
            // of redirects either: those count from here again.
            self.redirects_in_row = 0;
            self.pause = FIRST_PAUSE;
            return self.spread(TRANSITION_PAUSE);
        }
        let pause = self.backoff();
        self.spread(pause)
    }

    /// A standby closed with `NotActive`: to `active` at once (unless too many redirects came
    /// in a row), or, when it named none, on as after a failure. Returns the pause to wait.
    pub fn redirected(&mut self, active: Option<String>) -> Duration {
        let Some(active) = active else {
            return self.failed();
        };
        self.redirect = Some(active);
        self.redirects_in_row += 1;
        if self.redirects_in_row > FREE_REDIRECTS {
            let pause = self.backoff();
            self.spread(pause)
        } else {
            Duration::ZERO
        }
    }

    fn backoff(&mut self) -> Duration {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        pause
    }

    /// `pause` spread over ±25 %.
    fn spread(&mut self, pause: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let factor = 0.75 + (self.rng % 1000) as f64 / 2000.0;
        pause.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn round_robin_with_a_doubling_backoff_reset_on_registration() {
        let mut f = Failover::new(list(&["a:1", "b:1", "c:1"]));
        assert_eq!(f.attempt(), "a:1");
        let pauses: Vec<u64> = (0..6)
            .map(|_| {
                let p = f.failed();
                f.attempt();
                p.as_millis() as u64
            })
            .collect();
        let base = [200, 400, 800, 1600, 2000, 2000];
        for (p, b) in pauses.iter().zip(base) {
            assert!(*p >= b * 3 / 4 && *p < b * 5 / 4, "{pauses:?}");
        }
        assert_eq!(f.target, "a:1", "six failures later: round the list twice");
        f.registered();
        assert!(f.failed() < FIRST_PAUSE * 5 / 4);
        assert_eq!(f.attempt(), "b:1");
    }

    #[test]
    fn a_redirect_goes_at_once_and_the_list_goes_on_after_the_address_used() {
        let mut f = Failover::new(list(&["a:1", "b:1", "c:1"]));
        assert_eq!(f.attempt(), "a:1");
        assert_eq!(f.redirected(Some("x:9".into())), Duration::ZERO);
        assert_eq!(f.attempt(), "x:9");
        // lost there: the list goes on after the address used before the redirect
        f.failed();
        assert_eq!(f.attempt(), "b:1");
        // a redirect to an address of the list moves the place in the list
        f.redirected(Some("c:1".into()));
        assert_eq!(f.attempt(), "c:1");
        f.failed();
        assert_eq!(f.attempt(), "a:1");
        // a standby that knows no active instance: next address, with backoff
        assert!(f.redirected(None) > Duration::ZERO);
        assert_eq!(f.attempt(), "b:1");
    }

    #[test]
    fn redirect_loops_are_slowed_down() {
        let mut f = Failover::new(list(&["a:1"]));
        f.attempt();
        assert_eq!(f.redirected(Some("b:1".into())), Duration::ZERO);
        f.attempt();
        assert_eq!(f.redirected(Some("a:1".into())), Duration::ZERO);
        f.attempt();
        let p = f.redirected(Some("b:1".into()));
        assert!(p >= FIRST_PAUSE * 3 / 4 && p < FIRST_PAUSE * 5 / 4, "{p:?}");
        f.attempt();
        f.registered();
        assert_eq!(f.redirected(Some("a:1".into())), Duration::ZERO);
    }

    #[test]
    fn while_a_standby_names_a_gone_instance_the_agv_retries_at_a_short_pause() {
        let mut f = Failover::new(list(&["a:1", "b:1"])).with_seed(7);
        f.attempt();
        // a died: b (standby) names a until the lease lapses, however long that takes
        let mut pauses = Vec::new();
        for _ in 0..10 {
            pauses.push(f.failed());
            assert_eq!(f.attempt(), "b:1");
            assert_eq!(f.redirected(Some("a:1".into())), Duration::ZERO);
            assert_eq!(f.attempt(), "a:1");
        }
        assert!(
            pauses[1..]
                .iter()
                .all(|p| *p >= TRANSITION_PAUSE * 3 / 4 && *p < TRANSITION_PAUSE * 5 / 4),
            "{pauses:?}"
        );
        // spread: not all the same
        assert!(pauses[1..].iter().any(|p| *p != pauses[1]), "{pauses:?}");
        // two AGVs do not pause alike
        let mut g = Failover::new(list(&["a:1", "b:1"])).with_seed(8);
        g.attempt();
        assert_ne!(f.failed(), g.failed());
    }

    #[test]
    fn a_pushed_list_replaces_the_list_and_keeps_the_place() {
        let mut f = Failover::new(list(&["a:1"]));
        f.attempt();
        f.learn(list(&["z:1", "a:1", "b:1"]));
        f.failed();
        assert_eq!(f.attempt(), "b:1");
        // the address in use is not in the new list: the first comes next
        f.learn(list(&["c:1", "d:1"]));
        f.failed();
        assert_eq!(f.attempt(), "c:1");
        f.learn(vec![]);
        assert_eq!(f.list(), list(&["c:1", "d:1"]));
    }
}
