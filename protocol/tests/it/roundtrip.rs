//! Any sequence of messages encodes into a frame that decodes back to the same messages.

use commonboard_protocol::app::ClientMessage;
use commonboard_protocol::frame::{
    client_app, decode_frame, encode_frame, AwarenessUpdate, AwarenessUpdateEntry, Decoded, Message, SyncMessage,
};
use proptest::prelude::*;
use yrs::updates::decoder::Decode;
use yrs::{ClientID, StateVector};

/// A real update (the validating reader refuses bytes that are not one): `text`
/// typed by `client`.
fn update(client: u64, text: &str) -> Vec<u8> {
    use yrs::{ReadTxn, Text, Transact};
    let doc = yrs::Doc::with_client_id(client);
    let note = doc.get_or_insert_text("note");
    note.insert(&mut doc.transact_mut(), 0, text);
    let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
    update
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        proptest::collection::vec((1u64..1 << 53, 0u32..1000), 0..4).prop_map(|clocks| {
            let mut sv = StateVector::default();
            for (client, clock) in clocks {
                sv.set_max(ClientID::new(client), clock);
            }
            Message::Sync(SyncMessage::SyncStep1(sv))
        }),
        (1u64..1 << 53, "\\PC{0,20}")
            .prop_map(|(client, text)| Message::Sync(SyncMessage::SyncStep2(update(client, &text)))),
        (1u64..1 << 53, "\\PC{0,20}")
            .prop_map(|(client, text)| Message::Sync(SyncMessage::Update(update(client, &text)))),
        (1u64..1 << 53, any::<u32>(), "[a-z]{0,12}").prop_map(|(client, clock, name)| {
            let json = format!("{{\"user\":{{\"name\":{name:?}}}}}");
            let entry = AwarenessUpdateEntry { clock, json: json.into() };
            Message::Awareness(AwarenessUpdate { clients: [(ClientID::new(client), entry)].into() })
        }),
        Just(Message::AwarenessQuery),
        proptest::option::of("[ -~]{0,40}").prop_map(Message::Auth),
    ]
}

proptest! {
    #[test]
    fn frames_round_trip(messages in proptest::collection::vec(message(), 1..6)) {
        let bytes = encode_frame(&messages);
        let decoded = decode_frame(&bytes).expect("a frame we encoded decodes");
        let decoded: Vec<Message> = decoded
            .into_iter()
            .map(|m| match m { Decoded::Yjs(m) => m, Decoded::App(a) => panic!("unexpected {a:?}") })
            .collect();
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_frame(&bytes);
    }
}

#[test]
fn app_messages_share_a_frame_with_yjs_messages() {
    let mut bytes = encode_frame([&Message::AwarenessQuery]);
    bytes.extend(client_app(&ClientMessage::Hello { version: 1 }));
    let decoded = decode_frame(&bytes).unwrap();
    assert_eq!(decoded, vec![Decoded::Yjs(Message::AwarenessQuery), Decoded::App(ClientMessage::Hello { version: 1 })]);
}

#[test]
fn state_vectors_survive_the_trip() {
    let mut sv = StateVector::default();
    sv.set_max(ClientID::new(7), 3);
    let bytes = encode_frame([&Message::Sync(SyncMessage::SyncStep1(sv.clone()))]);
    match &decode_frame(&bytes).unwrap()[0] {
        Decoded::Yjs(Message::Sync(SyncMessage::SyncStep1(got))) => {
            assert_eq!(got, &sv);
            assert_eq!(StateVector::decode_v1(&yrs::updates::encoder::Encode::encode_v1(got)).unwrap(), sv);
        }
        other => panic!("unexpected {other:?}"),
    }
}
