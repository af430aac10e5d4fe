//! Arbitrary bytes through the receiver's path in `eai-protocol`: parse,
//! validate, the content model of the transaction (all three when it is not
//! one we process), then the receipt. The first byte is the receipt's
//! `max_details`, the rest is the body. Panics, and receipts that are not JSON
//! or exceed `MAX_ENVELOPE_BYTES`, are crashes (the checks live in the shared
//! `pipeline.rs`, which the crate's property tests run too).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/protocol/tests/support/pipeline.rs"]
mod pipeline;

fuzz_target!(|data: &[u8]| {
    if let Some((&max_details, body)) = data.split_first() {
        pipeline::answer(body, usize::from(max_details));
    }
});
