//! Fuzz target: a stored board whose log rows, checkpoint, votes, workshop and private
//! notes are damaged with SQL, then read back by every path the server has (store
//! load, board actor load, history). Each must answer an error or a board, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| commonboard_fuzz::guarded(|| commonboard_fuzz::corrupt::run_input(data)));
