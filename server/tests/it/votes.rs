//! Live voting, decided by the server: budgets, limits, closing, hiding, timers, restarts.

use std::collections::HashMap;

use commonboard_protocol::app::{ClientMessage, ErrorCode, ServerMessage, VoteSettings, VoteView};
use commonboard_protocol::frame;
use futures_util::future::join_all;
use rand::{Rng, SeedableRng};

use crate::client::Peer;
use crate::{config_in, spawn_app, spawn_app_with, Links};

const CANDIDATES: [&str; 3] = ["goal-a", "goal-b", "goal-c"];

pub(crate) fn settings(budget: u32, max: u32, hidden: bool, duration_s: Option<u32>) -> VoteSettings {
    VoteSettings {
        title: "Our common goal".into(),
        candidates: CANDIDATES.iter().map(|c| c.to_string()).collect(),
        budget,
        max_per_candidate: max,
        anonymous: false,
        hidden,
        duration_s,
        roster: false,
    }
}

pub(crate) async fn send(peer: &mut Peer, message: ClientMessage) {
    peer.send_raw(frame::client_app(&message)).await;
}

/// Joins as `name` and says hello; returns the peer once it has the welcome and, for
/// each of the board's `votes`, the vote and its own ballot.
async fn voter_with(addr: std::net::SocketAddr, board: &str, name: &str, votes: usize) -> Peer {
    let mut peer = Peer::join_as(addr, board, name).await;
    peer.hello().await;
    for _ in 0..votes {
        assert!(matches!(peer.next_app().await, ServerMessage::Vote { .. }));
        assert!(matches!(peer.next_app().await, ServerMessage::Ballot { .. }));
    }
    peer
}

/// A voter joining a board with one vote.
pub(crate) async fn voter(addr: std::net::SocketAddr, board: &str, name: &str) -> Peer {
    voter_with(addr, board, name, 1).await
}

/// The next ballot, skipping vote views.
pub(crate) async fn next_ballot(peer: &mut Peer) -> (Vec<(String, u32)>, u32) {
    loop {
        match peer.next_app().await {
            ServerMessage::Ballot { mine, remaining, .. } => return (mine, remaining),
            ServerMessage::Vote { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The facilitator's board with the candidate notes, and a vote opened on them.
pub(crate) async fn board_with_vote(server: &crate::TestServer, settings: VoteSettings) -> (Links, Peer, String) {
    let links = server.create_board_links("Vote").await;
    let path = links.path(&links.facilitator);
    let mut facilitator = voter_with(server.addr, &path, "Fay", 0).await;
    for id in CANDIDATES {
        facilitator.add_note(id, "candidate goal").await;
    }
    facilitator.pump_until(Peer::own_edits_relayed).await;
    send(&mut facilitator, ClientMessage::OpenVote { settings }).await;
    let vote = next_vote(&mut facilitator).await;
    assert!(vote.open);
    (links, facilitator, vote.id)
}

/// The next vote view, skipping other application messages.
pub(crate) async fn next_vote(peer: &mut Peer) -> VoteView {
    loop {
        if let ServerMessage::Vote { vote } = peer.next_app().await {
            return vote;
        }
    }
}

pub(crate) async fn next_error(peer: &mut Peer) -> ErrorCode {
    loop {
        match peer.next_app().await {
            ServerMessage::Error { code, .. } => return code,
            ServerMessage::Vote { .. } | ServerMessage::Ballot { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn fifty_concurrent_voters_never_exceed_their_budget_and_the_tally_adds_up() {
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let server = spawn_app().await;
    let (links, mut facilitator, vote) = board_with_vote(&server, settings(3, 2, false, None)).await;
    let path = links.path(&links.participant);
    let names: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
    let voters = join_all(names.iter().map(|name| voter(server.addr, &path, name))).await;

    let finals = join_all(voters.into_iter().enumerate().map(|(i, mut peer)| {
        let vote = vote.clone();
        async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ i as u64);
            let mut last = None;
            for _ in 0..6 {
                let candidate = CANDIDATES[rng.random_range(0..3)].to_string();
                let message = if rng.random_bool(0.8) {
                    ClientMessage::CastVote { vote: vote.clone(), candidate }
                } else {
                    ClientMessage::RetractVote { vote: vote.clone(), candidate }
                };
                send(&mut peer, message).await;
                loop {
                    match peer.next_app().await {
                        ServerMessage::Ballot { mine, remaining, .. } => {
                            last = Some((mine, remaining));
                            break;
                        }
                        ServerMessage::Error { code, .. } => {
                            assert!(
                                matches!(
                                    code,
                                    ErrorCode::OverBudget | ErrorCode::OverCandidateLimit | ErrorCode::NothingToRetract
                                ),
                                "{code:?}"
                            );
                            break;
                        }
                        _ => {}
                    }
                }
            }
            last
        }
    }))
    .await;

    let mut expected: HashMap<String, u32> = HashMap::new();
    for (mine, remaining) in finals.into_iter().flatten() {
        let used: u32 = mine.iter().map(|(_, n)| n).sum();
        assert!(used <= 3 && used + remaining == 3, "budget broken: {mine:?} {remaining}");
        for (candidate, n) in mine {
            assert!(n <= 2, "per-candidate limit broken");
            *expected.entry(candidate).or_default() += n;
        }
    }
    send(&mut facilitator, ClientMessage::CloseVote { vote: vote.clone() }).await;
    let closed = loop {
        let view = next_vote(&mut facilitator).await;
        if !view.open {
            break view;
        }
    };
    let tally: HashMap<String, u32> = closed.tally.unwrap().into_iter().map(|t| (t.candidate, t.votes)).collect();
    for candidate in CANDIDATES {
        assert_eq!(tally[candidate], expected.get(candidate).copied().unwrap_or(0), "{candidate} (seed {seed})");
    }
    server.stop().await;
}

#[tokio::test]
async fn every_refusal_says_why_and_changes_nothing() {
    let server = spawn_app().await;
    let (links, mut facilitator, vote) = board_with_vote(&server, settings(2, 1, false, None)).await;
    let mut ana = voter(server.addr, &links.path(&links.participant), "Ana").await;
    let mut viewer = voter(server.addr, &links.path(&links.viewer), "Vic").await;

    send(&mut ana, ClientMessage::OpenVote { settings: settings(1, 1, false, None) }).await;
    assert_eq!(next_error(&mut ana).await, ErrorCode::Forbidden);
    send(&mut ana, ClientMessage::CloseVote { vote: vote.clone() }).await;
    assert_eq!(next_error(&mut ana).await, ErrorCode::Forbidden);
    send(&mut viewer, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    assert_eq!(next_error(&mut viewer).await, ErrorCode::Forbidden);
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "not-a-candidate".into() }).await;
    assert_eq!(next_error(&mut ana).await, ErrorCode::NotACandidate);
    send(&mut ana, ClientMessage::CastVote { vote: "nope".into(), candidate: "goal-a".into() }).await;
    assert_eq!(next_error(&mut ana).await, ErrorCode::NoSuchVote);

    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    assert_eq!(next_error(&mut ana).await, ErrorCode::OverCandidateLimit);
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-b".into() }).await;
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-c".into() }).await;
    assert_eq!(next_error(&mut ana).await, ErrorCode::OverBudget);

    // A second connection of the same person (her personal token) shares the budget;
    // the shared link under her name is someone else.
    let mut ana_phone = voter(server.addr, &links.path(ana.token.as_ref().unwrap()), "Ana").await;
    send(&mut ana_phone, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-c".into() }).await;
    assert_eq!(next_error(&mut ana_phone).await, ErrorCode::OverBudget);

    send(&mut facilitator, ClientMessage::CloseVote { vote: vote.clone() }).await;
    send(&mut ana, ClientMessage::RetractVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    assert_eq!(next_error(&mut ana).await, ErrorCode::VoteClosed);

    send(
        &mut facilitator,
        ClientMessage::OpenVote { settings: VoteSettings { budget: 0, ..settings(1, 1, false, None) } },
    )
    .await;
    assert_eq!(next_error(&mut facilitator).await, ErrorCode::InvalidVote);
    let listed: Vec<VoteView> =
        crate::get_json(server.http(&format!("/api/boards/{}/votes", links.id)), &links.participant).await;
    assert_eq!(listed.len(), 1);
    let votes: u32 = listed[0].tally.as_ref().unwrap().iter().map(|t| t.votes).sum();
    assert_eq!(votes, 2, "only Ana's two accepted votes count");
    server.stop().await;
}

#[tokio::test]
async fn hidden_results_are_revealed_by_the_facilitator_and_the_winner_is_marked() {
    let server = spawn_app().await;
    let (links, mut facilitator, vote) = board_with_vote(&server, settings(3, 3, true, None)).await;
    let mut ana = voter(server.addr, &links.path(&links.participant), "Ana").await;
    for _ in 0..2 {
        send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-b".into() }).await;
    }
    let seen_by_ana = next_vote(&mut ana).await;
    assert!(seen_by_ana.tally.is_none(), "a hidden tally reached a participant");
    let seen_by_facilitator = next_vote(&mut facilitator).await;
    assert!(seen_by_facilitator.tally.is_some());

    send(&mut facilitator, ClientMessage::CloseVote { vote: vote.clone() }).await;
    let closed = loop {
        let v = next_vote(&mut ana).await;
        if !v.open {
            break v;
        }
    };
    assert!(closed.tally.is_none());
    assert!(ana.snapshot().meta.common_goal.is_none(), "the winner was marked before the reveal");

    send(&mut facilitator, ClientMessage::RevealVote { vote: vote.clone() }).await;
    let revealed = loop {
        let v = next_vote(&mut ana).await;
        if v.tally.is_some() {
            break v;
        }
    };
    let top = &revealed.tally.unwrap()[0];
    assert_eq!((top.candidate.as_str(), top.votes), ("goal-b", 2));
    assert_eq!(top.voters.as_deref(), Some(&[("Ana".to_string(), 2)][..]));
    ana.pump_until(|p| p.snapshot().meta.common_goal.as_deref() == Some("goal-b")).await;
    server.stop().await;
}

#[tokio::test]
async fn a_timer_closes_the_vote_by_itself() {
    let server = spawn_app().await;
    let (links, _facilitator, vote) = board_with_vote(&server, settings(1, 1, false, Some(1))).await;
    let mut ana = voter(server.addr, &links.path(&links.participant), "Ana").await;
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-c".into() }).await;
    let closed = loop {
        let v = next_vote(&mut ana).await;
        if !v.open {
            break v;
        }
    };
    assert!(closed.closes_at_ms.unwrap() >= closed.opened_at_ms + 1000.0);
    ana.pump_until(|p| p.snapshot().meta.common_goal.as_deref() == Some("goal-c")).await;
    server.stop().await;
}

#[tokio::test]
async fn a_restart_mid_vote_keeps_every_vote_and_the_remaining_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_app_with(config_in(dir.path())).await;
    let (links, _facilitator, vote) = board_with_vote(&server, settings(3, 2, false, Some(600))).await;
    let mut ana = voter(server.addr, &links.path(&links.participant), "Ana").await;
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-a".into() }).await;
    // The server sends the vote's new view, then the voter's ballot.
    let before = next_vote(&mut ana).await;
    assert_eq!(before.tally.as_ref().unwrap()[0].votes, 1);
    assert_eq!(next_ballot(&mut ana).await, (vec![("goal-a".to_string(), 1)], 2));
    server.stop().await;

    let token = ana.token.clone().expect("a personal token");
    let server = spawn_app_with(config_in(dir.path())).await;
    let mut ana = Peer::join_as(server.addr, &links.path(&token), "Ana").await;
    ana.hello().await;
    let after = next_vote(&mut ana).await;
    assert!(after.open);
    assert_eq!(after.closes_at_ms, before.closes_at_ms, "the deadline moved");
    assert_eq!(after.tally, before.tally);
    let ServerMessage::Ballot { mine, remaining, .. } = ana.next_app().await else { panic!("no ballot") };
    assert_eq!((mine, remaining), (vec![("goal-a".to_string(), 1)], 2));
    send(&mut ana, ClientMessage::CastVote { vote, candidate: "goal-a".into() }).await;
    assert_eq!(next_ballot(&mut ana).await, (vec![("goal-a".to_string(), 2)], 1));
    server.stop().await;
}

#[tokio::test]
async fn only_a_vote_sets_the_common_goal_a_client_that_writes_it_is_undone() {
    let server = spawn_app().await;
    let (links, mut facilitator, vote) = board_with_vote(&server, settings(3, 3, true, None)).await;
    let participant = links.path(&links.participant);
    let mut ana = voter(server.addr, &participant, "Ana").await;

    // Before any result: a participant's goal is taken back, for her and for everyone.
    ana.edit(|board, txn| board.set_common_goal(txn, "goal-c")).await;
    ana.pump_until(|p| p.snapshot().meta.common_goal.is_none()).await;
    ana.add_note("after", "written after the forged goal").await;
    facilitator.pump_until(|p| p.snapshot().notes.iter().any(|n| n.id == "after")).await;
    assert_eq!(facilitator.snapshot().meta.common_goal, None);

    // After the reveal: the vote's result stands against a participant and the facilitator.
    send(&mut ana, ClientMessage::CastVote { vote: vote.clone(), candidate: "goal-b".into() }).await;
    next_ballot(&mut ana).await;
    send(&mut facilitator, ClientMessage::CloseVote { vote: vote.clone() }).await;
    send(&mut facilitator, ClientMessage::RevealVote { vote }).await;
    ana.pump_until(|p| p.snapshot().meta.common_goal.as_deref() == Some("goal-b")).await;
    for peer in [&mut ana, &mut facilitator] {
        peer.edit(|board, txn| board.set_common_goal(txn, "goal-a")).await;
        peer.pump_until(|p| p.snapshot().meta.common_goal.as_deref() == Some("goal-b")).await;
    }

    let newcomer = crate::client::Peer::join(server.addr, &participant).await;
    assert_eq!(newcomer.snapshot().meta.common_goal.as_deref(), Some("goal-b"));
    server.stop().await;
}
