//! How long a loaded board has had nobody on it: the deadline of its idle unload.
//!
//! A board's task runs other timers beside this one (the awareness sweep, held presence,
//! vote deadlines, the owner's beat on a replica), and each of them wakes its `select!`
//! loop. The idle deadline must not move when they do: it is fixed when the last member
//! leaves and cleared when someone joins, never restarted by a pass of the loop.

use std::time::Duration;

use tokio::time::Instant;

/// The idle deadline of one board's task.
#[derive(Debug)]
pub struct IdleTimer {
    after: Duration,
    /// When the board last became empty; `None` while someone is on it.
    since: Option<Instant>,
}

impl IdleTimer {
    /// A timer for a board that starts empty (its first join is on its way).
    pub fn new(after: Duration) -> Self {
        IdleTimer { after, since: Some(Instant::now()) }
    }

    /// Records whether the board is empty now; an empty board keeps the moment it
    /// became so.
    pub fn note(&mut self, empty: bool) {
        match (empty, self.since) {
            (true, None) => self.since = Some(Instant::now()),
            (false, Some(_)) => self.since = None,
            _ => {}
        }
    }

    /// When the board unloads if nobody comes, or `None` while someone is on it.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + self.after)
    }

    /// Resolves once the board has been empty for the idle time; never while someone
    /// is on it.
    pub async fn expired(&self) {
        match self.deadline() {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn other_wake_ups_do_not_move_the_deadline() {
        let mut idle = IdleTimer::new(AFTER);
        let deadline = idle.deadline().expect("starts empty");
        // Many passes of the loop, as a 5-second sweep makes, while nobody is there.
        for _ in 0..11 {
            tokio::time::advance(Duration::from_secs(5)).await;
            idle.note(true);
            assert_eq!(idle.deadline(), Some(deadline));
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        tokio::time::timeout(Duration::ZERO, idle.expired()).await.expect("expired at the deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_clears_it_and_leaving_starts_it_again() {
        let mut idle = IdleTimer::new(AFTER);
        idle.note(false);
        assert_eq!(idle.deadline(), None);
        tokio::time::advance(AFTER * 2).await;
        assert!(tokio::time::timeout(Duration::ZERO, idle.expired()).await.is_err(), "never while someone is on");
        idle.note(true);
        assert_eq!(idle.deadline(), Some(Instant::now() + AFTER));
    }
}
