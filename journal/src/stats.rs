//! Writer instrumentation: per-batch write latency in an HdrHistogram, and the
//! maximum per wall-clock second (LMAX's view of a journal), kept by the writer
//! without locks or allocation and copied out on request.

use hdrhistogram::Histogram;
use std::collections::VecDeque;

/// How many one-second maxima are kept (the oldest drop off).
pub const PER_SECOND_WINDOW: usize = 3600;

/// Live counters inside the writer.
#[derive(Debug)]
pub(crate) struct Stats {
    all: Histogram<u64>,
    roll: Histogram<u64>,
    per_second: VecDeque<(u64, u64)>,
    batches: u64,
    records: u64,
    bytes: u64,
    rolls: u64,
    spare_waits: u64,
}

fn hist() -> Histogram<u64> {
    // 1 ns .. 100 s, 3 significant figures: a fixed, valid configuration.
    Histogram::new_with_bounds(1, 100_000_000_000, 3)
        .unwrap_or_else(|e| unreachable!("fixed histogram bounds are valid: {e}"))
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            all: hist(),
            roll: hist(),
            per_second: VecDeque::with_capacity(PER_SECOND_WINDOW),
            batches: 0,
            records: 0,
            bytes: 0,
            rolls: 0,
            spare_waits: 0,
        }
    }

    /// Records one batch: `second` is whole seconds since the writer opened.
    pub fn record(&mut self, ns: u64, second: u64, records: u64, bytes: u64, rolled: bool) {
        self.all.saturating_record(ns.max(1));
        if rolled {
            self.roll.saturating_record(ns.max(1));
            self.rolls += 1;
        }
        self.batches += 1;
        self.records += records;
        self.bytes += bytes;
        match self.per_second.back_mut() {
            Some((s, m)) if *s == second => *m = (*m).max(ns),
            _ => {
                if self.per_second.len() == PER_SECOND_WINDOW {
                    self.per_second.pop_front();
                }
                self.per_second.push_back((second, ns));
            }
        }
    }

    pub fn spare_wait(&mut self) {
        self.spare_waits += 1;
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            latency_ns: self.all.clone(),
            roll_latency_ns: self.roll.clone(),
            max_per_second: self.per_second.iter().copied().collect(),
            batches: self.batches,
            records: self.records,
            bytes: self.bytes,
            rolls: self.rolls,
            spare_waits: self.spare_waits,
        }
    }

    pub fn reset(&mut self) {
        self.all.reset();
        self.roll.reset();
        self.per_second.clear();
        self.batches = 0;
        self.records = 0;
        self.bytes = 0;
        self.rolls = 0;
        self.spare_waits = 0;
    }
}

/// A copy of the writer's instrumentation at one moment.
#[derive(Debug, Clone)]
pub struct StatsSnapshot {
    /// Latency of every batch append (framing + write + any sync), in ns.
    pub latency_ns: Histogram<u64>,
    /// Latency of the batch appends that rolled to a new segment, in ns.
    pub roll_latency_ns: Histogram<u64>,
    /// `(second since open, max batch latency ns in that second)`, oldest first,
    /// only seconds that saw an append.
    pub max_per_second: Vec<(u64, u64)>,
    /// Batches appended.
    pub batches: u64,
    /// Records appended.
    pub records: u64,
    /// Bytes written (frames and segment headers).
    pub bytes: u64,
    /// Segment rolls.
    pub rolls: u64,
    /// Rolls that had to wait for the background thread to finish the next
    /// segment (each one is a potential spike; should stay 0).
    pub spare_waits: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_second_series_keeps_the_max_and_window() {
        let mut s = Stats::new();
        s.record(100, 0, 1, 10, false);
        s.record(300, 0, 1, 10, false);
        s.record(200, 1, 1, 10, true);
        let snap = s.snapshot();
        assert_eq!(snap.max_per_second, vec![(0, 300), (1, 200)]);
        assert_eq!(
            (snap.batches, snap.records, snap.bytes, snap.rolls),
            (3, 3, 30, 1)
        );
        assert_eq!(snap.roll_latency_ns.len(), 1);
        for sec in 2..(PER_SECOND_WINDOW as u64 + 10) {
            s.record(1, sec, 1, 1, false);
        }
        assert_eq!(s.snapshot().max_per_second.len(), PER_SECOND_WINDOW);
        s.reset();
        assert_eq!(s.snapshot().batches, 0);
    }
}
