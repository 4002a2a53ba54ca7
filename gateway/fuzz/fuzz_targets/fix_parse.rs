//! Feeds arbitrary bytes as a FIX byte stream to frame + parse + validate + every
//! getter + re-encode (`gateway::fix::harness::exercise`): it must never panic or
//! over-read. Run: `cd gateway/fuzz && cargo +nightly fuzz run fix_parse`.
//! The same harness runs on stable in `gateway/tests/never_panics.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gateway::fix::harness::exercise(data);
});
