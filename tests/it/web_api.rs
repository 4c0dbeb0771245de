//! The HTTP API as a web app meets it: every refusal is `{"error": …}` JSON (framework
//! rejections included), unknown body fields are refused, CORS answers only configured
//! origins, spaces are found by name, models are listed, and a spawn's model must be a
//! primitive or an upload.

use std::net::SocketAddr;

use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg, WireTransform};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Client, TestServer, http, http_json, register};

/// Sends `head` (request line and headers, without the blank line) and returns the status,
/// the response head in lower case, and the body.
async fn raw(addr: SocketAddr, head: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Asserts `body` is the API's error shape and returns its message.
fn error_of(status: u16, body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(body)));
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}: no error text: {value}"))
        .to_owned()
}

#[tokio::test]
async fn every_refusal_is_json_and_unknown_fields_are_refused() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let token = register(addr, "maker", "a long enough password").await;
    let json_type = Some("application/json");
    let cases: Vec<(&str, &str, Option<&str>, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/api/spaces",
            json_type,
            b"{\"name\":".to_vec(),
            400,
            "not JSON",
        ),
        (
            "POST",
            "/api/spaces",
            Some("text/plain"),
            b"{\"name\":\"a\"}".to_vec(),
            415,
            "application/json",
        ),
        (
            "POST",
            "/api/spaces",
            json_type,
            b"{\"description\":\"x\"}".to_vec(),
            422,
            "name",
        ),
        // Today's trap: `public` is not a field, and must not make a public space.
        (
            "POST",
            "/api/spaces",
            json_type,
            b"{\"name\":\"secret\",\"public\":false}".to_vec(),
            422,
            "public",
        ),
        (
            "POST",
            "/api/spaces",
            json_type,
            format!("{{\"name\":\"{}\"}}", "x".repeat(70_000)).into_bytes(),
            413,
            "limited",
        ),
        (
            "GET",
            "/api/models/not-a-uuid",
            None,
            Vec::new(),
            400,
            "path",
        ),
        (
            "GET",
            "/api/spaces?limit=many",
            None,
            Vec::new(),
            400,
            "query",
        ),
        (
            "GET",
            "/api/no-such-thing",
            None,
            Vec::new(),
            404,
            "no such route",
        ),
        (
            "DELETE",
            "/api/me",
            None,
            Vec::new(),
            405,
            "does not take DELETE",
        ),
    ];
    for (method, path, content_type, body, status, says) in cases {
        let (got, answer) = http(addr, method, path, Some(&token), content_type, &body).await;
        let message = error_of(got, &answer);
        assert_eq!(got, status, "{method} {path}: {message}");
        assert!(
            message.contains(says),
            "{method} {path}: {message:?} should say {says:?}"
        );
    }
    let (status, spaces) = http_json(addr, "GET", "/api/spaces", None, None).await;
    assert_eq!(status, 200);
    assert!(
        !spaces.to_string().contains("secret"),
        "a refused body made a space: {spaces}"
    );
    // Unknown fields are refused in every body, not only spaces'.
    let (status, answer) = http_json(
        addr,
        "POST",
        "/api/login",
        None,
        Some(json!({"name": "maker", "password": "a long enough password", "remember": true})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
}

/// The browser client is served from the binary with an ETag that revalidates; a
/// `web_root` folder replaces it; the protocol console is at `/debug`.
#[tokio::test]
async fn the_browser_client_is_embedded_and_a_web_root_replaces_it() {
    let dist = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/web/dist");
    let committed = std::fs::read_to_string(format!("{dist}/index.html")).expect("the built page");
    let server = TestServer::start().await;
    let addr = server.addr();
    let (status, head, body) = raw(addr, "GET / HTTP/1.1").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert_eq!(body, committed, "the page served is the committed build");
    assert!(body.contains("/app.js"), "the page loads its script");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_owned();
    let (status, _, body) = raw(addr, &format!("GET / HTTP/1.1\r\nIf-None-Match: {etag}")).await;
    assert_eq!((status, body.as_str()), (304, ""));
    let (status, head, body) = raw(addr, "GET /app.js HTTP/1.1").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert_eq!(
        body.len(),
        std::fs::metadata(format!("{dist}/app.js"))
            .expect("the script")
            .len() as usize
    );
    let (status, _, body) = raw(addr, "GET /debug HTTP/1.1").await;
    assert_eq!(status, 200);
    assert!(body.contains("Share screen"), "the protocol console");
    server.stop().await;

    let folder = tempfile::tempdir().expect("a folder");
    std::fs::write(folder.path().join("index.html"), "<p>work in progress</p>").expect("written");
    let root = folder.path().to_owned();
    let server = TestServer::start_with(move |c| c.web_root = Some(root)).await;
    let (status, head, body) = raw(server.addr(), "GET / HTTP/1.1").await;
    assert_eq!((status, body.as_str()), (200, "<p>work in progress</p>"));
    assert!(head.contains("cache-control: no-store"), "{head}");
    let (status, _, body) = raw(server.addr(), "GET /app.js HTTP/1.1").await;
    assert_eq!(status, 404);
    assert!(
        error_of(status, body.as_bytes()).contains("npm run build"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn cors_answers_the_configured_origins_and_no_others() {
    let app = "http://app.example:5173";
    let server = TestServer::start_with(|c| c.cors_origins = vec![app.to_owned()]).await;
    let addr = server.addr();
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /api/spaces HTTP/1.1\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: authorization, content-type"
        )
    };
    let (status, head, _) = raw(addr, &preflight(app)).await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains(&format!("access-control-allow-origin: {app}")),
        "{head}"
    );
    assert!(head.contains("access-control-allow-methods"), "{head}");
    assert!(head.contains("authorization"), "{head}");
    for path in ["/cert-hash", "/api/spaces"] {
        let (status, head, _) = raw(addr, &format!("GET {path} HTTP/1.1\r\nOrigin: {app}")).await;
        assert_eq!(status, 200);
        assert!(
            head.contains(&format!("access-control-allow-origin: {app}")),
            "{path}: {head}"
        );
    }
    // Another origin is told nothing, so its page cannot read the answer.
    let (_, head, _) = raw(addr, &preflight("http://evil.example")).await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    // With no cors_origins (the default), no origin is.
    let plain = TestServer::start().await;
    let (_, head, _) = raw(
        plain.addr(),
        &format!("GET /cert-hash HTTP/1.1\r\nOrigin: {app}"),
    )
    .await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}

#[tokio::test]
async fn spaces_by_name_models_listed_and_spawns_name_only_known_models() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let token = register(addr, "sculptor", "a long enough password").await;
    let (status, created) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&token),
        Some(json!({"name": "Atelier", "description": "clay"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, by_name) = http_json(addr, "GET", "/api/spaces/Atelier", None, None).await;
    assert_eq!((status, &by_name["id"]), (200, &created["id"]), "{by_name}");
    let (status, _) = http_json(addr, "GET", "/api/spaces/Atelier/chat", None, None).await;
    assert_eq!(status, 200);
    let (status, missing) = http_json(addr, "GET", "/api/spaces/Nowhere", None, None).await;
    assert_eq!(status, 404, "{missing}");

    let mut client = Client::connect(addr, Codec::Json).await;
    client.say(&ClientMsg::hello_with_token(&token)).await;
    client.join("Atelier").await;
    let spawn = |client_ref: u32, model: &str| ClientMsg::Spawn {
        client_ref,
        model: model.into(),
        transform: WireTransform::IDENTITY,
        props: Default::default(),
    };
    // Any text used to be taken as a model; now it names a primitive or an upload.
    client.send(&spawn(7, "chair")).await;
    let (code, request, message) = client
        .recv_until(|m| match m {
            ServerMsg::Error {
                code,
                request,
                message,
            } => Some((*code, *request, message.clone())),
            _ => None,
        })
        .await;
    assert_eq!((code, request), (ErrorCode::NotFound, Some(7)), "{message}");
    assert!(message.contains("cube"), "{message}");
    client.send(&spawn(8, "sphere")).await;
    wait_spawned(&mut client, 8).await;

    let (status, model) = http(
        addr,
        "POST",
        "/api/models?name=triangle",
        Some(&token),
        Some("model/gltf-binary"),
        &plaza::uploads::media::sample_glb(),
    )
    .await;
    assert_eq!(status, 201);
    let model: Value = serde_json::from_slice(&model).expect("json");
    let model_id = model["id"].as_str().expect("an id").to_owned();
    client.send(&spawn(9, &model_id)).await;
    wait_spawned(&mut client, 9).await;

    let (status, mine) = http_json(addr, "GET", "/api/models", Some(&token), None).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["models"][0]["id"].as_str(), Some(&*model_id), "{mine}");
    // The space's models are those its objects use, once written.
    crate::support::eventually(
        crate::support::WAIT,
        "the space lists its model",
        || async {
            let (_, used) = http_json(addr, "GET", "/api/models?space=Atelier", None, None).await;
            used["models"]
                .as_array()
                .is_some_and(|m| m.len() == 1 && m[0]["id"] == model["id"])
        },
    )
    .await;
    let (status, answer) = http_json(addr, "GET", "/api/models", None, None).await;
    assert_eq!(status, 401, "yours needs a token: {answer}");
}

async fn wait_spawned(client: &mut Client, client_ref: u32) {
    client
        .recv_until(|m| match m {
            ServerMsg::Spawned { client_ref: r, .. } if *r == client_ref => Some(()),
            ServerMsg::Error {
                message, request, ..
            } if *request == Some(client_ref) => {
                panic!("spawn {client_ref} refused: {message}")
            }
            _ => None,
        })
        .await;
}
