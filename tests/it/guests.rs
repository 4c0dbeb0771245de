//! A guest is an identity, not a name: its first `hello` gives it a secret, and only the
//! holder of that secret (or of one of its sessions) is that guest again, over a reconnect,
//! a restart, or a registration. Before, anyone saying the name became the guest (moving
//! its objects, closing its session), and registering the name inherited its objects.

use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg};
use serde_json::json;
use uuid::Uuid;

use plaza::config::SecretUrl;

use crate::services::PgSchema;
use crate::support::{Client, TestServer, http_json};

#[tokio::test]
async fn only_the_holder_of_a_guests_secret_is_that_guest() {
    only_the_secret_holder(TestServer::start().await).await;
}

#[tokio::test]
async fn only_the_holder_of_a_guests_secret_is_that_guest_on_postgres() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    only_the_secret_holder(
        TestServer::start_with(|c| c.database_url = Some(SecretUrl::new(url))).await,
    )
    .await;
}

#[tokio::test]
async fn registering_a_guest_name_needs_that_guests_proof() {
    registering_needs_proof(TestServer::start().await).await;
}

#[tokio::test]
async fn registering_a_guest_name_needs_that_guests_proof_on_postgres() {
    let schema = PgSchema::new().await;
    let url = schema.url();
    registering_needs_proof(
        TestServer::start_with(|c| c.database_url = Some(SecretUrl::new(url))).await,
    )
    .await;
}

async fn only_the_secret_holder(server: TestServer) {
    let addr = server.addr();
    let mut first = server.client(Codec::Json, "carol").await;
    let secret = first
        .guest_secret
        .clone()
        .expect("a new guest gets a secret");
    assert_eq!(secret.len(), 64);
    first.join("garden").await;
    let object = first.spawn(1, [1.0, 0.0, 0.0]).await;

    // Someone else says the name: no secret, or a wrong one, is refused.
    for attempt in [
        ClientMsg::hello("carol"),
        ClientMsg::hello_again("carol", "0".repeat(64)),
        ClientMsg::hello_again("carol", ""),
    ] {
        let mut imposter = Client::connect(addr, Codec::Json).await;
        imposter.send(&attempt).await;
        let message = imposter.expect_error(ErrorCode::Unauthorized).await;
        assert!(message.contains("taken"), "{message}");
    }
    // The real guest was not disturbed: still connected, still owning its object.
    first.tick().await;
    first
        .send(&ClientMsg::Move {
            id: object,
            transform: plaza_net::WireTransform::at([2.0, 0.0, 0.0]),
            request: None,
        })
        .await;
    first
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => {
                objects.iter().any(|o| o.id == object).then_some(())
            }
            _ => None,
        })
        .await;

    // With the secret, the guest comes back as itself (and is not given a new secret).
    let again = server
        .client_again(Codec::Postcard, "carol", &Some(secret.clone()))
        .await;
    assert_eq!(again.user, first.user);
    server.stop().await;
}

async fn registering_needs_proof(server: TestServer) {
    let addr = server.addr();
    let guest = server.client(Codec::Json, "dave").await;
    let secret = guest.guest_secret.clone().expect("a secret");
    let register = async |body: serde_json::Value, token: Option<&str>| {
        http_json(addr, "POST", "/api/users", token, Some(body)).await
    };
    let password = "correct horse battery";
    // Without proof, or with another guest's session, the name is taken.
    let (status, body) = register(json!({"name": "dave", "password": password}), None).await;
    assert_eq!(status, 409, "{body}");
    let other = server.client(Codec::Json, "eve").await;
    let (status, _) = register(
        json!({"name": "dave", "password": password}),
        Some(&other.token),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = register(
        json!({"name": "dave", "password": password, "guest_secret": "f".repeat(64)}),
        None,
    )
    .await;
    assert_eq!(status, 409);
    // With its secret, the guest becomes a registered user, keeping its id.
    let (status, account) = register(
        json!({"name": "dave", "password": password, "guest_secret": secret}),
        None,
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["user"], json!(guest.user));
    assert_eq!(account["registered"], true);

    // A guest's own session token is proof too.
    let frank = server.client(Codec::Json, "frank").await;
    let (status, account) = register(
        json!({"name": "frank", "password": password}),
        Some(&frank.token),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["user"], json!(frank.user));
    server.stop().await;
}

/// A guest from before guest secrets (or imported: a user without a password or secret)
/// is claimed by its first `hello`, which gets the secret; from then on it is protected.
#[tokio::test]
async fn a_guest_from_before_secrets_is_claimed_once() {
    let server = TestServer::start().await;
    let id = Uuid::new_v4();
    let kept = server
        .server
        .edge()
        .store
        .durable
        .ensure_user(id, "old-timer", 0)
        .await
        .expect("a user");
    assert_eq!(kept, id);
    let claimant = server.client(Codec::Json, "old-timer").await;
    assert_eq!(claimant.user, id, "the existing guest is claimed");
    assert!(claimant.guest_secret.is_some(), "and given a secret");
    let mut late = Client::connect(server.addr(), Codec::Json).await;
    late.send(&ClientMsg::hello("old-timer")).await;
    late.expect_error(ErrorCode::Unauthorized).await;
    server.stop().await;
}
