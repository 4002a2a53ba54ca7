//! FIX session sequence numbers derived from the journaled stream.
//!
//! A FIX session's sequence numbers live in the gateway's session store
//! (`<data_dir>/fix`), which is not replicated. A node that must carry on a
//! session without that store (a promoted secondary) derives them from what *is*
//! replicated: the inbound command stream and the events the business logic
//! produces from it. [`SessionLedger`] is that derivation: a deterministic
//! function of the journal, kept outside [`engine::logic::Logic`] so the state
//! hash keeps its meaning.
//!
//! What the gateway journals for it (engine session id = gateway index + 1):
//!
//! - every FIX application message that reaches the ring is one command of its
//!   session (NewOrder, Cancel, Replace, MassCancel) and used exactly one inbound
//!   MsgSeqNum;
//! - a `SessionEvent` of kind `SeqSync` (or any `SessionEvent` with non-zero
//!   numbers) reports the gateway's `next_in` (next expected inbound MsgSeqNum),
//!   `next_out` (next outbound MsgSeqNum) and `out_mark` (output sequence of the
//!   last engine event the gateway had sent to the session) at the moment it was
//!   published. The gateway publishes one whenever session-level traffic moved a
//!   number (heartbeats, test requests, rejects, logon, resets...), and one *before*
//!   a command whose MsgSeqNum is not the ledger's expected one, so that
//!   `next_in` is exact at every journaled command.
//!
//! Derivation, per session:
//!
//! - inbound: `next_in` = the last reported `next_in` + the session's commands
//!   after that report. It is never above what the client sends next (every
//!   number below it was received), and never at or below the MsgSeqNum of a
//!   journaled command (the gateway syncs before a command it would misnumber), so
//!   a client resending after promotion never gets a journaled command applied
//!   twice: those resends are "too low with PossDupFlag" and ignored.
//! - outbound: every addressed order event (ExecReport, CancelReject,
//!   MassCancelReport) becomes exactly one outbound application message with one
//!   MsgSeqNum when the gateway sends it. At a report with `(next_out, out_mark)`
//!   the events produced before the report whose output sequence is above
//!   `out_mark` were still on their way to the gateway: each will take one number
//!   after `next_out`. So `next_out` = reported `next_out` + events in flight at
//!   the report + events produced after it. In flight is computed exactly from a
//!   window of recent events (`MARK_WINDOW`); when the mark is older than the
//!   window (or 0: nothing sent yet by that gateway process) it falls back to an
//!   upper bound (in flight at the previous report + everything produced since).
//!   An event that the sender drops only makes the result higher: safe.
//!
//! What cannot be derived (session-level messages the old primary sent after its
//! last report reached the secondary) is covered by [`SessionLedger::seeds`]'s
//! margin on the outbound side; see ARCHITECTURE.md "FIX sequence numbers after
//! promotion" for the rules and why each error is on the safe side.

use std::path::Path;

use engine::logic::{EventSink, Logic, LogicConfig};
use engine::msg::{Header, Message};

/// Number of recent addressed events whose per-session count is remembered, to
/// turn a reported `out_mark` into an exact count of events in flight.
pub const MARK_WINDOW: usize = 1 << 16;

/// Added to the derived outbound number when a promoted node seeds its stores:
/// session-level messages the old primary may have sent after its last
/// replicated report. Too high costs the client one ResendRequest answered by a
/// single SequenceReset-GapFill; too low would make the client log out.
pub const PROMOTION_OUT_MARGIN: u64 = 1000;

/// Derived state of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SessionSeqs {
    /// A report has been seen (numbers below are meaningful).
    synced_in: bool,
    synced_out: bool,
    next_in: u64,
    /// `next_out` of the last report.
    out_base: u64,
    /// Events counted against the outbound number since the last report
    /// (in flight at the report + produced since).
    out_pending: u64,
    /// Addressed events produced for this session, ever (in this ledger).
    produced: u64,
}

/// One remembered event: (output sequence, engine session, `produced` after it).
#[derive(Debug, Clone, Copy, Default)]
struct MarkEntry {
    out_seq: u64,
    session: u32,
    produced: u64,
}

/// The numbers a promoted node gives one session's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSeed {
    /// Gateway session index (engine session id - 1).
    pub index: usize,
    /// Next expected inbound MsgSeqNum.
    pub next_in: u64,
    /// Next outbound MsgSeqNum (margin included).
    pub next_out: u64,
}

/// Per-session FIX sequence numbers derived from commands and events (see the
/// module docs). Deterministic: the same stream gives the same numbers on every
/// node. No allocation after construction.
#[derive(Debug, Clone)]
pub struct SessionLedger {
    sessions: Vec<SessionSeqs>,
    marks: Vec<MarkEntry>,
}

/// Whether an event becomes an outbound FIX application message (the node's
/// outbound filter: addressed order events).
pub fn is_session_event(header: &Header, msg: &Message) -> bool {
    header.session != 0
        && matches!(
            msg,
            Message::ExecReport(_) | Message::CancelReject(_) | Message::MassCancelReport(_)
        )
}

impl SessionLedger {
    /// A ledger for gateway sessions `0..sessions` (engine ids `1..=sessions`).
    pub fn new(sessions: usize) -> Self {
        SessionLedger {
            sessions: vec![SessionSeqs::default(); sessions],
            marks: vec![MarkEntry::default(); MARK_WINDOW],
        }
    }

    fn slot(&mut self, engine_session: u32) -> Option<&mut SessionSeqs> {
        let i = (engine_session as usize).checked_sub(1)?;
        self.sessions.get_mut(i)
    }

    /// One journaled command, before the business logic processes it.
    pub fn on_command(&mut self, header: &Header, msg: &Message) {
        let Some(s) = self.slot(header.session) else {
            return;
        };
        match msg {
            Message::SessionEvent(e) => {
                if e.next_in != 0 {
                    s.next_in = e.next_in;
                    s.synced_in = true;
                }
                if e.next_out != 0 {
                    let fallback = s.out_pending;
                    let produced = s.produced;
                    let session = header.session;
                    let in_flight = if e.out_mark == 0 {
                        fallback
                    } else {
                        let m = self.marks[(e.out_mark as usize) % MARK_WINDOW];
                        if m.out_seq == e.out_mark && m.session == session {
                            produced - m.produced
                        } else {
                            fallback
                        }
                    };
                    if let Some(s) = self.slot(session) {
                        s.out_base = e.next_out;
                        s.out_pending = in_flight;
                        s.synced_out = true;
                    }
                }
                // A logon/logout/disconnect without numbers changes nothing here.
            }
            Message::NewOrder(_)
            | Message::Cancel(_)
            | Message::Replace(_)
            | Message::MassCancel(_)
                if s.synced_in =>
            {
                s.next_in += 1;
            }
            _ => {}
        }
    }

    /// One event the business logic produced (every event; the ledger keeps the
    /// ones that become outbound FIX messages).
    pub fn on_event(&mut self, header: &Header, msg: &Message) {
        if !is_session_event(header, msg) {
            return;
        }
        let session = header.session;
        let Some(s) = self.slot(session) else {
            return;
        };
        s.produced += 1;
        s.out_pending += 1;
        let produced = s.produced;
        self.marks[(header.seq as usize) % MARK_WINDOW] = MarkEntry {
            out_seq: header.seq,
            session,
            produced,
        };
    }

    /// Derived `(next_in, next_out)` of gateway session `index`, without margin;
    /// `None` until the stream has reported both numbers for it.
    pub fn derived(&self, index: usize) -> Option<(u64, u64)> {
        let s = self.sessions.get(index)?;
        (s.synced_in && s.synced_out).then(|| (s.next_in, s.out_base + s.out_pending))
    }

    /// What a promoted node seeds each known session's store with: inbound as
    /// derived, outbound derived + `out_margin`. Sessions the stream never
    /// reported are left out (their store is left as it is).
    pub fn seeds(&self, out_margin: u64) -> Vec<SessionSeed> {
        (0..self.sessions.len())
            .filter_map(|i| {
                self.derived(i).map(|(next_in, next_out)| SessionSeed {
                    index: i,
                    next_in,
                    next_out: next_out.saturating_add(out_margin),
                })
            })
            .collect()
    }

    /// Rebuilds the ledger by replaying the journal in `journal_dir` from its
    /// first record up to `last_seq` through a fresh business logic (the events
    /// it produces feed the outbound counts). Reads only; works on a journal
    /// another thread is still appending to (it stops at the last complete
    /// record). Returns the ledger, the last sequence replayed and the logic's
    /// output sequence after it (the last event produced).
    pub fn replay_journal(
        journal_dir: &Path,
        cfg: LogicConfig,
        sessions: usize,
        last_seq: u64,
    ) -> Result<(SessionLedger, u64, u64), String> {
        let mut ledger = SessionLedger::new(sessions);
        let segs = journal::list_segments(journal_dir).map_err(|e| e.to_string())?;
        let Some(&(first, _)) = segs.first() else {
            return Ok((ledger, 0, 0));
        };
        if first != 1 {
            return Err(format!(
                "journal {} starts at seq {first}: the FIX session numbers need the whole stream",
                journal_dir.display()
            ));
        }
        let mut logic = Logic::new(cfg);
        let mut reader = journal::Reader::open(journal_dir, 1).map_err(|e| e.to_string())?;
        let mut last = 0;
        while let Some(rec) = reader.next_record().map_err(|e| e.to_string())? {
            if rec.seq > last_seq {
                break;
            }
            last = rec.seq;
            if let Ok((h, m)) = engine::msg::decode(rec.payload) {
                ledger.on_command(&h, &m);
            }
            let mut sink = LedgerSink(&mut ledger);
            // Undecodable records are skipped by the logic as in recovery.
            let _ = logic.process(rec.payload, &mut sink);
        }
        Ok((ledger, last, logic.out_seq()))
    }
}

/// Feeds the logic's events to a ledger.
struct LedgerSink<'a>(&'a mut SessionLedger);

impl EventSink for LedgerSink<'_> {
    fn event(&mut self, header: &Header, msg: &Message) {
        self.0.on_event(header, msg);
    }
}

#[cfg(test)]
mod tests;
