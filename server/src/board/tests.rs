//! Table-driven tests of the board's decisions on [`Board::tick`], without sockets and
//! without the actor: who may do what, the vote rules, the limits, who may come in.
//! A tick's replies are read from the `Outgoing` it fills; nothing is sent or stored.

use std::sync::Arc;
use std::time::Duration;

use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage, VoteSettings, APP_PROTOCOL_VERSION};
use commonboard_protocol::frame::{self, Decoded, Incoming, Message, SyncMessage};
use commonboard_protocol::schema::Note;
use commonboard_protocol::workshop::TurnAction;
use tokio::sync::oneshot;
use yrs::{Array, Text, Transact};

use super::*;
use crate::auth::{AuthError, Claims};
use crate::outbox::Closer;
use crate::store::{BoardRecord, StoredBoard};

/// A board from the blank template with notes `n1` and `n2` (the core holds no store:
/// a tick does no IO).
struct Room {
    board: Board,
}

impl Room {
    fn new(limits: BoardLimits) -> Room {
        let new = new_board("b".into(), "test".into(), crate::templates::get("blank").unwrap());
        let stored = StoredBoard {
            record: new.record,
            checkpoint: None,
            tail: vec![new.entry],
            votes: Vec::new(),
            workshop: new.workshop,
            private_notes: Vec::new(),
            written: Vec::new(),
            checkpoint_clocks: None,
        };
        let doc = crate::doc::rebuild_stored(&stored);
        let config = BoardConfig {
            open: true,
            idle_unload: Duration::from_secs(60),
            checkpoint_every: 100,
            integrate_delay: Duration::ZERO,
            limits,
            issuer: None,
        };
        let mut board = Board::from_stored("b", &stored, doc, &config, Arc::new(Usage::new()));
        let mut out = Outgoing::default();
        board.server_change(&mut out, |roots, txn| {
            for id in ["n1", "n2"] {
                roots.insert_note(txn, &Note { id: id.into(), text: id.into(), x: 1.0, ..Note::default() });
            }
        });
        Room { board }
    }

    /// Runs one tick of `commands`, which must not break the document.
    fn tick(&mut self, commands: Vec<BoardCmd>) -> Outgoing {
        let mut out = Outgoing::default();
        assert_eq!(self.board.tick(&mut commands.into_iter(), &mut out), None, "no reload expected");
        out
    }

    /// `member` joins as connection `conn` and says hello; the board's answer.
    fn join(&mut self, conn: ConnId, member: Member) -> Result<(), BoardError> {
        let (reply, mut answer) = oneshot::channel();
        let outbox = Outbox::detached(Closer::new());
        self.tick(vec![BoardCmd::Join { conn, member, outbox, reply }]);
        let joined = answer.try_recv().expect("a join is answered in its tick");
        if joined.is_ok() {
            self.say(conn, ClientMessage::Hello { version: APP_PROTOCOL_VERSION });
        }
        joined
    }

    /// Connection `conn` sends `message`; the application messages it gets back.
    fn say(&mut self, conn: ConnId, message: ClientMessage) -> Vec<ServerMessage> {
        let out = self.tick(vec![BoardCmd::Messages { conn, messages: vec![Incoming::App(message)] }]);
        replies(&out, conn)
    }

    /// The code of the error `conn` gets for `message`, if any.
    fn refusal(&mut self, conn: ConnId, message: ClientMessage) -> Option<ErrorCode> {
        self.say(conn, message).into_iter().find_map(|reply| match reply {
            ServerMessage::Error { code, .. } => Some(code),
            _ => None,
        })
    }

    /// The facilitator (connection 1) opens a vote on `n1` and `n2`; its id.
    fn open_vote(&mut self, budget: u32, max_per_candidate: u32, roster: bool) -> String {
        let settings = settings(budget, max_per_candidate, roster);
        assert_eq!(self.refusal(1, ClientMessage::OpenVote { settings }), None);
        self.board.votes.last().expect("the vote opened").id.clone()
    }
}

/// A vote on notes `n1` and `n2`, named, with its tally shown.
fn settings(budget: u32, max_per_candidate: u32, roster: bool) -> VoteSettings {
    let (title, candidates) = ("which".into(), vec!["n1".into(), "n2".into()]);
    let (anonymous, hidden, duration_s) = (false, false, None);
    VoteSettings { title, candidates, budget, max_per_candidate, anonymous, hidden, duration_s, roster }
}

/// The application messages of `out` for `conn`.
fn replies(out: &Outgoing, conn: ConnId) -> Vec<ServerMessage> {
    out.direct
        .iter()
        .filter(|(to, _)| *to == conn)
        .flat_map(|(_, bytes)| frame::decode_server_frame(bytes).expect("the board's frames decode"))
        .filter_map(|message| match message {
            Decoded::App(message) => Some(message),
            Decoded::Yjs(_) => None,
        })
        .collect()
}

fn member(id: &str, role: Role) -> Member {
    Member { author: Author { id: id.into(), name: id.to_uppercase() }, role, claims: None }
}

/// Claims of links generation `generation`, minted by the facilitator or not.
fn claims(role: Role, generation: u64, minted: bool) -> Claims {
    Claims { board: "b".into(), role, identity: None, generation, expires: i64::MAX, minted, presenter: false }
}

/// A room with the facilitator on connection 1, a participant on 2, a viewer on 3.
fn room() -> Room {
    let mut room = Room::new(BoardLimits::default());
    for (conn, id, role) in [(1, "fac", Role::Facilitator), (2, "par", Role::Participant), (3, "vie", Role::Viewer)] {
        room.join(conn, member(id, role)).unwrap();
    }
    room
}

#[test]
fn who_may_send_which_application_message() {
    use ErrorCode::Forbidden;
    let note = || Box::new(Note { id: "p1".into(), text: "mine".into(), ..Note::default() });
    // (message, what the facilitator, a participant and a viewer are refused with:
    // `Some(Forbidden)` where the role may not; `None` where it may, or another error
    // code when the message is refused for another reason).
    let open = settings(1, 1, false);
    let no_vote = Some(ErrorCode::NoSuchVote);
    let cases: Vec<(ClientMessage, [Option<ErrorCode>; 3])> = vec![
        (ClientMessage::Lock { locked: false }, [None, Some(Forbidden), Some(Forbidden)]),
        (ClientMessage::SetTimer { seconds: Some(60) }, [None, Some(Forbidden), Some(Forbidden)]),
        (ClientMessage::SetPrivate { private: true }, [None, Some(Forbidden), Some(Forbidden)]),
        (ClientMessage::StartTurns { people: Vec::new() }, [None, Some(Forbidden), Some(Forbidden)]),
        (ClientMessage::OpenVote { settings: open }, [None, Some(Forbidden), Some(Forbidden)]),
        (ClientMessage::CloseVote { vote: "none".into() }, [no_vote, Some(Forbidden), Some(Forbidden)]),
        (ClientMessage::RevealVote { vote: "none".into() }, [no_vote, Some(Forbidden), Some(Forbidden)]),
        (ClientMessage::CastVote { vote: "none".into(), candidate: "n1".into() }, [no_vote, no_vote, Some(Forbidden)]),
        (ClientMessage::PutPrivateNote { note: note() }, [None, None, Some(Forbidden)]),
        (ClientMessage::DeletePrivateNote { id: "p1".into() }, [None, None, Some(Forbidden)]),
        (ClientMessage::SetName { name: "someone".into() }, [None, None, None]),
    ];
    for (message, expected) in cases {
        for (conn, expected) in (1..=3).zip(expected) {
            // A fresh room each time: one message's effect (a lock, private writing)
            // does not change what the next case is allowed.
            let refused = room().refusal(conn, message.clone());
            let refused = refused.filter(|code| expected.is_some() || *code == Forbidden);
            assert_eq!(refused, expected, "{message:?} from connection {conn}");
        }
    }
}

#[test]
fn only_the_facilitator_moves_the_turns_on_but_anyone_may_pass() {
    for (action, participant) in [
        (TurnAction::Next, Some(ErrorCode::Forbidden)),
        (TurnAction::Skip, Some(ErrorCode::Forbidden)),
        (TurnAction::Back, Some(ErrorCode::Forbidden)),
        (TurnAction::Pass, None),
    ] {
        let refused = room().refusal(2, ClientMessage::Turn { action });
        assert_eq!(refused.filter(|code| *code == ErrorCode::Forbidden), participant, "{action:?}");
    }
}

#[test]
fn a_locked_board_refuses_a_participants_private_note_but_not_the_facilitators() {
    let mut room = room();
    room.say(1, ClientMessage::SetPrivate { private: true });
    room.say(1, ClientMessage::Lock { locked: true });
    let note = || Box::new(Note { id: "p1".into(), text: "mine".into(), ..Note::default() });
    assert_eq!(room.refusal(2, ClientMessage::PutPrivateNote { note: note() }), Some(ErrorCode::Forbidden));
    assert_eq!(room.refusal(1, ClientMessage::PutPrivateNote { note: note() }), None);
}

#[test]
fn the_vote_rules_hold_for_each_ballot() {
    let mut room = room();
    let vote = room.open_vote(2, 1, false);
    let cast = |candidate: &str| ClientMessage::CastVote { vote: vote.clone(), candidate: candidate.into() };
    let retract = |candidate: &str| ClientMessage::RetractVote { vote: vote.clone(), candidate: candidate.into() };
    // In order, on one vote (budget 2, at most 1 a candidate), from the participant.
    let ballots = [
        (cast("n1"), None),
        (cast("n1"), Some(ErrorCode::OverCandidateLimit)),
        (cast("elsewhere"), Some(ErrorCode::NotACandidate)),
        (retract("n2"), Some(ErrorCode::NothingToRetract)),
        (cast("n2"), None),
        (retract("n1"), None),
        (cast("n1"), None),
    ];
    for (message, expected) in ballots {
        assert_eq!(room.refusal(2, message.clone()), expected, "{message:?}");
    }
    let mut room_over = Room::new(BoardLimits::default());
    room_over.join(1, member("fac", Role::Facilitator)).unwrap();
    room_over.join(2, member("par", Role::Participant)).unwrap();
    let vote = room_over.open_vote(1, 1, false);
    let cast = |candidate: &str| ClientMessage::CastVote { vote: vote.clone(), candidate: candidate.into() };
    assert_eq!(room_over.refusal(2, cast("n1")), None);
    assert_eq!(room_over.refusal(2, cast("n2")), Some(ErrorCode::OverBudget));
    assert_eq!(room_over.refusal(1, ClientMessage::CloseVote { vote: vote.clone() }), None);
    assert_eq!(room_over.refusal(1, cast("n2")), Some(ErrorCode::VoteClosed));
}

#[test]
fn a_roster_vote_takes_personal_links_and_the_facilitator_only() {
    let mut room = Room::new(BoardLimits::default());
    let with = |id: &str, role, minted| Member { claims: Some(claims(role, 1, minted)), ..member(id, role) };
    room.join(1, with("fac", Role::Facilitator, false)).unwrap();
    room.join(2, with("shared", Role::Participant, false)).unwrap();
    room.join(3, with("personal", Role::Participant, true)).unwrap();
    let vote = room.open_vote(1, 1, true);
    let cast = || ClientMessage::CastVote { vote: vote.clone(), candidate: "n1".into() };
    for (conn, expected) in [(1, None), (2, Some(ErrorCode::Forbidden)), (3, None)] {
        assert_eq!(room.refusal(conn, cast()), expected, "connection {conn}");
    }
}

#[test]
fn who_the_gate_lets_in() {
    let record = BoardRecord {
        id: "b".into(),
        title: "b".into(),
        template: "blank".into(),
        created_at_ms: 0,
        links_generation: 2 | 2 << 32,
        locked: false,
        removed: vec!["gone".into()],
    };
    let with =
        |id: &str, role, generation| Member { claims: Some(claims(role, generation, false)), ..member(id, role) };
    let revoked = |result: &Result<(), BoardError>| matches!(result, Err(BoardError::Auth(AuthError::Revoked)));
    let removed = |result: &Result<(), BoardError>| matches!(result, Err(BoardError::Auth(AuthError::Removed)));
    let full = |result: &Result<(), BoardError>| matches!(result, Err(BoardError::Full { limit: 3 }));
    let unloading = |result: &Result<(), BoardError>| matches!(result, Err(BoardError::Unloading));
    let admitted = |result: &Result<(), BoardError>| result.is_ok();
    type Check = fn(&Result<(), BoardError>) -> bool;
    // (who, connections already there, whether the board is unloading, what it gets)
    let cases: Vec<(&str, Member, usize, bool, Check)> = vec![
        ("open board, no token", member("a", Role::Participant), 0, false, admitted),
        ("this generation", with("a", Role::Participant, 2), 2, false, admitted),
        ("an older shared link", with("a", Role::Participant, 1), 0, false, revoked),
        ("the facilitator's older link", with("a", Role::Facilitator, 1 << 32), 0, false, revoked),
        ("the facilitator's link of now", with("a", Role::Facilitator, 2 << 32), 0, false, admitted),
        ("a removed person", member("gone", Role::Participant), 0, false, removed),
        ("a full board", member("a", Role::Participant), 3, false, full),
        ("an unloading board", member("a", Role::Participant), 0, true, unloading),
    ];
    for (what, member, connections, unload, check) in cases {
        let mut gate = Gate::new(&record, 3);
        if unload {
            assert!(gate.unload(true));
        }
        let result = gate.admit(&member, connections);
        assert!(check(&result), "{what}: {result:?}");
    }
    // A rotation keeps only the links of the new generation; a late older one changes nothing.
    let mut gate = Gate::new(&record, 3);
    assert_eq!(gate.rotated(3 | 2 << 32), 3 | 2 << 32);
    assert_eq!(gate.rotated(2 | 2 << 32), 3 | 2 << 32);
    assert!(!gate.keeps(&with("a", Role::Participant, 2)));
    assert!(gate.keeps(&with("a", Role::Participant, 3)));
    assert!(gate.keeps(&with("a", Role::Facilitator, 2 << 32)));
    assert!(gate.keeps(&member("a", Role::Participant)));
    // Asked to unload while people are on it: it stays.
    assert!(!gate.unload(false));
}

/// An update that writes `text` into a text of its own (a client's change).
fn update_of(text: &str) -> Vec<u8> {
    let doc = yrs::Doc::new();
    let root = doc.get_or_insert_text("scratch");
    let mut txn = doc.transact_mut();
    root.insert(&mut txn, 0, text);
    txn.encode_update_v1()
}

#[test]
fn an_update_is_held_to_the_limits_and_its_sender_told() {
    let limits = BoardLimits { max_update_bytes: 200, ..BoardLimits::default() };
    // (what, the update, whether it is applied and logged)
    let cases = [("small", update_of("hello"), true), ("over the update limit", update_of(&"x".repeat(400)), false)];
    for (what, update, applied) in cases {
        let mut room = Room::new(limits);
        room.join(2, member("par", Role::Participant)).unwrap();
        let message = Incoming::Yjs(Message::Sync(SyncMessage::Update(update)));
        let out = room.tick(vec![BoardCmd::Messages { conn: 2, messages: vec![message] }]);
        assert_eq!(out.log.len(), usize::from(applied), "{what}: logged");
        let told = replies(&out, 2)
            .into_iter()
            .any(|reply| matches!(reply, ServerMessage::Error { code: ErrorCode::LimitReached, .. }));
        assert_eq!(told, !applied, "{what}: its sender told");
    }
}

#[test]
fn a_viewers_or_a_locked_participants_update_is_refused_and_not_logged() {
    // (role, locked, whether the update is taken)
    let cases = [
        (Role::Participant, false, true),
        (Role::Participant, true, false),
        (Role::Viewer, false, false),
        (Role::Facilitator, true, true),
    ];
    for (role, locked, taken) in cases {
        let mut room = Room::new(BoardLimits::default());
        room.board.locked = locked;
        room.join(2, member("someone", role)).unwrap();
        let message = Incoming::Yjs(Message::Sync(SyncMessage::Update(update_of("hello"))));
        let out = room.tick(vec![BoardCmd::Messages { conn: 2, messages: vec![message] }]);
        assert_eq!(out.log.len(), usize::from(taken), "{role:?}, locked {locked}");
    }
}

#[test]
fn a_rotation_is_decided_in_its_tick_and_answered_once_durable() {
    let mut room = room();
    let before = room.board.gate.links_generation;
    let (reply, _answer) = oneshot::channel();
    let (late, mut late_answer) = oneshot::channel();
    let outbox = Outbox::detached(Closer::new());
    let stale = Member { claims: Some(claims(Role::Participant, before, false)), ..member("late", Role::Participant) };
    let out = room.tick(vec![
        BoardCmd::RotateLinks { step: 1, reply },
        BoardCmd::Join { conn: 9, member: stale, outbox, reply: late },
    ]);
    // Saved with the tick, answered after it: the actor commits, then answers.
    assert_eq!(room.board.gate.links_generation, before + 1);
    assert_eq!(out.rotations.len(), 1);
    assert!(out
        .writes
        .iter()
        .any(|w| matches!(w, Write::LinksGeneration { generation, .. } if *generation == before + 1)));
    // A join later in the same tick is held to the new generation.
    assert!(matches!(late_answer.try_recv(), Ok(Err(BoardError::Auth(AuthError::Revoked)))));
}

/// An update that nests `levels` arrays in one another under the root `chain`.
fn chain_of(levels: u32) -> Vec<u8> {
    let doc = yrs::Doc::new();
    let mut innermost = doc.get_or_insert_array("chain");
    let mut txn = doc.transact_mut();
    for _ in 0..levels {
        innermost = innermost.push_back(&mut txn, yrs::ArrayPrelim::default());
    }
    txn.encode_update_v1()
}

#[test]
fn a_tick_stops_where_the_document_must_be_read_back_and_goes_on_after() {
    let mut room = room();
    room.join(4, member("other", Role::Participant)).unwrap();
    let too_deep = Incoming::Yjs(Message::Sync(SyncMessage::Update(chain_of(crate::nesting::MAX_NESTING + 8))));
    let hello = Incoming::Yjs(Message::Sync(SyncMessage::Update(update_of("hello"))));
    let mut commands = vec![
        BoardCmd::Messages { conn: 2, messages: vec![too_deep] },
        BoardCmd::Messages { conn: 4, messages: vec![hello] },
    ]
    .into_iter();
    let mut out = Outgoing::default();
    // The too-deep update was integrated: the tick stops before the next command.
    assert_eq!(room.board.tick(&mut commands, &mut out), Some(Reload::Drop));
    assert!(out.log.is_empty());
    assert!(!room.board.conns.contains_key(&2), "its sender is closed");
    assert_eq!(commands.len(), 1, "the next command waits");
    // The actor reads the board back (here: nothing durable) and the tick goes on.
    room.board.reload(Reload::Drop, None, &out);
    let txn = room.board.doc.transact();
    assert!(txn.get_array("chain").is_none_or(|chain| chain.len(&txn) == 0), "the chain is gone");
    drop(txn);
    assert_eq!(room.board.tick(&mut commands, &mut out), None);
    assert_eq!(out.log.len(), 1, "the next update is taken");
}

/// The frames each connection of `room` was sent, as the Yjs updates they carry.
fn broadcast_updates(room: &Room) -> Vec<Vec<Vec<u8>>> {
    room.board
        .conns
        .values()
        .map(|c| {
            c.outbox
                .socket
                .take_all()
                .into_iter()
                .flat_map(|bytes| frame::decode_server_frame(&crate::ws_frame::payload(bytes)).unwrap())
                .filter_map(|message| match message {
                    Decoded::Yjs(Message::Sync(SyncMessage::Update(update))) => Some(update),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_big_boards_updates_close_together_go_in_one_broadcast_and_a_small_boards_at_once() {
    use yrs::updates::decoder::Decode;
    use yrs::GetString;
    for (editors, paced) in [(40, false), (200, true)] {
        let mut room = Room::new(BoardLimits::default());
        for conn in 0..editors {
            room.join(conn, member(&format!("p{conn}"), Role::Participant)).unwrap();
        }
        let send = |room: &mut Room, text: &str| {
            room.board.flush(Outgoing { updates: vec![update_of(text)], ..Outgoing::default() })
        };
        send(&mut room, "a");
        tokio::time::advance(Duration::from_micros(500)).await;
        send(&mut room, "b");
        send(&mut room, "c");
        let sent = broadcast_updates(&room);
        assert_eq!(sent.len(), editors as usize);
        if !paced {
            assert!(sent.iter().all(|frames| frames.len() == 3), "{editors} editors: every tick's updates at once");
            assert_eq!(room.board.held_updates.due, None);
            continue;
        }
        assert!(sent.iter().all(|frames| frames.len() == 1), "{editors} editors: the first goes at once, then held");
        assert_eq!(room.board.held_update_count(), 2);
        let due = room.board.held_updates.due.expect("the held updates have a time");
        tokio::time::advance(due - tokio::time::Instant::now()).await;
        room.board.relay_held_updates();
        assert_eq!(room.board.held_update_count(), 0);
        let sent = broadcast_updates(&room);
        assert!(sent.iter().all(|frames| frames.len() == 1), "the two held updates in one frame");
        let doc = yrs::Doc::new();
        let text = doc.get_or_insert_text("scratch");
        {
            let mut txn = doc.transact_mut();
            txn.apply_update(yrs::Update::decode_v1(&sent[0][0]).unwrap()).unwrap();
        }
        let mut held: Vec<char> = text.get_string(&doc.transact()).chars().collect();
        held.sort_unstable();
        assert_eq!(held, ['b', 'c'], "the merged frame holds both updates");
        // Quiet for longer than the spacing: the next update goes at once.
        tokio::time::advance(Duration::from_millis(10)).await;
        send(&mut room, "d");
        assert!(broadcast_updates(&room).iter().all(|frames| frames.len() == 1));
        assert_eq!(room.board.held_updates.due, None);
    }
}

/// The frames each connection of `room` was sent: for each, how many frames carry an
/// update and how many presence.
fn sent_kinds(room: &Room) -> Vec<(usize, usize)> {
    room.board
        .conns
        .values()
        .map(|c| {
            let frames = c.outbox.socket.take_all();
            frames.into_iter().fold((0, 0), |(updates, presence), bytes| {
                match frame::decode_server_frame(&crate::ws_frame::payload(bytes)).unwrap().as_slice() {
                    [Decoded::Yjs(Message::Sync(SyncMessage::Update(_)))] => (updates + 1, presence),
                    [Decoded::Yjs(Message::Awareness(_))] => (updates, presence + 1),
                    _ => panic!("a frame of one update or one presence change expected"),
                }
            })
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn while_people_edit_presence_waits_for_the_next_update_and_a_quiet_board_sends_it_at_once() {
    use super::presence::{EDITING, PRESENCE_BUDGET, PRESENCE_WAIT};
    let mut room = Room::new(BoardLimits::default());
    for conn in 0..3 {
        room.join(conn, member(&format!("p{conn}"), Role::Participant)).unwrap();
    }
    room.board.conns.values().for_each(|c| drop(c.outbox.socket.take_all()));
    let cursor = |room: &mut Room, clock: u32| {
        let entry = frame::AwarenessUpdateEntry { clock, json: r#"{"cursor":1}"#.into() };
        room.board.flush(Outgoing {
            awareness: [(yrs::ClientID::new(7), entry)].into_iter().collect(),
            ..Outgoing::default()
        })
    };
    let edit = |room: &mut Room, text: &str| {
        room.board.flush(Outgoing { updates: vec![update_of(text)], ..Outgoing::default() })
    };
    // Nobody edits: presence goes at once.
    cursor(&mut room, 1);
    assert!(sent_kinds(&room).iter().all(|&kinds| kinds == (0, 1)));
    edit(&mut room, "a");
    assert!(sent_kinds(&room).iter().all(|&kinds| kinds == (1, 0)));
    // People edit: a cursor move waits for the next update's write, and goes with it.
    tokio::time::advance(PRESENCE_BUDGET + Duration::from_millis(5)).await;
    cursor(&mut room, 2);
    assert!(sent_kinds(&room).iter().all(|&kinds| kinds == (0, 0)), "held");
    let due = room.board.held_presence.due.expect("held presence has a time");
    assert_eq!(due - tokio::time::Instant::now(), PRESENCE_WAIT);
    tokio::time::advance(Duration::from_millis(10)).await;
    edit(&mut room, "b");
    assert!(sent_kinds(&room).iter().all(|&kinds| kinds == (1, 1)), "with the update");
    assert_eq!(room.board.held_presence.due, None);
    // No update comes in time: it goes alone when due.
    tokio::time::advance(PRESENCE_BUDGET).await;
    cursor(&mut room, 3);
    let due = room.board.held_presence.due.expect("held presence has a time");
    tokio::time::advance(due - tokio::time::Instant::now()).await;
    room.board.relay_held_presence();
    assert!(sent_kinds(&room).iter().all(|&kinds| kinds == (0, 1)), "alone, when due");
    // Editing stopped: presence goes at once again.
    tokio::time::advance(EDITING).await;
    cursor(&mut room, 4);
    assert!(sent_kinds(&room).iter().all(|&kinds| kinds == (0, 1)));
}
