//! Embeds every board template under `templates/` (at the repository root) into the
//! binary: adding a template is adding a JSON file, no code. Also tells cargo to
//! recompile when the built web client (`web/dist`, embedded by `app::web`) changes.

use std::path::PathBuf;

fn main() {
    watch_web_client();
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../templates");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the templates in {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut code = String::from(
        "/// Every template file, as (file name, contents).\npub const TEMPLATE_FILES: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().expect("a file").to_string_lossy();
        let path = path.canonicalize().expect("the file exists");
        code.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("templates.rs");
    std::fs::write(out, code).expect("cannot write the embedded templates");
}

/// `app::web` embeds `web/dist` if it exists. Once built, cargo watches it; before,
/// it watches `web/` (a missing path would rerun this script on every build), so that
/// the client's first build is picked up.
fn watch_web_client() {
    let web = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../web");
    let dist = web.join("dist");
    let watched = if dist.is_dir() { dist } else { web };
    println!("cargo:rerun-if-changed={}", watched.display());
}
