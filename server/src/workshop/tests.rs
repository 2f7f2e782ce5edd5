//! Tests of the workshop flow: steps, timer, turns, private notes and their bounds.

use super::*;

fn person(id: &str) -> Author {
    Author { id: id.into(), name: id.to_uppercase() }
}

fn people(ids: &[&str]) -> Vec<TurnPerson> {
    ids.iter().map(|id| TurnPerson { id: (*id).into(), name: id.to_uppercase() }).collect()
}

fn steps() -> Vec<StepInfo> {
    ["one", "two"]
        .iter()
        .enumerate()
        .map(|(i, id)| StepInfo { id: (*id).into(), title: id.to_string(), private: i == 1, minutes: Some(10) })
        .collect()
}

#[test]
fn a_private_step_turns_private_writing_on_and_the_reveal_hands_every_note_back() {
    let mut workshop = Workshop::new(steps());
    let (ana, ben) = (person("ana"), person("ben"));
    let note = |id: &str| Note { id: id.into(), text: "why".into(), ..Note::default() };
    assert_eq!(workshop.put_private(&ana, note("a1"), false), Err(WorkshopError::NotPrivate));
    workshop.set_step(Some(1)).unwrap();
    assert!(workshop.private());
    workshop.put_private(&ana, note("a1"), false).unwrap();
    workshop.put_private(&ana, note("a2"), false).unwrap();
    workshop.put_private(&ben, note("b1"), false).unwrap();
    assert_eq!(workshop.put_private(&ben, note("a1"), false), Err(WorkshopError::NotYours));
    assert_eq!(workshop.put_private(&ben, note("live"), true), Err(WorkshopError::NotYours));
    assert_eq!(workshop.delete_private(&ben, "a2"), Err(WorkshopError::NotYours));
    assert_eq!(workshop.notes_of("ana").len(), 2);
    assert_eq!(workshop.notes_of("ana")[0].author, "ANA", "the author is who sent it");
    let writing = workshop.view().writing;
    assert_eq!(writing, vec![Writing { name: "ANA".into(), notes: 2 }, Writing { name: "BEN".into(), notes: 1 }]);

    let revealed = workshop.set_private(false);
    assert_eq!(revealed.len(), 3);
    assert!(workshop.view().writing.is_empty() && !workshop.private());
}

#[test]
fn going_back_to_a_public_step_turns_private_writing_off_and_keeps_the_private_notes() {
    let mut workshop = Workshop::new(steps());
    let ana = person("ana");
    workshop.set_step(Some(1)).unwrap();
    workshop.put_private(&ana, Note { id: "o1".into(), ..Note::default() }, false).unwrap();
    workshop.set_step(Some(0)).unwrap();
    assert!(!workshop.private(), "step one is not private");
    let late = Note { id: "n2".into(), ..Note::default() };
    assert_eq!(workshop.put_private(&ana, late, false), Err(WorkshopError::NotPrivate));
    assert_eq!(workshop.notes_of("ana").len(), 1, "what was written privately stays private");
    workshop.set_step(Some(1)).unwrap();
    assert!(workshop.private(), "back on the private step");
    assert_eq!(workshop.set_private(false).len(), 1, "the reveal hands it back");
    workshop.set_step(None).unwrap();
    assert!(!workshop.private());
}

#[test]
fn the_flow_survives_a_round_trip_through_the_store() {
    let mut workshop = Workshop::new(steps());
    workshop.set_step(Some(0)).unwrap();
    workshop.set_timer(Some(300), 1_000).unwrap();
    workshop.start_turns(people(&["a", "b"])).unwrap();
    let stored = Workshop::from_stored_state(Some(&workshop.state_json()), Vec::new());
    assert_eq!(stored, workshop);
    assert_eq!(stored.view().timer.unwrap().ends_at_ms, 301_000.0);
    workshop.set_step(Some(0)).unwrap();
    assert!(workshop.view().timer.is_some(), "the same step keeps its countdown");
    workshop.set_step(Some(1)).unwrap();
    assert!(workshop.view().timer.is_some(), "another step keeps it too: only the facilitator stops it");
    workshop.set_timer(None, 2_000).unwrap();
    assert!(workshop.view().timer.is_none());
    assert_eq!(workshop.set_step(Some(7)), Err(WorkshopError::NoSuchStep(7)));
    assert_eq!(workshop.set_timer(Some(0), 0), Err(WorkshopError::BadTimer));
}

#[test]
fn going_round_until_everyone_passes() {
    let mut workshop = Workshop::new(Vec::new());
    let facilitator = person("fac");
    workshop.start_turns(people(&["a", "b", "c"])).unwrap();
    let current = |w: &Workshop| w.view().turns.and_then(|t| t.current);
    assert_eq!(current(&workshop), Some(0));
    assert_eq!(workshop.turn(TurnAction::Pass, &person("b"), false), Err(WorkshopError::NotYourTurn));
    assert_eq!(workshop.turn(TurnAction::Next, &person("a"), false), Ok(()), "rights are checked by the board");
    assert_eq!(current(&workshop), Some(1));
    workshop.turn(TurnAction::Back, &facilitator, true).unwrap();
    assert_eq!(current(&workshop), Some(0));
    // Round 1: a speaks, b passes, c speaks. Round 2 skips b.
    workshop.turn(TurnAction::Next, &facilitator, true).unwrap();
    workshop.turn(TurnAction::Pass, &person("b"), false).unwrap();
    assert_eq!(current(&workshop), Some(2));
    workshop.turn(TurnAction::Next, &facilitator, true).unwrap();
    assert_eq!(current(&workshop), Some(0), "a new round");
    assert_eq!(workshop.view().turns.unwrap().round, 1);
    // Round 2: everyone passes: the turns are over.
    for who in ["a", "b", "c"] {
        if current(&workshop).is_some() {
            let speaker = workshop.view().turns.unwrap().people[current(&workshop).unwrap() as usize].id.clone();
            workshop.turn(TurnAction::Pass, &person(&speaker), false).unwrap();
        }
        let _ = who;
    }
    assert_eq!(current(&workshop), None);
    workshop.turn(TurnAction::End, &facilitator, true).unwrap();
    assert!(workshop.view().turns.is_none());
    assert_eq!(workshop.roster().len(), 3, "who went round is remembered for the minutes");
}

/// The issue's scenario: two private notes whose colour and kind hold 700,000
/// characters each. Refused, and nothing kept.
#[test]
fn a_private_note_with_a_huge_field_is_refused() {
    let mut workshop = Workshop::new(steps());
    workshop.set_step(Some(1)).unwrap();
    let ana = person("ana");
    let huge = "x".repeat(700_000);
    let colour = Note { id: "a1".into(), color: huge.clone(), ..Note::default() };
    let kind = Note { id: "a2".into(), kind: Some(huge), ..Note::default() };
    let refused = workshop.put_private(&ana, colour, false).unwrap_err();
    assert_eq!(refused.to_string(), "a private note's color field holds at most 32 characters");
    let refused = workshop.put_private(&ana, kind, false).unwrap_err();
    assert!(matches!(refused, WorkshopError::Field(FieldError { field: "kind", max: 32 })));
    assert!(workshop.notes_of("ana").is_empty());
    // Who wrote it is the server's to say: a long claimed author is replaced, not refused.
    let claimed = Note { id: "a3".into(), author: "y".repeat(1000), ..Note::default() };
    workshop.put_private(&ana, claimed, false).unwrap();
    assert_eq!(workshop.notes_of("ana")[0].author, "ANA");
}

#[test]
fn private_notes_are_bounded_per_person_and_per_board() {
    let mut workshop = Workshop::new(steps());
    workshop.set_step(Some(1)).unwrap();
    let note = |id: String| Note { id, text: "t".repeat(1500), ..Note::default() };
    let ana = person("ana");
    let mut refused = None;
    for n in 0..MAX_PRIVATE_NOTES {
        if let Err(error) = workshop.put_private(&ana, note(format!("a{n}")), false) {
            refused = Some((n, error));
            break;
        }
    }
    let (n, error) = refused.expect("64 KiB of 1,500-character notes is about 35 of them");
    assert_eq!(error, WorkshopError::TooHeavy);
    assert!(n > 30 && n < 45, "{n}");
    // Rewriting a note counts its new size, not both.
    workshop.put_private(&ana, note("a0".into()), false).unwrap();

    let mut count = workshop.private_notes.len();
    'people: for p in 0.. {
        for n in 0..MAX_PRIVATE_NOTES {
            let small = Note { id: format!("p{p}n{n}"), text: "t".into(), ..Note::default() };
            match workshop.put_private(&person(&format!("p{p}")), small, false) {
                Ok(()) => count += 1,
                Err(error) => {
                    assert_eq!(error, WorkshopError::BoardFull);
                    break 'people;
                }
            }
        }
    }
    assert_eq!(count, MAX_BOARD_PRIVATE_NOTES);
}

/// A note's weight is at least what inserting it adds to a Yjs update, so a reveal
/// checked by weight never writes past a limit.
#[test]
fn a_note_weighs_at_least_its_yjs_update() {
    use commonboard_protocol::schema::{Board, TeamFields};
    use yrs::{Doc, Transact};
    let full = |n: usize| Note {
        id: "i".repeat(n.min(64)),
        text: "t".repeat(n),
        x: 12345.678,
        y: -98765.4321,
        w: 160.5,
        h: 120.25,
        color: "c".repeat(n.min(32)),
        author: "a".repeat(n.min(64)),
        frame: Some("f".repeat(n.min(64))),
        created_at: 1_765_000_000_123.5,
        kind: Some("k".repeat(n.min(32))),
        author_id: Some("p".repeat(n.min(64))),
        pair: Some("r".repeat(n.min(64))),
        team: Some(TeamFields {
            expects_of_us: "e".repeat(n.min(1000)),
            we_expect: "w".repeat(n.min(1000)),
            interaction: 3.5,
            conflict: 4.25,
            chosen: true,
        }),
    };
    for note in [Note { id: "n".into(), ..Note::default() }, full(1), full(40), full(2000)] {
        let doc = Doc::with_client_id(u64::MAX >> 11);
        let board = Board::new(&doc);
        let update = {
            let mut txn = doc.transact_mut();
            board.insert_note(&mut txn, &note);
            txn.encode_update_v1()
        };
        assert!(weight(&note) >= update.len(), "weight {} < update {}", weight(&note), update.len());
    }
}

#[test]
fn a_turn_order_with_a_long_id_is_refused() {
    let mut workshop = Workshop::new(Vec::new());
    let long = vec![TurnPerson { id: "x".repeat(MAX_TURN_ID + 1), name: "X".into() }];
    assert_eq!(workshop.start_turns(long), Err(WorkshopError::BadTurnOrder));
}
