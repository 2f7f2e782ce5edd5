//! Where the server puts a note it places itself (a revealed private note, the chosen
//! common goal): the first free place inside the note's area, row by row, never on top
//! of another note; below the area when the area is full.

use commonboard_protocol::schema::{BoardSnapshot, Frame, Note};

/// Space kept free around a note, in canvas pixels.
const GAP: f64 = 12.0;
/// Margin inside an area's sides and bottom.
const PAD: f64 = 16.0;
/// Room left at the top of an area for its title.
const TITLE: f64 = 44.0;
/// Rows tried below a full area before giving up on finding a free place.
const ROWS_BELOW: u32 = 200;

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

    /// Whether the two overlap once each keeps half the gap around it.
    fn crowds(&self, other: &Rect) -> bool {
        let half = GAP / 2.0;
        self.x < other.x + other.w + half
            && self.x + self.w + half > other.x
            && self.y < other.y + other.h + half
            && self.y + self.h + half > other.y
    }
}

/// The top-left corner of the first place of `w` by `h` in `area` that crowds none of
/// `taken`, scanning rows from the top left in half-note steps. A full area continues
/// below itself, so the note never covers another one.
pub fn free_spot(area: Rect, taken: &[Rect], w: f64, h: f64) -> (f64, f64) {
    let x0 = area.x + PAD;
    let y0 = area.y + TITLE;
    let max_x = (area.x + area.w - PAD - w).max(x0);
    let max_y = (area.y + area.h - PAD - h).max(y0);
    let (step_x, step_y) = ((w / 2.0 + GAP / 2.0).round().max(1.0), (h / 2.0 + GAP / 2.0).round().max(1.0));
    let free = |x: f64, y: f64| {
        let spot = Rect { x, y, w, h };
        !taken.iter().any(|r| spot.crowds(r))
    };
    let mut y = y0;
    let mut rows_below = 0;
    loop {
        let mut x = x0;
        while x <= max_x {
            if free(x, y) {
                return (x, y);
            }
            x += step_x;
        }
        y += step_y;
        if y > max_y {
            rows_below += 1;
            if rows_below > ROWS_BELOW {
                return (x0, y);
            }
        }
    }
}

/// Places `notes` (in order) in free space of the board: each inside its frame when it
/// has one the board holds, otherwise near where it was written. Each placed note takes
/// its place before the next is placed.
pub fn place_notes(board: &BoardSnapshot, notes: &mut [Note]) {
    let mut taken: Vec<Rect> =
        board.notes.iter().filter(|n| !notes.iter().any(|m| m.id == n.id)).map(Rect::of_note).collect();
    for note in notes.iter_mut() {
        let area = note
            .frame
            .as_deref()
            .and_then(|id| board.frames.iter().find(|f| f.id == id))
            .map(Rect::of_frame)
            .unwrap_or(Rect { x: note.x - PAD, y: note.y - TITLE, w: note.w * 4.0, h: note.h * 3.0 });
        let (x, y) = free_spot(area, &taken, note.w, note.h);
        note.x = x;
        note.y = y;
        taken.push(Rect::of_note(note));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: &str, x: f64, y: f64) -> Note {
        Note { id: id.into(), x, y, w: 160.0, h: 120.0, frame: Some("area".into()), ..Note::default() }
    }

    #[test]
    fn notes_placed_in_a_crowded_area_cover_nothing_and_overflow_below_it() {
        let area = Frame { id: "area".into(), x: 0.0, y: 0.0, w: 400.0, h: 400.0, ..Frame::default() };
        let board = BoardSnapshot {
            notes: vec![note("a", 16.0, 44.0), note("b", 200.0, 44.0), note("c", 100.0, 200.0)],
            frames: vec![area],
            ..BoardSnapshot::default()
        };
        let mut revealed: Vec<Note> = (0..6).map(|i| note(&format!("r{i}"), 16.0, 44.0)).collect();
        place_notes(&board, &mut revealed);
        let all: Vec<Rect> = board.notes.iter().chain(revealed.iter()).map(Rect::of_note).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let overlap = a.x < b.x + b.w && a.x + a.w > b.x && a.y < b.y + b.h && a.y + a.h > b.y;
                assert!(!overlap, "{a:?} overlaps {b:?}");
            }
        }
        assert!(revealed.iter().all(|n| n.x >= 16.0 && n.x + n.w <= 400.0), "inside the area's width");
        assert!(revealed.iter().any(|n| n.y + n.h > 400.0), "a full area continues below itself");
    }
}
