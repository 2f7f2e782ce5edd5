//! The OpenAPI document against the real server: `/api/openapi.json` is fetched, every
//! route it describes is called for real (a board with notes, a vote and actions, with
//! each role's token), and each answer's status, content type and (for JSON) body must
//! be what the document says for that route and status.

use std::collections::BTreeSet;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::exports::workshop_board;
use crate::{config_in, spawn_app_with, PATIENCE};

/// The document and the operations a test called.
struct Checker {
    document: Value,
    called: BTreeSet<(String, String)>,
}

impl Checker {
    /// The operation `method path` (`path` as the document writes it, `{id}` and all).
    fn operation(&self, method: &str, path: &str) -> &Value {
        let operation = &self.document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not in the document");
        operation
    }

    /// Checks a real answer of `method path` against the document; returns its body.
    async fn check(&mut self, method: &Method, path: &str, response: Response) -> (StatusCode, Vec<u8>) {
        let method = method.as_str().to_lowercase();
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().trim().to_owned());
        let body = response.bytes().await.unwrap().to_vec();
        self.called.insert((method.clone(), path.to_owned()));
        let documented = &self.operation(&method, path)["responses"][status.as_str()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {status}, which the document does not list for it: {}",
            String::from_utf8_lossy(&body)
        );
        let Some(content) = documented["content"].as_object() else {
            assert!(body.is_empty(), "{method} {path} {status}: a body the document does not describe");
            return (status, body);
        };
        let content_type = content_type.unwrap_or_else(|| panic!("{method} {path} {status}: no content type"));
        let Some(media) = content.get(&content_type) else {
            panic!("{method} {path} {status}: content type {content_type}, the document says {:?}", content.keys());
        };
        if content_type == "application/json" {
            let instance: Value =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{method} {path} {status}: not JSON ({e})"));
            self.validate(&media["schema"], &instance, &format!("{method} {path} {status}"));
        }
        (status, body)
    }

    /// Validates `instance` against `schema`, whose `$ref`s point into the document's
    /// `components`.
    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let errors = self.errors(schema, instance, what);
        assert!(errors.is_empty(), "{what}: the answer does not match the document: {errors:#?}\n{instance:#}");
    }

    /// Where `instance` departs from `schema`.
    fn errors(&self, schema: &Value, instance: &Value, what: &str) -> Vec<String> {
        let mut schema = schema.clone();
        assert!(schema.is_object(), "{what}: the document gives no schema");
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        schema["components"] = self.document["components"].clone();
        let validator = jsonschema::draft202012::new(&schema)
            .unwrap_or_else(|e| panic!("{what}: the document's schema does not compile: {e}"));
        validator.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path())).collect()
    }

    /// Every operation the document describes was called.
    fn assert_all_called(&self) {
        let mut described = BTreeSet::new();
        for (path, item) in self.document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys().filter(|k| k.as_str() != "parameters") {
                described.insert((method.clone(), path.clone()));
            }
        }
        let missed: Vec<_> = described.difference(&self.called).collect();
        assert!(missed.is_empty(), "described but not called by this test: {missed:?}");
    }
}

/// Sends `method` to `url` with `token` (as a bearer) and `body` (as JSON).
async fn send(method: &Method, url: String, token: Option<&str>, body: Option<Value>) -> Response {
    let mut request = reqwest::Client::new().request(method.clone(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    tokio::time::timeout(PATIENCE, request.send()).await.expect("the server answers in time").unwrap()
}

#[tokio::test]
async fn every_route_answers_as_the_document_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.webhook_allow = vec!["127.0.0.1/32".into()];
    // Few creations at once, to see the 429 too.
    config.board_creation_burst = 8;
    config.board_creation_rate = 1.0;
    let server = spawn_app_with(config).await;

    let response = reqwest::get(server.http("/api/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut api = Checker { document, called: BTreeSet::new() };
    // The schemas are strict enough to refuse a wrong answer.
    let board_info = json!({ "$ref": "#/components/schemas/BoardInfo" });
    let wrong = json!({ "id": 7, "title": "Retro", "url": "/b/7", "role": "owner" });
    assert_eq!(api.errors(&board_info, &wrong, "a wrong BoardInfo").len(), 4, "id, role, template, created_at");
    if std::env::var_os("OPENAPI_DUMP").is_some() {
        eprintln!("{:#}", api.document);
    }
    let (get, post, delete) = (Method::GET, Method::POST, Method::DELETE);

    // A board with notes, a closed vote, a chosen goal and actions.
    let (links, fay) = workshop_board(&server).await;
    let board = |rest: &str| server.http(&format!("/api/boards/{}{rest}", links.id));
    let (facilitator, participant, viewer) = (links.facilitator.as_str(), links.participant.as_str(), &links.viewer);

    // The server's own routes.
    let plain = |path: &str| server.http(path);
    api.check(&get, "/healthz", send(&get, plain("/healthz"), None, None).await).await;
    api.check(&get, "/metrics", send(&get, plain("/metrics"), None, None).await).await;
    api.check(&get, "/api/openapi.json", send(&get, plain("/api/openapi.json"), None, None).await).await;
    api.check(&get, "/api/templates", send(&get, plain("/api/templates"), None, None).await).await;
    let elsewhere = reqwest::Client::new().get(plain("/healthz")).header("host", "elsewhere.example").send().await;
    assert_eq!(api.check(&get, "/healthz", elsewhere.unwrap()).await.0, 421);

    // Creation: a board, a refused request, an import of a board file.
    let created = send(&post, plain("/api/boards"), None, Some(json!({ "title": "Retro", "template": "blank" }))).await;
    assert_eq!(api.check(&post, "/api/boards", created).await.0, 201);
    let refused = send(&post, plain("/api/boards"), None, Some(json!({ "title": 3 }))).await;
    assert_eq!(api.check(&post, "/api/boards", refused).await.0, 400);
    let large = send(&post, plain("/api/boards"), None, Some(json!({ "title": "x".repeat(100_000) }))).await;
    assert_eq!(api.check(&post, "/api/boards", large).await.0, 413);

    // Reading the board, with each role and without the right to.
    let info = "/api/boards/{id}";
    for token in [Some(facilitator), Some(participant), Some(viewer.as_str())] {
        assert_eq!(api.check(&get, info, send(&get, board(""), token, None).await).await.0, 200);
    }
    assert_eq!(api.check(&get, info, send(&get, board(""), None, None).await).await.0, 401);
    assert_eq!(api.check(&get, info, send(&get, board(""), Some("not-a-token"), None).await).await.0, 403);
    let unknown = server.http(&format!("/api/boards/{}", "0".repeat(32)));
    assert_eq!(api.check(&get, info, send(&get, unknown, Some(facilitator), None).await).await.0, 404);

    // Votes and history.
    let reads = [
        ("/votes", "/api/boards/{id}/votes"),
        ("/history", "/api/boards/{id}/history"),
        ("/history?limit=2", "/api/boards/{id}/history"),
        ("/state", "/api/boards/{id}/state"),
        ("/state?at=1", "/api/boards/{id}/state"),
        ("/state?format=yjs", "/api/boards/{id}/state"),
        ("/diff?from=1", "/api/boards/{id}/diff"),
        ("/timeline?buckets=10", "/api/boards/{id}/timeline"),
        ("/updates?from=1&limit=3", "/api/boards/{id}/updates"),
        ("/minutes.md?offset=60&zone=Europe/Paris", "/api/boards/{id}/minutes.md"),
        ("/actions.ics", "/api/boards/{id}/actions.ics"),
        ("/export.svg", "/api/boards/{id}/export.svg"),
        ("/export.png", "/api/boards/{id}/export.png"),
        ("/actions.csv", "/api/boards/{id}/actions.csv"),
        ("/actions.json", "/api/boards/{id}/actions.json"),
    ];
    for (rest, path) in reads {
        assert_eq!(api.check(&get, path, send(&get, board(rest), Some(viewer), None).await).await.0, 200, "{rest}");
    }
    let bad = send(&get, board("/state?format=pdf"), Some(viewer), None).await;
    assert_eq!(api.check(&get, "/api/boards/{id}/state", bad).await.0, 400);
    let bad = send(&get, board("/diff"), Some(viewer), None).await;
    assert_eq!(api.check(&get, "/api/boards/{id}/diff", bad).await.0, 400);
    let file = "/api/boards/{id}/board.json";
    let (status, body) = api.check(&get, file, send(&get, board("/board.json"), Some(facilitator), None).await).await;
    assert_eq!(status, 200);
    assert_eq!(api.check(&get, file, send(&get, board("/board.json"), Some(viewer), None).await).await.0, 403);
    let import: Value = serde_json::from_slice(&body).unwrap();
    let imported = send(&post, plain("/api/boards"), None, Some(import)).await;
    assert_eq!(api.check(&post, "/api/boards", imported).await.0, 201);

    // The facilitator's controls.
    let minted = send(&post, board("/identities"), Some(facilitator), Some(json!({ "name": "Ana" }))).await;
    let (status, body) = api.check(&post, "/api/boards/{id}/identities", minted).await;
    assert_eq!(status, 200);
    let ana: Value = serde_json::from_slice(&body).unwrap();
    let (person, personal) = (ana["identity"].as_str().unwrap(), ana["token"].as_str().unwrap());
    let refused = send(&post, board("/identities"), Some(participant), Some(json!({ "name": "Bo" }))).await;
    assert_eq!(api.check(&post, "/api/boards/{id}/identities", refused).await.0, 403);
    let presenter = send(&post, board("/presenter"), Some(facilitator), None).await;
    assert_eq!(api.check(&post, "/api/boards/{id}/presenter", presenter).await.0, 200);
    let join = "/api/boards/{id}/join.svg";
    assert_eq!(api.check(&get, join, send(&get, board("/join.svg"), Some(facilitator), None).await).await.0, 200);
    assert_eq!(api.check(&get, join, send(&get, board("/join.svg"), Some(participant), None).await).await.0, 403);
    let me = "/api/boards/{id}/me.svg";
    assert_eq!(api.check(&get, me, send(&get, board("/me.svg"), Some(personal), None).await).await.0, 200);
    assert_eq!(api.check(&get, me, send(&get, board("/me.svg"), Some(facilitator), None).await).await.0, 400);
    let restore = "/api/boards/{id}/restore";
    let restored = send(&post, board("/restore"), Some(facilitator), Some(json!({ "at": 1 }))).await;
    assert_eq!(api.check(&post, restore, restored).await.0, 200);
    let unsaid = send(&post, board("/restore"), Some(facilitator), Some(json!({}))).await;
    assert_eq!(api.check(&post, restore, unsaid).await.0, 400);

    // Webhooks.
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "events": ["vote.closed"] });
    let registered = send(&post, board("/webhooks"), Some(facilitator), Some(hook)).await;
    let (status, body) = api.check(&post, "/api/boards/{id}/webhooks", registered).await;
    assert_eq!(status, 201);
    let hook_id = serde_json::from_slice::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let outside = json!({ "url": "http://192.0.2.1/hook" });
    let refused = send(&post, board("/webhooks"), Some(facilitator), Some(outside)).await;
    assert_eq!(api.check(&post, "/api/boards/{id}/webhooks", refused).await.0, 400);
    let listed = send(&get, board("/webhooks"), Some(facilitator), None).await;
    assert_eq!(api.check(&get, "/api/boards/{id}/webhooks", listed).await.0, 200);
    let one = "/api/boards/{id}/webhooks/{hook}";
    let removed = send(&delete, board(&format!("/webhooks/{hook_id}")), Some(facilitator), None).await;
    assert_eq!(api.check(&delete, one, removed).await.0, 204);
    let again = send(&delete, board(&format!("/webhooks/{hook_id}")), Some(facilitator), None).await;
    assert_eq!(api.check(&delete, one, again).await.0, 404);

    // The WebSocket: a real upgrade, and a request that is not one.
    let url = format!("ws://{}/ws/{}?token={participant}", server.addr, links.id);
    let (socket, answer) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(answer.status().as_u16(), 101);
    let documented = &api.operation("get", "/ws/{board}")["responses"]["101"];
    assert!(documented.is_object(), "the upgrade's 101 is documented");
    drop(socket);
    let plain_get = send(&get, server.http(&format!("/ws/{}", links.id)), None, None).await;
    assert_eq!(api.check(&get, "/ws/{board}", plain_get).await.0, 400);

    drop(fay);

    // Removing a person, then the links rotated (the old links refused after).
    let people = format!("/people/{person}");
    let removed = send(&delete, board(&people), Some(facilitator), None).await;
    assert_eq!(api.check(&delete, "/api/boards/{id}/people/{person}", removed).await.0, 200);
    let not_a_person = send(&delete, board("/people/someone"), Some(facilitator), None).await;
    assert_eq!(api.check(&delete, "/api/boards/{id}/people/{person}", not_a_person).await.0, 400);
    let rotate = "/api/boards/{id}/links/rotate";
    assert_eq!(
        api.check(&post, rotate, send(&post, board("/links/rotate"), Some(facilitator), None).await).await.0,
        200
    );
    assert_eq!(api.check(&get, info, send(&get, board(""), Some(viewer), None).await).await.0, 403);
    let rotate = "/api/boards/{id}/links/rotate-facilitator";
    let rotated = send(&post, board("/links/rotate-facilitator"), Some(facilitator), None).await;
    assert_eq!(api.check(&post, rotate, rotated).await.0, 200);
    let old = send(&post, board("/links/rotate-facilitator"), Some(facilitator), None).await;
    assert_eq!(api.check(&post, rotate, old).await.0, 403);

    // Creating boards until this address is out of creations.
    let mut limited = false;
    for _ in 0..10 {
        let created = send(&post, plain("/api/boards"), None, Some(json!({ "title": "One more" }))).await;
        let retry_after = created.headers().contains_key(reqwest::header::RETRY_AFTER);
        let status = api.check(&post, "/api/boards", created).await.0;
        if status == 429 {
            assert!(retry_after, "a 429 says when to try again");
            limited = true;
            break;
        }
        assert_eq!(status, 201);
    }
    assert!(limited, "the creation limit (a burst of 8) answered 429 within 10 more creations");

    api.assert_all_called();
    server.stop().await;
}
