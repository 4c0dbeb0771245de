//! The reads behind the HTTP API, on both durable stores, each beside a baseline measured
//! in the same run:
//! - a page of 50 chat lines from the middle of a 100k-line history (cursor by line id) vs.
//!   a one-row lookup of a space by name (the cheapest indexed read there is);
//! - the public space listing (100 of 200 spaces, with object counts over 100k objects);
//! - checking a password (argon2id, default parameters) vs. hashing a token (SHA-256).
//!
//! Needs PostgreSQL (`./scripts/test.sh` starts it; URL from DATABASE_URL).
//! Run: `cargo bench --bench api_reads`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use glam::{Quat, Vec3};
use plaza::Config;
use plaza::config::SecretUrl;
use plaza::store::accounts::ChatCursor;
use plaza::store::{Durable, NewSpace, Store};
use plaza_systems::Rows;
use plaza_systems::{ChatLine, ObjectRecord, ObjectState, Transform};
use sqlx::postgres::PgPool;
use tokio::runtime::Runtime;
use uuid::Uuid;

const CHAT_LINES: usize = 100_000;
const SPACES: usize = 200;
const OBJECTS_PER_SPACE: usize = 500;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

struct Fixture {
    runtime: Runtime,
    stores: Vec<(&'static str, Store)>,
    schema: String,
    _dir: tempfile::TempDir,
    hall: Uuid,
    middle: Uuid,
}

/// 200 spaces of 500 objects, and 100k chat lines in the first, "hall".
async fn seed(store: &Durable, hall: Uuid) -> Uuid {
    let user = store
        .ensure_user(Uuid::new_v4(), "bencher", 0)
        .await
        .expect("a user");
    let mut spaces = Vec::with_capacity(SPACES);
    for n in 0..SPACES {
        let name = if n == 0 {
            "hall".to_string()
        } else {
            format!("space-{n:03}")
        };
        let new = NewSpace {
            id: if n == 0 { hall } else { Uuid::new_v4() },
            ..NewSpace::public(&name, 0)
        };
        spaces.push(store.ensure_space(&new).await.expect("a space").0);
    }
    for space in &spaces {
        let upserts = (0..OBJECTS_PER_SPACE)
            .map(|n| ObjectRecord {
                space: space.id,
                state: ObjectState {
                    id: Uuid::new_v4(),
                    index: 0,
                    model: Arc::from("cube"),
                    transform: Transform {
                        translation: Vec3::new(n as f32, 0.0, 0.0),
                        rotation: Quat::IDENTITY,
                        scale: Vec3::ONE,
                    },
                    props: Arc::from("{}"),
                    owner: user,
                    version: 1,
                },
            })
            .collect();
        let batch = Rows {
            objects: upserts,
            ..Rows::default()
        };
        store.write(&batch, 10_000, 0, None).await.expect("objects");
    }
    let mut ids = plaza_systems::IdGen::from_seed(7);
    let lines: Vec<ChatLine> = (0..CHAT_LINES)
        .map(|n| {
            let at_ms = 1_700_000_000_000 + (n as i64) * 250;
            ChatLine {
                id: ids.time_ordered(at_ms),
                space: hall,
                from: user,
                name: Arc::from("bencher"),
                text: Arc::from(format!("line {n}: the quick brown fox")),
                at_ms,
            }
        })
        .collect();
    let middle = lines[CHAT_LINES / 2].id;
    for chunk in lines.chunks(10_000) {
        let batch = Rows {
            chat: chunk.to_vec(),
            ..Rows::default()
        };
        store.write(&batch, 10_000, 0, None).await.expect("chat");
    }
    middle
}

impl Fixture {
    fn new() -> Self {
        let runtime = Runtime::new().expect("a runtime");
        let dir = tempfile::tempdir().expect("a directory");
        let schema = format!("bench_{}", Uuid::new_v4().simple());
        let hall = Uuid::new_v4();
        let (stores, middle) = runtime.block_on(async {
            let admin = PgPool::connect(&database_url())
                .await
                .expect("PostgreSQL answers");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .expect("schema");
            admin.close().await;
            let sqlite = Store::open(&Config {
                data_dir: dir.path().to_owned(),
                ..Config::default()
            })
            .await
            .expect("sqlite");
            let url = format!("{}?options[search_path]={schema}", database_url());
            let postgres = Store::open(&Config {
                database_url: Some(SecretUrl::new(url)),
                ..Config::default()
            })
            .await
            .expect("postgres");
            let middle = seed(&sqlite.durable, hall).await;
            let pg_middle = seed(&postgres.durable, hall).await;
            assert_eq!(middle, pg_middle, "the same seeded ids");
            if let Durable::Postgres(p) = &postgres.durable {
                sqlx::query("ANALYZE")
                    .execute(p.pool())
                    .await
                    .expect("analyze");
            }
            (vec![("sqlite", sqlite), ("postgres", postgres)], middle)
        });
        Self {
            runtime,
            stores,
            schema,
            _dir: dir,
            hall,
            middle,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        self.runtime.block_on(async move {
            if let Ok(admin) = PgPool::connect(&database_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await;
            }
        });
    }
}

fn api_reads(c: &mut Criterion) {
    let fixture = Fixture::new();
    let mut group = c.benchmark_group("api_reads");
    for (name, store) in &fixture.stores {
        let store = &store.durable;
        group.bench_function(format!("{name}/baseline_space_by_name"), |b| {
            b.iter(|| {
                fixture
                    .runtime
                    .block_on(store.space_header("hall"))
                    .expect("reads")
            })
        });
        group.bench_function(format!("{name}/chat_page_50_mid_100k"), |b| {
            b.iter(|| {
                let page = fixture
                    .runtime
                    .block_on(store.chat_page(
                        fixture.hall,
                        Some(ChatCursor::Line(fixture.middle)),
                        50,
                    ))
                    .expect("reads");
                assert_eq!(page.len(), 50);
                page
            })
        });
        group.bench_function(format!("{name}/public_spaces_100_of_200"), |b| {
            b.iter(|| {
                let spaces = fixture
                    .runtime
                    .block_on(store.spaces(true, 100))
                    .expect("reads");
                assert_eq!(spaces.len(), 100);
                spaces
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("auth");
    let stored = plaza::auth::hash_password("correct horse battery").expect("hashes");
    group.bench_function("baseline_token_sha256", |b| {
        b.iter(|| {
            plaza::auth::token_hash(
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            )
        })
    });
    group.bench_function("argon2id_verify", |b| {
        b.iter(|| {
            assert!(plaza::auth::verify_password(
                "correct horse battery",
                &stored
            ))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = api_reads
}
criterion_main!(benches);
