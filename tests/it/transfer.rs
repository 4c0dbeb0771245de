//! `plaza export` and `plaza import`: a space built on the embedded SQLite store moves to
//! PostgreSQL with its objects, chat, members and model metadata, and comes back equal.

use std::process::Command;

use plaza::config::SecretUrl;
use plaza::ops::transfer::SpaceExport;
use plaza_net::{ClientMsg, Codec, ServerMsg, WireTransform};
use serde_json::json;

use crate::services::PgSchema;
use crate::support::{Client, TestServer, http, http_json, register};

fn plaza(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plaza"));
    command.args(args).env("PLAZA_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("plaza runs")
}

fn comparable(doc: &SpaceExport) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).expect("serialises");
    // Ids of the space may differ between stores only if taken; here they must not.
    value["space"]
        .as_object_mut()
        .expect("an object")
        .remove("owner");
    value
}

#[tokio::test]
async fn a_space_moves_from_sqlite_to_postgres_and_back_unchanged() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let token = register(addr, "maker", "a long enough password").await;
    let mut maker = Client::connect(addr, Codec::Json).await;
    maker.say(&ClientMsg::hello_with_token(&token)).await;
    let (_, created) = http_json(
        addr,
        "POST",
        "/api/spaces",
        Some(&token),
        Some(json!({"name": "gallery", "description": "moving house", "private": true})),
    )
    .await;
    let space_id = created["id"].as_str().expect("an id").to_string();
    let guest = Client::hello(addr, Codec::Json, "visitor").await;
    let members = format!("/api/spaces/{space_id}/members");
    assert_eq!(
        http_json(
            addr,
            "POST",
            &members,
            Some(&token),
            Some(json!({"user": "visitor"}))
        )
        .await
        .0,
        200
    );
    drop(guest);
    maker.join("gallery").await;
    let (status, model) = http(
        addr,
        "POST",
        "/api/models?name=tri",
        Some(&token),
        Some("model/gltf-binary"),
        &plaza::uploads::media::sample_glb(),
    )
    .await;
    assert_eq!(status, 201);
    let model_id = serde_json::from_slice::<serde_json::Value>(&model).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    for n in 0..3 {
        maker.spawn(n, [n as f32, 0.0, 0.0]).await;
    }
    maker
        .send(&ClientMsg::Spawn {
            client_ref: 9,
            model: model_id.clone(),
            transform: WireTransform::at([0.0, 1.0, 0.0]),
            props: plaza_net::Props::from_json(r#"{"title":"the triangle"}"#).expect("props"),
        })
        .await;
    for n in 0..3 {
        maker
            .send(&ClientMsg::Chat {
                text: format!("note {n}"),
                request: None,
            })
            .await;
    }
    maker
        .recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "note 2").then_some(()))
        .await;
    drop(maker);
    let (dir, config) = server.stop().await;
    let data_dir = dir.path().to_str().expect("a UTF-8 path").to_string();

    // Export from SQLite.
    let out = plaza(
        &["export", "--space", "gallery"],
        &[("PLAZA_DATA_DIR", &data_dir)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: SpaceExport = serde_json::from_slice(&out.stdout).expect("the export is JSON");
    assert_eq!(
        (
            exported.objects.len(),
            exported.chat.len(),
            exported.models.len()
        ),
        (4, 3, 1)
    );
    assert!(exported.space.private && exported.members.len() == 1);
    assert_eq!(
        exported
            .chat
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>(),
        ["note 0", "note 1", "note 2"]
    );
    let file = dir.path().join("gallery.json");
    std::fs::write(&file, &out.stdout).expect("writes the export");
    let file = file.to_str().expect("a UTF-8 path");

    // Import into PostgreSQL; a second import needs --replace.
    let schema = PgSchema::new().await;
    let url = schema.url();
    let pg = [
        ("PLAZA_DATABASE_URL", url.as_str()),
        ("PLAZA_DATA_DIR", data_dir.as_str()),
    ];
    let out = plaza(&["import", file], &pg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = plaza(&["import", file], &pg);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--replace"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = plaza(&["import", "--replace", file], &pg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Exported again from Postgres, it is the same document.
    let out = plaza(&["export", "--space", "gallery"], &pg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: SpaceExport = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(comparable(&again), comparable(&exported));

    // A server on Postgres serves it: the objects, the chat, the model.
    let server = TestServer::start_in(
        dir,
        plaza::Config {
            database_url: Some(SecretUrl::new(url.clone())),
            ..config
        },
    )
    .await;
    let (status, body) = http_json(
        server.addr(),
        "POST",
        "/api/login",
        None,
        Some(json!({"name": "maker", "password": "a long enough password"})),
    )
    .await;
    assert_eq!(
        status, 401,
        "password hashes do not travel in exports: {body}"
    );
    let mut visitor = Client::hello(server.addr(), Codec::Json, "visitor").await;
    let ServerMsg::Joined { objects, chat, .. } = visitor.join("gallery").await else {
        panic!("the invited visitor joins the private space");
    };
    assert_eq!(objects.len(), 4);
    assert!(objects.iter().any(|o| o.model == model_id));
    assert_eq!(chat.len(), 3);
    let (status, _) = http(
        server.addr(),
        "GET",
        &format!("/api/models/{model_id}/file"),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200, "the model's file is found in the same storage");
    server.stop().await;
}
