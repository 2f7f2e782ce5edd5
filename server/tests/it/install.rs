//! The binary is the product: `commonboard serve` started in an empty directory (as
//! after `cargo install --path server`) serves the web client built into it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary, running in its own empty directory; killed when dropped.
struct Installed {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_in_empty_directory() -> Installed {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonboard"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(dir.path())
        // Whatever the developer's shell says, the built-in client is what is tested.
        .env_remove("COMMONBOARD_WEB_DIR")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the commonboard binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("listening on ") {
                let _ = tx.send(address.to_owned());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(20)).expect("the binary says where it listens");
    Installed { child, base, _dir: dir }
}

#[tokio::test]
async fn the_binary_serves_the_pages_from_any_directory() {
    let server = start_in_empty_directory();
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}/api/boards", server.base))
        .json(&serde_json::json!({ "title": "Installed" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let board = created["url"].as_str().unwrap().to_owned();
    let embedded = commonboard_server::app::web::embedded();
    for page in ["/".to_owned(), board.clone(), format!("{board}/capture")] {
        let response = http.get(format!("{}{page}", server.base)).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8", "{page}");
        let status = response.status();
        let body = response.text().await.unwrap();
        if embedded {
            assert_eq!(status, 200, "{page}");
            assert!(body.contains("<title>Commonboard</title>") && body.contains("src=\"/app.js\""), "{page}: {body}");
        } else {
            // Compiled before `web/dist` existed: a page that says so, never a bare error.
            assert_eq!(status, 503, "{page}");
            assert!(body.contains("was not built into this binary"), "{page}: {body}");
        }
    }
    if !embedded {
        eprintln!("web/dist was not built when this binary was compiled: only the explanatory page was checked");
        return;
    }

    // The entry script: revalidated every time, 304 when unchanged.
    let script = http.get(format!("{}/app.js", server.base)).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.headers()["cache-control"], "no-cache");
    let etag = script.headers()["etag"].clone();
    let script_body = script.text().await.unwrap();
    assert!(script_body.contains("import"), "app.js is the built bundle");
    let again = http.get(format!("{}/app.js", server.base)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    // A content-hashed chunk the entry imports: cached for good.
    let chunk = script_body
        .split('"')
        .find(|s| s.starts_with("./chunks/") || s.starts_with("/chunks/"))
        .expect("app.js imports a chunk")
        .trim_start_matches('.');
    let response = http.get(format!("{}{chunk}", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{chunk}");
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");

    let css = http.get(format!("{}/app.css", server.base)).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let missing = http.get(format!("{}/chunks/none-ABCDEF.js", server.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404, "a missing asset is not the page");
    let health = http.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
