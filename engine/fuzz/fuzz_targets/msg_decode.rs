//! Feeds arbitrary bytes to the wire-format decoder: it must never panic or
//! over-read, and whatever decodes must re-encode to identical bytes.
//! Run: `cd engine/fuzz && cargo fuzz run msg_decode` (see ARCHITECTURE.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = engine::msg::fuzz_decode_all(data);
});
