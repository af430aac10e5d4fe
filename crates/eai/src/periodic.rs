//! The one periodic-job loop: every job of the worker (receipt relay,
//! reservation sweep, full stock load, retention purge, database probe) runs
//! `while ticker.tick().await { … }`, so each ticks the same way — the first
//! pass at once, a late pass never followed by a burst of catch-up passes —
//! and each stops at the same signal.

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Ticks every `period` until `stop` is cancelled.
pub struct Ticker {
    interval: Interval,
    stop: CancellationToken,
}

impl Ticker {
    pub fn new(period: Duration, stop: &CancellationToken) -> Ticker {
        let mut interval = tokio::time::interval(period.max(Duration::from_millis(10)));
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticker {
            interval,
            stop: stop.clone(),
        }
    }

    /// Waits for the next pass: true to run it, false once stopped.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            _ = self.interval.tick() => !self.stop.is_cancelled(),
        }
    }
}
