//! The sequencer contract: how stages learn which slots producers have published.
//!
//! Two implementations: [`super::SingleSequencer`] (one producer thread, a plain
//! cursor) and [`super::MultiSequencer`] (many producers, a claim counter and a
//! per-slot availability array). Stages and barriers are generic over it so the
//! check is inlined in their loops.

/// Publication state of a ring, shared by producers and first-stage consumers.
pub trait Sequencer: Send + Sync + Sized + 'static {
    /// Short name for reports (`single`, `multi`).
    const NAME: &'static str;

    /// Fresh state for a ring of `size` slots (a power of two).
    fn with_size(size: usize) -> Self;

    /// The highest `s` in `next - 1 ..= limit` such that every sequence in
    /// `next ..= s` has been published; `next - 1` when `next` itself is not.
    /// Establishes happens-before with the publishers of every slot it reports.
    fn highest_published(&self, next: i64, limit: i64) -> i64;
}
