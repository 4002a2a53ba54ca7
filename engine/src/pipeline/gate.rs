//! [`Gate`]: an external limit on what a stage may process.
//!
//! Some permission to process an event does not come from a stage of the same
//! ring: a hot standby's acknowledgement arrives over the network and is
//! published by whatever thread reads the socket. A gate lets a stage wait on
//! such a sequence as if it were one more upstream stage: its barrier becomes
//! `min(deps..., gate)`. The primary's replicate stage can then send a batch and
//! return at once (many batches in flight), while the business logic still
//! never sees a message the secondary has not acknowledged.
//!
//! The gate only *limits*; it hands over no slot data. Slot visibility still
//! comes from the stage's ring dependencies (give a gated stage at least one
//! dependency or the producers' publication through its barrier, as usual).
//!
//! Waking: whoever advances the source must wake sleeping stages of the ring
//! (`ring.waker().wake()`) after its store, or a `block`-strategy stage notices
//! only at its sleep timeout. [`Gate::open`] does not know the ring either; call
//! `ring.waker().wake_all()` after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// A sequence published outside the ring, translated into ring sequences, that
/// a gated stage may not pass (see the module docs).
#[derive(Debug)]
pub struct Gate {
    source: Arc<AtomicI64>,
    offset: i64,
    open: AtomicBool,
}

impl Gate {
    /// A gate at `source - offset`: `source` holds the highest sequence allowed
    /// in its own numbering (e.g. an acknowledged journal sequence), and ring
    /// sequence `s` corresponds to `s + offset` there.
    pub fn new(source: Arc<AtomicI64>, offset: i64) -> Self {
        Gate {
            source,
            offset,
            open: AtomicBool::new(false),
        }
    }

    /// The highest ring sequence a gated stage may process now (`i64::MAX`
    /// once opened). `Acquire`: whatever the publisher did before raising the
    /// source is visible to a stage that sees the new value.
    #[inline]
    pub fn limit(&self) -> i64 {
        if self.open.load(Ordering::Acquire) {
            i64::MAX
        } else {
            self.source
                .load(Ordering::Acquire)
                .saturating_sub(self.offset)
        }
    }

    /// Lifts the gate for good: from now on only the ring dependencies limit
    /// the stage (a degraded or stopping node that proceeds without its
    /// external permission, deliberately and loudly).
    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    /// Whether [`Gate::open`] was called.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// The source this gate reads.
    pub fn source(&self) -> &Arc<AtomicI64> {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_follows_the_source_translated_then_opens() {
        let src = Arc::new(AtomicI64::new(99));
        let g = Gate::new(Arc::clone(&src), 100);
        assert_eq!(g.limit(), -1, "nothing allowed yet");
        src.store(105, Ordering::Release);
        assert_eq!(g.limit(), 5);
        assert!(!g.is_open());
        g.open();
        assert!(g.is_open());
        assert_eq!(g.limit(), i64::MAX);
    }
}
