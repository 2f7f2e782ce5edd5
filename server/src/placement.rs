//! Where the server puts a note it places itself (a revealed private note, the chosen
//! common goal): the first free place inside the note's area, row by row, never on top
//! of another note. A full area grows downward by a row, and whatever lies below it in
//! its column (the next area, its notes) moves down by as much, so a note never covers
//! another area or its title. The web client follows the same rule (`board.ts`).

use std::collections::HashSet;

use commonboard_protocol::schema::{BoardSnapshot, Frame, Note};

/// Space kept free around a note, in canvas pixels.
const GAP: f64 = 12.0;
/// Margin inside an area's sides and bottom.
const PAD: f64 = 16.0;
/// Room left at the top of an area for its title.
const TITLE: f64 = 44.0;
/// Rows an area may grow by for one note before giving up on finding a free place.
const MAX_ROWS: u32 = 200;

/// A rectangle on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn of_note(note: &Note) -> Rect {
        Rect { x: note.x, y: note.y, w: note.w, h: note.h }
    }

    pub fn of_frame(frame: &Frame) -> Rect {
        Rect { x: frame.x, y: frame.y, w: frame.w, h: frame.h }
    }

    fn bottom(&self) -> f64 {
        self.y + self.h
    }

    /// Whether the two overlap once each keeps half the gap around it.
    fn crowds(&self, other: &Rect) -> bool {
        let half = GAP / 2.0;
        self.x < other.x + other.w + half
            && self.x + self.w + half > other.x
            && self.y < other.y + other.h + half
            && self.y + self.h + half > other.y
    }

    /// Whether the two share some of their horizontal extent.
    fn shares_column(&self, other: &Rect) -> bool {
        self.x < other.x + other.w && self.x + self.w > other.x
    }

    fn contains(&self, other: &Rect) -> bool {
        self.x <= other.x
            && self.y <= other.y
            && self.x + self.w >= other.x + other.w
            && self.bottom() >= other.bottom()
    }
}

/// The top-left corner of the first place of `w` by `h` inside `area` (below its title)
/// that crowds none of `taken`, scanning rows from the top left in half-note steps.
pub fn free_spot(area: Rect, taken: &[Rect], w: f64, h: f64) -> Option<(f64, f64)> {
    scan(area, taken, w, h, PAD, TITLE)
}

fn scan(area: Rect, taken: &[Rect], w: f64, h: f64, pad: f64, top: f64) -> Option<(f64, f64)> {
    let x0 = area.x + pad;
    let y0 = area.y + top;
    let max_x = (area.x + area.w - pad - w).max(x0);
    let max_y = (area.y + area.h - pad - h).max(y0);
    let (step_x, step_y) = ((w / 2.0 + GAP / 2.0).round().max(1.0), (h / 2.0 + GAP / 2.0).round().max(1.0));
    let free = |x: f64, y: f64| {
        let spot = Rect { x, y, w, h };
        !taken.iter().any(|r| spot.crowds(r))
    };
    let mut y = y0;
    while y <= max_y {
        let mut x = x0;
        while x <= max_x {
            if free(x, y) {
                return Some((x, y));
            }
            x += step_x;
        }
        y += step_y;
    }
    None
}

/// What lies below `area` in its column and moves down when it grows: frames (by index)
/// and notes (by index) whose top is at or below the area's bottom and which share a
/// column with the area, with a frame already moving, or with a frame that holds the
/// area (and so grows with it) but not them.
fn below(board: &BoardSnapshot, area: usize) -> (Vec<usize>, Vec<usize>) {
    let rect = Rect::of_frame(&board.frames[area]);
    let bottom = rect.bottom() - 0.5;
    let holding = holders(board, area);
    let holders: Vec<Rect> = holding.iter().map(|&i| Rect::of_frame(&board.frames[i])).collect();
    let mut frames: Vec<usize> = Vec::new();
    let pushed = |item: &Rect, frames: &[usize]| {
        item.y >= bottom
            && (item.shares_column(&rect)
                || frames.iter().any(|&j| Rect::of_frame(&board.frames[j]).shares_column(item))
                || holders.iter().any(|h| !h.contains(item) && h.shares_column(item)))
    };
    for _ in 0..board.frames.len() {
        let before = frames.len();
        for (i, f) in board.frames.iter().enumerate() {
            let r = Rect::of_frame(f);
            if i != area && !frames.contains(&i) && !holding.contains(&i) && pushed(&r, &frames) {
                frames.push(i);
            }
        }
        if frames.len() == before {
            break;
        }
    }
    let notes =
        board.notes.iter().enumerate().filter(|(_, n)| pushed(&Rect::of_note(n), &frames)).map(|(i, _)| i).collect();
    (frames, notes)
}

/// The frames (by index) that hold the frame `area`, such as the step around an area.
fn holders(board: &BoardSnapshot, area: usize) -> Vec<usize> {
    let rect = Rect::of_frame(&board.frames[area]);
    (0..board.frames.len()).filter(|&i| i != area && Rect::of_frame(&board.frames[i]).contains(&rect)).collect()
}

/// A place for a note of `w` by `h` in the frame `area` (an index into `board.frames`):
/// free space inside it, else inside it once it has grown by as many rows as needed,
/// with what lies below moved down and the frames holding it grown by as much (all
/// written to `board`).
fn place_in_area(board: &mut BoardSnapshot, area: usize, w: f64, h: f64) -> (f64, f64) {
    let rect = Rect::of_frame(&board.frames[area]);
    let taken: Vec<Rect> = board.notes.iter().map(Rect::of_note).collect();
    if let Some(spot) = free_spot(rect, &taken, w, h) {
        return spot;
    }
    let (frames, notes) = below(board, area);
    let holding = holders(board, area);
    let staying: Vec<Rect> =
        board.notes.iter().enumerate().filter(|(i, _)| !notes.contains(i)).map(|(_, n)| Rect::of_note(n)).collect();
    let row = h + GAP;
    for rows in 1..=MAX_ROWS {
        let dy = f64::from(rows) * row;
        let Some(spot) = free_spot(Rect { h: rect.h + dy, ..rect }, &staying, w, h) else {
            continue;
        };
        for (i, f) in board.frames.iter_mut().enumerate() {
            if i == area || holding.contains(&i) {
                f.h += dy;
            } else if frames.contains(&i) {
                f.y += dy;
            }
        }
        for &i in &notes {
            board.notes[i].y += dy;
        }
        return spot;
    }
    (rect.x + PAD, rect.bottom())
}

/// What placing notes changed besides the placed notes: the frames that grew or moved,
/// and the notes that moved down with them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Layout {
    pub frames: Vec<Frame>,
    pub notes: Vec<(String, f64, f64)>,
}

impl Layout {
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.notes.is_empty()
    }

    /// Roughly how many bytes writing it adds to the document.
    pub fn weight(&self) -> usize {
        self.frames.len() * 48 + self.notes.iter().map(|(id, _, _)| id.len() + 32).sum::<usize>()
    }
}

/// Places `notes` (in order) in free space of the board: each inside its frame when it
/// has one the board holds (growing the frame when it is full), otherwise near where it
/// was written, clear of every frame. Each placed note takes its place before the next
/// is placed. Returns the frames and other notes that had to move to make room.
pub fn place_notes(board: &BoardSnapshot, notes: &mut [Note]) -> Layout {
    let placing: HashSet<&str> = notes.iter().map(|n| n.id.as_str()).collect();
    let mut work = board.clone();
    work.notes.retain(|n| !placing.contains(n.id.as_str()));
    let placed: Vec<String> = notes.iter().map(|n| n.id.clone()).collect();
    for note in notes.iter() {
        let area = note.frame.as_deref().and_then(|id| work.frames.iter().position(|f| f.id == id));
        let (x, y) = match area {
            Some(area) => place_in_area(&mut work, area, note.w, note.h),
            None => loose_spot(&work, note),
        };
        work.notes.push(Note { x, y, ..note.clone() });
    }
    for note in notes.iter_mut() {
        if let Some(p) = work.notes.iter().rev().find(|n| n.id == note.id) {
            (note.x, note.y) = (p.x, p.y);
        }
    }
    let frames = work
        .frames
        .iter()
        .filter(|f| board.frames.iter().any(|o| o.id == f.id && Rect::of_frame(o) != Rect::of_frame(f)))
        .cloned()
        .collect();
    let moved = work
        .notes
        .iter()
        .filter(|n| !placed.contains(&n.id))
        .filter(|n| board.notes.iter().any(|o| o.id == n.id && (o.x, o.y) != (n.x, n.y)))
        .map(|n| (n.id.clone(), n.x, n.y))
        .collect();
    Layout { frames, notes: moved }
}

/// A note in no frame: the first free place near where it was written, rows going on
/// downward, clear of notes and frames.
fn loose_spot(board: &BoardSnapshot, note: &Note) -> (f64, f64) {
    let taken: Vec<Rect> =
        board.notes.iter().map(Rect::of_note).chain(board.frames.iter().map(Rect::of_frame)).collect();
    let area = Rect { x: note.x, y: note.y, w: note.w * 4.0, h: note.h * 3.0 };
    let step = (note.h / 2.0 + GAP / 2.0).round().max(1.0);
    (0..MAX_ROWS)
        .find_map(|k| scan(Rect { y: area.y + f64::from(k) * 3.0 * step, ..area }, &taken, note.w, note.h, 0.0, 0.0))
        .unwrap_or((note.x, note.y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: &str, frame: &str, x: f64, y: f64) -> Note {
        Note { id: id.into(), x, y, w: 160.0, h: 120.0, frame: Some(frame.into()), ..Note::default() }
    }

    fn frame(id: &str, x: f64, y: f64, w: f64, h: f64) -> Frame {
        Frame { id: id.into(), title: id.into(), x, y, w, h, ..Frame::default() }
    }

    fn overlap(a: &Rect, b: &Rect) -> bool {
        a.x < b.x + b.w && a.x + a.w > b.x && a.y < b.y + b.h && a.y + a.h > b.y
    }

    /// The board after placing: its frames and notes with the layout's changes applied.
    fn applied(board: &BoardSnapshot, placed: &[Note], layout: &Layout) -> BoardSnapshot {
        let mut after = board.clone();
        for f in &layout.frames {
            *after.frames.iter_mut().find(|o| o.id == f.id).unwrap() = f.clone();
        }
        for (id, x, y) in &layout.notes {
            let n = after.notes.iter_mut().find(|n| &n.id == id).unwrap();
            (n.x, n.y) = (*x, *y);
        }
        after.notes.retain(|n| !placed.iter().any(|p| p.id == n.id));
        after.notes.extend(placed.iter().cloned());
        after
    }

    #[test]
    fn notes_placed_in_a_crowded_area_cover_nothing_and_stay_inside_it() {
        let board = BoardSnapshot {
            notes: vec![note("a", "area", 16.0, 44.0), note("b", "area", 200.0, 44.0), note("c", "area", 100.0, 200.0)],
            frames: vec![frame("area", 0.0, 0.0, 400.0, 400.0)],
            ..BoardSnapshot::default()
        };
        let mut revealed: Vec<Note> = (0..6).map(|i| note(&format!("r{i}"), "area", 16.0, 44.0)).collect();
        let layout = place_notes(&board, &mut revealed);
        let after = applied(&board, &revealed, &layout);
        let all: Vec<Rect> = after.notes.iter().map(Rect::of_note).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!overlap(a, b), "{a:?} overlaps {b:?}");
            }
        }
        let area = Rect::of_frame(&after.frames[0]);
        assert!(area.h > 400.0, "the full area grew");
        assert!(all.iter().all(|n| area.contains(n)), "every note inside its area: {all:?} in {area:?}");
    }

    /// The template's step 2: "Value" above "Costs" in one column, "Risks" beside Costs,
    /// all inside the step's frame.
    #[test]
    fn a_full_area_grows_and_what_is_below_it_moves_down_never_under_a_note() {
        let board = BoardSnapshot {
            frames: vec![
                frame("step", 1600.0, 0.0, 1900.0, 1000.0),
                frame("value", 2240.0, 140.0, 300.0, 400.0),
                frame("costs", 2240.0, 560.0, 300.0, 400.0),
                frame("risks", 2560.0, 560.0, 300.0, 400.0),
                frame("next-step", 3600.0, 0.0, 1300.0, 1000.0),
            ],
            notes: vec![
                note("v1", "value", 2256.0, 184.0),
                note("v2", "value", 2256.0, 316.0),
                note("c1", "costs", 2256.0, 604.0),
                note("r1", "risks", 2576.0, 604.0),
            ],
            ..BoardSnapshot::default()
        };
        let mut added = vec![note("v3", "value", 0.0, 0.0), note("v4", "value", 0.0, 0.0)];
        let layout = place_notes(&board, &mut added);
        let after = applied(&board, &added, &layout);
        let rect = |id: &str| Rect::of_frame(after.frames.iter().find(|f| f.id == id).unwrap());
        let (value, costs, step) = (rect("value"), rect("costs"), rect("step"));
        assert_eq!(value.h, 400.0 + 2.0 * 132.0, "Value grew by two rows");
        assert_eq!(costs.y, value.bottom() + 20.0, "Costs moved down, keeping its distance");
        assert_eq!(rect("risks"), Rect { x: 2560.0, y: 560.0, w: 300.0, h: 400.0 }, "Risks is beside, not below");
        assert_eq!(rect("next-step").h, 1000.0, "the next step is untouched");
        assert!(step.contains(&costs), "the step grew around what moved");
        for n in &after.notes {
            let r = Rect::of_note(n);
            let own = rect(n.frame.as_deref().unwrap());
            assert!(own.contains(&r), "{} inside its area", n.id);
            for f in after.frames.iter().filter(|f| Some(f.id.as_str()) != n.frame.as_deref()) {
                let other = Rect::of_frame(f);
                if !other.contains(&own) {
                    assert!(!overlap(&r, &other), "{} covers {}", n.id, f.id);
                }
            }
        }
        let c1 = after.notes.iter().find(|n| n.id == "c1").unwrap();
        assert_eq!(c1.y, 604.0 + 264.0, "the notes of Costs moved with it");
        assert!(layout.notes.iter().all(|(id, _, _)| id == "c1"), "only Costs' note moved: {layout:?}");
    }

    #[test]
    fn a_note_in_no_frame_stays_where_it_was_written_when_free_and_clear_of_frames() {
        let board = BoardSnapshot { frames: vec![frame("f", 0.0, 0.0, 400.0, 400.0)], ..BoardSnapshot::default() };
        let mut loose = vec![
            Note { frame: None, ..note("a", "", 600.0, 100.0) },
            Note { frame: None, ..note("b", "", 300.0, 100.0) },
        ];
        let layout = place_notes(&board, &mut loose);
        assert!(layout.is_empty());
        assert_eq!((loose[0].x, loose[0].y), (600.0, 100.0));
        assert!(!overlap(&Rect::of_note(&loose[1]), &Rect::of_frame(&board.frames[0])), "{:?}", loose[1]);
    }
}
