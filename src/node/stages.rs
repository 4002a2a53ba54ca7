//! The node's ring stages: journal (inbound), business logic (inbound → outbound)
//! and sender (outbound → FIX sessions).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::logic::{EventSink, Logic};
use engine::msg::{Header, Message};
use engine::ring::{EventHandler, Producer, SingleProducer};

use super::addressed::LastAddressed;
use super::checkpoint::Checkpointer;
use super::slot::Slot;

/// Why the node must stop now (a fatal stage error), set once.
pub type Fatal = Arc<Mutex<Option<String>>>;

/// Records the first fatal error.
pub fn set_fatal(f: &Fatal, why: String) {
    if let Ok(mut g) = f.lock()
        && g.is_none()
    {
        *g = Some(why);
    }
}

/// Appends every inbound message to the journal, one `append_batch` per ring
/// batch. A write or sync failure is fatal: the stage records it and stops
/// advancing (so the business logic never sees an unjournaled message), and the
/// node exits.
pub struct JournalStage {
    journal: journal::Journal,
    buf: Vec<u8>,
    ends: Vec<usize>,
    first: u64,
    fatal: Fatal,
    /// Last journaled sequence (for monitoring).
    pub journaled: Arc<AtomicU64>,
}

impl JournalStage {
    /// A stage writing into `journal`.
    pub fn new(journal: journal::Journal, fatal: Fatal, journaled: Arc<AtomicU64>) -> Self {
        JournalStage {
            journal,
            buf: Vec::with_capacity(1 << 20),
            ends: Vec::with_capacity(4096),
            first: 0,
            fatal,
            journaled,
        }
    }

    /// Closes the journal (flush and sync per its durability policy).
    pub fn close(self) -> Result<(), String> {
        self.journal.close().map_err(|e| e.to_string())
    }

    fn flush(&mut self) {
        if self.ends.is_empty() {
            return;
        }
        let buf = &self.buf;
        let mut start = 0;
        let records = self.ends.iter().map(|&end| {
            let r = &buf[start..end];
            start = end;
            r
        });
        match self.journal.append_batch(self.first, records) {
            Ok(a) => {
                self.journaled.store(a.next_seq - 1, Ordering::Release);
            }
            Err(e) => {
                set_fatal(&self.fatal, format!("journal write failed: {e}"));
                // Never let the logic past an unjournaled message: park here
                // until the process exits.
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
        self.buf.clear();
        self.ends.clear();
    }
}

impl EventHandler<Slot> for JournalStage {
    fn on_event(&mut self, slot: &Slot, _sequence: i64, end_of_batch: bool) {
        let m = slot.msg();
        if self.ends.is_empty() {
            self.first = u64::from_le_bytes(
                m.get(8..16)
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or([0; 8]),
            );
        }
        self.buf.extend_from_slice(m);
        self.ends.push(self.buf.len());
        if end_of_batch || self.ends.len() >= 4096 {
            self.flush();
        }
    }

    fn on_halt(&mut self) {
        self.flush();
        if let Err(e) = self.journal.sync() {
            set_fatal(&self.fatal, format!("journal sync at shutdown failed: {e}"));
        }
    }
}

/// When the logic stage takes snapshots.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    /// After this many messages (0 = never by count).
    pub every_messages: u64,
    /// After this long with messages processed (None = never by time).
    pub every: Option<Duration>,
}

/// Puts addressed order events into the outbound ring; market data and admin
/// results stay inside (no market-data consumer yet).
struct OutSink<'a> {
    out: &'a mut SingleProducer<Slot>,
    addressed: &'a mut LastAddressed,
}

/// What the logic stage hands the snapshot writer: the sequence, the state, and
/// the sessions' last addressed events at that point.
pub type SnapshotJob = (u64, Vec<u8>, LastAddressed);

/// Whether the sender stage gets this event: an order event addressed to a
/// session (recovery uses the same rule to find the events it still owes).
pub fn addressed(header: &Header, msg: &Message) -> bool {
    matches!(
        msg,
        Message::ExecReport(_) | Message::CancelReject(_) | Message::MassCancelReport(_)
    ) && header.session != 0
}

impl EventSink for OutSink<'_> {
    fn event(&mut self, header: &Header, msg: &Message) {
        if addressed(header, msg) {
            self.addressed.note(header.session, header.seq);
            if let Ok(mut c) = self.out.claim() {
                c.first_mut().write(header, msg);
            }
        }
    }
}

/// The business-logic stage: every journaled command through [`Logic`], events
/// into the outbound ring, snapshots handed to a writer thread.
pub struct LogicStage {
    /// The state.
    pub logic: Logic,
    out: SingleProducer<Slot>,
    policy: SnapshotPolicy,
    since_snapshot: u64,
    last_snapshot: Instant,
    snapshots: SyncSender<SnapshotJob>,
    /// Per session, the last addressed event emitted (saved with snapshots).
    pub addressed: LastAddressed,
    /// Last processed sequence (for monitoring and shutdown).
    pub processed: Arc<AtomicU64>,
    /// Inputs the logic refused as undecodable.
    pub refused: u64,
    checkpoint: Option<Checkpointer>,
    /// The logic's output sequence at the last batch end (the FIX front's
    /// starting delivery mark).
    pub out_seq: Arc<AtomicU64>,
}

impl LogicStage {
    /// A stage around `logic`, writing events with `out`.
    pub fn new(
        logic: Logic,
        out: SingleProducer<Slot>,
        policy: SnapshotPolicy,
        snapshots: SyncSender<SnapshotJob>,
        processed: Arc<AtomicU64>,
    ) -> Self {
        LogicStage {
            out,
            policy,
            since_snapshot: 0,
            last_snapshot: Instant::now(),
            snapshots,
            processed,
            refused: 0,
            checkpoint: None,
            addressed: LastAddressed::exact(),
            out_seq: Arc::new(AtomicU64::new(logic.out_seq())),
            logic,
        }
    }

    /// Starts from `a` (what recovery established) instead of nothing.
    pub fn with_addressed(mut self, a: LastAddressed) -> Self {
        self.addressed = a;
        self
    }

    /// Takes state-hash checkpoints (replication) with `c`.
    pub fn with_checkpoints(mut self, c: Checkpointer) -> Self {
        self.checkpoint = Some(c);
        self
    }
}

impl LogicStage {
    /// The state, dropping the stage's producer and snapshot sender.
    pub fn into_logic(self) -> Logic {
        self.logic
    }
}

impl EventHandler<Slot> for LogicStage {
    fn on_event(&mut self, slot: &Slot, _sequence: i64, end_of_batch: bool) {
        let mut sink = OutSink {
            out: &mut self.out,
            addressed: &mut self.addressed,
        };
        if self.logic.process(slot.msg(), &mut sink).is_err() {
            self.refused += 1;
        }
        if let Some(c) = &mut self.checkpoint {
            c.after(super::slot::record_seq(slot.msg()), &self.logic);
        }
        self.since_snapshot += 1;
        if end_of_batch {
            self.out_seq.store(self.logic.out_seq(), Ordering::Release);
            self.processed
                .store(self.logic.last_input_seq(), Ordering::Release);
            let by_count =
                self.policy.every_messages > 0 && self.since_snapshot >= self.policy.every_messages;
            let by_time = self
                .policy
                .every
                .is_some_and(|d| self.last_snapshot.elapsed() >= d);
            if by_count || by_time {
                // The writer thread fsyncs; a full queue skips this one (the
                // next trigger takes a fresher one).
                let blob = self.logic.snapshot();
                let _ = self.snapshots.try_send((
                    self.logic.last_input_seq(),
                    blob,
                    self.addressed.clone(),
                ));
                self.since_snapshot = 0;
                self.last_snapshot = Instant::now();
            }
        }
    }
}

/// Where the sender stage delivers events addressed to sessions.
pub trait EventOut: Send + 'static {
    /// One event for `header.session`.
    fn deliver(&mut self, header: &Header, msg: &Message);
    /// The end of a batch of events (a good moment for periodic work).
    fn end_of_batch(&mut self) {}
}

/// The sender stage: decodes outbound slots and hands them to an [`EventOut`].
pub struct SenderStage<O: EventOut> {
    out: O,
    /// Events delivered.
    pub delivered: Arc<AtomicU64>,
}

impl<O: EventOut> SenderStage<O> {
    /// A stage delivering to `out`.
    pub fn new(out: O, delivered: Arc<AtomicU64>) -> Self {
        SenderStage { out, delivered }
    }
}

impl<O: EventOut> EventHandler<Slot> for SenderStage<O> {
    fn on_event(&mut self, slot: &Slot, _sequence: i64, end_of_batch: bool) {
        if let Ok((h, m)) = engine::msg::decode(slot.msg()) {
            self.out.deliver(&h, &m);
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
        if end_of_batch {
            self.out.end_of_batch();
        }
    }
}
