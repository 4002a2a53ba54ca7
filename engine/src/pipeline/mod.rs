//! Wiring stages into a graph on one ring, starting them on named (optionally
//! pinned) threads, watching their sequences, and halting them cleanly.
//!
//! ```
//! use engine::pipeline::{PipelineBuilder, StageConfig};
//! use engine::ring::{Producer, WaitStrategy};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut b = PipelineBuilder::multi_producer(1024, || 0u64)?;
//! let cfg = StageConfig::default().wait(WaitStrategy::YIELD);
//! let journal = b.stage("journal", &[], |_: &u64, _, _| {}, cfg.clone())?;
//! let replicate = b.stage("replicate", &[], |_: &u64, _, _| {}, cfg.clone())?;
//! let mut sum = 0u64;
//! let logic = b.stage("logic", &[journal, replicate], move |e: &u64, _, eob: bool| {
//!     sum += *e;
//!     if eob { /* flush */ }
//! }, cfg)?;
//! let (pipeline, mut producer) = b.start()?;
//! for i in 0..100 {
//!     producer.publish_with(|slot| *slot = i)?;
//! }
//! let mut halted = pipeline.halt()?;
//! assert_eq!(halted.sequence(logic), Some(99));
//! # Ok(()) }
//! ```
//!
//! - Producers are gated on the terminal stages (those no other stage depends on)
//!   automatically.
//! - Stages that write into slots ([`PipelineBuilder::stage_mut`]) are accepted only
//!   when every other stage is upstream or downstream of them (see
//!   [`crate::ring`]'s processor docs); `start` rejects any other graph.
//! - A stage may also wait on a sequence published outside the ring
//!   ([`Gate`], [`PipelineBuilder::stage_gated`]), e.g. a standby's
//!   acknowledgements: it then sees an event only once its dependencies have
//!   processed it *and* the gate allows it.
//! - A stage that panics halts the whole pipeline at its last finished sequence;
//!   `halt` then reports it.

mod builder;
mod gate;
mod running;

pub use builder::PipelineBuilder;
pub use gate::Gate;
pub use running::{Halted, Pipeline, StageStatus};

use crate::ring::{RingError, WaitStrategy};
use std::fmt;

/// Names one stage of a pipeline (returned by `stage`, used as a dependency, for
/// monitoring and to take the handler back after a halt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageId(pub(crate) usize);

impl StageId {
    /// Position of the stage in declaration order.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Run-time settings of one stage: configuration values, not code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageConfig {
    /// How the stage waits when nothing is available.
    pub wait: WaitStrategy,
    /// CPU to pin the stage thread to (an id from `core_affinity::get_core_ids`).
    pub cpu: Option<usize>,
    /// Largest batch handed to the handler before the stage publishes progress.
    pub max_batch: Option<usize>,
}

impl StageConfig {
    /// Sets the wait strategy.
    pub fn wait(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    /// Pins the stage thread to `cpu` (or unpins with `None`).
    pub fn cpu(mut self, cpu: Option<usize>) -> Self {
        self.cpu = cpu;
        self
    }

    /// Caps the batch size (`None`: whatever is available).
    pub fn max_batch(mut self, max_batch: Option<usize>) -> Self {
        self.max_batch = max_batch;
        self
    }
}

/// Why a pipeline could not be built, started or halted cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineError {
    /// The ring could not be made or used.
    Ring(RingError),
    /// A dependency names a stage that is not (yet) in this builder.
    UnknownStage(StageId),
    /// Two stages have the same name.
    DuplicateName(String),
    /// `start` with no stage: nothing would gate the producers.
    NoStages,
    /// A slot-mutating stage has a stage running beside it (neither upstream nor
    /// downstream): they could touch the same slot at once.
    UnsafeMutation {
        /// The stage that writes slots.
        writer: String,
        /// A stage that could run concurrently with it.
        other: String,
    },
    /// The configured CPU does not exist (or affinity is unsupported here).
    BadCpu {
        /// Stage name.
        stage: String,
        /// The CPU asked for.
        cpu: usize,
    },
    /// The OS refused to start a stage thread.
    Spawn {
        /// Stage name.
        stage: String,
        /// The OS error.
        error: String,
    },
    /// A stage's handler panicked; the pipeline halted at its last sequence.
    StagePanicked {
        /// Stage name.
        stage: String,
        /// The panic message, when it was a string.
        message: String,
    },
    /// `take` asked for a handler of another type than the stage has.
    WrongHandlerType(String),
    /// `take` asked twice for the same stage's handler.
    AlreadyTaken(String),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Ring(e) => write!(f, "ring: {e}"),
            PipelineError::UnknownStage(id) => write!(f, "unknown stage #{}", id.0),
            PipelineError::DuplicateName(n) => write!(f, "two stages are named {n:?}"),
            PipelineError::NoStages => write!(f, "a pipeline needs at least one stage"),
            PipelineError::UnsafeMutation { writer, other } => write!(
                f,
                "stage {writer:?} writes slots but {other:?} runs beside it (neither upstream nor downstream)"
            ),
            PipelineError::BadCpu { stage, cpu } => {
                write!(
                    f,
                    "stage {stage:?}: cannot pin to CPU {cpu} (no such CPU here)"
                )
            }
            PipelineError::Spawn { stage, error } => {
                write!(f, "stage {stage:?}: cannot start thread: {error}")
            }
            PipelineError::StagePanicked { stage, message } => {
                write!(f, "stage {stage:?} panicked: {message}")
            }
            PipelineError::WrongHandlerType(s) => {
                write!(f, "stage {s:?} has a handler of another type")
            }
            PipelineError::AlreadyTaken(s) => write!(f, "stage {s:?}'s handler was already taken"),
        }
    }
}

impl std::error::Error for PipelineError {}

impl From<RingError> for PipelineError {
    fn from(e: RingError) -> Self {
        PipelineError::Ring(e)
    }
}

#[cfg(test)]
mod tests;
