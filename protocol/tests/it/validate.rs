//! The validating reader passes everything yrs writes (every content kind, deletions,
//! garbage-collected documents, the golden vectors), and refuses the attacks of issue 16.

use commonboard_protocol::frame::{decode_frame, DecodeError};
use commonboard_protocol::validate::{check_frame, check_state_vector, check_update_v1, Invalid, WireLimits};
use yrs::types::text::TextPrelim;
use yrs::types::xml::{Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Array, ArrayPrelim, Doc, GetString, Map, MapPrelim, Options, ReadTxn, StateVector, Text, Transact, Update,
};

/// Updates covering every content kind yrs writes, each with the update before it.
pub fn sample_updates() -> Vec<Vec<u8>> {
    let doc = Doc::with_client_id(41);
    let mut updates = Vec::new();
    let mut step = |change: &dyn Fn(&Doc)| {
        let before = doc.transact().state_vector();
        change(&doc);
        updates.push(doc.transact().encode_state_as_update_v1(&before));
    };
    step(&|doc| {
        let text = doc.get_or_insert_text("text");
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "héllo wörld 👋 ");
        let bold = yrs::types::Attrs::from([(std::sync::Arc::from("bold"), Any::Bool(true))]);
        text.format(&mut txn, 0, 5, bold);
        text.insert_embed(
            &mut txn,
            3,
            Any::from(std::collections::HashMap::from([("img".to_string(), Any::from("x.png"))])),
        );
    });
    step(&|doc| {
        let map = doc.get_or_insert_map("map");
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, "null", Any::Null);
        map.insert(&mut txn, "int", Any::from(-42i64));
        map.insert(&mut txn, "big", Any::from(i64::MAX));
        map.insert(&mut txn, "float", Any::from(1.5f64));
        map.insert(&mut txn, "string", Any::from("s"));
        map.insert(&mut txn, "buffer", Any::from(vec![1u8, 2, 3]));
        let nested: Any = serde_json::from_str(r#"{"a":[1,[2,[3,{"b":[true,false,null]}]]]}"#).unwrap();
        map.insert(&mut txn, "nested", nested);
        map.insert(&mut txn, "inner", MapPrelim::from([("k".to_string(), Any::from(1i64))]));
        map.insert(&mut txn, "list", ArrayPrelim::from([Any::from("a"), Any::Undefined]));
        map.insert(&mut txn, "subtext", TextPrelim::new("sub"));
        map.insert(&mut txn, "subdoc", Doc::with_options(Options { guid: "sub-guid".into(), ..Options::default() }));
    });
    step(&|doc| {
        let array = doc.get_or_insert_array("array");
        let mut txn = doc.transact_mut();
        array.insert_range(&mut txn, 0, (0..50).map(Any::from));
        array.remove_range(&mut txn, 10, 20);
    });
    step(&|doc| {
        let xml = doc.get_or_insert_xml_fragment("xml");
        let mut txn = doc.transact_mut();
        let div = xml.insert(&mut txn, 0, XmlElementPrelim::empty("div"));
        div.insert(&mut txn, 0, XmlTextPrelim::new("inside"));
        div.insert_attribute(&mut txn, "class", "c");
    });
    step(&|doc| {
        let text = doc.get_or_insert_text("text");
        let map = doc.get_or_insert_map("map");
        let mut txn = doc.transact_mut();
        text.remove_range(&mut txn, 0, 1);
        map.remove(&mut txn, "nested");
    });
    // The whole state, deletions and all, from another client that merged it.
    let other = Doc::with_client_id(7);
    for update in &updates {
        other.transact_mut().apply_update(Update::decode_v1_checked(update)).unwrap();
    }
    let text = other.get_or_insert_text("text");
    text.push(&mut other.transact_mut(), "!");
    updates.push(other.transact().encode_state_as_update_v1(&StateVector::default()));
    updates.push(yrs::merge_updates_v1(&updates).unwrap());
    assert!(text.get_string(&other.transact()).ends_with('!'));
    updates
}

/// yrs's `Update::decode_v1`, under a name that says this test expects no panic.
trait DecodeChecked {
    fn decode_v1_checked(bytes: &[u8]) -> Update;
}

impl DecodeChecked for Update {
    fn decode_v1_checked(bytes: &[u8]) -> Update {
        yrs::updates::decoder::Decode::decode_v1(bytes).expect("yrs decodes its own update")
    }
}

#[test]
fn everything_yrs_writes_passes() {
    let limits = WireLimits::default();
    for (i, update) in sample_updates().iter().enumerate() {
        assert_eq!(check_update_v1(update, &limits), Ok(()), "update {i}");
    }
    // A garbage-collected document (GC structs and skips in a diff).
    let doc = Doc::with_client_id(3);
    let array = doc.get_or_insert_array("a");
    array.insert_range(&mut doc.transact_mut(), 0, (0..100).map(Any::from));
    array.remove_range(&mut doc.transact_mut(), 0, 90);
    let state = doc.transact().encode_state_as_update_v1(&StateVector::default());
    assert_eq!(check_update_v1(&state, &limits), Ok(()));
    let sv = doc.transact().state_vector().encode_v1();
    assert_eq!(check_state_vector(&sv), Ok(()));
}

#[test]
fn every_golden_vector_passes() {
    let dir = crate::repo_root().join("protocol/tests/vectors");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(check_frame(&bytes, &WireLimits::default()).is_ok(), "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 10, "{seen} vectors");
}

#[test]
fn a_one_megabyte_paste_passes() {
    let doc = Doc::with_client_id(5);
    let text = doc.get_or_insert_text("t");
    text.insert(&mut doc.transact_mut(), 0, &"paste ".repeat((1 << 20) / 6));
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    assert!(update.len() >= 1_000_000);
    assert_eq!(check_update_v1(&update, &WireLimits::default()), Ok(()));
}

#[test]
fn the_issues_attacks_are_refused_before_yrs_reads_them() {
    let limits = WireLimits::default();
    // A sync step 1 whose state vector declares ~152 million entries in 64 bytes.
    let mut sv = vec![0xe8, 0xcb, 0xaf, 0x48];
    sv.extend([7u8; 60]);
    let mut frame = vec![0, 0, sv.len() as u8];
    frame.extend(&sv);
    let refused = decode_frame(&frame);
    assert!(matches!(refused, Err(DecodeError::Invalid(Invalid::CountTooLarge { .. }))), "{refused:?}");
    // An `Any` array nested 100,000 deep in one item.
    let mut update = vec![1, 1, 1, 0, 8, 1, 1, b'r', 1];
    update.extend(std::iter::repeat_n([117u8, 1], 100_000).flatten());
    update.extend([126, 0]);
    let mut frame = vec![0, 2];
    yrs::encoding::write::Write::write_buf(&mut frame, &update);
    let refused = decode_frame(&frame);
    assert!(matches!(refused, Err(DecodeError::Invalid(Invalid::TooDeep { .. }))), "{refused:?}");
    // A delete set declaring a billion clients, an update a billion structs.
    for update in [[0u8, 0x80, 0x94, 0xeb, 0xdc, 0x03, 1, 2, 3], [1, 0x80, 0x94, 0xeb, 0xdc, 0x03, 1, 0, 10]] {
        assert!(matches!(check_update_v1(&update, &limits), Err(Invalid::CountTooLarge { .. })), "{update:?}");
    }
    // A JSON application message nested 10,000 deep.
    let mut frame = vec![100];
    yrs::encoding::write::Write::write_buf(&mut frame, "[".repeat(10_000).as_bytes());
    assert!(matches!(decode_frame(&frame), Err(DecodeError::Invalid(Invalid::TooDeep { .. }))));
}

/// The client frames behind three fuzz findings (fuzz/README.md): the validating reader
/// refuses them, so none reaches a board from a client any more.
#[test]
fn the_fuzz_findings_frames_are_refused() {
    for name in [
        "protocol_frame-undecodable-sync-answer",
        "protocol_frame-double-free",
        "protocol_frame-unreadable-whole-state",
    ] {
        let bytes = std::fs::read(crate::repo_root().join("fuzz/regressions").join(name)).unwrap();
        let verdict = check_frame(&bytes, &WireLimits::default());
        println!("{name}: {verdict:?}");
        assert!(verdict.is_err(), "{name}");
    }
}

/// Legacy JSON content is refused: yrs 0.28 writes a count and that many strings, and
/// reads one string more than the count, so a document holding such an item encodes a
/// whole state that yrs cannot read back, and no client could join its board
/// (`fuzz/regressions/protocol_frame-unreadable-whole-state`). Yjs writes `Any` instead.
#[test]
fn legacy_json_content_is_refused_because_yrs_cannot_read_back_what_it_writes() {
    // Client 5, one root item in "a" whose content is legacy JSON with a count of 1:
    // yrs reads two strings, "1" and "2"; then an empty delete set.
    let update = [1, 1, 5, 0, 2, 1, 1, b'a', 1, 1, b'1', 1, b'2', 0];
    assert_eq!(
        check_update_v1(&update, &WireLimits::default()),
        Err(Invalid::Unsupported { what: "content kind (legacy JSON)", value: 2 })
    );
    // What the reader keeps out: yrs takes the update, then cannot read its own encoding
    // of the document. If a yrs release fixes its reader this fails, and the refusal can go.
    let doc = Doc::new();
    doc.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
    let whole = doc.transact().encode_state_as_update_v1(&StateVector::default());
    assert!(Update::decode_v1(&whole).is_err(), "yrs read back its legacy JSON content");
}

/// Updates, state vectors and client frames written by Yjs 13 and y-protocols (every
/// content kind Yjs writes, a bigint, `undefined`, deletions, garbage collection, a
/// merge, presence), made by `web/tests/interop/make-yjs-updates.mjs`: all pass, and yrs
/// decodes every update.
#[test]
fn everything_yjs_writes_passes() {
    let bytes = std::fs::read(crate::repo_root().join("protocol/tests/fixtures/yjs-updates.bin")).unwrap();
    let limits = WireLimits::default();
    let (mut at, mut seen) = (0, [0usize; 3]);
    while at < bytes.len() {
        let kind = bytes[at];
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let record = &bytes[at + 5..at + 5 + len];
        at += 5 + len;
        match kind {
            0 => {
                assert_eq!(check_update_v1(record, &limits), Ok(()), "update {}", seen[0]);
                Update::decode_v1_checked(record);
            }
            1 => assert_eq!(check_state_vector(record), Ok(()), "state vector {}", seen[1]),
            _ => assert!(check_frame(record, &limits).is_ok(), "frame {}: {record:?}", seen[2]),
        }
        seen[usize::from(kind.min(2))] += 1;
    }
    assert_eq!(seen, [29, 2, 6]);
}

/// Found by the `validated_update` fuzz target under AddressSanitizer: an update naming
/// the same client twice made yrs free a block it still used (heap-use-after-free). Yjs
/// and yrs write each client once, highest first; anything else is refused.
#[test]
fn an_update_listing_a_client_twice_or_out_of_order_is_refused() {
    let bytes = std::fs::read(crate::repo_root().join("fuzz/regressions/validated_update-use-after-free")).unwrap();
    assert!(matches!(check_update_v1(&bytes, &WireLimits::default()), Err(Invalid::ClientOrder(_))));
    // Two clients, each with one skip struct: 5 then 3 passes, 3 then 5 or 5 then 5 do not.
    let update = |a: u8, b: u8| vec![2, 1, a, 0, 10, 1, 1, b, 0, 10, 1, 0];
    assert_eq!(check_update_v1(&update(5, 3), &WireLimits::default()), Ok(()));
    assert_eq!(check_update_v1(&update(3, 5), &WireLimits::default()), Err(Invalid::ClientOrder(5)));
    assert_eq!(check_update_v1(&update(5, 5), &WireLimits::default()), Err(Invalid::ClientOrder(5)));
}
