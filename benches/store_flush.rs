//! Store throughput against the real PostgreSQL and Redis, each beside a raw baseline
//! measured in the same run:
//! - Postgres flush of 10k and 1k object upserts (array binds and binary COPY) vs. the raw
//!   floor: a prebuilt binary COPY into a staging table plus one UPDATE, no Plaza code.
//! - Redis snapshot update of 10k objects vs. one bare HSET of the same prebuilt bytes.
//! - Loading a 100k-object space from Redis and from Postgres vs. fetching the same rows
//!   without decoding them.
//!
//! Needs the services (`./scripts/test.sh` starts them; URLs from DATABASE_URL/REDIS_URL).
//! Run: `cargo bench --bench store_flush`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glam::{Quat, Vec3};
use plaza::Config;
use plaza::config::{PgUpsert, SecretUrl};
use plaza::store::postgres::binary_copy;
use plaza::store::{PostgresStore, RedisSnapshots, SnapshotChanges, Store};
use plaza_systems::Rows;
use plaza_systems::{ObjectRecord, ObjectState, Transform};
use sqlx::postgres::PgPool;
use tokio::runtime::Runtime;
use uuid::Uuid;

const SPACE_OBJECTS: usize = 100_000;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

struct Fixture {
    runtime: Runtime,
    config: Config,
    schema: String,
    unnest: PostgresStore,
    copy: PostgresStore,
    store: Store,
    redis: RedisSnapshots,
    raw_redis: redis::aio::MultiplexedConnection,
    pool: PgPool,
    space: Uuid,
    owner: Uuid,
    ids: Vec<Uuid>,
    version: u64,
}

fn object(id: Uuid, owner: Uuid, n: usize, version: u64) -> ObjectState {
    ObjectState {
        id,
        index: 0,
        model: Arc::from("cube"),
        transform: Transform {
            translation: Vec3::new(n as f32, version as f32, 0.5),
            rotation: Quat::IDENTITY,
            scale: Vec3::ONE,
        },
        props: Arc::from(r#"{"color":"red","n":1}"#),
        owner,
        version,
    }
}

impl Fixture {
    fn new() -> Self {
        let runtime = Runtime::new().expect("a runtime");
        let schema = format!("bench_{}", Uuid::new_v4().simple());
        let url = format!("{}?options[search_path]={schema}", database_url());
        let config = Config {
            database_url: Some(SecretUrl::new(url.clone())),
            redis_url: Some(SecretUrl::new(redis_url())),
            redis_prefix: format!("bench:{}:", Uuid::new_v4().simple()),
            ..Config::default()
        };
        runtime.block_on(async {
            let admin = PgPool::connect(&database_url())
                .await
                .expect("PostgreSQL answers");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .expect("schema");
            admin.close().await;
        });
        let url = SecretUrl::new(url);
        let unnest_config = Config {
            pg_upsert: PgUpsert::Unnest,
            ..config.clone()
        };
        let unnest = runtime
            .block_on(PostgresStore::open(&url, &unnest_config))
            .expect("postgres store");
        let copy_config = Config {
            pg_upsert: PgUpsert::Copy,
            migrate_on_start: false,
            ..config.clone()
        };
        let copy = runtime
            .block_on(PostgresStore::open(&url, &copy_config))
            .expect("postgres store");
        let store = runtime
            .block_on(Store::open(&Config {
                migrate_on_start: false,
                ..config.clone()
            }))
            .expect("store");
        let redis = store.snapshots.clone().expect("redis configured");
        let raw_redis = runtime
            .block_on(
                redis::Client::open(redis_url())
                    .expect("url")
                    .get_multiplexed_async_connection(),
            )
            .expect("Redis answers");
        let pool = unnest.pool().clone();
        let (space, owner) = (Uuid::new_v4(), Uuid::new_v4());
        let ids: Vec<Uuid> = (0..SPACE_OBJECTS).map(|_| Uuid::new_v4()).collect();
        let mut fixture = Self {
            runtime,
            config,
            schema,
            unnest,
            copy,
            store,
            redis,
            raw_redis,
            pool,
            space,
            owner,
            ids,
            version: 1,
        };
        fixture.runtime.block_on(async {
            sqlx::query("INSERT INTO users (id, name) VALUES ($1, 'bench')")
                .bind(fixture.owner)
                .execute(&fixture.pool)
                .await
                .expect("a user");
            sqlx::query("INSERT INTO spaces (id, name) VALUES ($1, 'bench')")
                .bind(fixture.space)
                .execute(&fixture.pool)
                .await
                .expect("a space");
        });
        let batch = fixture.batch(SPACE_OBJECTS);
        fixture
            .runtime
            .block_on(fixture.unnest.write(&batch, 10_000, None))
            .expect("100k objects stored");
        fixture
    }

    /// The next version of the first `count` objects.
    fn batch(&mut self, count: usize) -> Rows {
        self.version += 1;
        let upserts = self.ids[..count]
            .iter()
            .enumerate()
            .map(|(n, &id)| ObjectRecord {
                space: self.space,
                state: object(id, self.owner, n, self.version),
            })
            .collect();
        Rows {
            objects: upserts,
            ..Rows::default()
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        let prefix = self.config.redis_prefix.clone();
        let mut redis = self.raw_redis.clone();
        self.runtime.block_on(async move {
            if let Ok(admin) = PgPool::connect(&database_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await;
            }
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut redis)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut redis).await;
            }
        });
    }
}

fn timed<F: std::future::Future>(
    runtime: &Runtime,
    iters: u64,
    mut make: impl FnMut() -> F,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let future = make();
        let start = Instant::now();
        runtime.block_on(future);
        total += start.elapsed();
    }
    total
}

fn postgres_flush(c: &mut Criterion) {
    let mut fx = Fixture::new();
    let mut group = c.benchmark_group("pg_flush");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    for rows in [1_000, 10_000] {
        group.throughput(Throughput::Elements(rows as u64));
        for (name, upsert) in [("unnest", PgUpsert::Unnest), ("copy", PgUpsert::Copy)] {
            group.bench_function(BenchmarkId::new(name, rows), |b| {
                b.iter_custom(|iters| {
                    let batches: Vec<Rows> = (0..iters).map(|_| fx.batch(rows)).collect();
                    let store = if upsert == PgUpsert::Unnest {
                        fx.unnest.clone()
                    } else {
                        fx.copy.clone()
                    };
                    let mut batches = batches.into_iter();
                    timed(&fx.runtime, iters, || {
                        let (store, batch) = (
                            store.clone(),
                            batches.next().expect("one batch per iteration"),
                        );
                        async move { store.write(&batch, 10_000, None).await.expect("flush") }
                    })
                })
            });
        }
        // Raw floor: the same rows as prebuilt binary COPY, then one UPDATE; no Plaza code.
        group.bench_function(BenchmarkId::new("raw_copy_update", rows), |b| {
            b.iter_custom(|iters| {
                let payloads: Vec<Vec<u8>> = (0..iters)
                    .map(|_| binary_copy(&fx.batch(rows).objects))
                    .collect();
                let mut payloads = payloads.into_iter();
                let pool = fx.pool.clone();
                timed(&fx.runtime, iters, || {
                    let (pool, payload) = (
                        pool.clone(),
                        payloads.next().expect("one payload per iteration"),
                    );
                    async move { raw_copy_update(&pool, payload).await }
                })
            })
        });
    }
    group.finish();
}

async fn raw_copy_update(pool: &PgPool, payload: Vec<u8>) {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS raw_staging (id uuid, space_id uuid, model text,
         px real, py real, pz real, rx real, ry real, rz real, rw real, sx real, sy real, sz real,
         props jsonb, owner_id uuid, version int8) ON COMMIT DELETE ROWS",
    )
    .execute(&mut *tx)
    .await
    .expect("staging");
    let mut copy = tx
        .copy_in_raw("COPY raw_staging FROM STDIN (FORMAT binary)")
        .await
        .expect("copy");
    copy.send(payload).await.expect("send");
    copy.finish().await.expect("finish");
    sqlx::query(
        "UPDATE world_objects o SET px = s.px, py = s.py, pz = s.pz, rx = s.rx, ry = s.ry, rz = s.rz,
         rw = s.rw, sx = s.sx, sy = s.sy, sz = s.sz, props = s.props, version = s.version, updated_at = now()
         FROM raw_staging s WHERE o.id = s.id",
    )
    .execute(&mut *tx)
    .await
    .expect("update");
    tx.commit().await.expect("commit");
}

fn redis_snapshot(c: &mut Criterion) {
    let mut fx = Fixture::new();
    let mut group = c.benchmark_group("redis_snapshot");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let rows = 10_000;
    group.throughput(Throughput::Elements(rows as u64));
    // Outside a cluster (plain commands) and in one (the epoch-fenced script).
    for (name, epoch) in [("plaza", 0), ("plaza_fenced", 1)] {
        group.bench_function(BenchmarkId::new(name, rows), |b| {
            b.iter_custom(|iters| {
                let changes: Vec<SnapshotChanges> = (0..iters)
                    .map(|_| {
                        let batch = fx.batch(rows);
                        let mut changes = SnapshotChanges::default();
                        changes.merge_flush(&batch, &[(fx.space, fx.version)]);
                        changes
                    })
                    .collect();
                let mut changes = changes.into_iter();
                let redis = fx.redis.clone();
                timed(&fx.runtime, iters, || {
                    let (redis, change) = (
                        redis.clone(),
                        changes.next().expect("one set per iteration"),
                    );
                    async move {
                        redis
                            .write(&change, |_| Some(epoch))
                            .await
                            .expect("snapshot update")
                    }
                })
            })
        });
    }
    // Raw floor: one HSET of 10k prebuilt field/value pairs.
    let key = format!("{}raw", fx.config.redis_prefix);
    group.bench_function(BenchmarkId::new("raw_hset", rows), |b| {
        let values: Vec<(Vec<u8>, Vec<u8>)> = fx.ids[..rows]
            .iter()
            .map(|id| (id.as_bytes().to_vec(), vec![7u8; 60]))
            .collect();
        b.iter_custom(|iters| {
            let conn = fx.raw_redis.clone();
            timed(&fx.runtime, iters, || {
                let mut conn = conn.clone();
                let (key, values) = (key.clone(), values.clone());
                async move {
                    let mut cmd = redis::cmd("HSET");
                    cmd.arg(&key);
                    for (field, value) in &values {
                        cmd.arg(field.as_slice()).arg(value.as_slice());
                    }
                    let _: i64 = cmd.query_async(&mut conn).await.expect("hset");
                }
            })
        })
    });
    group.finish();
}

fn load_space(c: &mut Criterion) {
    let fx = Fixture::new();
    let mut group = c.benchmark_group("load_space");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(SPACE_OBJECTS as u64));
    let version: i64 = fx
        .runtime
        .block_on(
            sqlx::query_scalar("SELECT version FROM spaces WHERE id = $1")
                .bind(fx.space)
                .fetch_one(&fx.pool),
        )
        .expect("the space");
    let objects = fx
        .runtime
        .block_on(fx.store.durable.space_objects(fx.space))
        .expect("objects");
    assert_eq!(objects.len(), SPACE_OBJECTS);
    fx.runtime
        .block_on(fx.redis.rewarm(fx.space, version as u64, &objects, 0));
    let store = fx.store.clone();
    group.bench_function("redis", |b| {
        b.iter(|| {
            let loaded = fx
                .runtime
                .block_on(store.load_space("bench", 50))
                .expect("loads");
            assert_eq!(loaded.objects.len(), SPACE_OBJECTS);
        })
    });
    group.bench_function("postgres", |b| {
        b.iter(|| {
            fx.runtime
                .block_on(store.durable.space_objects(fx.space))
                .expect("loads")
                .len()
        })
    });
    let key = format!("{}space:{}", fx.config.redis_prefix, fx.space);
    group.bench_function("raw_redis_hgetall", |b| {
        b.iter(|| {
            let mut conn = fx.raw_redis.clone();
            let fields: Vec<(Vec<u8>, Vec<u8>)> = fx
                .runtime
                .block_on(redis::cmd("HGETALL").arg(&key).query_async(&mut conn))
                .expect("hgetall");
            fields.len()
        })
    });
    group.bench_function("raw_postgres_fetch", |b| {
        b.iter(|| {
            fx.runtime
                .block_on(
                    sqlx::query("SELECT * FROM world_objects WHERE space_id = $1")
                        .bind(fx.space)
                        .fetch_all(&fx.pool),
                )
                .expect("rows")
                .len()
        })
    });
    group.finish();
    assert!(
        store
            .stats
            .snapshot_hits
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "the redis path was measured"
    );
}

criterion_group!(benches, postgres_flush, redis_snapshot, load_space);
criterion_main!(benches);
