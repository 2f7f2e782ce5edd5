//! The validating reader's promise, measured: an input of n bytes that it accepts makes
//! yrs allocate at most a small constant times n, decoding it and applying it to an
//! empty document; and yrs never panics on it. Inputs are arbitrary bytes and mutations
//! of real updates (bytes flipped, huge varints spliced in, cut short).
//!
//! Its own test binary, with one test, because it counts every allocation of the
//! process through a global allocator: a test running beside it would be counted too.

use std::alloc::System;
use std::sync::atomic::{AtomicUsize, Ordering};

use commonboard_protocol::validate::{check_update_v1, WireLimits};
use proptest::prelude::*;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use yrs::updates::decoder::Decode;
use yrs::{Any, Array, Doc, Map, ReadTxn, StateVector, Text, Transact, Update};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes yrs may allocate per input byte, and a fixed allowance (a document's own
/// tables, the first block of each collection).
const PER_BYTE: usize = 256;
const FIXED: usize = 64 << 10;

fn base_updates() -> Vec<Vec<u8>> {
    let doc = Doc::with_client_id(41);
    let text = doc.get_or_insert_text("text");
    let map = doc.get_or_insert_map("map");
    let array = doc.get_or_insert_array("array");
    let mut updates = Vec::new();
    let mut before = StateVector::default();
    for round in 0..4i64 {
        {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 0, "hello, world ");
            let nested: Any = serde_json::from_str(r#"{"a":[1,[2.5,{"b":[true,null,"x"]}]]}"#).unwrap();
            map.insert(&mut txn, format!("k{round}"), nested);
            array.insert_range(&mut txn, 0, (0..8).map(|i| Any::from(i * round)));
            if round > 0 {
                text.remove_range(&mut txn, 1, 4);
                array.remove_range(&mut txn, 2, 3);
            }
        }
        updates.push(doc.transact().encode_state_as_update_v1(&before));
        before = doc.transact().state_vector();
    }
    updates.push(doc.transact().encode_state_as_update_v1(&StateVector::default()));
    updates
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Varint { at: usize, value: u64 },
    Cut { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), prop_oneof![Just(u64::from(u32::MAX)), Just(1 << 53), any::<u64>(), 0u64..300])
            .prop_map(|(at, value)| Mutation::Varint { at, value }),
        any::<usize>().prop_map(|at| Mutation::Cut { at }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip { at, byte } => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b = byte;
                }
            }
            Mutation::Varint { at, value } => {
                let mut varint = Vec::new();
                yrs::encoding::write::Write::write_var(&mut varint, value);
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, varint);
            }
            Mutation::Cut { at } => bytes.truncate(at % len),
        }
    }
    bytes
}

/// Decodes and applies `bytes` if the validator accepts them, and returns how many
/// bytes were allocated meanwhile (`None` if refused).
fn allocated_if_accepted(bytes: &[u8]) -> Option<usize> {
    check_update_v1(bytes, &WireLimits::default()).ok()?;
    let doc = Doc::with_client_id(1);
    let region = Region::new(GLOBAL);
    if let Ok(update) = Update::decode_v1(bytes) {
        let _ = doc.transact_mut().apply_update(update);
    }
    Some(region.change().bytes_allocated)
}

/// Mutated or random inputs the validator accepted, and the most bytes allocated per
/// input byte among them (in tenths).
static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static WORST_TENTHS: AtomicUsize = AtomicUsize::new(0);

fn check_bound(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Some(allocated) = allocated_if_accepted(bytes) {
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
        WORST_TENTHS.fetch_max(allocated * 10 / bytes.len().max(1), Ordering::Relaxed);
        let bound = PER_BYTE * bytes.len() + FIXED;
        prop_assert!(allocated <= bound, "{allocated} bytes allocated for an input of {} bytes", bytes.len());
    }
    Ok(())
}

#[test]
fn accepted_inputs_allocate_at_most_a_constant_times_their_size() {
    let bases = base_updates();
    // Every base passes, and the largest ratio seen is printed for RELIABILITY.md.
    let mut worst = 0.0f64;
    for base in &bases {
        let allocated = allocated_if_accepted(base).expect("a real update passes");
        worst = worst.max(allocated as f64 / base.len() as f64);
    }
    let config = ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(bytes in proptest::collection::vec(any::<u8>(), 0..512))| {
        check_bound(&bytes)?;
    });
    proptest!(config, |(base in 0..bases.len(), mutations in proptest::collection::vec(mutation(), 1..4))| {
        check_bound(&mutate(bases[base].clone(), &mutations))?;
    });
    println!("real updates: at most {worst:.1} bytes allocated per input byte");
    let (accepted, worst) = (ACCEPTED.load(Ordering::Relaxed), WORST_TENTHS.load(Ordering::Relaxed) as f64 / 10.0);
    println!("{accepted} random or mutated inputs accepted: at most {worst:.1} bytes allocated per input byte");
    assert!(accepted > 0, "no generated input got past the validator: the bound was not exercised");
}
