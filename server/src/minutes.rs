//! The workshop's minutes (`minutes.md`) and its actions as a calendar (`actions.ics`),
//! read from the board: who took part, the teams considered and the one chosen, the
//! candidate goals with the vote and the common goal, the obstacles with how each is
//! managed, the actions with owners and due dates, and the follow-up plan.
//!
//! A note's place in the method comes from its `kind` when a client set one, else from
//! the template area it sits in (the frame it belongs to, or the smallest area frame
//! holding its centre).

use std::fmt::Write as _;

use commonboard_protocol::app::VoteView;
use commonboard_protocol::schema::{note_kind, Action, BoardSnapshot, Frame, Note};

/// Who took part: display names, in the order they first changed the board.
pub type Participants = Vec<String>;

/// What the minutes are made from.
pub struct Workshop<'a> {
    pub board: &'a BoardSnapshot,
    pub votes: &'a [VoteView],
    pub participants: &'a Participants,
    /// The board's address, for the reader to open it.
    pub url: &'a str,
    /// The participants' link (opens the board to add to it), when the reader may edit.
    pub edit_url: Option<&'a str>,
    /// The read-only link, when links are needed to open the board.
    pub view_url: Option<&'a str>,
    /// When the minutes are made, RFC 3339.
    pub generated_at: &'a str,
}

/// The method's role of a note.
fn role_of<'a>(note: &'a Note, frames: &'a [Frame]) -> Option<&'a str> {
    if let Some(kind) = note.kind.as_deref().filter(|k| !k.is_empty()) {
        return Some(kind);
    }
    let area = match note.frame.as_deref().and_then(|id| frames.iter().find(|f| f.id == id)) {
        Some(frame) if frame.area.is_some() => frame,
        _ => {
            let (cx, cy) = (note.x + note.w / 2.0, note.y + note.h / 2.0);
            frames
                .iter()
                .filter(|f| f.area.is_some() && cx >= f.x && cx <= f.x + f.w && cy >= f.y && cy <= f.y + f.h)
                .min_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))?
        }
    };
    Some(match area.area.as_deref()? {
        "teams" | "plot" => note_kind::TEAM,
        "needs" | "value" | "outcomes" | "costs" | "risks" => note_kind::NEED,
        "candidates" | "chosen" => note_kind::GOAL,
        "obstacles" => note_kind::OBSTACLE,
        "remedies" => note_kind::REMEDY,
        "followup" => note_kind::FOLLOW_UP,
        other => other,
    })
}

/// The area a note sits in (for grouping the "why" notes by value, outcomes...): the
/// area frame it belongs to, else the smallest area frame holding its centre.
fn area_of<'a>(note: &Note, frames: &'a [Frame]) -> Option<&'a Frame> {
    if let Some(frame) = note.frame.as_deref().and_then(|id| frames.iter().find(|f| f.id == id && f.area.is_some())) {
        return Some(frame);
    }
    let (cx, cy) = (note.x + note.w / 2.0, note.y + note.h / 2.0);
    frames
        .iter()
        .filter(|f| f.area.is_some() && cx >= f.x && cx <= f.x + f.w && cy >= f.y && cy <= f.y + f.h)
        .min_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))
}

/// Where an area comes in the minutes of step 2 (the method's order).
fn area_rank(area: Option<&Frame>) -> usize {
    const ORDER: [&str; 5] = ["needs", "value", "outcomes", "costs", "risks"];
    match area.and_then(|f| f.area.as_deref()) {
        Some(name) => ORDER.iter().position(|o| *o == name).unwrap_or(ORDER.len()),
        None => ORDER.len() + 1,
    }
}

/// Actions whose id starts with this are the follow-up check-ins of step 5 (the web
/// client makes them so).
pub const FOLLOW_UP_PREFIX: &str = "followup-";

/// The minutes as Markdown.
pub fn minutes(workshop: &Workshop) -> String {
    let board = workshop.board;
    let notes_of = |kind: &str| -> Vec<&Note> {
        board.notes.iter().filter(|n| role_of(n, &board.frames) == Some(kind) && !n.text.trim().is_empty()).collect()
    };
    let mut out = String::new();
    let _ = writeln!(out, "# Minutes: {}\n", md(&board.meta.title));
    match (workshop.edit_url, workshop.view_url) {
        (None, None) => {
            let _ = writeln!(out, "Board: {}  ", workshop.url);
        }
        (edit, view) => {
            if let Some(edit) = edit {
                let _ = writeln!(out, "Board, to add to it: <{edit}>  ");
            }
            if let Some(view) = view {
                let _ = writeln!(out, "Board, to look only: <{view}>  ");
            }
        }
    }
    let _ = writeln!(out, "Minutes made {}.\n", workshop.generated_at);

    out.push_str("## Participants\n\n");
    if workshop.participants.is_empty() {
        out.push_str("Nobody has changed the board yet.\n\n");
    } else {
        let _ = writeln!(
            out,
            "{}\n",
            md_start(&workshop.participants.iter().map(|p| md(p)).collect::<Vec<_>>().join(", "))
        );
    }

    out.push_str("## 1. Possible collaborators\n\n");
    let teams = notes_of(note_kind::TEAM);
    if teams.is_empty() {
        out.push_str("No teams were listed.\n\n");
    } else {
        out.push_str("| Team | They expect of us | We expect of them | Interaction | Conflict |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for team in &teams {
            let fields = team.team.clone().unwrap_or_default();
            let _ = writeln!(
                out,
                "| {}{} | {} | {} | {} | {} |",
                cell(&team.text),
                if fields.chosen { " (chosen)" } else { "" },
                cell(&fields.expects_of_us),
                cell(&fields.we_expect),
                frequency(fields.interaction),
                frequency(fields.conflict),
            );
        }
        let chosen: Vec<&str> =
            teams.iter().filter(|t| t.team.as_ref().is_some_and(|f| f.chosen)).map(|t| t.text.as_str()).collect();
        match chosen.as_slice() {
            [] => out.push_str("\nNo team was chosen to approach first.\n\n"),
            chosen => {
                let _ = writeln!(
                    out,
                    "\n**Team to approach first:** {}\n",
                    chosen.iter().map(|t| md(t)).collect::<Vec<_>>().join(", ")
                );
            }
        }
    }

    out.push_str("## 2. Common goal\n\n");
    let needs = notes_of(note_kind::NEED);
    if !needs.is_empty() {
        out.push_str("What each team does and needs, and why:\n\n");
        // Grouped by area, in the order the method asks: needs, value, outcomes, costs,
        // risks; then any other area, then notes in none.
        let mut groups: Vec<(usize, Option<&Frame>, Vec<&Note>)> = Vec::new();
        for need in &needs {
            let area = area_of(need, &board.frames);
            match groups.iter_mut().find(|(_, a, _)| a.map(|f| &f.id) == area.map(|f| &f.id)) {
                Some((_, _, notes)) => notes.push(need),
                None => groups.push((area_rank(area), area, vec![need])),
            }
        }
        groups.sort_by_key(|(rank, _, _)| *rank);
        for (_, area, notes) in groups {
            let title = area.map_or("Elsewhere".to_owned(), |f| md(&f.title));
            let _ = writeln!(out, "**{title}**\n");
            for note in notes {
                let _ = writeln!(out, "- {}", md_start(&note.text));
            }
            out.push('\n');
        }
    }
    let candidates = notes_of(note_kind::GOAL);
    let goal_vote = workshop
        .votes
        .iter()
        .rev()
        .find(|v| v.settings.candidates.iter().any(|c| candidates.iter().any(|n| &n.id == c)))
        .or(workshop.votes.last());
    if candidates.is_empty() {
        out.push_str("No candidate goals were written.\n\n");
    } else {
        match goal_vote {
            Some(vote) => {
                let _ = writeln!(
                    out,
                    "Candidate goals, and the vote “{}” ({}):\n",
                    md(&vote.settings.title),
                    if vote.open { "still open" } else { "closed" }
                );
                out.push_str("| Candidate goal | Votes |\n| --- | --- |\n");
                let mut ranked: Vec<(&Note, Option<u32>)> = candidates
                    .iter()
                    .map(|note| (*note, vote.tally.as_ref().map(|t| votes_for(t, &note.id))))
                    .collect();
                ranked.sort_by_key(|(_, votes)| std::cmp::Reverse(votes.unwrap_or(0)));
                for (note, votes) in ranked {
                    let shown = votes.map_or("hidden".to_owned(), |v| v.to_string());
                    let _ = writeln!(out, "| {} | {} |", cell(&note.text), shown);
                }
                out.push('\n');
            }
            None => {
                out.push_str("Candidate goals (no vote was held):\n\n");
                for note in &candidates {
                    let _ = writeln!(out, "- {}", md_start(&note.text));
                }
                out.push('\n');
            }
        }
    }
    let goal = board.meta.common_goal.as_ref().and_then(|id| board.notes.iter().find(|n| &n.id == id));
    match goal {
        Some(goal) => {
            let _ = writeln!(out, "**Common goal:** {}\n", md(&goal.text));
        }
        None => out.push_str("**Common goal:** not chosen yet.\n\n"),
    }

    out.push_str("## 3. Obstacles and how we manage them\n\n");
    let obstacles = notes_of(note_kind::OBSTACLE);
    let remedies = notes_of(note_kind::REMEDY);
    if obstacles.is_empty() {
        out.push_str("No obstacles were raised.\n\n");
    }
    for obstacle in &obstacles {
        let remedy = remedy_for(obstacle, &remedies);
        let managed = remedy.map_or("*not decided yet*".to_owned(), |r| md(&r.text));
        let _ = writeln!(
            out,
            "- **{}** (raised by {}): {}",
            md(&obstacle.text),
            name_or_someone(&obstacle.author),
            managed
        );
    }
    if !obstacles.is_empty() {
        out.push('\n');
    }

    out.push_str("## 4. Actions\n\n");
    let (follow_ups, actions): (Vec<&Action>, Vec<&Action>) =
        board.actions.iter().partition(|a| a.id.starts_with(FOLLOW_UP_PREFIX));
    if actions.is_empty() {
        out.push_str("No actions were agreed.\n\n");
    } else {
        out.push_str("| Action | Owner | Due | Done |\n| --- | --- | --- | --- |\n");
        for action in &actions {
            let due = if action.due.trim().is_empty() { "no date".to_owned() } else { cell(&action.due) };
            let owner = if action.owner.trim().is_empty() { "nobody yet" } else { action.owner.as_str() };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&action.text),
                cell(owner),
                due,
                if action.done { "yes" } else { "no" }
            );
        }
        let done = actions.iter().filter(|a| a.done).count();
        let _ = writeln!(out, "\n{done} of {} actions done.\n", actions.len());
    }

    out.push_str("## 5. Follow-up\n\n");
    let follow_up = notes_of(note_kind::FOLLOW_UP);
    if follow_up.is_empty() && follow_ups.is_empty() {
        out.push_str("No follow-up was planned yet.\n");
    }
    for check in &follow_ups {
        let due = if check.due.trim().is_empty() { "date to be set".to_owned() } else { md(&check.due) };
        let owner = if check.owner.trim().is_empty() { "nobody yet" } else { check.owner.as_str() };
        let _ = writeln!(out, "- **Check-in on {due}**, called by {}: {}", md(owner), md(&check.text));
    }
    for note in follow_up {
        let _ = writeln!(out, "- {}", md_start(&note.text));
    }
    out
}

/// The remedy paired with an obstacle: its `pair`, else a remedy by the same author
/// at about the same height.
fn remedy_for<'a>(obstacle: &Note, remedies: &[&'a Note]) -> Option<&'a Note> {
    if let Some(pair) = &obstacle.pair {
        if let Some(remedy) = remedies.iter().find(|r| &r.id == pair) {
            return Some(remedy);
        }
    }
    let same_author = |r: &&&Note| match (&r.author_id, &obstacle.author_id) {
        (Some(a), Some(b)) => a == b,
        _ => r.author == obstacle.author,
    };
    remedies
        .iter()
        .filter(|r| r.pair.as_deref().is_none_or(|p| p == obstacle.id))
        .filter(same_author)
        .min_by(|a, b| (a.y - obstacle.y).abs().total_cmp(&(b.y - obstacle.y).abs()))
        .copied()
}

fn votes_for(tally: &[commonboard_protocol::app::Tally], candidate: &str) -> u32 {
    tally.iter().find(|t| t.candidate == candidate).map_or(0, |t| t.votes)
}

fn frequency(value: f64) -> &'static str {
    match value.round() as i64 {
        i64::MIN..=0 => "never",
        1 => "rarely",
        2 => "monthly",
        3 => "weekly",
        _ => "daily",
    }
}

fn name_or_someone(name: &str) -> String {
    if name.trim().is_empty() {
        "someone".into()
    } else {
        md(name)
    }
}

/// Text on one line (newlines become spaces).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text written by people, on one line, as Markdown that shows it as written: every
/// character Markdown (or the HTML it allows) gives a meaning inside a line is
/// backslash-escaped, so a note cannot add a heading, a link, an image, emphasis,
/// a table cell or markup to the minutes.
fn md(text: &str) -> String {
    let mut out = String::new();
    for ch in one_line(text).chars().filter(|c| !c.is_control()) {
        if matches!(ch, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// [`md`] for text that starts a line (or a list item): a leading `-`, `+`, `=` or
/// a number followed by `.` or `)` would make a list, a rule or a heading; escaped.
fn md_start(text: &str) -> String {
    let text = md(text);
    if text.starts_with(['-', '+', '=']) {
        return format!("\\{text}");
    }
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && text[digits..].starts_with(['.', ')']) {
        return format!("{}\\{}", &text[..digits], &text[digits..]);
    }
    text
}

/// Text in a Markdown table cell.
fn cell(text: &str) -> String {
    let text = md(text);
    if text.is_empty() {
        "–".into()
    } else {
        text
    }
}

/// The actions with a due date as an iCalendar (RFC 5545) file: one all-day event per
/// action, on its due date.
pub fn actions_ics(board_id: &str, title: &str, actions: &[Action], stamp_utc: &str, url: &str) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Commonboard//Workshop actions//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        format!("X-WR-CALNAME:{}", escape(&format!("Actions: {}", one_line(title)))),
    ];
    for action in actions {
        let Some(date) = ics_date(&action.due) else { continue };
        let Some(next) = next_day(&action.due) else { continue };
        let owner = if action.owner.trim().is_empty() { "nobody yet".to_owned() } else { one_line(&action.owner) };
        let what = if action.id.starts_with(FOLLOW_UP_PREFIX) { "Follow-up check-in: " } else { "" };
        lines.extend([
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}@commonboard", uid(board_id, &action.id)),
            format!("DTSTAMP:{stamp_utc}"),
            format!("DTSTART;VALUE=DATE:{date}"),
            format!("DTEND;VALUE=DATE:{next}"),
            format!("SUMMARY:{}", escape(&format!("{what}{} ({owner})", one_line(&action.text)))),
            format!("DESCRIPTION:{}", escape(&format!("Owner: {owner}. From the board {}: {url}", one_line(title)))),
            format!("STATUS:{}", if action.done { "CONFIRMED" } else { "TENTATIVE" }),
            "TRANSP:TRANSPARENT".to_owned(),
            "END:VEVENT".to_owned(),
        ]);
    }
    lines.push("END:VCALENDAR".to_owned());
    let mut out = String::new();
    for line in lines {
        out.push_str(&fold(&line));
    }
    out
}

/// `YYYY-MM-DD` as `YYYYMMDD`, if it is a real date.
fn ics_date(due: &str) -> Option<String> {
    let (y, m, d) = parse_date(due)?;
    Some(format!("{y:04}{m:02}{d:02}"))
}

fn parse_date(due: &str) -> Option<(i32, u32, u32)> {
    let mut parts = due.trim().splitn(3, '-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d)).then_some((y, m, d))
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day after a `YYYY-MM-DD` date, as `YYYYMMDD` (an all-day event's end).
fn next_day(due: &str) -> Option<String> {
    let (mut y, mut m, mut d) = parse_date(due)?;
    d += 1;
    if d > days_in_month(y, m) {
        d = 1;
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
    }
    Some(format!("{y:04}{m:02}{d:02}"))
}

/// Escapes a TEXT value (RFC 5545 section 3.3.11): backslash, semicolon and comma
/// get a backslash, any line break becomes `\n`, and other control characters go.
fn escape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' | ';' | ',' => {
                out.push('\\');
                out.push(ch);
            }
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An event's UID: a hash of the board and the action's id (which a participant
/// chooses, so it never goes into the calendar as written).
fn uid(board_id: &str, action_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest =
        Sha256::new().chain_update(board_id.as_bytes()).chain_update([0]).chain_update(action_id.as_bytes()).finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Folds a content line at 75 octets, never inside a character, with CRLF endings.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for ch in line.chars() {
        let len = ch.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += len;
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_lines_are_escaped_and_folded() {
        let actions = vec![Action {
            id: "a1".into(),
            text: "Agree on hand-offs; write them down, share".into(),
            owner: "Ana".into(),
            due: "2026-12-31".into(),
            done: false,
            created_at: 0.0,
        }];
        let ics = actions_ics("b", "Team × Data", &actions, "20261123T120000Z", "http://x/b/b");
        assert!(ics.contains("DTSTART;VALUE=DATE:20261231\r\nDTEND;VALUE=DATE:20270101\r\n"));
        assert!(ics.contains("hand-offs\\; write them down\\, share"));
        assert!(ics.lines().all(|l| l.len() <= 76), "{ics}");
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert_eq!(ics_date("2026-02-30"), None);
    }

    #[test]
    fn an_action_id_cannot_add_an_event_and_every_text_field_is_escaped() {
        let injected = "a1\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Pay here https://phish.example";
        let actions = vec![Action {
            id: injected.into(),
            text: "Line one\r\nLine two, with; a \\ backslash — Zoë 日本".into(),
            owner: "Ana,\r\nDESCRIPTION:evil".into(),
            due: "2026-12-31".into(),
            done: false,
            created_at: 0.0,
        }];
        let ics = actions_ics("b", "T;i,t\\le\r\nX-EVIL:1", &actions, "20261123T120000Z", "http://x/b/b");
        let unfolded = ics.replace("\r\n ", "");
        assert_eq!(unfolded.matches("BEGIN:VEVENT").count(), 1, "{ics}");
        assert!(
            !unfolded.contains("phish")
                && !unfolded.contains("\r\nX-EVIL")
                && !unfolded.contains("\r\nDESCRIPTION:evil")
        );
        let uid = unfolded.lines().find_map(|l| l.strip_prefix("UID:")).unwrap();
        assert_eq!(uid, format!("{}@commonboard", super::uid("b", injected)));
        assert!(uid.trim_end_matches("@commonboard").bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(
            unfolded
                .contains("SUMMARY:Line one Line two\\, with\\; a \\\\ backslash — Zoë 日本 (Ana\\, DESCRIPTION:evil)"),
            "{unfolded}"
        );
        assert!(unfolded.contains("X-WR-CALNAME:Actions: T\\;i\\,t\\\\le X-EVIL:1"), "{unfolded}");
        assert_eq!(escape("a\r\nb\rc\nd\u{7}e"), "a\\nb\\nc\\nde");
    }

    #[test]
    fn markdown_shows_text_as_written() {
        assert_eq!(md("# Big *bold* _em_ [link](http://x) ![img](y) <b>x</b> a|b `c` \\ ~s~ &amp;"),
            "\\# Big \\*bold\\* \\_em\\_ \\[link\\](http://x) \\!\\[img\\](y) \\<b\\>x\\</b\\> a\\|b \\`c\\` \\\\ \\~s\\~ \\&amp;");
        assert_eq!(md("two\r\nlines,; Zoë × 日本"), "two lines,; Zoë × 日本");
        assert_eq!(md_start("- not a list"), "\\- not a list");
        assert_eq!(md_start("1. not a list"), "1\\. not a list");
        assert_eq!(md_start("=== not a heading"), "\\=== not a heading");
        assert_eq!(cell("a | b"), "a \\| b");
    }

    #[test]
    fn the_minutes_escape_what_people_wrote() {
        let evil = "x\r\n# Injected heading\r\n<script>alert(1)</script> [click](http://phish.example)";
        let board = BoardSnapshot {
            meta: commonboard_protocol::schema::BoardMeta { title: evil.into(), ..Default::default() },
            actions: vec![Action {
                id: "a".into(),
                text: evil.into(),
                owner: "- Eve | x".into(),
                due: "2026-01-01\n## due".into(),
                done: false,
                created_at: 0.0,
            }],
            ..Default::default()
        };
        let participants = vec!["1. Eve".to_owned(), "Zoë".to_owned()];
        let text = minutes(&Workshop {
            board: &board,
            votes: &[],
            participants: &participants,
            url: "u",
            edit_url: None,
            view_url: None,
            generated_at: "t",
        });
        assert!(!text.lines().any(|l| l.starts_with("# Injected") || l.starts_with("## due")), "{text}");
        assert!(!text.contains("<script>") && !text.contains("[click]"), "{text}");
        assert!(text.contains("1\\. Eve, Zoë"), "{text}");
        assert!(text.contains("| \\- Eve \\| x |") || text.contains("| - Eve \\| x |"), "{text}");
    }
}
