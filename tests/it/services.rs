//! Real PostgreSQL and Redis for tests: each test gets its own schema and key prefix, so
//! tests run in parallel. A test that cannot reach a service fails; it never skips.
//! Addresses come from `DATABASE_URL` and `REDIS_URL` (defaults: the local services).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::postgres::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}

/// A fresh schema in the test database, dropped when this value is.
pub struct PgSchema {
    pub name: String,
    pub pool: PgPool,
}

impl PgSchema {
    pub async fn new() -> Self {
        let name = format!("it_{}", Uuid::new_v4().simple());
        let pool = PgPool::connect(&database_url()).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is unreachable ({e}); run ./scripts/test.sh, which starts it",
                database_url()
            )
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&pool)
            .await
            .expect("creates a schema");
        let scoped = PgPool::connect(&self_url(&database_url(), &name))
            .await
            .expect("connects to the schema");
        pool.close().await;
        Self { name, pool: scoped }
    }

    /// The database URL with this schema as the search path.
    pub fn url(&self) -> String {
        self_url(&database_url(), &self.name)
    }

    /// The same, through a proxy at `addr`.
    pub fn url_via(&self, addr: SocketAddr) -> String {
        self.url()
            .replacen(&host_port(&database_url()), &addr.to_string(), 1)
    }
}

fn self_url(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // On its own thread (this may run inside the test's runtime), and waited for, so
        // the schema is gone before the test binary exits. Failure harms nothing: the test
        // command clears leftover test schemas before each run.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(pool) = PgPool::connect(&database_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
                        .execute(&pool)
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A unique Redis key prefix and a connection to inspect what is stored under it.
pub struct RedisSpace {
    pub prefix: String,
    pub conn: redis::aio::MultiplexedConnection,
}

impl RedisSpace {
    pub async fn new() -> Self {
        let client = redis::Client::open(redis_url()).expect("a valid REDIS_URL");
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Redis at {} is unreachable ({e}); run ./scripts/test.sh, which starts it",
                    redis_url()
                )
            });
        Self {
            prefix: format!("it:{}:", Uuid::new_v4().simple()),
            conn,
        }
    }

    pub fn url_via(addr: SocketAddr) -> String {
        redis_url().replacen(&host_port(&redis_url()), &addr.to_string(), 1)
    }

    pub async fn cmd<T: redis::FromRedisValue>(&mut self, args: &[&[u8]]) -> T {
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("a command name"));
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query_async(&mut self.conn)
            .await
            .expect("redis answers")
    }
}

/// A TCP proxy whose connections a test can cut and restore, to make a store unreachable
/// for real.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("has an address");
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0_u64);
        let (accept_up, accept_cut) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = accept_cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, cut }
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

pub fn redis_target() -> String {
    host_port(&redis_url())
}

pub fn postgres_target() -> String {
    host_port(&database_url())
}
