//! Errors of the ring: every way a claim or a construction can fail, typed.

use std::fmt;

/// Why a ring operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The requested ring size is not a power of two in `1..=2^40`.
    BadSize(usize),
    /// A batch of `n` slots was asked for; it must be in `1..=size`.
    BadBatch {
        /// Slots asked for.
        n: usize,
        /// Ring size.
        size: usize,
    },
    /// The ring is full: the slowest terminal stage has not released enough slots.
    /// Returned by `try_claim*`; the caller decides whether to reject or retry.
    Full,
    /// A blocking claim with a timeout did not get its slots in time.
    Timeout,
    /// The ring was halted; nothing more will be consumed.
    Halted,
    /// A second single producer was asked for on a single-producer ring.
    ProducerTaken,
    /// A producer was asked for with no gating sequence (nothing would stop it
    /// overwriting slots that stages have not read).
    NoGating,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::BadSize(n) => {
                write!(f, "ring size {n} is not a power of two between 1 and 2^40")
            }
            RingError::BadBatch { n, size } => {
                write!(f, "cannot claim {n} slots at once on a ring of {size}")
            }
            RingError::Full => write!(f, "ring full: the slowest stage is a whole ring behind"),
            RingError::Timeout => write!(f, "timed out waiting for free ring slots"),
            RingError::Halted => write!(f, "ring halted"),
            RingError::ProducerTaken => {
                write!(f, "the single producer of this ring was already taken")
            }
            RingError::NoGating => write!(f, "a producer needs at least one gating sequence"),
        }
    }
}

impl std::error::Error for RingError {}
