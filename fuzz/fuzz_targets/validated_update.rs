//! Fuzz target: the validating reader against yrs.
//!
//! Any bytes as a Yjs v1 update and as a state vector. What
//! `commonboard_protocol::validate` accepts, yrs must decode without a panic (a panic
//! here is not contained: it is a crash), and applying it to an empty document may
//! panic only inside `contain_yrs`, as on the board. Run it with a malloc limit
//! (`scripts/fuzz` sets one): an accepted input that makes yrs reserve what it
//! declares, rather than what it holds, is a crash too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| commonboard_fuzz::guarded(|| commonboard_fuzz::validated::check(data)));
