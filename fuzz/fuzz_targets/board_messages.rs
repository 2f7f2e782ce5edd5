//! Fuzz target: a sequence of steps from up to four connections (join, leave, sync,
//! edits made with yrs, raw updates, awareness, application messages, restores) driven
//! through the real board actor on a real SQLite store, without the board's panic net.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| commonboard_fuzz::guarded(|| commonboard_fuzz::session::run_input(data)));
