//! The board as a PNG: the SVG of `export::svg` rasterized by resvg, in pure Rust, with
//! DejaVu Sans built into the binary (no system font is looked up, so the picture is
//! the same on every server).

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

use super::svg::{Picture, FONT};
use super::ExportError;

/// Longest side of the PNG, in pixels: a large board is scaled down to it (a 4096 x
/// 4096 RGBA picture is 64 MiB while drawn).
pub const MAX_SIDE: f64 = 4096.0;

/// The font database, loaded once.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = usvg::fontdb::Database::new();
            db.load_font_data(dejavu::sans::regular().to_vec());
            db.load_font_data(dejavu::sans::bold().to_vec());
            db.set_sans_serif_family(FONT);
            Arc::new(db)
        })
        .clone()
}

/// Draws the picture as PNG bytes, at 1 pixel per canvas pixel (scaled down to
/// [`MAX_SIDE`]).
pub fn render(picture: &Picture) -> Result<Vec<u8>, ExportError> {
    let options = usvg::Options { font_family: FONT.to_owned(), fontdb: fonts(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(&picture.svg, &options).map_err(|e| ExportError::Render(e.to_string()))?;
    let scale = (MAX_SIDE / picture.width.max(picture.height)).min(1.0);
    let (width, height) = ((picture.width * scale).ceil() as u32, (picture.height * scale).ceil() as u32);
    let mut pixmap = tiny_skia::Pixmap::new(width.max(1), height.max(1))
        .ok_or_else(|| ExportError::Render(format!("no {width} x {height} picture")))?;
    let size = tree.size();
    let transform = tiny_skia::Transform::from_scale(width as f32 / size.width(), height as f32 / size.height());
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| ExportError::Render(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_text_with_the_built_in_font() {
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"40\" font-family=\"{FONT}\">\
             <rect width=\"120\" height=\"40\" fill=\"#ffffff\"/><text x=\"4\" y=\"28\" font-size=\"24\">Goal</text></svg>"
        );
        let png = render(&Picture { width: 120.0, height: 40.0, svg }).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // Text was drawn: the picture is not one flat colour (which compresses to little).
        let blank = render(&Picture {
            width: 120.0,
            height: 40.0,
            svg: "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"40\"><rect width=\"120\" height=\"40\" fill=\"#ffffff\"/></svg>".into(),
        })
        .unwrap();
        assert!(png.len() > blank.len() + 100, "{} vs {} bytes", png.len(), blank.len());
    }
}
