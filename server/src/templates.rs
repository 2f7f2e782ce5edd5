//! Board templates: JSON files under `templates/`, embedded at build time. A template
//! names the workshop's steps (the phases the facilitator moves through), its frames
//! (each step's area with on-board guidance, and the areas inside it) and any starter
//! notes. Adding one is adding a file; `templates_are_valid` checks every file.

use std::sync::OnceLock;

use commonboard_protocol::api::TemplateInfo;
use commonboard_protocol::schema::{self, Frame, Note};
use commonboard_protocol::workshop::StepInfo;
use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// One template file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// What `POST /api/boards` names it by (the file's name without `.json`).
    pub name: String,
    pub title: String,
    pub description: String,
    pub steps: Vec<StepInfo>,
    pub frames: Vec<TemplateFrame>,
    pub notes: Vec<TemplateNote>,
}

/// A frame a template puts on the board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFrame {
    pub id: String,
    /// The step it belongs to (an id of the template's steps).
    #[serde(default)]
    pub step: Option<String>,
    /// What notes in it are, for the minutes (`teams`, `candidates`, `obstacles`...).
    #[serde(default)]
    pub area: Option<String>,
    pub title: String,
    #[serde(default)]
    pub guide: Option<String>,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A note a template puts on the board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateNote {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub frame: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    pub x: f64,
    pub y: f64,
    #[serde(default = "yellow")]
    pub color: String,
}

fn yellow() -> String {
    "yellow".into()
}

/// Every template, by name (parsed once).
pub fn all() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        TEMPLATE_FILES
            .iter()
            .filter_map(|(file, text)| match serde_json::from_str::<Template>(text) {
                Ok(template) => match template.check_bounds() {
                    Ok(()) => Some(template),
                    Err(error) => {
                        tracing::error!(file, %error, "a template has a field over its bound; it is not offered");
                        None
                    }
                },
                Err(error) => {
                    tracing::error!(file, %error, "a template does not parse; it is not offered");
                    None
                }
            })
            .collect()
    })
}

/// The template named `name`.
pub fn get(name: &str) -> Option<&'static Template> {
    all().iter().find(|t| t.name == name)
}

impl Template {
    /// What the home page offers.
    pub fn info(&self) -> TemplateInfo {
        TemplateInfo {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            steps: self.steps.iter().map(|s| s.title.clone()).collect(),
        }
    }

    /// Puts the template's frames and notes on a new board.
    pub fn apply(&self, board: &schema::Board, txn: &mut yrs::TransactionMut, created_at: f64) {
        for frame in self.frame_values(created_at) {
            board.insert_frame(txn, &frame);
        }
        for note in self.note_values(created_at) {
            board.insert_note(txn, &note);
        }
    }

    /// Whether every frame and note is within the board schema's bounds, as any value
    /// the server writes into a board must be.
    fn check_bounds(&self) -> Result<(), schema::FieldError> {
        self.frame_values(0.0).iter().try_for_each(Frame::check_bounds)?;
        self.note_values(0.0).iter().try_for_each(Note::check_bounds)
    }

    fn frame_values(&self, created_at: f64) -> Vec<Frame> {
        self.frames
            .iter()
            .map(|frame| Frame {
                id: frame.id.clone(),
                title: frame.title.clone(),
                x: frame.x,
                y: frame.y,
                w: frame.w,
                h: frame.h,
                created_at,
                step: frame.step.clone(),
                area: frame.area.clone(),
                guide: frame.guide.clone(),
            })
            .collect()
    }

    fn note_values(&self, created_at: f64) -> Vec<Note> {
        self.notes
            .iter()
            .map(|note| Note {
                id: note.id.clone(),
                text: note.text.clone(),
                x: note.x,
                y: note.y,
                w: schema::NOTE_SIZE.0,
                h: schema::NOTE_SIZE.1,
                color: note.color.clone(),
                author: "Commonboard".into(),
                frame: note.frame.clone(),
                created_at,
                kind: note.kind.clone(),
                ..Note::default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_valid() {
        assert_eq!(all().len(), TEMPLATE_FILES.len(), "every template file parses");
        for (file, _) in TEMPLATE_FILES {
            let template = all().iter().find(|t| format!("{}.json", t.name) == *file);
            let template = template.unwrap_or_else(|| panic!("{file}: `name` must be the file name"));
            for frame in &template.frames {
                if let Some(step) = &frame.step {
                    assert!(
                        template.steps.iter().any(|s| &s.id == step),
                        "{file}: frame {} names step {step}",
                        frame.id
                    );
                }
            }
            for note in &template.notes {
                assert!(schema::NOTE_COLORS.contains(&note.color.as_str()), "{file}: note {} colour", note.id);
            }
        }
        for template in all() {
            assert_eq!(template.check_bounds(), Ok(()), "{}: every field within the schema's bounds", template.name);
        }
        let workshop = get("collaboration-workshop").expect("the method's template");
        assert_eq!(workshop.steps.len(), 5);
        assert!(get("blank").is_some() && get("retrospective").is_some());
    }
}
