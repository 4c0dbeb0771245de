//! Memory stays bounded under abuse: a GLB whose JSON would take a gigabyte to parse is
//! refused before parsing, uploads and password checks pass through gates of a few places
//! (the rest wait briefly, then get 503), so neither a login flood nor parallel uploads
//! can make the server hold memory in proportion to the attack.

use plaza::uploads::media::glb_from_parts;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::{TestServer, WAIT, eventually, http, http_json, register};

fn nodes_glb(nodes: usize) -> Vec<u8> {
    let mut json = String::with_capacity(nodes * 3 + 64);
    json.push_str(r#"{"asset":{"version":"2.0"},"nodes":["#);
    for n in 0..nodes {
        json.push_str(if n == 0 { "{}" } else { ",{}" });
    }
    json.push_str("]}");
    glb_from_parts(json.as_bytes(), &[])
}

#[tokio::test]
async fn hostile_glbs_are_refused_before_they_are_parsed() {
    let server = TestServer::start().await;
    let token = register(server.addr(), "modeller", "correct horse battery").await;
    let upload = async |glb: Vec<u8>| {
        let (status, body) = http(
            server.addr(),
            "POST",
            "/api/models",
            Some(&token),
            Some("model/gltf-binary"),
            &glb,
        )
        .await;
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    // 45 MB of JSON: 15 M empty nodes (parsed, ~5 GB), refused for its size.
    let (status, body) = upload(nodes_glb(15_000_000)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("JSON chunk"), "{body}");
    // 3 MB of JSON: 1 M empty nodes, within the size but refused for its values.
    let (status, body) = upload(nodes_glb(1_000_000)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("JSON values"), "{body}");
    // An ordinary model still goes in.
    let (status, body) = upload(plaza::uploads::media::sample_glb()).await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn uploads_wait_for_a_place_and_are_refused_when_none_comes() {
    let server = TestServer::start_with(|c| {
        c.upload_concurrency = 1;
        c.upload_wait_ms = 300;
    })
    .await;
    let addr = server.addr();
    let token = register(addr, "uploader", "correct horse battery").await;
    // The first upload sends its head and half its body, and holds the only place.
    let mut slow = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let head = format!(
        "POST /api/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: model/gltf-binary\r\nContent-Length: 200\r\nConnection: close\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).await.expect("sends");
    slow.write_all(&[0; 100]).await.expect("sends");
    eventually(WAIT, "the slow upload holds the place", || async {
        server.server.edge().uploads.in_use() == 1
    })
    .await;
    let upload_sample = async || {
        let glb = plaza::uploads::media::sample_glb();
        let answer = http(
            addr,
            "POST",
            "/api/models",
            Some(&token),
            Some("model/gltf-binary"),
            &glb,
        );
        let (status, body) = answer.await;
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let (status, body) = upload_sample().await;
    assert_eq!(status, 503, "{body}");
    // The slow one finishes (it is no model), and the place is free again.
    slow.write_all(&[0; 100]).await.expect("sends");
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut slow, &mut answer)
        .await
        .expect("reads");
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    let (status, body) = upload_sample().await;
    assert_eq!(status, 201, "{body}");
    let edge = server.server.edge();
    assert_eq!((edge.uploads.peak(), edge.uploads.refused()), (1, 1));
    server.stop().await;
}

#[tokio::test]
async fn a_login_flood_hashes_a_few_passwords_at_a_time() {
    let server = TestServer::start_with(|c| {
        c.password_hash_concurrency = 2;
        c.password_hash_wait_ms = 200;
        c.max_connections_per_addr = 200;
    })
    .await;
    let addr = server.addr();
    register(addr, "target", "correct horse battery").await;
    let attempts = (0..60).map(|n| async move {
        let body = json!({"name": "target", "password": format!("wrong guess {n}")});
        http_json(addr, "POST", "/api/login", None, Some(body))
            .await
            .0
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert!(
        statuses.iter().all(|&s| s == 401 || s == 503),
        "{statuses:?}"
    );
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    assert!(
        refused > 0,
        "some wait too long and are refused: {statuses:?}"
    );
    let gate = &server.server.edge().password_hashing;
    assert!(
        gate.peak() <= 2,
        "at most two hashes at once, saw {}",
        gate.peak()
    );
    assert_eq!(gate.refused(), refused as u64);
    // The account still works once the flood is over.
    let body = json!({"name": "target", "password": "correct horse battery"});
    let (status, _) = http_json(addr, "POST", "/api/login", None, Some(body)).await;
    assert_eq!(status, 200);
    server.stop().await;
}
