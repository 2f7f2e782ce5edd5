//! Inputs the validating reader accepts, decoded and applied by yrs.

use commonboard_protocol::frame::contain_yrs;
use commonboard_protocol::validate::{check_state_vector, check_update_v1, WireLimits};
use yrs::updates::decoder::Decode;
use yrs::{Doc, StateVector, Transact, Update};

/// Runs `data` through the validator; yrs must read what passes without a panic (not
/// contained, so a panic is a crash), and apply it or fail cleanly (contained, as on
/// the board). yrs may still refuse it with an error: the validator leaves the syntax
/// of the JSON in embeds and formats to yrs's JSON parser, whose depth it bounds.
pub fn check(data: &[u8]) {
    if check_state_vector(data).is_ok() {
        StateVector::decode_v1(data).expect("a state vector the validator accepts decodes");
    }
    if check_update_v1(data, &WireLimits::default()).is_err() {
        return;
    }
    let Ok(update) = Update::decode_v1(data) else { return };
    let doc = Doc::new();
    let applied = contain_yrs(|| {
        let mut txn = std::mem::ManuallyDrop::new(doc.transact_mut());
        if txn.apply_update(update).is_ok() {
            let _ = txn.encode_update_v1();
        }
        drop(std::mem::ManuallyDrop::into_inner(txn));
    });
    if applied.is_err() {
        // A document yrs panicked in is never used again (see `doc::discard`).
        commonboard_server::doc::discard(doc);
    }
}
