//! Golden vectors: binary frames under `protocol/tests/vectors/`, with `manifest.json`
//! saying what each holds. This test checks that the Rust side produces and decodes
//! exactly these bytes; `web/tests/interop/vectors.test.mjs` checks the same files with
//! `y-protocols` and `lib0`. Rewrite them with `UPDATE_VECTORS=1` (only on purpose: a
//! change here is a wire-format change).

use commonboard_protocol::app::{ClientMessage, ErrorCode, ServerMessage};
use commonboard_protocol::frame::{
    client_app, decode_frame, decode_server_frame, encode_frame, server_app, AwarenessUpdate, AwarenessUpdateEntry,
    Decoded, Message, SyncMessage,
};
use commonboard_protocol::schema::{Board, Note};
use serde_json::{json, Value};
use yrs::updates::decoder::Decode;
use yrs::{ClientID, Doc, ReadTxn, StateVector, Transact, Update};

const CLIENT: u64 = 1234;

struct Vector {
    file: &'static str,
    bytes: Vec<u8>,
    /// What the frame holds, for the JavaScript side to check.
    expect: Value,
}

fn note() -> Note {
    Note {
        id: "n1".into(),
        text: "hello".into(),
        x: 10.0,
        y: 20.0,
        w: 160.0,
        h: 120.0,
        color: "yellow".into(),
        author: "Ana".into(),
        frame: None,
        created_at: 1_700_000_000_000.0,
        ..Note::default()
    }
}

fn awareness(clock: u32, json: &str) -> Message {
    let entry = AwarenessUpdateEntry { clock, json: json.into() };
    Message::Awareness(AwarenessUpdate { clients: [(ClientID::new(CLIENT), entry)].into() })
}

fn vectors() -> Vec<Vector> {
    let doc = Doc::with_client_id(CLIENT);
    let board = Board::new(&doc);
    board.insert_note(&mut doc.transact_mut(), &note());
    let state = doc.transact().encode_state_as_update_v1(&StateVector::default());
    let before = doc.transact().state_vector();
    board.move_note(&mut doc.transact_mut(), "n1", 30.0, 40.0);
    let moved = doc.transact().encode_state_as_update_v1(&before);
    let step1 = Message::Sync(SyncMessage::SyncStep1(doc.transact().state_vector()));
    let clock = doc.transact().state_vector().get(&ClientID::new(CLIENT));
    let cursor = r##"{"user":{"name":"Ana","color":"#e91e63"},"cursor":{"x":1,"y":2}}"##;

    let note_json = json!({"text": "hello", "pos": [10, 20], "w": 160, "h": 120, "color": "yellow", "author": "Ana", "createdAt": 1_700_000_000_000u64});
    let moved_json = json!({"text": "hello", "pos": [30, 40], "w": 160, "h": 120, "color": "yellow", "author": "Ana", "createdAt": 1_700_000_000_000u64});
    vec![
        Vector {
            file: "sync-step1.bin",
            bytes: encode_frame([&step1]),
            expect: json!([{"type": "sync_step1", "stateVector": {CLIENT.to_string(): clock}}]),
        },
        Vector {
            file: "sync-step2.bin",
            bytes: encode_frame([&Message::Sync(SyncMessage::SyncStep2(state.clone()))]),
            expect: json!([{"type": "sync_step2", "notes": {"n1": note_json}}]),
        },
        Vector {
            file: "sync-update.bin",
            bytes: encode_frame([&Message::Sync(SyncMessage::Update(moved))]),
            expect: json!([{"type": "sync_update", "appliesAfter": "sync-step2.bin", "notes": {"n1": moved_json}}]),
        },
        Vector {
            file: "awareness.bin",
            bytes: encode_frame([&awareness(3, cursor)]),
            expect: json!([{"type": "awareness", "clients": [{"client": CLIENT, "clock": 3, "state": serde_json::from_str::<Value>(cursor).unwrap()}]}]),
        },
        Vector {
            file: "awareness-removed.bin",
            bytes: encode_frame([&awareness(4, "null")]),
            expect: json!([{"type": "awareness", "clients": [{"client": CLIENT, "clock": 4, "state": null}]}]),
        },
        Vector {
            file: "query-awareness.bin",
            bytes: encode_frame([&Message::AwarenessQuery]),
            expect: json!([{"type": "query_awareness"}]),
        },
        Vector {
            file: "auth-denied.bin",
            bytes: encode_frame([&Message::Auth(Some("read-only link".into()))]),
            expect: json!([{"type": "auth", "denied": "read-only link"}]),
        },
        Vector {
            file: "app-hello.bin",
            bytes: client_app(&ClientMessage::Hello { version: 1 }),
            expect: json!([{"type": "app", "json": {"type": "hello", "version": 1}}]),
        },
        Vector {
            file: "app-error.bin",
            bytes: server_app(&ServerMessage::Error {
                code: ErrorCode::Forbidden,
                message: "viewers cannot edit".into(),
            }),
            expect: json!([{"type": "app", "json": {"type": "error", "code": "forbidden", "message": "viewers cannot edit"}}]),
        },
        Vector {
            file: "multi.bin",
            bytes: encode_frame([&step1, &awareness(3, cursor), &Message::AwarenessQuery]),
            expect: json!([
                {"type": "sync_step1", "stateVector": {CLIENT.to_string(): clock}},
                {"type": "awareness", "clients": [{"client": CLIENT, "clock": 3, "state": serde_json::from_str::<Value>(cursor).unwrap()}]},
                {"type": "query_awareness"}
            ]),
        },
    ]
}

#[test]
fn golden_vectors_match() {
    let dir = crate::repo_root().join("protocol/tests/vectors");
    let vectors = vectors();
    let manifest: Vec<Value> = vectors.iter().map(|v| json!({"file": v.file, "messages": v.expect})).collect();
    let manifest = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
    if crate::updating("UPDATE_VECTORS") {
        for v in &vectors {
            std::fs::write(dir.join(v.file), &v.bytes).unwrap();
        }
        std::fs::write(dir.join("manifest.json"), manifest).unwrap();
        return;
    }
    for v in &vectors {
        let stored = std::fs::read(dir.join(v.file)).unwrap();
        assert_eq!(stored, v.bytes, "{} differs from what this build encodes", v.file);
    }
    assert_eq!(std::fs::read_to_string(dir.join("manifest.json")).unwrap(), manifest);
}

#[test]
fn golden_vectors_decode_to_what_the_manifest_says() {
    let dir = crate::repo_root().join("protocol/tests/vectors");
    let read = |file: &str| std::fs::read(dir.join(file)).unwrap();

    let doc = Doc::new();
    let board = Board::new(&doc);
    for file in ["sync-step2.bin", "sync-update.bin"] {
        let Decoded::Yjs(Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u))) =
            decode_frame(&read(file)).unwrap().remove(0)
        else {
            panic!("{file} is not a sync update");
        };
        doc.transact_mut().apply_update(Update::decode_v1(&u).unwrap()).unwrap();
    }
    let n1 = board.note(&doc.transact(), "n1").unwrap();
    assert_eq!((n1.text.as_str(), n1.x, n1.y), ("hello", 30.0, 40.0));

    let multi = decode_frame(&read("multi.bin")).unwrap();
    assert_eq!(multi.len(), 3);
    assert!(matches!(
        decode_frame(&read("app-hello.bin")).unwrap()[0],
        Decoded::App(ClientMessage::Hello { version: 1 })
    ));
    assert!(matches!(
        decode_server_frame(&read("app-error.bin")).unwrap()[0],
        Decoded::App(ServerMessage::Error { code: ErrorCode::Forbidden, .. })
    ));
    let Decoded::Yjs(Message::Awareness(update)) = decode_frame(&read("awareness-removed.bin")).unwrap().remove(0)
    else {
        panic!("not awareness");
    };
    assert_eq!(&*update.clients[&ClientID::new(CLIENT)].json, "null");
    let _ = StateVector::decode_v1(&[0]).unwrap();
}
