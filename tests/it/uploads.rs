//! Uploads: GLB models checked by parsing, de-duplicated by content hash, stored under the
//! storage root and served back; media checked against their content type; both need a
//! token, both are size-limited, both are logged as events.

use plaza_net::{ClientMsg, Codec, ServerMsg, WireTransform};

use crate::support::{Client, TestServer, WAIT, eventually, http, http_json, sqlite_rows};

fn multipart(field_file_name: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "plaza-test-boundary-7d1";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{field_file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn models_are_validated_deduplicated_stored_and_served() {
    let server = TestServer::start_with(|c| c.max_model_bytes = 64 * 1024).await;
    let addr = server.addr();
    let mut builder = Client::hello(addr, Codec::Json, "builder").await;
    let glb = plaza::uploads::media::sample_glb();

    let (status, _) = http(
        addr,
        "POST",
        "/api/models",
        None,
        Some("model/gltf-binary"),
        &glb,
    )
    .await;
    assert_eq!(status, 401, "uploads need a token");
    let (status, body) = http(
        addr,
        "POST",
        "/api/models?name=triangle",
        Some(&builder.token),
        Some("model/gltf-binary"),
        &glb,
    )
    .await;
    let created = json_of(&body);
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (
            created["name"].as_str(),
            created["metadata"]["meshes"].as_u64()
        ),
        (Some("triangle"), Some(1))
    );
    assert_eq!(created["size"].as_u64(), Some(glb.len() as u64));
    let id = created["id"].as_str().expect("an id").to_string();

    // The same bytes again, as a multipart form: the same model, stored once.
    let (content_type, form) = multipart("tri.glb", "model/gltf-binary", &glb);
    let (status, body) = http(
        addr,
        "POST",
        "/api/models",
        Some(&builder.token),
        Some(&content_type),
        &form,
    )
    .await;
    let again = json_of(&body);
    assert_eq!(
        (
            status,
            again["id"].as_str(),
            again["deduplicated"].as_bool()
        ),
        (200, Some(id.as_str()), Some(true))
    );
    let stored: Vec<_> = walk(&server.config.storage_directory());
    assert_eq!(
        stored.len(),
        1,
        "one file for identical uploads: {stored:?}"
    );
    assert!(stored[0].starts_with(server.config.storage_directory()));

    let (status, meta) = http_json(addr, "GET", &format!("/api/models/{id}"), None, None).await;
    assert_eq!(
        (status, meta["metadata"]["generator"].as_str()),
        (200, Some("plaza-test"))
    );
    let (status, file) = http(
        addr,
        "GET",
        &format!("/api/models/{id}/file"),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!((status, file == glb), (200, true));

    // Objects reference uploaded models by id.
    builder.join("workshop").await;
    let mut viewer = Client::hello_quic(&server, "viewer").await;
    viewer.join("workshop").await;
    builder
        .send(&ClientMsg::Spawn {
            client_ref: 1,
            model: id.clone(),
            transform: WireTransform::IDENTITY,
            props: Default::default(),
        })
        .await;
    viewer
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects.iter().any(|o| o.model == id).then_some(()),
            _ => None,
        })
        .await;

    // Anything that is not a GLB is refused with the reason; so is anything too big.
    for (bad, expect) in [
        (b"just some text, not a model at all".to_vec(), "not a GLB"),
        (glb[..40].to_vec(), "invalid glTF"),
        (
            plaza::uploads::media::glb_from_parts(
                br#"{"asset":{"version":"2.0"},"buffers":[{"byteLength":99999}]}"#,
                &[0; 4],
            ),
            "buffer 0",
        ),
    ] {
        let (status, body) = http(
            addr,
            "POST",
            "/api/models",
            Some(&builder.token),
            Some("model/gltf-binary"),
            &bad,
        )
        .await;
        let error = json_of(&body);
        assert_eq!(status, 422, "{error}");
        assert!(
            error["error"].as_str().is_some_and(|e| e.contains(expect)),
            "{error}"
        );
    }
    let huge = vec![0u8; 65 * 1024];
    let (status, _) = http(
        addr,
        "POST",
        "/api/models",
        Some(&builder.token),
        Some("model/gltf-binary"),
        &huge,
    )
    .await;
    assert_eq!(status, 413);
    let (status, _) = http(
        addr,
        "GET",
        &format!("/api/models/{}", uuid::Uuid::new_v4()),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 404);

    // Media: the bytes must be what the content type says.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake but with the right magic".to_vec();
    let (status, body) = http(
        addr,
        "POST",
        "/api/media?kind=avatar",
        Some(&builder.token),
        Some("image/png"),
        &png,
    )
    .await;
    let media = json_of(&body);
    assert_eq!(status, 201, "{media}");
    let media_id = media["id"].as_str().expect("an id");
    let (status, served) = http(
        addr,
        "GET",
        &format!("/api/media/{media_id}/file"),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!((status, served == png), (200, true));
    let (status, _) = http(
        addr,
        "POST",
        "/api/media?kind=avatar",
        Some(&builder.token),
        Some("image/jpeg"),
        &png,
    )
    .await;
    assert_eq!(status, 415, "a PNG declared as JPEG");
    let (status, _) = http(
        addr,
        "POST",
        "/api/media?kind=wallpaper",
        Some(&builder.token),
        Some("image/png"),
        &png,
    )
    .await;
    assert_eq!(status, 415);
    let (content_type, form) = multipart("notes.txt", "text/plain", b"meeting notes");
    let (status, body) = http(
        addr,
        "POST",
        "/api/media?kind=attachment",
        Some(&builder.token),
        Some(&content_type),
        &form,
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));

    eventually(WAIT, "uploads are in the event log", || async {
        sqlite_rows(&server, "SELECT count(*) FROM events WHERE kind = 'upload'").await[0][0]
            .as_deref()
            == Some("3")
    })
    .await;
    let rows = sqlite_rows(&server, "SELECT count(*) FROM uploaded_models").await;
    assert_eq!(rows[0][0].as_deref(), Some("1"));
    server.stop().await;
}

#[tokio::test]
async fn uploads_can_be_switched_off() {
    let server = TestServer::start_with(|c| c.uploads_enabled = false).await;
    let client = Client::hello(server.addr(), Codec::Json, "someone").await;
    let glb = plaza::uploads::media::sample_glb();
    let (status, body) = http(
        server.addr(),
        "POST",
        "/api/models",
        Some(&client.token),
        Some("model/gltf-binary"),
        &glb,
    )
    .await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(
        !server.config.storage_directory().exists(),
        "no storage directory is made"
    );
    server.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn uploads_go_to_an_s3_compatible_bucket_when_configured() {
    // The S3-compatible server scripts/services.sh runs (moto's); R2 and AWS take the same
    // requests. A fresh bucket per run.
    let endpoint = std::env::var("PLAZA_TEST_S3").unwrap_or_else(|_| "127.0.0.1:9100".into());
    let bucket = format!("plaza-it-{}", uuid::Uuid::new_v4().simple());
    let s3_addr: std::net::SocketAddr = endpoint.parse().expect("host:port");
    let (status, _) = http(s3_addr, "PUT", &format!("/{bucket}"), None, None, &[]).await;
    assert_eq!(
        status, 200,
        "the S3-compatible server at {endpoint} creates a bucket (run ./scripts/test.sh, which starts it)"
    );
    let server = TestServer::start_with(|c| {
        c.s3 = Some(plaza::config::S3Config {
            bucket: bucket.clone(),
            region: "us-east-1".into(),
            endpoint: Some(format!("http://{endpoint}")),
            access_key_id: Some("plaza-test".into()),
            secret_access_key: Some(plaza::config::Secret::new("plaza-test-secret")),
            allow_http: true,
        });
    })
    .await;
    let client = Client::hello(server.addr(), Codec::Json, "cloudy").await;
    let glb = plaza::uploads::media::sample_glb();
    let (status, body) = http(
        server.addr(),
        "POST",
        "/api/models",
        Some(&client.token),
        Some("model/gltf-binary"),
        &glb,
    )
    .await;
    let created = json_of(&body);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id");
    let (status, file) = http(
        server.addr(),
        "GET",
        &format!("/api/models/{id}/file"),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!((status, file == glb), (200, true));

    // The bytes are in the bucket under the content-addressed key, and not on local disk.
    let (_, listing) = http(
        s3_addr,
        "GET",
        &format!("/{bucket}?list-type=2"),
        None,
        None,
        &[],
    )
    .await;
    let listing = String::from_utf8_lossy(&listing);
    assert!(
        listing.contains("<Key>models/") && listing.contains(".glb</Key>"),
        "{listing}"
    );
    assert!(!server.config.storage_directory().exists());
    let (_, health) = http_json(server.addr(), "GET", "/health", None, None).await;
    assert_eq!(health["uploads"], "s3");
    server.stop().await;
}

/// Media attached to a private space is as private as the space: its row and its bytes are
/// not found for anyone who may not enter (they were readable without a token before), and
/// they are not cacheable by shared caches.
#[tokio::test]
async fn media_of_a_private_space_is_private() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let owner = crate::support::register(addr, "keeper", "correct horse battery").await;
    let outsider = crate::support::register(addr, "outsider", "correct horse battery").await;
    let (status, space) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&owner),
        Some(serde_json::json!({"name": "vault", "private": true})),
    )
    .await;
    assert_eq!(status, 201, "{space}");
    let space_id = space["id"].as_str().expect("an id").to_string();
    let (status, body) = http(
        addr,
        "POST",
        &format!("/api/media?kind=attachment&space={space_id}"),
        Some(&owner),
        Some("text/plain"),
        b"the combination is 12-34-56",
    )
    .await;
    let media = json_of(&body);
    assert_eq!(status, 201, "{media}");
    let id = media["id"].as_str().expect("an id");
    let (row, file) = (format!("/api/media/{id}"), format!("/api/media/{id}/file"));
    for token in [None, Some(outsider.as_str())] {
        for path in [&row, &file] {
            let (status, _) = http(addr, "GET", path, token, None, &[]).await;
            assert_eq!(status, 404, "{path} with {token:?}");
        }
    }
    let (status, bytes) = http(addr, "GET", &file, Some(&owner), None, &[]).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (200, &b"the combination is 12-34-56"[..])
    );
    let (status, head) = crate::support::http_head(addr, &file, Some(&owner)).await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("cache-control: private"),
        "{head}"
    );
    // Invited, the outsider sees it too.
    let (status, _) = http_json(
        addr,
        "POST",
        &format!("/api/spaces/{space_id}/members"),
        Some(&owner),
        Some(serde_json::json!({"user": "outsider"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(addr, "GET", &file, Some(&outsider), None, &[]).await;
    assert_eq!(status, 200);
    server.stop().await;
}
