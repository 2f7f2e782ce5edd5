//! Times the phases of building a board's document from a whole v1 state (a stored
//! checkpoint), and variants of it: `cargo run --release -p commonboard-server
//! --example integrate_whole -- STATE.bin [ROUNDS]`, where STATE.bin holds a v1 state
//! (e.g. `sqlite3 DB "select writefile('state.bin', state) from checkpoints ..."`).

use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

use commonboard_protocol::frame;
use commonboard_protocol::stitch::Stitch;
use commonboard_protocol::validate;
use yrs::updates::decoder::Decode;
use yrs::{Doc, Options, ReadTxn, StateVector, Transact, Update};

fn ms(d: Duration) -> String {
    format!("{:7.2} ms", d.as_secs_f64() * 1000.0)
}

/// The least of `rounds` runs of `f`, per phase (each run returns its own phases): the
/// machine is shared, and noise only adds.
fn median<const N: usize>(rounds: usize, mut f: impl FnMut() -> [Duration; N]) -> [Duration; N] {
    let mut runs: Vec<[Duration; N]> = (0..rounds).map(|_| f()).collect();
    let mut out = [Duration::ZERO; N];
    for (i, slot) in out.iter_mut().enumerate() {
        runs.sort_by_key(|r| r[i]);
        *slot = runs[0][i];
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a v1 state file");
    let rounds: usize = args.next().map_or(7, |r| r.parse().expect("rounds"));
    let state = std::fs::read(path).expect("readable");
    println!("state: {} bytes", state.len());

    let [clocks] = median(rounds, || {
        let t = Instant::now();
        let mut stitch = Stitch::new(validate::STORED);
        stitch.push(&state).unwrap();
        let n = stitch.clocks().count();
        std::hint::black_box(n);
        [t.elapsed()]
    });
    println!("stitch push + clocks (stored_clocks)  {}", ms(clocks));

    let [check] = median(rounds, || {
        let t = Instant::now();
        validate::check_update_v1(&state, &validate::STORED).unwrap();
        [t.elapsed()]
    });
    println!("check_update_v1                       {}", ms(check));

    let [decode, apply, commit, drop_update] = median(rounds, || {
        let t = Instant::now();
        let update = frame::decode_read_update(&state).unwrap();
        let decode = t.elapsed();
        let doc = Doc::new();
        let t = Instant::now();
        let mut txn = ManuallyDrop::new(doc.transact_mut());
        txn.apply_update(update).unwrap();
        let apply = t.elapsed();
        let t = Instant::now();
        txn.commit();
        drop(ManuallyDrop::into_inner(txn));
        let commit = t.elapsed();
        let t = Instant::now();
        drop(doc);
        [decode, apply, commit, t.elapsed()]
    });
    println!("decode_v1                             {}", ms(decode));
    println!("apply_update                          {}", ms(apply));
    println!("commit                                {}", ms(commit));
    println!("drop doc                              {}", ms(drop_update));

    let [skip_gc_apply, skip_gc_commit] = median(rounds, || {
        let update = frame::decode_read_update(&state).unwrap();
        let doc = Doc::with_options(Options { skip_gc: true, ..Options::default() });
        let t = Instant::now();
        let mut txn = doc.transact_mut();
        txn.apply_update(update).unwrap();
        let apply = t.elapsed();
        let t = Instant::now();
        txn.commit();
        drop(txn);
        [apply, t.elapsed()]
    });
    println!("skip_gc: apply / commit               {} / {}", ms(skip_gc_apply), ms(skip_gc_commit));

    let doc = Doc::new();
    doc.transact_mut().apply_update(Update::decode_v1(&state).unwrap()).unwrap();
    let v2 = doc.transact().encode_state_as_update_v2(&StateVector::default());
    let items = {
        let txn = doc.transact();
        txn.state_vector().iter().map(|(_, c)| u64::from(*c)).sum::<u64>()
    };
    println!("clock total {items}; v2 {} bytes", v2.len());
    let [v2_decode, v2_apply] = median(rounds, || {
        let t = Instant::now();
        let update = Update::decode_v2(&v2).unwrap();
        let decode = t.elapsed();
        let doc = Doc::new();
        let t = Instant::now();
        doc.transact_mut().apply_update(update).unwrap();
        [decode, t.elapsed()]
    });
    println!("v2: decode / apply+commit             {} / {}", ms(v2_decode), ms(v2_apply));

    // The whole path from the store's read to a document, as f742e0a took it (the
    // store's intact check, the clocks by a stitch, then `rebuild`, which walks the
    // state again before decoding it) and as it is taken now (one walk that checks it
    // and reads its clocks, then the decode).
    let [before, now] = median(rounds, || {
        let t = Instant::now();
        validate::check_update_v1(&state, &validate::STORED).unwrap();
        let mut stitch = Stitch::new(validate::STORED);
        stitch.push(&state).unwrap();
        std::hint::black_box(stitch.clocks().count());
        let update = frame::decode_update(&state).unwrap();
        let doc = Doc::new();
        {
            let mut txn = ManuallyDrop::new(doc.transact_mut());
            txn.apply_update(update).unwrap();
            drop(ManuallyDrop::into_inner(txn));
        }
        let before = t.elapsed();
        std::mem::forget(doc);
        let t = Instant::now();
        let clocks = commonboard_protocol::stitch::whole_clocks_v1(&state, &validate::STORED).unwrap().unwrap();
        std::hint::black_box(clocks.len());
        let update = frame::decode_read_update(&state).unwrap();
        let doc = Doc::new();
        {
            let mut txn = ManuallyDrop::new(doc.transact_mut());
            txn.apply_update(update).unwrap();
            drop(ManuallyDrop::into_inner(txn));
        }
        let now = t.elapsed();
        std::mem::forget(doc);
        [before, now]
    });
    println!("store read to document, f742e0a / now {} / {}", ms(before), ms(now));

    let [whole] = median(rounds, || {
        let t = Instant::now();
        let update = frame::decode_update(&state).unwrap();
        let doc = Doc::new();
        {
            let mut txn = ManuallyDrop::new(doc.transact_mut());
            txn.apply_update(update).unwrap();
            drop(ManuallyDrop::into_inner(txn));
        }
        let e = t.elapsed();
        std::mem::forget(doc);
        [e]
    });
    println!("as rebuild does it (check+decode+apply+commit) {}", ms(whole));
}
