#!/usr/bin/env python3
"""Writes the seed corpora of protocol_frame and board_messages from recorded frames.

Usage: fuzz/make_seeds.py DIR   (DIR: what `commonboard-load --record-frames DIR` wrote)

protocol_frame gets every frame the clients sent, the first frames they received,
and one frame per kind of application message. board_messages gets recorded sessions
(see `session::recorded` in fuzz/src/session.rs): the clients' frames replayed from
the connection slots that sent them (peer P -> slot P % 4; slot 0 is the facilitator),
with the application messages of a workshop (hello, vote, steps, private notes,
turns) from the facilitator.
"""
import json
import pathlib
import struct
import sys

MAGIC = b"CBREC1"
MSG_APP = 100


def varuint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def app_frame(message):
    body = json.dumps(message, separators=(",", ":")).encode()
    return varuint(MSG_APP) + varuint(len(body)) + body


APP = [
    {"type": "hello", "version": 1},
    {"type": "lock", "locked": True},
    {"type": "lock", "locked": False},
    {"type": "open_vote", "settings": {"title": "Goal", "candidates": ["n1", "n2"], "budget": 3,
                                       "max_per_candidate": 2, "anonymous": False, "hidden": True}},
    {"type": "set_step", "step": 1},
    {"type": "set_timer", "seconds": 300},
    {"type": "set_private", "private": True},
    {"type": "put_private_note", "note": {"id": "p1", "text": "secret", "x": 0, "y": 0, "w": 160, "h": 120,
                                          "color": "yellow", "author": "A", "frame": None, "createdAt": 0}},
    {"type": "set_private", "private": False},
    {"type": "start_turns", "people": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]},
    {"type": "turn", "action": "next"},
    {"type": "show_viewport", "viewport": {"x": 10, "y": 20, "zoom": 1.5}, "bring": True},
]


def recorded(frames):
    out = bytearray(MAGIC)
    for slot, frame in frames:
        out += bytes([slot]) + struct.pack("<I", len(frame)) + frame
    return bytes(out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = pathlib.Path(sys.argv[1])
    root = pathlib.Path(__file__).resolve().parent / "corpus"
    files = sorted(src.glob("*.bin"))
    sent = [(int(f.name.split("-")[1][4:]), f.read_bytes()) for f in files if f.name.endswith("-sent.bin")]
    received = [f.read_bytes() for f in files if f.name.endswith("-recv.bin")]

    frames_dir = root / "protocol_frame"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for i, (_, frame) in enumerate(sent):
        (frames_dir / f"sent-{i:03}").write_bytes(frame)
    for i, frame in enumerate(received[:40]):
        (frames_dir / f"received-{i:03}").write_bytes(frame)
    app = [app_frame(m) for m in APP]
    for i, frame in enumerate(app):
        (frames_dir / f"app-{i:03}").write_bytes(frame)

    board_dir = root / "board_messages"
    board_dir.mkdir(parents=True, exist_ok=True)
    session = [(peer % 4, frame) for peer, frame in sent]
    workshop = [(0, frame) for frame in app]
    seeds = {
        "session-all": session,
        "session-first-half": session[: len(session) // 2],
        "session-workshop": session[:8] + workshop + session[8:24],
        "session-received-as-sent": [(i % 4, frame) for i, frame in enumerate(received[:24])],
    }
    for peer in range(4):
        seeds[f"session-slot{peer}"] = [(slot, frame) for slot, frame in session if slot == peer]
    for name, frames in seeds.items():
        (board_dir / name).write_bytes(recorded(frames))
    print(f"protocol_frame: {len(sent) + min(len(received), 40) + len(app)} seeds; board_messages: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
