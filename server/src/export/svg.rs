//! The board as an SVG picture, laid out as the web client's canvas draws it
//! (`web/static/app.css`): frames with their title bar, notes in their colours with
//! their text wrapped and their author, and the common goal ringed in green with its
//! badge. Text is wrapped here (an SVG has no automatic wrapping) by an estimate of
//! DejaVu Sans's glyph widths, the font the PNG is drawn with.

use std::fmt::Write as _;

use commonboard_protocol::schema::{BoardSnapshot, Note};

/// Space around the board's content, in canvas pixels.
const MARGIN: f64 = 40.0;
/// The canvas background (`--bg`).
const BACKGROUND: &str = "#f4f6f8";
/// A note's padding (`.note`: 10px, 22px at the bottom for the author line).
const PAD: f64 = 10.0;
const PAD_BOTTOM: f64 = 22.0;
/// Note text: 15px, line height 1.3.
const NOTE_FONT: f64 = 15.0;
const NOTE_LINE: f64 = 19.5;
/// A frame's title bar height (`.frame-title`).
const TITLE_BAR: f64 = 36.0;
/// The goal's ring and badge colour (`.note.is-goal`, `.goal-badge`).
const GOAL: &str = "#1b5e20";
/// The font named in the SVG; the PNG renderer has exactly this one.
pub const FONT: &str = "DejaVu Sans";

/// A note colour's fill (`--note-*`); an unknown colour is drawn yellow, as the client does.
fn fill(color: &str) -> &'static str {
    match color {
        "pink" => "#f8bbd0",
        "green" => "#c5e1a5",
        "blue" => "#b3e5fc",
        "orange" => "#ffcc80",
        "purple" => "#d1c4e9",
        _ => "#fff59d",
    }
}

/// The picture's size and the SVG text.
pub struct Picture {
    pub width: f64,
    pub height: f64,
    pub svg: String,
}

/// Draws the board.
pub fn render(board: &BoardSnapshot) -> Picture {
    let boxes = board
        .frames
        .iter()
        .map(|f| (f.x, f.y, f.w, f.h))
        .chain(board.notes.iter().map(|n| (n.x, n.y - if is_goal(board, n) { 14.0 } else { 0.0 }, n.w, n.h)));
    let (mut left, mut top, mut right, mut bottom) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y, w, h) in boxes.filter(|(x, y, w, h)| [x, y, w, h].iter().all(|v| v.is_finite())) {
        left = left.min(x);
        top = top.min(y);
        right = right.max(x + w.max(0.0));
        bottom = bottom.max(y + h.max(0.0));
    }
    if left > right {
        (left, top, right, bottom) = (0.0, 0.0, 400.0, 240.0);
    }
    let (x0, y0) = (left - MARGIN, top - MARGIN);
    let (width, height) = (right - left + 2.0 * MARGIN, bottom - top + 2.0 * MARGIN);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"{x0:.1} {y0:.1} {width:.1} {height:.1}\" font-family=\"{FONT}, sans-serif\">"
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(&board.meta.title));
    let _ = writeln!(
        svg,
        "<rect x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" fill=\"{BACKGROUND}\"/>"
    );
    for frame in &board.frames {
        let (x, y, w, h) = (frame.x, frame.y, frame.w.max(0.0), frame.h.max(0.0));
        let _ = writeln!(
            svg,
            "<g class=\"frame\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"10\" \
             fill=\"#ffffff\" fill-opacity=\"0.55\" stroke=\"#8a94a0\" stroke-width=\"2\"/>\
             <path d=\"M{x:.1} {by:.1} v-{bar:.1} a10 10 0 0 1 10 -10 h{inner:.1} a10 10 0 0 1 10 10 v{bar:.1} z\" \
             fill=\"#d5dae1\" fill-opacity=\"0.6\"/>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"15\" font-weight=\"bold\" fill=\"#2b3138\">{title}</text></g>",
            by = y + TITLE_BAR.min(h),
            bar = TITLE_BAR.min(h) - 10.0,
            inner = (w - 20.0).max(0.0),
            tx = x + 12.0,
            ty = y + 23.0,
            title = escape(&fit(&frame.title, w - 24.0, 15.0 * 1.08)),
        );
    }
    for note in &board.notes {
        draw_note(&mut svg, note, is_goal(board, note));
    }
    svg.push_str("</svg>\n");
    Picture { width, height, svg }
}

fn is_goal(board: &BoardSnapshot, note: &Note) -> bool {
    board.meta.common_goal.as_deref() == Some(note.id.as_str())
}

fn draw_note(svg: &mut String, note: &Note, goal: bool) {
    let (x, y, w, h) = (note.x, note.y, note.w.max(0.0), note.h.max(0.0));
    let _ = write!(svg, "<g class=\"note\">");
    if goal {
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\" fill=\"none\" stroke=\"{GOAL}\" stroke-width=\"3\"/>",
            x - 1.5,
            y - 1.5,
            w + 3.0,
            h + 3.0
        );
    }
    let _ = write!(
        svg,
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"4\" fill=\"{}\" stroke=\"#000000\" stroke-opacity=\"0.12\"/>",
        fill(&note.color)
    );
    let max_lines = ((h - PAD - PAD_BOTTOM) / NOTE_LINE).floor().max(1.0) as usize;
    let lines = wrap(&note.text, w - 2.0 * PAD, NOTE_FONT, max_lines);
    if !lines.is_empty() {
        let _ = write!(svg, "<text font-size=\"{NOTE_FONT}\" fill=\"#1b1b1b\">");
        for (i, line) in lines.iter().enumerate() {
            // The first baseline sits a font ascent below the padding.
            let ly = y + PAD + NOTE_FONT + i as f64 * NOTE_LINE;
            let _ = write!(svg, "<tspan x=\"{:.1}\" y=\"{ly:.1}\">{}</tspan>", x + PAD, escape(line));
        }
        svg.push_str("</text>");
    }
    if !note.author.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#3d434a\">{}</text>",
            x + PAD,
            y + h - 7.0,
            escape(&fit(&note.author, w - PAD - 24.0, 11.0))
        );
    }
    if goal {
        let label = "Common goal";
        let bw = text_width(label, 12.0 * 1.08) + 16.0;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"20\" rx=\"10\" fill=\"{GOAL}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" font-weight=\"bold\" fill=\"#ffffff\">{label}</text>",
            x + 8.0,
            y - 12.0,
            x + 16.0,
            y + 2.5
        );
    }
    svg.push_str("</g>\n");
}

/// Estimated advance of one character in DejaVu Sans, in ems: narrow letters, wide
/// letters, and the average of the rest.
fn advance(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '!' | '|' | 'I' | ' ' => 0.32,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' => 0.4,
        'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.9,
        c if c.is_uppercase() => 0.7,
        c if c.is_ascii() => 0.6,
        // CJK and other wide scripts.
        c if (c as u32) >= 0x2E80 => 1.0,
        _ => 0.62,
    }
}

fn text_width(text: &str, size: f64) -> f64 {
    text.chars().map(advance).sum::<f64>() * size
}

/// Wraps text into lines at most `width` wide (words kept whole unless one alone is
/// too wide), keeping its line breaks; at most `max_lines`, the last ending in `…`
/// when text was left out.
pub fn wrap(text: &str, width: f64, size: f64, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if text_width(&candidate, size) <= width || line.is_empty() && text_width(word, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the note: broken anywhere, as `overflow-wrap: anywhere`.
            for c in word.chars() {
                if !line.is_empty() && text_width(&format!("{line}{c}"), size) > width {
                    lines.push(std::mem::take(&mut line));
                }
                line.push(c);
            }
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            *last = fit(&format!("{last}…"), width, size);
            if !last.ends_with('…') {
                last.pop();
                last.push('…');
            }
        }
    }
    lines
}

/// One line cut to `width`, ending in `…` when cut.
fn fit(text: &str, width: f64, size: f64) -> String {
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text_width(&text, size) <= width {
        return text;
    }
    let mut out = String::new();
    for c in text.chars() {
        if text_width(&format!("{out}{c}…"), size) > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Text for SVG content and attributes; characters XML forbids are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonboard_protocol::schema::{BoardMeta, Frame};

    #[test]
    fn wraps_long_text_and_marks_what_is_cut() {
        let lines = wrap("one two three four five six seven eight nine ten", 100.0, 15.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'), "{lines:?}");
        assert!(lines.iter().all(|l| text_width(l, 15.0) <= 100.0 + 0.01), "{lines:?}");
        assert_eq!(wrap("a\nb", 100.0, 15.0, 5), ["a", "b"]);
        let long = wrap("Donaudampfschifffahrtsgesellschaft", 80.0, 15.0, 9);
        assert!(long.len() > 1 && long.concat() == "Donaudampfschifffahrtsgesellschaft", "{long:?}");
    }

    #[test]
    fn draws_frames_notes_and_the_goal_with_text_escaped() {
        let board = BoardSnapshot {
            meta: BoardMeta { title: "A <b>".into(), common_goal: Some("g".into()), ..BoardMeta::default() },
            frames: vec![Frame {
                id: "f".into(),
                title: "Goals & more".into(),
                w: 600.0,
                h: 400.0,
                ..Frame::default()
            }],
            notes: vec![Note {
                id: "g".into(),
                text: "Ship <it>".into(),
                x: 20.0,
                y: 60.0,
                w: 160.0,
                h: 120.0,
                color: "green".into(),
                ..Note::default()
            }],
            actions: Vec::new(),
        };
        let picture = render(&board);
        assert!(picture.svg.contains("Goals &amp; more") && picture.svg.contains("Ship &lt;it&gt;"));
        assert!(picture.svg.contains("#c5e1a5") && picture.svg.contains("Common goal"));
        assert_eq!((picture.width, picture.height), (680.0, 480.0));
    }
}
