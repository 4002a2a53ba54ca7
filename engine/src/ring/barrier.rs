//! Barriers: what a stage may read.
//!
//! A barrier gates a stage on any set of upstream stage sequences (the minimum of
//! them), or, with an empty set, directly on the producers' publication. Business
//! logic behind journal and replication is `ring.barrier(&[journal, replication])`.

use super::core::Ring;
use super::sequence::Sequence;
use super::sequencer::Sequencer;
use std::sync::Arc;

/// The availability check of one stage.
pub struct Barrier<T, S> {
    ring: Arc<Ring<T, S>>,
    deps: Box<[Arc<Sequence>]>,
}

impl<T: Send + Sync, S: Sequencer> Barrier<T, S> {
    /// A barrier over `deps` on `ring` (see [`Ring::barrier`]).
    pub fn new(ring: Arc<Ring<T, S>>, deps: Vec<Arc<Sequence>>) -> Self {
        Barrier {
            ring,
            deps: deps.into_boxed_slice(),
        }
    }

    /// The highest sequence in `next - 1 ..= limit` up to which everything is
    /// available to this stage. Establishes happens-before with whoever made it
    /// available (producers, or the upstream stages through their Release stores).
    #[inline]
    pub fn available(&self, next: i64, limit: i64) -> i64 {
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
