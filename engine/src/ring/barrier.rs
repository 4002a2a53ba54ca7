//! Barriers: what a stage may read.
//!
//! A barrier gates a stage on any set of upstream stage sequences (the minimum of
//! them), or, with an empty set, directly on the producers' publication. Business
//! logic behind journal and replication is `ring.barrier(&[journal, replication])`.
//! A barrier may also carry an external [`Gate`] (see [`Barrier::with_gate`]):
//! a sequence published outside the ring, such as a standby's acknowledgement.

use super::core::Ring;
use super::sequence::Sequence;
use super::sequencer::Sequencer;
use crate::pipeline::Gate;
use std::sync::Arc;

/// The availability check of one stage.
pub struct Barrier<T, S> {
    ring: Arc<Ring<T, S>>,
    deps: Box<[Arc<Sequence>]>,
    gate: Option<Arc<Gate>>,
}

impl<T: Send + Sync, S: Sequencer> Barrier<T, S> {
    /// A barrier over `deps` on `ring` (see [`Ring::barrier`]).
    pub fn new(ring: Arc<Ring<T, S>>, deps: Vec<Arc<Sequence>>) -> Self {
        Barrier {
            ring,
            deps: deps.into_boxed_slice(),
            gate: None,
        }
    }

    /// The same barrier, additionally limited by `gate`: a stage behind it sees
    /// `s` only once `gate.limit() >= s` as well. Whoever raises the gate's
    /// source must wake the ring's sleepers (`ring.waker().wake()`).
    pub fn with_gate(mut self, gate: Arc<Gate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The external gate, if any.
    pub fn gate(&self) -> Option<&Arc<Gate>> {
        self.gate.as_ref()
    }

    /// The highest sequence in `next - 1 ..= limit` up to which everything is
    /// available to this stage. Establishes happens-before with whoever made it
    /// available (producers, or the upstream stages through their Release stores).
    #[inline]
    pub fn available(&self, next: i64, limit: i64) -> i64 {
        let limit = match &self.gate {
            None => limit,
            Some(g) => limit.min(g.limit().max(next - 1)),
        };
        match &*self.deps {
            [] => self.ring.sequencer.highest_published(next, limit),
            [one] => one.get().min(limit),
            many => {
                let mut min = limit;
                for d in many {
                    min = min.min(d.get());
                }
                min
            }
        }
    }

    /// The ring this barrier reads.
    pub fn ring(&self) -> &Arc<Ring<T, S>> {
        &self.ring
    }

    /// The upstream sequences this barrier waits for (empty: the producers).
    pub fn deps(&self) -> &[Arc<Sequence>] {
        &self.deps
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MultiSequencer, Producer, SingleSequencer};
    use super::*;

    #[test]
    fn min_of_dependencies_is_one_line() {
        let ring: Arc<Ring<u8, SingleSequencer>> = Ring::new(8, || 0).unwrap();
        let journal = Arc::new(Sequence::new(5));
        let replication = Arc::new(Sequence::new(3));
        let logic = ring.barrier(&[journal.clone(), replication.clone()]);
        assert_eq!(logic.available(0, 100), 3);
        assert_eq!(logic.available(0, 2), 2, "capped by the batch limit");
        replication.set(9);
        assert_eq!(logic.available(0, 100), 5);
        assert_eq!(ring.barrier(&[journal]).available(0, 100), 5);
    }

    #[test]
    fn gate_limits_like_one_more_dependency() {
        use std::sync::atomic::{AtomicI64, Ordering};
        let ring: Arc<Ring<u8, SingleSequencer>> = Ring::new(8, || 0).unwrap();
        let journal = Arc::new(Sequence::new(5));
        let acked = Arc::new(AtomicI64::new(12));
        let gate = Arc::new(Gate::new(acked.clone(), 10));
        let logic = ring
            .barrier(std::slice::from_ref(&journal))
            .with_gate(gate.clone());
        assert!(logic.gate().is_some());
        assert_eq!(logic.available(0, 100), 2, "acked 12 is ring seq 2");
        acked.store(30, Ordering::Release);
        assert_eq!(logic.available(0, 100), 5, "now the journal limits");
        assert_eq!(logic.available(0, 4), 4, "and the batch limit");
        acked.store(9, Ordering::Release); // below the offset: nothing
        assert_eq!(logic.available(0, 100), -1);
        gate.open();
        assert_eq!(logic.available(0, 100), 5);
        // With no deps the producers' publication still limits a gated stage.
        let b = ring.barrier(&[]).with_gate(gate);
        assert_eq!(b.available(0, 100), -1);
    }

    #[test]
    fn empty_deps_follow_the_producers() {
        let ring: Arc<Ring<u8, MultiSequencer>> = Ring::new(8, || 0).unwrap();
        let b = ring.barrier(&[]);
        assert_eq!(b.available(0, 100), -1);
        let g = Arc::new(Sequence::default());
        let mut p = ring.multi_producer(vec![g]).unwrap();
        p.publish_batch_with(3, |_, s| *s = 1).unwrap();
        assert_eq!(b.available(0, 100), 2);
        assert_eq!(b.available(1, 1), 1);
    }
}
