//! Benchmarks of the pieces on the merge path: decode a frame, apply an update, merge a
//! tick's updates, encode the outgoing frame, and hand it to N connection queues.
//! Run with `cargo bench -p commonboard-server --bench merge_path`.

use std::hint::black_box;

use bytes::Bytes;
use commonboard_protocol::frame::{self, decode_frame};
use commonboard_protocol::schema::{Board, Note};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use tokio::sync::mpsc;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

fn note(i: usize, text_len: usize) -> Note {
    Note {
        id: format!("note-{i}"),
        text: "x".repeat(text_len),
        x: i as f64,
        y: 2.0 * i as f64,
        w: 160.0,
        h: 120.0,
        color: "yellow".into(),
        author: "bench".into(),
        frame: None,
        created_at: 1.7e12,
        ..Note::default()
    }
}

/// A document with `notes` notes of `text_len` characters, as one update.
fn board_state(notes: usize, text_len: usize) -> Vec<u8> {
    let doc = Doc::with_client_id(1);
    let board = Board::new(&doc);
    for i in 0..notes {
        board.insert_note(&mut doc.transact_mut(), &note(i, text_len));
    }
    let state = doc.transact().encode_state_as_update_v1(&StateVector::default());
    state
}

/// `count` small updates (note moves) made by another client on top of `state`.
fn moves(state: &[u8], count: usize) -> Vec<Vec<u8>> {
    let doc = Doc::with_client_id(2);
    doc.transact_mut().apply_update(Update::decode_v1(state).unwrap()).unwrap();
    let board = Board::new(&doc);
    (0..count)
        .map(|i| {
            let mut txn = doc.transact_mut();
            board.move_note(&mut txn, "note-0", i as f64, i as f64 + 0.5);
            txn.encode_update_v1()
        })
        .collect()
}

fn doc_from(state: &[u8]) -> Doc {
    let doc = Doc::with_client_id(3);
    doc.transact_mut().apply_update(Update::decode_v1(state).unwrap()).unwrap();
    doc
}

fn decode(c: &mut Criterion) {
    let state = board_state(10, 20);
    let frame = frame::sync_update(moves(&state, 1).remove(0));
    c.bench_function("decode_frame/small_update", |b| b.iter(|| decode_frame(black_box(&frame)).unwrap()));
}

/// Applying one small update costs the update, not the document: compare a ~5 kB board
/// with a ~1.5 MB one.
fn apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_small_update");
    for (name, notes, text_len) in [("5kB_doc", 25, 100), ("1.5MB_doc", 1500, 1000)] {
        let state = board_state(notes, text_len);
        let update = moves(&state, 1).remove(0);
        group.bench_function(BenchmarkId::from_parameter(format!("{name}({} bytes)", state.len())), |b| {
            b.iter_batched(
                || doc_from(&state),
                |doc| {
                    let applied = {
                        let mut txn = doc.transact_mut();
                        txn.apply_update(Update::decode_v1(&update).unwrap()).unwrap();
                        txn.encode_update_v1()
                    };
                    black_box(applied);
                    doc
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn merge_and_encode(c: &mut Criterion) {
    let state = board_state(10, 20);
    let mut group = c.benchmark_group("merge_tick");
    for count in [1usize, 10, 100] {
        let updates = moves(&state, count);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(BenchmarkId::from_parameter(count), |b| {
            b.iter(|| {
                let merged = if updates.len() == 1 {
                    updates[0].clone()
                } else {
                    yrs::merge_updates_v1(black_box(&updates)).unwrap()
                };
                Bytes::from(frame::sync_update(merged))
            })
        });
    }
    group.finish();
}

/// Handing one encoded frame to N connection queues: a reference-count bump per queue.
fn fan_out(c: &mut Criterion) {
    let frame = Bytes::from(frame::sync_update(moves(&board_state(10, 20), 1).remove(0)));
    let mut group = c.benchmark_group("fan_out");
    for recipients in [40usize, 1000] {
        group.throughput(Throughput::Elements(recipients as u64));
        group.bench_function(BenchmarkId::from_parameter(recipients), |b| {
            b.iter_batched(
                || (0..recipients).map(|_| mpsc::channel::<Bytes>(16)).collect::<Vec<_>>(),
                |queues| {
                    for (tx, _rx) in &queues {
                        tx.try_send(frame.clone()).unwrap();
                    }
                    queues
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decode, apply, merge_and_encode, fan_out);
criterion_main!(benches);
