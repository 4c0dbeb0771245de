//! The HTTP listener: every accepted TCP connection takes a connection slot (or is answered
//! 503/429 and closed), then is served by hyper with a deadline on each request head
//! (`http_header_timeout_ms`, which also bounds a connection that sends nothing) and on each
//! request body (`http_body_timeout_ms`). A WebSocket upgrade carries its connection's slot
//! along ([`ConnSlot`]). Stopping stops accepting, asks open connections to finish their
//! request and waits for them (at most [`DRAIN`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

use crate::edge::Edge;
use crate::edge::slots::{Slot, SlotRefused};

/// How long stopping waits for open HTTP requests to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// The connection slot of the TCP connection a request came on, in its extensions. A
/// WebSocket upgrade takes it, so that the slot is held as long as the WebSocket is;
/// otherwise it goes back when the connection closes.
#[derive(Debug, Clone, Default)]
pub struct ConnSlot(Arc<Mutex<Option<Slot>>>);

impl ConnSlot {
    /// Takes the slot (once; later calls get `None`).
    pub fn take(&self) -> Option<Slot> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed while reading it.
    #[error(transparent)]
    Read(#[from] hyper::Error),
    /// It took longer than `http_body_timeout_ms` to arrive.
    #[error("the request body did not arrive within {0:?}; send it faster or in smaller parts")]
    TimedOut(Duration),
}

/// Whether `error`, or any error it was caused by, is [`BodyError::TimedOut`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(BodyError::TimedOut(_)) = error.downcast_ref::<BodyError>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BodyError::Read)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyError::TimedOut(this.limit))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    edge: Arc<Edge>,
    stop: oneshot::Receiver<()>,
) {
    let (drain, drain_signal) = watch::channel(());
    let (open, open_watch) = watch::channel(());
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, rather than spin.
                    tracing::warn!(%error, "accepting a TCP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let slot = match edge.slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                edge.rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::spawn(refuse(tcp, refused));
                continue;
            }
        };
        // Deltas are small writes every tick: without TCP_NODELAY, Nagle holds each one
        // until the previous is acknowledged, and delayed ACKs turn that into tens of ms.
        let _ = tcp.set_nodelay(true);
        let conn_slot = ConnSlot(Arc::new(Mutex::new(Some(slot))));
        let body_limit = Duration::from_millis(edge.config.http_body_timeout_ms);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(|inner| {
                Body::new(DeadlineBody {
                    inner,
                    deadline: Box::pin(tokio::time::sleep(body_limit)),
                    limit: body_limit,
                })
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(conn_slot.clone());
            router.clone().oneshot(request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(edge.config.http_header_timeout_ms));
        let mut drain_signal = drain_signal.clone();
        let open_watch = open_watch.clone();
        tokio::spawn(async move {
            let connection = builder
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(connection);
            let mut asked_to_finish = false;
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    _ = drain_signal.changed(), if !asked_to_finish => {
                        asked_to_finish = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(open_watch);
        });
    }
    drop(listener);
    let _ = drain.send(());
    drop(open_watch);
    if tokio::time::timeout(DRAIN, open.closed()).await.is_err() {
        tracing::warn!("HTTP connections still open {DRAIN:?} after shutdown began; leaving them");
    }
}

/// Answers a connection that got no slot, and closes it.
async fn refuse(mut tcp: TcpStream, refused: SlotRefused) {
    let (status, text) = match refused {
        SlotRefused::Full => ("503 Service Unavailable", refused.to_string()),
        SlotRefused::AddressFull => ("429 Too Many Requests", refused.to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(response.as_bytes())).await;
}
