//! Starting and stopping a whole server: store, writer, loader, tick thread, HTTP, QUIC,
//! WebTransport and maintenance. The composition root: it wires the parts together and
//! owns their tasks.
//!
//! Shutdown order: stop accepting connections, stop the tick thread after one last tick
//! (which closes every connection and hands over the last writes), wait for connections
//! to finish, let the writer flush everything pending, close the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use plaza_systems::build_app;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::now_ms;
use crate::cluster::Cluster;
use crate::config::{Config, ConfigError};
use crate::edge::transport::{quic, webtransport};
use crate::edge::{Edge, Published};
use crate::host::datagrams::DatagramPost;
use crate::host::loader::load_spaces;
use crate::host::tick::TickLoop;
use crate::ops::maintenance;
use crate::store::writer::{self, WriteSender, WriterConfig, WriterReport};
use crate::store::{Fences, Store, StoreError};
use crate::telemetry::StageClockPlugin;
use crate::tls::Identity;

/// How long a node stopping after a drain waits for other nodes to take over the sessions
/// it sent them (each client reconnects there at once; a client that does not is not
/// waited for longer).
pub const TAKEOVER_WAIT: Duration = Duration::from_secs(3);
use crate::uploads::storage::{FileStore, StorageError};

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; is another server using the port?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The tick thread could not be started or died.
    #[error("tick thread failed: {0}")]
    TickThread(String),
    /// The TLS certificate could not be made or read.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The QUIC endpoint could not start.
    #[error(transparent)]
    Quic(#[from] quic::QuicError),
    /// The WebTransport endpoint could not start.
    #[error(transparent)]
    WebTransport(#[from] webtransport::WebTransportError),
    /// The upload storage could not be opened.
    #[error("cannot open the upload storage: {0}")]
    Storage(#[from] StorageError),
}

type WebTransportEndpoint = wtransport::Endpoint<wtransport::endpoint::endpoint_side::Server>;

/// A running server.
pub struct Server {
    addr: SocketAddr,
    store: Store,
    edge: Arc<Edge>,
    stop_accepting: oneshot::Sender<()>,
    http: JoinHandle<()>,
    tick_stop: Arc<AtomicBool>,
    tick_thread: std::thread::JoinHandle<()>,
    writer: JoinHandle<WriterReport>,
    loader: JoinHandle<()>,
    quic: Option<quinn::Endpoint>,
    webtransport: Option<Arc<WebTransportEndpoint>>,
    webtransport_accept: Option<JoinHandle<()>>,
    maintenance: JoinHandle<()>,
    /// The heartbeat task and its stop signal, in a cluster.
    heartbeat: Option<(tokio::sync::watch::Sender<bool>, JoinHandle<()>)>,
}

/// The UDP endpoints, once bound.
struct Udp {
    quic: Option<quinn::Endpoint>,
    webtransport: Option<(Arc<WebTransportEndpoint>, JoinHandle<()>)>,
}

impl Server {
    /// Opens the store and starts serving on `config.listen`, in phases: the store (closing
    /// sessions a previous run left open), the writer, the edge state, the loader and the
    /// tick thread, then the listeners and maintenance.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        config.validate()?;
        let identity = Identity::load_or_generate(
            config.tls_cert_path.as_deref(),
            config.tls_key_path.as_deref(),
        )?;
        let store = open_store(&config).await?;
        let files = if config.uploads_enabled {
            Some(FileStore::open(&config)?)
        } else {
            None
        };
        let published = Published::default();
        let cluster = Cluster::from_config(&config, &store);
        let fences = cluster.as_ref().map(|c| c.fences.clone());
        let (write_sender, writer) = spawn_writer(&config, &store, &published, fences);
        if let Some(cluster) = &cluster {
            let _ = cluster.probe.set(write_sender.probe());
        }
        let (envelope_tx, envelope_rx) = crossbeam_channel::unbounded();
        let edge = Arc::new(Edge::new(
            config.clone(),
            store.clone(),
            envelope_tx,
            &published,
            identity.sha256,
            files,
            cluster.clone(),
        ));
        // Models imported or uploaded by another run: spawns may name them from the start.
        edge.limits.models.extend(store.durable.model_ids().await?);
        let (load_tx, load_rx) = mpsc::unbounded_channel();
        let loader = tokio::spawn(load_spaces(load_rx, edge.clone()));
        let tick_stop = Arc::new(AtomicBool::new(false));
        let (datagram_post, posting) = DatagramPost::new(published.telemetry.clone());
        tokio::spawn(posting);
        let tick_loop = TickLoop {
            envelopes: envelope_rx,
            loads: load_tx,
            writer: write_sender,
            period: config.tick_period(),
            stop: tick_stop.clone(),
            stats: published.tick.clone(),
            telemetry: published.telemetry.clone(),
            directory: published.directory.clone(),
            outbound_queue_frames: config.outbound_queue_frames,
            datagram_post,
        };
        let tick_thread = spawn_tick_thread(&config, tick_loop)?;
        let (addr, stop_accepting, http) = serve_http(&config, &edge).await?;
        let udp = bind_udp(&config, &identity, &edge)?;
        let maintenance = tokio::spawn(maintenance::run(
            store.durable.clone(),
            maintenance::Retention {
                event_days: config.event_retention_days,
                session_days: config.session_retention_days,
            },
            Duration::from_secs(config.maintenance_interval_secs),
        ));
        let (webtransport, webtransport_accept) = udp.webtransport.unzip();
        let mut server = Self {
            heartbeat: None,
            maintenance,
            addr,
            store,
            edge,
            stop_accepting,
            http,
            tick_stop,
            tick_thread,
            writer,
            loader,
            quic: udp.quic,
            webtransport,
            webtransport_accept,
        };
        server.announce(&config, &identity);
        if let Some(cluster) = &server.edge.cluster {
            // The first heartbeat before the node serves: a node started in a rolling
            // restart is at once a target for the next node's drain.
            if let Err(error) = crate::cluster::heartbeat::beat(cluster, &server.edge, 0.0).await {
                tracing::warn!(%error, "the first cluster heartbeat failed; the next one retries");
            }
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(crate::cluster::heartbeat::run(
                cluster.clone(),
                server.edge.clone(),
                stopped.clone(),
            ));
            tokio::spawn(crate::cluster::notices::run(
                cluster.clone(),
                server.edge.clone(),
                stopped,
            ));
            server.heartbeat = Some((stop, task));
            tracing::info!(node = %cluster.node, lease_ms = cluster.lease_ms, "cluster: this node shares spaces with every node on the same database");
        }
        Ok(server)
    }

    /// Says where the server listens, and which certificate QUIC and WebTransport present.
    fn announce(&self, config: &Config, identity: &Identity) {
        let (quic_addr, webtransport_addr) = (self.quic_addr(), self.webtransport_addr());
        self.edge.set_ports(quic_addr, webtransport_addr);
        if let Some(cluster) = &self.edge.cluster {
            let (quic, webtransport) = self.edge.ports();
            cluster.set_ports(self.addr.port(), quic, webtransport, identity.sha256_hex());
        }
        tracing::info!(
            cert_sha256 = %identity.sha256_hex(),
            self_signed = identity.generated_validity.is_some(),
            "TLS certificate for QUIC (its SHA-256 is also at GET /cert-hash)"
        );
        tracing::info!(addr = %self.addr, quic = ?quic_addr, webtransport = ?webtransport_addr, tick_rate_hz = config.tick_rate_hz, "plaza serving; WebSocket at /ws");
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The UDP address QUIC listens on, if enabled.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.quic.as_ref().and_then(|e| e.local_addr().ok())
    }

    /// The UDP address WebTransport listens on, if enabled.
    pub fn webtransport_addr(&self) -> Option<SocketAddr> {
        self.webtransport.as_ref().and_then(|e| e.local_addr().ok())
    }

    /// The state shared with the transports: counters, gates, the store.
    pub fn edge(&self) -> &Arc<Edge> {
        &self.edge
    }

    /// Waits (at most [`TAKEOVER_WAIT`]) until the nodes the people here were sent to have
    /// taken their sessions over, which they ask this node's HTTP listener for.
    async fn await_session_takeovers(&self) {
        let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
        loop {
            let waiting = self.edge.resumable.awaiting_takeover();
            if waiting == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::info!(
                    waiting,
                    "sessions not taken over by other nodes; they end here"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops gracefully: everything pending is flushed before this returns. In a cluster
    /// with `drain_on_shutdown`, the node's spaces are handed to other nodes first.
    pub async fn shutdown(self) -> Result<WriterReport, ServerError> {
        if let Some(cluster) = &self.edge.cluster
            && self.edge.config.drain_on_shutdown
        {
            match crate::cluster::handoff::drain(cluster, &self.edge).await {
                Ok(report) => tracing::info!(%report, "drained before stopping"),
                Err(error) => tracing::warn!(%error, "could not drain before stopping"),
            }
            self.await_session_takeovers().await;
        }
        let _ = self.stop_accepting.send(());
        self.tick_stop.store(true, Ordering::Release);
        let tick_thread = self.tick_thread;
        tokio::task::spawn_blocking(move || tick_thread.join())
            .await
            .map_err(|e| ServerError::TickThread(e.to_string()))?
            .map_err(|_| ServerError::TickThread("the tick thread panicked".into()))?;
        // Connections were told to close; give them a moment to say goodbye.
        if tokio::time::timeout(Duration::from_secs(5), self.http)
            .await
            .is_err()
        {
            tracing::warn!("connections still open 5 s after shutdown began; dropping them");
        }
        // wtransport's accept panics on a closed endpoint: stop accepting first.
        if let Some(accept) = self.webtransport_accept {
            accept.abort();
            let _ = accept.await;
        }
        if let Some(endpoint) = &self.webtransport {
            endpoint.close(wtransport::VarInt::from_u32(1001), b"server shutting down");
        }
        if let Some(endpoint) = &self.quic {
            endpoint.close(quinn::VarInt::from_u32(1001), b"server shutting down");
            let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        }
        self.loader.abort();
        self.maintenance.abort();
        if let Some((stop, task)) = self.heartbeat {
            let _ = stop.send(true);
            let _ = task.await;
        }
        let report = self
            .writer
            .await
            .map_err(|e| ServerError::TickThread(e.to_string()))?;
        if let Some(cluster) = &self.edge.cluster {
            // Only after the last flush: the spaces are claimable at once, nothing lost.
            cluster.leave(report.unwritten_rows == 0).await;
        }
        self.store.close().await;
        tracing::info!(unwritten_rows = report.unwritten_rows, "plaza stopped");
        Ok(report)
    }
}

/// Opens the stores and closes the sessions a previous run left open.
async fn open_store(config: &Config) -> Result<Store, ServerError> {
    let store = Store::open(config).await?;
    let closed = store
        .durable
        .close_open_sessions(now_ms(), "server restarted")
        .await?;
    if closed > 0 {
        tracing::info!(closed, "closed sessions left open by the previous run");
    }
    Ok(store)
}

/// Starts the store writer, publishing its counters in `published`.
fn spawn_writer(
    config: &Config,
    store: &Store,
    published: &Published,
    fences: Option<Arc<Fences>>,
) -> (WriteSender, JoinHandle<WriterReport>) {
    let writer_config = WriterConfig {
        flush_interval: Duration::from_millis(config.flush_interval_ms),
        max_batch_rows: config.max_batch_rows,
        shutdown_timeout: Duration::from_millis(config.shutdown_flush_timeout_ms),
        write_timeout: Duration::from_millis(config.store_statement_timeout_ms * 2),
        parallel_writes: config.parallel_writes,
        fences,
    };
    writer::spawn(store.clone(), writer_config, published.writer.clone())
}

/// Starts the tick thread; the world is built on it (it is not `Send`).
fn spawn_tick_thread(
    config: &Config,
    tick_loop: TickLoop,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    let (limits, id_seed) = (config.world_limits(), uuid::Uuid::new_v4().as_u128());
    std::thread::Builder::new()
        .name("plaza-tick".into())
        .spawn(move || {
            let mut app = build_app(limits, id_seed);
            app.add_plugins(StageClockPlugin);
            tick_loop.run(app)
        })
        .map_err(|e| ServerError::TickThread(e.to_string()))
}

/// Binds the HTTP port and serves it: the bound address, the sender that stops accepting,
/// and the accept loop's task.
async fn serve_http(
    config: &Config,
    edge: &Arc<Edge>,
) -> Result<(SocketAddr, oneshot::Sender<()>, JoinHandle<()>), ServerError> {
    let bind_error = |source| ServerError::Bind {
        addr: config.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let (stop_accepting, stopped) = oneshot::channel::<()>();
    let app = crate::http::router(edge.clone());
    let http = tokio::spawn(crate::http::listener::serve(
        listener,
        app,
        edge.clone(),
        stopped,
    ));
    Ok((addr, stop_accepting, http))
}

/// Binds QUIC and WebTransport, where enabled, and starts accepting on them.
fn bind_udp(config: &Config, identity: &Identity, edge: &Arc<Edge>) -> Result<Udp, ServerError> {
    let quic = if config.quic_enabled {
        let endpoint = quic::endpoint(config, identity)?;
        tokio::spawn(quic::serve(endpoint.clone(), edge.clone()));
        Some(endpoint)
    } else {
        None
    };
    let webtransport = if config.webtransport_enabled {
        let endpoint = Arc::new(webtransport::endpoint(config, identity)?);
        let accept = tokio::spawn(webtransport::serve(endpoint.clone(), edge.clone()));
        Some((endpoint, accept))
    } else {
        None
    };
    Ok(Udp { quic, webtransport })
}
