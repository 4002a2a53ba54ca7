//! A started pipeline ([`Pipeline`]) and what is left after halting it ([`Halted`]).

use super::builder::StageBody;
use super::{PipelineError, StageId};
use crate::ring::{Ring, Sequence, Sequencer, minimum};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

type StageResult = Result<Box<dyn Any + Send>, String>;

pub(crate) struct RunningStage {
    name: String,
    sequence: Arc<Sequence>,
    cpu: Option<usize>,
    handle: Option<JoinHandle<StageResult>>,
}

impl RunningStage {
    /// Spawns the stage thread `name`, pinned to `cpu` if given. A panic in the
    /// handler halts the ring at the stage's last finished sequence, so the other
    /// stages stop instead of waiting for it forever.
    pub(crate) fn spawn<T: Send + Sync + 'static, S: Sequencer>(
        ring: &Arc<Ring<T, S>>,
        name: String,
        sequence: Arc<Sequence>,
        cpu: Option<usize>,
        body: StageBody,
    ) -> Result<Self, PipelineError> {
        let ring = Arc::clone(ring);
        let seq = Arc::clone(&sequence);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                if let Some(id) = cpu {
                    // Checked against the machine's CPUs in `start`; a refusal here
                    // leaves the thread unpinned, which is still correct.
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                catch_unwind(AssertUnwindSafe(body)).map_err(|payload| {
                    ring.abort(seq.get());
                    panic_message(payload.as_ref())
                })
            })
            .map_err(|e| PipelineError::Spawn {
                stage: name.clone(),
                error: e.to_string(),
            })?;
        Ok(RunningStage {
            name,
            sequence,
            cpu,
            handle: Some(handle),
        })
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// One stage as seen by monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageStatus<'a> {
    /// Stage (and thread) name.
    pub name: &'a str,
    /// Last sequence the stage finished.
    pub sequence: i64,
    /// CPU the stage thread is pinned to, if any.
    pub cpu: Option<usize>,
    /// Whether the stage thread has exited (halted, or its handler panicked).
    pub finished: bool,
}

/// A running pipeline: its stage threads, their sequences, and the ring.
/// Dropping it halts and joins the stages (use [`Pipeline::halt`] to get the
/// handlers back).
pub struct Pipeline<T: Send + Sync + 'static, S: Sequencer> {
    ring: Arc<Ring<T, S>>,
    stages: Vec<RunningStage>,
    gating: Vec<Arc<Sequence>>,
}

impl<T: Send + Sync + 'static, S: Sequencer> Pipeline<T, S> {
    pub(crate) fn new(
        ring: Arc<Ring<T, S>>,
        stages: Vec<RunningStage>,
        gating: Vec<Arc<Sequence>>,
    ) -> Self {
        Pipeline {
            ring,
            stages,
            gating,
        }
    }

    /// The ring (for more producers, or to inspect it).
    pub fn ring(&self) -> &Arc<Ring<T, S>> {
        &self.ring
    }

    /// The last sequence `stage` finished, or `None` for an unknown id.
    pub fn sequence(&self, stage: StageId) -> Option<i64> {
        self.stages.get(stage.0).map(|s| s.sequence.get_relaxed())
    }

    /// A shared handle on `stage`'s sequence, for a monitoring thread to keep.
    pub fn sequence_handle(&self, stage: StageId) -> Option<Arc<Sequence>> {
        self.stages.get(stage.0).map(|s| Arc::clone(&s.sequence))
    }

    /// Every stage's name, sequence, pinning and liveness, in declaration order.
    pub fn stages(&self) -> impl Iterator<Item = StageStatus<'_>> {
        self.stages.iter().map(|s| StageStatus {
            name: &s.name,
            sequence: s.sequence.get_relaxed(),
            cpu: s.cpu,
            finished: s.handle.as_ref().is_none_or(|h| h.is_finished()),
        })
    }

    /// The slowest terminal stage's sequence: everything up to it is fully processed.
    pub fn processed(&self) -> i64 {
        minimum(&self.gating, i64::MAX)
    }

    /// The highest sequence producers have published (contiguously); with
    /// [`Pipeline::processed`] it gives the backlog.
    pub fn published(&self) -> i64 {
        self.ring.published_from(self.processed())
    }

    fn stop(&mut self) -> (i64, Vec<Option<StageResult>>) {
        let last = self.ring.halt(self.processed());
        let results = self
            .stages
            .iter_mut()
            .map(|s| {
                s.handle
                    .take()
                    .map(|h| h.join().unwrap_or_else(|p| Err(panic_message(p.as_ref()))))
            })
            .collect();
        (last, results)
    }

    /// Halts the ring, lets every stage drain what was published before this call,
    /// joins the threads, and returns the handlers. Stop the producers first: what
    /// they publish after this call is not processed. Fails if a stage panicked.
    pub fn halt(mut self) -> Result<Halted, PipelineError> {
        let (last, results) = self.stop();
        let mut handlers = Vec::with_capacity(results.len());
        for (stage, r) in self.stages.iter().zip(results) {
            match r {
                Some(Ok(h)) => handlers.push(Some(h)),
                Some(Err(message)) => {
                    return Err(PipelineError::StagePanicked {
                        stage: stage.name.clone(),
                        message,
                    });
                }
                None => handlers.push(None),
            }
        }
        Ok(Halted {
            names: self.stages.iter().map(|s| s.name.clone()).collect(),
            sequences: self.stages.iter().map(|s| s.sequence.get()).collect(),
            handlers,
            last,
        })
    }
}

impl<T: Send + Sync + 'static, S: Sequencer> Drop for Pipeline<T, S> {
    fn drop(&mut self) {
        if self.stages.iter().any(|s| s.handle.is_some()) {
            self.ring.halt(minimum(&self.gating, i64::MAX));
            for s in &mut self.stages {
                if let Some(h) = s.handle.take() {
                    let _ = h.join();
                }
            }
        }
    }
}

/// What a halted pipeline leaves: each stage's handler and final sequence.
pub struct Halted {
    names: Vec<String>,
    sequences: Vec<i64>,
    handlers: Vec<Option<Box<dyn Any + Send>>>,
    last: i64,
}

impl Halted {
    /// Takes `stage`'s handler back, as the type it was registered with.
    pub fn take<H: 'static>(&mut self, stage: StageId) -> Result<H, PipelineError> {
        let name = self
            .names
            .get(stage.0)
            .ok_or(PipelineError::UnknownStage(stage))?
            .clone();
        let slot = &mut self.handlers[stage.0];
        let boxed = slot
            .take()
            .ok_or_else(|| PipelineError::AlreadyTaken(name.clone()))?;
        match boxed.downcast::<H>() {
            Ok(h) => Ok(*h),
            Err(b) => {
                *slot = Some(b);
                Err(PipelineError::WrongHandlerType(name))
            }
        }
    }

    /// `stage`'s final sequence.
    pub fn sequence(&self, stage: StageId) -> Option<i64> {
        self.sequences.get(stage.0).copied()
    }

    /// The halt sequence: the last event every stage processed.
    pub fn halt_sequence(&self) -> i64 {
        self.last
    }
}
