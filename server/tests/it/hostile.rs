//! Attacks on the wire (issue 16), against the real `commonboard` binary started as a
//! child process with its default limits and no memory limit of its own. For each class
//! of attack: the offender is closed with its code, the server stays up, its resident
//! memory stays under its baseline plus 64 MiB (the peak, `VmHWM`), and witnesses on
//! the attacked board and on another board keep syncing every accepted change.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use commonboard_protocol::close;
use commonboard_protocol::frame::{self, Decoded, Message, SyncMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::encoding::write::Write;
use yrs::Transact;

use crate::client::{Closed, Peer};
use crate::{create_board_links, Links, PATIENCE};

/// What an attack may add to the server's resident memory, at its peak.
const MEMORY_ALLOWANCE_KIB: u64 = 64 << 10;

/// The real binary, listening on an ephemeral loopback port, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// The binary with `flags` besides its address and data directory.
    pub(crate) async fn start_with(flags: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), flags).await
    }

    /// The binary on the data directory `dir` (one a stopped server used, say).
    pub(crate) async fn start_in(dir: tempfile::TempDir, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_commonboard"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(flags)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    return addr.trim().parse::<SocketAddr>().unwrap();
                }
            }
            panic!("the server exited before listening");
        })
        .await
        .expect("the server listens in time");
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server { child, addr, dir }
    }

    /// Stops the process (SIGKILL: what it logged is durable) and returns its data.
    pub(crate) async fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().await.unwrap();
        self.dir
    }

    /// A line of `/proc/PID/status`, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let pid = self.child.id().expect("the server is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is alive");
        let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    pub(crate) fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the process ever had.
    pub(crate) fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    pub(crate) async fn assert_alive(&mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "the server died");
        let health = reqwest::get(format!("http://{}/healthz", self.addr)).await.expect("the server answers");
        assert!(health.status().is_success());
    }
}

/// Two boards, each with two witnesses that keep checking that changes sync.
struct Witnesses {
    attacked: Links,
    boards: Vec<(Peer, Peer)>,
    notes: u32,
}

impl Witnesses {
    async fn join(addr: SocketAddr) -> Witnesses {
        let attacked = create_board_links(addr, "Attacked").await;
        let other = create_board_links(addr, "Bystander").await;
        let mut boards = Vec::new();
        for links in [&attacked, &other] {
            let path = links.path(&links.participant);
            boards.push((Peer::join_as(addr, &path, "w1").await, Peer::join_as(addr, &path, "w2").await));
        }
        let mut witnesses = Witnesses { attacked, boards, notes: 0 };
        witnesses.still_sync().await;
        witnesses
    }

    /// A note added on each board reaches the other witness there.
    async fn still_sync(&mut self) {
        self.notes += 1;
        let id = format!("witness-{}", self.notes);
        for (writer, reader) in &mut self.boards {
            writer.add_note(&id, "still syncing").await;
            for peer in [&mut *reader, &mut *writer] {
                peer.pump_until(|p| p.board.note(&p.doc.transact(), &id).is_some()).await;
            }
        }
    }
}

/// A raw connection to the attacked board that sends what it is told to.
async fn attacker(addr: SocketAddr, links: &Links, token: &str) -> Peer {
    Peer::connect_as(addr, &links.path(token), "mallory").await
}

/// The server, its witnesses, and its resident memory once they are in place.
async fn setup() -> (Server, Witnesses, u64) {
    let mut server = Server::start().await;
    let witnesses = Witnesses::join(server.addr).await;
    server.assert_alive().await;
    let baseline = server.rss_kib();
    (server, witnesses, baseline)
}

/// After an attack: the server is up, its peak memory within the allowance, and the
/// witnesses still sync. Returns the peak over the baseline, in KiB.
async fn aftermath(server: &mut Server, witnesses: &mut Witnesses, baseline: u64) -> u64 {
    server.assert_alive().await;
    witnesses.still_sync().await;
    let peak = server.peak_kib();
    let over = peak.saturating_sub(baseline);
    assert!(over < MEMORY_ALLOWANCE_KIB, "peak {peak} KiB, baseline {baseline} KiB");
    println!("peak resident memory {over} KiB over a baseline of {baseline} KiB");
    over
}

fn sync_frame(sub_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, sub_type];
    frame.write_buf(payload);
    frame
}

/// Varint bytes of `value`.
fn varint(value: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.write_var(value);
    bytes
}

/// Deterministic filler bytes (xorshift), standing in for the fuzzer's random tail.
fn filler(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Sends `frame` on a fresh connection and expects it closed as invalid data.
async fn refused(addr: SocketAddr, links: &Links, frame: Vec<u8>) -> Closed {
    let mut bad = attacker(addr, links, &links.participant).await;
    bad.send_raw(frame).await;
    let closed = bad.closed().await;
    assert_eq!(closed.code, close::INVALID_DATA.0, "{closed:?}");
    assert!(closed.reason.contains("refused"), "{closed:?}");
    closed
}

#[tokio::test]
async fn huge_declared_counts_are_refused_without_reserving_memory() {
    let (mut server, mut witnesses, baseline) = setup().await;
    let links = witnesses.attacked.clone();
    // The frame: a sync step 1 whose state vector declares ~150 million entries,
    // then random bytes, 238 bytes in all.
    let mut step1 = vec![0x00, 0x00, 0x29, 0xe8, 0xcb, 0xaf, 0x48];
    step1.extend(filler(231, 1));
    // An update declaring 4 billion structs for one client; one declaring 4 billion
    // clients in its delete set; an awareness update declaring 4 billion entries.
    let huge = varint(u64::from(u32::MAX));
    let structs = [&[1u8][..], &huge, &[1, 0, 10, 1], &filler(64, 2)].concat();
    let delete_set = [&[0u8][..], &huge, &filler(64, 3)].concat();
    let mut awareness = vec![1];
    awareness.write_buf([&huge[..], &filler(64, 4)].concat());
    let frames = [
        step1,
        sync_frame(2, &structs),
        sync_frame(1, &delete_set),
        awareness,
        sync_frame(0, &[&huge[..], &[1]].concat()),
    ];
    let started = Instant::now();
    for frame in &frames {
        refused(server.addr, &links, frame.clone()).await;
    }
    // Twenty at once, as in the issue.
    let waves = (0..20).map(|i| refused(server.addr, &links, frames[i % frames.len()].clone()));
    futures_util::future::join_all(waves).await;
    println!("25 frames refused in {:?}", started.elapsed());
    aftermath(&mut server, &mut witnesses, baseline).await;
}

#[tokio::test]
async fn deep_nesting_is_refused_without_overflowing_a_stack() {
    let (mut server, mut witnesses, baseline) = setup().await;
    let links = witnesses.attacked.clone();
    // An update with an `Any` array nested 100,000 deep under root "notes".
    let mut update = vec![1, 1, 1, 0, 8, 1, 5];
    update.extend(b"notes");
    update.push(1);
    update.extend(std::iter::repeat_n([117u8, 1], 100_000).flatten());
    update.extend([126, 0]);
    let closed = refused(server.addr, &links, sync_frame(2, &update)).await;
    assert!(closed.reason.contains("nested"), "{closed:?}");
    // JSON nested 100,000 deep in an application message and in a presence state.
    let deep_json = "[".repeat(100_000);
    let mut app = vec![frame::MSG_APP];
    app.write_buf(deep_json.as_bytes());
    refused(server.addr, &links, app).await;
    let mut state = varint(1);
    state.extend(varint(12345));
    state.extend(varint(1));
    state.write_string(&deep_json);
    let mut awareness = vec![1];
    awareness.write_buf(&state);
    refused(server.addr, &links, awareness).await;
    aftermath(&mut server, &mut witnesses, baseline).await;
}

#[tokio::test]
async fn a_key_longer_than_the_limit_is_refused() {
    let (mut server, mut witnesses, baseline) = setup().await;
    let links = witnesses.attacked.clone();
    // An item whose root type is named by a 1 MiB key.
    let mut update = vec![1, 1, 1, 0, 8, 1];
    update.write_string(&"k".repeat(1 << 20));
    update.extend([1, 126, 0]);
    let closed = refused(server.addr, &links, sync_frame(2, &update)).await;
    assert!(closed.reason.contains("key"), "{closed:?}");
    aftermath(&mut server, &mut witnesses, baseline).await;
}

/// Legacy JSON content: yrs 0.28 cannot read back its own encoding of it, so a board
/// holding one would send every joining client a state it cannot read. Refused before
/// the board sees it; newcomers keep syncing.
#[tokio::test]
async fn legacy_json_content_is_refused_so_the_board_stays_readable() {
    let (mut server, mut witnesses, baseline) = setup().await;
    let links = witnesses.attacked.clone();
    // Client 5, one root item in "a" with legacy JSON content (see the protocol crate's
    // `validate::legacy_json_content_is_refused_because_yrs_cannot_read_back_what_it_writes`).
    let update = [1, 1, 5, 0, 2, 1, 1, b'a', 1, 1, b'1', 1, b'2', 0];
    for sub_type in [1, 2] {
        let closed = refused(server.addr, &links, sync_frame(sub_type, &update)).await;
        assert!(closed.reason.contains("legacy JSON"), "{closed:?}");
    }
    aftermath(&mut server, &mut witnesses, baseline).await;
}

#[tokio::test]
async fn many_messages_in_one_frame_are_capped_and_repeated_queries_answered_once() {
    let (mut server, mut witnesses, _) = setup().await;
    let links = witnesses.attacked.clone();
    // More messages than the cap in one frame: refused outright.
    let closed = refused(server.addr, &links, vec![3; 1000]).await;
    assert!(closed.reason.contains("messages"), "{closed:?}");
    // A board of about 1.4 MB (one legitimate paste), then a viewer asking for all of it
    // 32 times per frame (the cap), in 12 frames, without reading.
    let paste = "0123456789abcdef".repeat(1_400_000 / 16);
    witnesses.boards[0].0.add_note("big", &paste).await;
    witnesses.boards[0].1.pump_until(|p| p.note_count() == 2).await;
    server.assert_alive().await;
    let baseline = server.rss_kib();
    let step1 = frame::encode_frame([&Message::Sync(SyncMessage::SyncStep1(Default::default()))]);
    let query = frame::encode_frame([&Message::AwarenessQuery]);
    let per_frame = |message: &[u8]| message.repeat(32);
    let url = format!("ws://{}/ws/{}&name=mallory", server.addr, links.path(&links.viewer));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    const FRAMES: usize = 12;
    for i in 0..FRAMES {
        let frame = per_frame(if i % 2 == 0 { &step1 } else { &query });
        socket.send(WsMessage::Binary(frame.into())).await.unwrap();
    }
    // Then read everything it was sent.
    let (mut answers, mut bytes, mut close) = (0usize, 0usize, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        match message {
            WsMessage::Binary(frame) => {
                bytes += frame.len();
                let messages = frame::decode_server_frame(&frame).unwrap();
                answers += messages
                    .iter()
                    .filter(|m| matches!(m, Decoded::Yjs(Message::Sync(SyncMessage::SyncStep2(_)))))
                    .count();
            }
            WsMessage::Close(frame) => close = frame.map(|f| u16::from(f.code)),
            _ => {}
        }
    }
    // One step 2 at most per frame (once per tick), not one per message: 384 were asked.
    assert!(answers <= FRAMES / 2, "{answers} sync step 2 answers");
    assert!(close.is_none() || close == Some(close::TOO_SLOW.0), "{close:?}");
    println!("{answers} answers ({bytes} bytes) to {} step 1 messages; closed: {close:?}", FRAMES / 2 * 32);
    aftermath(&mut server, &mut witnesses, baseline).await;
}

/// A client asking for the whole board over and over, one question a frame (each its
/// own tick), is sent its burst at once, then paced: the board encodes at most one
/// answer per refill of its allowance, and its newest question is still answered.
#[tokio::test]
async fn a_client_asking_for_the_board_over_and_over_is_paced_and_still_answered() {
    let (mut server, mut witnesses, _) = setup().await;
    let links = witnesses.attacked.clone();
    let paste = "0123456789abcdef".repeat(1_400_000 / 16);
    witnesses.boards[0].0.add_note("big", &paste).await;
    witnesses.boards[0].1.pump_until(|p| p.note_count() == 2).await;
    let baseline = server.rss_kib();
    let step1 = frame::encode_frame([&Message::Sync(SyncMessage::SyncStep1(Default::default()))]);
    let url = format!("ws://{}/ws/{}&name=mallory", server.addr, links.path(&links.viewer));
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut sink, mut stream) = socket.split();
    const ASKED: usize = 40;
    let asking = tokio::spawn(async move {
        for _ in 0..ASKED {
            sink.send(WsMessage::Binary(step1.clone().into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (sink, Instant::now())
    });
    // Read everything for four seconds, noting when each answer came.
    let mut answers = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, stream.next()).await {
        if let WsMessage::Binary(frame) = message {
            let messages = frame::decode_server_frame(&frame).unwrap();
            if messages.iter().any(|m| matches!(m, Decoded::Yjs(Message::Sync(SyncMessage::SyncStep2(_))))) {
                answers.push(Instant::now());
            }
        }
    }
    let (_sink, last_asked) = asking.await.unwrap();
    println!("{} answers to {ASKED} questions for a 1.4 MB board", answers.len());
    assert!(answers.len() >= 3, "the burst is answered at once: {} answers", answers.len());
    assert!(answers.len() <= 10, "{} answers to {ASKED} questions in 4 s", answers.len());
    let later = answers.last().unwrap().saturating_duration_since(last_asked);
    assert!(later >= Duration::from_millis(300), "a held question is answered later ({later:?} after the last)");
    aftermath(&mut server, &mut witnesses, baseline).await;
}

#[tokio::test]
async fn a_one_megabyte_paste_syncs_with_the_default_limits() {
    let (mut server, mut witnesses, baseline) = setup().await;
    let started = Instant::now();
    let paste = "paste ".repeat(1_000_000 / 6 + 1);
    let (writer, reader) = &mut witnesses.boards[0];
    writer.add_note("paste", &paste).await;
    reader.pump_until(|p| p.board.note(&p.doc.transact(), "paste").is_some_and(|n| n.text.len() == paste.len())).await;
    assert!(writer.denied.is_none(), "{:?}", writer.denied);
    println!("a {} byte paste synced in {:?}", paste.len(), started.elapsed());
    // A client joining later gets it too.
    let links = witnesses.attacked.clone();
    let mut late = Peer::join(server.addr, &links.path(&links.participant)).await;
    late.pump_until(|p| p.note_count() == 2).await;
    aftermath(&mut server, &mut witnesses, baseline).await;
}

/// The depth of a chain of arrays, each the first element of the one before.
fn chain_depth(doc: &yrs::Doc) -> u32 {
    use yrs::{Array, Out, ReadTxn};
    let txn = doc.transact();
    let Some(mut array) = txn.get_array("chain") else { return 0 };
    let mut depth = 1;
    while let Some(Out::YArray(inner)) = array.get(&txn, 0) {
        array = inner;
        depth += 1;
    }
    depth
}

/// yrs deletes a nested type by recursion: a chain of arrays built one small, valid
/// update at a time and then deleted at its top would overflow a worker's stack and
/// abort the server. The chain stops at the bound, and what was accepted is kept.
#[tokio::test]
async fn types_nested_one_level_per_update_stop_at_the_bound() {
    use commonboard_server::nesting::MAX_NESTING;
    use yrs::{Array, ArrayPrelim, ArrayRef};

    let (mut server, mut witnesses, baseline) = setup().await;
    let links = witnesses.attacked.clone();
    let path = links.path(&links.participant);
    let mut bad = Peer::join_as(server.addr, &path, "mallory").await;
    let mut innermost: ArrayRef = bad.doc.get_or_insert_array("chain");
    // The root is level 1; each update adds one level.
    for _ in 2..=MAX_NESTING + 1 {
        let mut inner = None;
        bad.edit(|_, txn| inner = Some(innermost.push_back(txn, ArrayPrelim::default()))).await;
        innermost = inner.unwrap();
    }
    let closed = bad.closed().await;
    assert_eq!(closed.code, close::INVALID_DATA.0, "{closed:?}");
    assert!(closed.reason.contains("nested 129 deep"), "{closed:?}");

    // Every level up to the bound was accepted and is kept; the refused one is nowhere.
    let mut late = Peer::join_as(server.addr, &path, "late").await;
    late.pump_until(|p| chain_depth(&p.doc) == MAX_NESTING).await;
    late.drain_for(Duration::from_millis(300)).await;
    assert_eq!(chain_depth(&late.doc), MAX_NESTING);
    // Deleting the whole chain at its top is safe.
    let chain = late.doc.get_or_insert_array("chain");
    late.edit(|_, txn| chain.remove(txn, 0)).await;
    late.pump_until(|p| chain_depth(&p.doc) == 1).await;
    aftermath(&mut server, &mut witnesses, baseline).await;
}

/// `--allowed-hosts` as the binary parses it (the identity tests set it in code): a
/// request naming a host outside the list is refused with 421, in `--open` mode too, so
/// a page on another site that rebinds its DNS name to this server gets nothing.
#[tokio::test]
async fn the_binary_answers_only_the_hosts_it_is_told() {
    let server = Server::start_with(&["--open", "--allowed-hosts", "boards.lan,wall.lan:8443"]).await;
    let port = server.addr.port();
    let http = reqwest::Client::new();
    let url = format!("http://{}/healthz", server.addr);
    for (host, expected) in [
        (format!("attacker.example:{port}"), 421),
        ("wall.lan:9000".to_string(), 421),
        ("boards.lan".to_string(), 200),
        ("wall.lan:8443".to_string(), 200),
        (format!("127.0.0.1:{port}"), 200),
    ] {
        let response = http.get(&url).header("host", &host).send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{host}");
    }
}
