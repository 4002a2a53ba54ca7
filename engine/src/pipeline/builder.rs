//! [`PipelineBuilder`]: declare stages and their dependencies, then `start`.

use super::running::{Pipeline, RunningStage};
use super::{Gate, PipelineError, StageConfig, StageId};
use crate::ring::{
    BatchEventProcessor, EventHandler, EventHandlerMut, MultiProducer, MultiSequencer, Ring,
    Sequence, Sequencer, SingleProducer, SingleSequencer,
};
use std::any::Any;
use std::sync::Arc;

/// What a stage thread runs: the processor loop, returning the handler boxed.
pub(crate) type StageBody = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// A started pipeline and the sequences its producers must be gated on.
type Launched<T, S> = (Pipeline<T, S>, Vec<Arc<Sequence>>);

struct StageSpec {
    name: String,
    deps: Vec<usize>,
    config: StageConfig,
    sequence: Arc<Sequence>,
    mutates: bool,
    body: StageBody,
}

/// Declares the stages of one ring; `start` spawns them and hands out the producer.
pub struct PipelineBuilder<T, S> {
    ring: Arc<Ring<T, S>>,
    stages: Vec<StageSpec>,
}

impl<T: Send + Sync + 'static> PipelineBuilder<T, SingleSequencer> {
    /// A pipeline on a single-producer ring of `size` slots filled by `factory`.
    pub fn single_producer(size: usize, factory: impl FnMut() -> T) -> Result<Self, PipelineError> {
        Self::new(size, factory)
    }

    /// Checks the graph, spawns every stage thread, and returns the running
    /// pipeline with the ring's one producer (gated on the terminal stages).
    pub fn start(self) -> Result<(Pipeline<T, SingleSequencer>, SingleProducer<T>), PipelineError> {
        let (pipeline, gating) = self.launch()?;
        let producer = pipeline.ring().single_producer(gating)?;
        Ok((pipeline, producer))
    }
}

impl<T: Send + Sync + 'static> PipelineBuilder<T, MultiSequencer> {
    /// A pipeline on a multi-producer ring of `size` slots filled by `factory`.
    pub fn multi_producer(size: usize, factory: impl FnMut() -> T) -> Result<Self, PipelineError> {
        Self::new(size, factory)
    }

    /// Checks the graph, spawns every stage thread, and returns the running
    /// pipeline with a producer handle (clone it per producer thread).
    pub fn start(self) -> Result<(Pipeline<T, MultiSequencer>, MultiProducer<T>), PipelineError> {
        let (pipeline, gating) = self.launch()?;
        let producer = pipeline.ring().multi_producer(gating)?;
        Ok((pipeline, producer))
    }
}

impl<T: Send + Sync + 'static, S: Sequencer> PipelineBuilder<T, S> {
    /// A builder on a new ring of `size` slots (a power of two).
    pub fn new(size: usize, factory: impl FnMut() -> T) -> Result<Self, PipelineError> {
        Ok(PipelineBuilder {
            ring: Ring::new(size, factory)?,
            stages: Vec::new(),
        })
    }

    /// The ring the stages will run on.
    pub fn ring(&self) -> &Arc<Ring<T, S>> {
        &self.ring
    }

    fn dep_sequences(
        &self,
        name: &str,
        deps: &[StageId],
    ) -> Result<Vec<Arc<Sequence>>, PipelineError> {
        if self.stages.iter().any(|s| s.name == name) {
            return Err(PipelineError::DuplicateName(name.to_string()));
        }
        deps.iter()
            .map(|d| {
                self.stages
                    .get(d.0)
                    .map(|s| Arc::clone(&s.sequence))
                    .ok_or(PipelineError::UnknownStage(*d))
            })
            .collect()
    }

    /// Adds a read-only stage `name` that sees an event only after every stage in
    /// `deps` has processed it (no deps: straight after the producers).
    pub fn stage<H: EventHandler<T> + 'static>(
        &mut self,
        name: &str,
        deps: &[StageId],
        handler: H,
        config: StageConfig,
    ) -> Result<StageId, PipelineError> {
        self.reader_stage(name, deps, None, handler, config)
    }

    /// Like [`PipelineBuilder::stage`], but the stage also waits for `gate`: it
    /// sees sequence `s` only once every stage in `deps` processed `s` and
    /// `gate.limit() >= s` (e.g. business logic behind a standby's
    /// acknowledgements). Whoever raises the gate's source must wake the ring's
    /// sleepers (`builder.ring().waker().wake()`) for `block` stages to notice
    /// before their sleep timeout.
    pub fn stage_gated<H: EventHandler<T> + 'static>(
        &mut self,
        name: &str,
        deps: &[StageId],
        gate: Arc<Gate>,
        handler: H,
        config: StageConfig,
    ) -> Result<StageId, PipelineError> {
        self.reader_stage(name, deps, Some(gate), handler, config)
    }

    fn reader_stage<H: EventHandler<T> + 'static>(
        &mut self,
        name: &str,
        deps: &[StageId],
        gate: Option<Arc<Gate>>,
        handler: H,
        config: StageConfig,
    ) -> Result<StageId, PipelineError> {
        let seqs = self.dep_sequences(name, deps)?;
        let mut barrier = self.ring.barrier(&seqs);
        if let Some(g) = gate {
            barrier = barrier.with_gate(g);
        }
        // SAFETY: no producer exists before `start`, and `start` gates the
        // producer on every terminal stage (so, transitively, on this one) and
        // refuses graphs where a mutating stage runs beside another stage. If
        // `start` is never reached, the processor is dropped without running.
        let processor =
            unsafe { BatchEventProcessor::new(barrier, handler, config.wait, config.max_batch) };
        Ok(self.push(
            name,
            deps,
            config,
            false,
            processor.sequence(),
            Box::new(move || Box::new(processor.run()) as Box<dyn Any + Send>),
        ))
    }

    /// Adds a stage that may write into the slots it handles (e.g. a result for a
    /// later stage). `start` accepts it only if every other stage is upstream or
    /// downstream of it.
    pub fn stage_mut<H: EventHandlerMut<T> + 'static>(
        &mut self,
        name: &str,
        deps: &[StageId],
        handler: H,
        config: StageConfig,
    ) -> Result<StageId, PipelineError> {
        let seqs = self.dep_sequences(name, deps)?;
        // SAFETY: as in `stage`; `start` additionally checks that no stage runs
        // beside this one, and refuses to run any stage otherwise.
        let processor = unsafe {
            BatchEventProcessor::new_mut(
                self.ring.barrier(&seqs),
                handler,
                config.wait,
                config.max_batch,
            )
        };
        Ok(self.push(
            name,
            deps,
            config,
            true,
            processor.sequence(),
            Box::new(move || Box::new(processor.run()) as Box<dyn Any + Send>),
        ))
    }

    fn push(
        &mut self,
        name: &str,
        deps: &[StageId],
        config: StageConfig,
        mutates: bool,
        sequence: Arc<Sequence>,
        body: StageBody,
    ) -> StageId {
        let id = StageId(self.stages.len());
        let mut deps: Vec<usize> = deps.iter().map(|d| d.0).collect();
        deps.sort_unstable();
        deps.dedup();
        self.stages.push(StageSpec {
            name: name.to_string(),
            deps,
            config,
            sequence,
            mutates,
            body,
        });
        id
    }

    /// `ancestors[i][j]`: stage `j` is upstream of stage `i` (transitively).
    fn ancestors(&self) -> Vec<Vec<bool>> {
        let n = self.stages.len();
        let mut anc = vec![vec![false; n]; n];
        // Dependencies always point to earlier stages, so one pass in order works.
        for i in 0..n {
            for &d in &self.stages[i].deps {
                anc[i][d] = true;
                let (done, rest) = anc.split_at_mut(i);
                for (j, a) in done[d].iter().enumerate() {
                    if *a {
                        rest[0][j] = true;
                    }
                }
            }
        }
        anc
    }

    fn check(&self) -> Result<Vec<usize>, PipelineError> {
        if self.stages.is_empty() {
            return Err(PipelineError::NoStages);
        }
        let anc = self.ancestors();
        for (w, writer) in self.stages.iter().enumerate().filter(|(_, s)| s.mutates) {
            for (o, other) in self.stages.iter().enumerate() {
                if o != w && !anc[w][o] && !anc[o][w] {
                    return Err(PipelineError::UnsafeMutation {
                        writer: writer.name.clone(),
                        other: other.name.clone(),
                    });
                }
            }
        }
        let cpus: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        for s in &self.stages {
            if let Some(cpu) = s.config.cpu
                && !cpus.contains(&cpu)
            {
                return Err(PipelineError::BadCpu {
                    stage: s.name.clone(),
                    cpu,
                });
            }
        }
        let terminal = (0..self.stages.len())
            .filter(|&i| !self.stages.iter().any(|s| s.deps.contains(&i)))
            .collect();
        Ok(terminal)
    }

    fn launch(self) -> Result<Launched<T, S>, PipelineError> {
        let terminal = self.check()?;
        let gating: Vec<Arc<Sequence>> = terminal
            .iter()
            .map(|&i| Arc::clone(&self.stages[i].sequence))
            .collect();
        let mut running = Vec::with_capacity(self.stages.len());
        let mut spawn_error = None;
        for spec in self.stages {
            if spawn_error.is_some() {
                break;
            }
            match RunningStage::spawn(
                &self.ring,
                spec.name.clone(),
                spec.sequence,
                spec.config.cpu,
                spec.body,
            ) {
                Ok(r) => running.push(r),
                Err(e) => spawn_error = Some(e),
            }
        }
        let pipeline = Pipeline::new(self.ring, running, gating.clone());
        if let Some(e) = spawn_error {
            // Stop the stages already started (dropping halts and joins them).
            drop(pipeline);
            return Err(e);
        }
        Ok((pipeline, gating))
    }
}
