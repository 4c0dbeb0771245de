//! Test support: a real server on port 0 with its own data directory, and a real WebSocket
//! client speaking either codec.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use plaza::{Config, Server};
use plaza_net::{ClientMsg, Codec, ErrorCode, PROTOCOL_VERSION, ServerMsg, WireTransform};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long a test waits for any one expected message.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server with a temporary data directory that lives as long as this value.
pub struct TestServer {
    pub server: Server,
    pub dir: TempDir,
    pub config: Config,
}

/// A configuration for tests: port 0, a fresh data directory, fast ticks and flushes.
pub fn test_config(dir: &TempDir) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        quic_listen: "127.0.0.1:0".parse().expect("a socket address"),
        webtransport_listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: dir.path().to_owned(),
        tick_rate_hz: 20,
        flush_interval_ms: 50,
        ..Config::default()
    }
}

impl TestServer {
    /// A server with the test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with the test configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = test_config(&dir);
        adjust(&mut config);
        Self::start_in(dir, config).await
    }

    /// A server on an existing data directory (for restarts).
    pub async fn start_in(dir: TempDir, config: Config) -> Self {
        let server = Server::start(config.clone())
            .await
            .expect("the server starts");
        Self {
            server,
            dir,
            config,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops gracefully and hands back the data directory and configuration.
    pub async fn stop(self) -> (TempDir, Config) {
        let report = self
            .server
            .shutdown()
            .await
            .expect("the server stops cleanly");
        assert_eq!(
            report.unwritten_rows, 0,
            "everything pending was written at shutdown"
        );
        (self.dir, self.config)
    }

    /// A client that said hello as `name`.
    pub async fn client(&self, codec: Codec, name: &str) -> Client {
        Client::hello(self.addr(), codec, name).await
    }

    /// A client that said hello as the guest `name` again, with the secret it was given.
    pub async fn client_again(&self, codec: Codec, name: &str, secret: &Option<String>) -> Client {
        let mut client = Client::connect(self.addr(), codec).await;
        let secret = secret
            .clone()
            .expect("the guest got a secret at its first hello");
        client
            .say(&ClientMsg::hello_again(name, secret.clone()))
            .await;
        client.guest_secret = Some(secret);
        client
    }
}

pub use plaza_net::{Closed, Received};

/// How a test client reaches the server: a raw WebSocket (so tests can send any frame), or
/// `plaza-net`'s client (QUIC).
enum Link {
    Ws(WebSocketStream<MaybeTlsStream<TcpStream>>),
    Net(plaza_net::Client),
}

/// A test client.
pub struct Client {
    link: Link,
    pub codec: Codec,
    pub session: Uuid,
    pub user: Uuid,
    /// The session token from welcome.
    pub token: String,
    /// The guest secret from a new guest's welcome (for its next hello).
    pub guest_secret: Option<String>,
    /// What compact motion refers to (raw WebSocket clients; plaza-net's keeps its own).
    mirror: plaza_net::Mirror,
    /// The resume token from welcome.
    pub resume: Option<String>,
}

impl Client {
    /// Connects without saying hello.
    pub async fn connect(addr: SocketAddr, codec: Codec) -> Self {
        Self::connect_with(addr, codec, None).await
    }

    /// Connects over WebSocket with a `Cookie` header, without saying hello.
    pub async fn connect_with_cookie(addr: SocketAddr, codec: Codec, cookie: &str) -> Self {
        Self::connect_with(addr, codec, Some(cookie)).await
    }

    async fn connect_with(addr: SocketAddr, codec: Codec, cookie: Option<&str>) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let query = if codec == Codec::Json {
            "?codec=json"
        } else {
            ""
        };
        let mut request = format!("ws://{addr}/ws{query}")
            .into_client_request()
            .expect("a request");
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert("cookie", cookie.parse().expect("a header value"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the WebSocket handshake succeeds");
        Self {
            link: Link::Ws(ws),
            codec,
            session: Uuid::nil(),
            user: Uuid::nil(),
            token: String::new(),
            guest_secret: None,
            mirror: plaza_net::Mirror::default(),
            resume: None,
        }
    }

    /// A test client on a `plaza-net` connection made elsewhere (say hello next).
    pub fn over_net(net: plaza_net::Client) -> Self {
        Self {
            codec: net.codec(),
            link: Link::Net(net),
            session: Uuid::nil(),
            user: Uuid::nil(),
            token: String::new(),
            guest_secret: None,
            mirror: plaza_net::Mirror::default(),
            resume: None,
        }
    }

    /// Connects over QUIC without saying hello.
    pub async fn connect_quic(server: &TestServer) -> Self {
        let addr = server.server.quic_addr().expect("QUIC is enabled");
        let net = plaza_net::Client::quic(addr, server.server.edge().cert_sha256)
            .await
            .expect("the QUIC handshake succeeds");
        Self::over_net(net)
    }

    /// Connects over WebTransport (`/wt`) with `codec` and says hello.
    pub async fn hello_wt(server: &TestServer, codec: Codec, name: &str) -> Self {
        let mut client = Self::connect_wt(server, codec).await;
        client.say_hello(name).await;
        client
    }

    /// Connects over WebTransport (`/wt`) with `codec` without saying hello.
    pub async fn connect_wt(server: &TestServer, codec: Codec) -> Self {
        let addr = server
            .server
            .webtransport_addr()
            .expect("WebTransport is enabled");
        let net = plaza_net::Client::webtransport(addr, server.server.edge().cert_sha256, codec)
            .await
            .expect("the WebTransport session opens");
        Self::over_net(net)
    }

    /// Connects over QUIC and says hello.
    pub async fn hello_quic(server: &TestServer, name: &str) -> Self {
        let mut client = Self::connect_quic(server).await;
        client.say_hello(name).await;
        client
    }

    /// The `plaza-net` client under a QUIC test client.
    pub fn net(&mut self) -> &mut plaza_net::Client {
        match &mut self.link {
            Link::Net(net) => net,
            Link::Ws(_) => panic!("this test client is a raw WebSocket"),
        }
    }

    /// Connects over WebSocket from the local address `from` (any 127.x.y.z works on
    /// loopback: a client at another address) and says hello.
    pub async fn hello_from(
        from: std::net::IpAddr,
        addr: SocketAddr,
        codec: Codec,
        name: &str,
    ) -> Self {
        let query = if codec == Codec::Json {
            "?codec=json"
        } else {
            ""
        };
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::new(from, 0))
            .expect("binds the local address");
        let mut client = Self::over(socket, addr, codec, query).await;
        client.say_hello(name).await;
        client
    }

    /// Connects with a 4 KiB TCP receive buffer, so that a client that stops reading
    /// backs the server up after kilobytes rather than megabytes.
    pub async fn connect_small_buffer(addr: SocketAddr, codec: Codec) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("the receive buffer can be set");
        let mut client = Self::over(socket, addr, codec, "").await;
        client.say_hello("stalled").await;
        client
    }

    /// A WebSocket client on `socket`, connected to `addr`'s `/ws{query}`.
    async fn over(
        socket: tokio::net::TcpSocket,
        addr: SocketAddr,
        codec: Codec,
        query: &str,
    ) -> Self {
        let stream = socket.connect(addr).await.expect("connects");
        let (ws, _) = tokio_tungstenite::client_async(
            format!("ws://{addr}/ws{query}"),
            MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("the WebSocket handshake succeeds");
        Self {
            link: Link::Ws(ws),
            codec,
            session: Uuid::nil(),
            user: Uuid::nil(),
            token: String::new(),
            guest_secret: None,
            mirror: plaza_net::Mirror::default(),
            resume: None,
        }
    }

    /// Connects and says hello; the welcome is checked.
    pub async fn hello(addr: SocketAddr, codec: Codec, name: &str) -> Self {
        let mut client = Self::connect(addr, codec).await;
        client.say_hello(name).await;
        client
    }

    async fn say_hello(&mut self, name: &str) {
        self.say(&ClientMsg::hello(name)).await;
    }

    /// Sends `hello` (any variant) and checks the welcome; returns the name and whether the
    /// user is registered.
    pub async fn say(&mut self, hello: &ClientMsg) -> (String, bool) {
        self.send(hello).await;
        match self.recv().await {
            ServerMsg::Welcome {
                session,
                user,
                protocol,
                tick_rate,
                token,
                name,
                registered,
                guest_secret,
                resume,
                ..
            } => {
                assert_eq!(token.len(), 64, "a session token comes with welcome");
                self.token = token;
                self.resume = resume;
                if guest_secret.is_some() {
                    self.guest_secret = guest_secret;
                }
                assert_eq!(protocol, PROTOCOL_VERSION);
                assert!(tick_rate >= 1);
                self.session = session;
                self.user = user;
                (name, registered)
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        if let Link::Net(net) = &mut self.link {
            net.send(msg).await.expect("the message is sent");
            return;
        }
        let bytes = self
            .codec
            .encode_client(msg)
            .expect("client messages encode");
        let frame = if self.codec.is_text() {
            Message::Text(String::from_utf8(bytes).expect("JSON is UTF-8").into())
        } else {
            Message::Binary(bytes.into())
        };
        self.send_raw(frame).await;
    }

    /// Closes the connection on purpose (a WebSocket close frame, or finishing the QUIC
    /// stream): the session ends at once, where a connection that just goes away is held
    /// for resuming.
    pub async fn goodbye(mut self) {
        match &mut self.link {
            Link::Ws(ws) => ws.close(None).await.expect("the close frame is sent"),
            Link::Net(net) => net.finish().await.expect("the stream is finished"),
        }
    }

    /// Sends a raw WebSocket message (WebSocket test clients only).
    pub async fn send_raw(&mut self, frame: Message) {
        let Link::Ws(ws) = &mut self.link else {
            panic!("send_raw is for WebSocket clients")
        };
        ws.send(frame).await.expect("the frame is sent");
    }

    /// The next message or the close, within [`WAIT`].
    pub async fn next(&mut self) -> Received {
        let ws = match &mut self.link {
            Link::Net(net) => {
                return tokio::time::timeout(WAIT, net.next())
                    .await
                    .expect("the server answers in time")
                    .expect("server frames decode");
            }
            Link::Ws(ws) => ws,
        };
        loop {
            let frame = tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("the server answers in time");
            let payload = match frame {
                None | Some(Err(_)) => return Received::Closed(None),
                Some(Ok(Message::Close(frame))) => {
                    let closed = frame.map(|f| Closed {
                        code: u16::from(f.code).into(),
                        reason: f.reason.to_string(),
                    });
                    return Received::Closed(closed);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    assert_eq!(
                        self.codec,
                        Codec::Postcard,
                        "binary frames only with postcard"
                    );
                    bytes.to_vec()
                }
                Some(Ok(Message::Text(text))) => {
                    assert_eq!(self.codec, Codec::Json, "text frames only with JSON");
                    text.as_bytes().to_vec()
                }
                Some(Ok(_)) => continue,
            };
            let mut msg = self
                .codec
                .decode_server(&payload)
                .expect("server frames decode");
            self.mirror
                .absorb(&mut msg)
                .expect("compact motion resolves against what was sent before");
            return Received::Msg(msg);
        }
    }

    /// The next message; panics on close.
    pub async fn recv(&mut self) -> ServerMsg {
        match self.next().await {
            Received::Msg(msg) => msg,
            Received::Closed(frame) => panic!("connection closed: {frame:?}"),
        }
    }

    /// Skips messages until `pick` takes one.
    pub async fn recv_until<T>(&mut self, mut pick: impl FnMut(&ServerMsg) -> Option<T>) -> T {
        loop {
            let msg = self.recv().await;
            if let Some(found) = pick(&msg) {
                return found;
            }
        }
    }

    /// Waits for an error with `code` (skipping deltas and the like) and returns its message.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        self.recv_until(|msg| match msg {
            ServerMsg::Error {
                code: got, message, ..
            } => {
                assert_eq!(*got, code, "error message: {message}");
                Some(message.clone())
            }
            _ => None,
        })
        .await
    }

    /// Waits for the connection to close and returns the code and reason.
    pub async fn expect_close(&mut self) -> Option<Closed> {
        loop {
            if let Received::Closed(frame) = self.next().await {
                return frame;
            }
        }
    }

    /// Joins `space` and returns the `joined` message.
    pub async fn join(&mut self, space: &str) -> ServerMsg {
        self.send(&ClientMsg::Join {
            space: space.into(),
            request: None,
        })
        .await;
        self.recv_until(|msg| matches!(msg, ServerMsg::Joined { .. }).then(|| msg.clone()))
            .await
    }

    /// Spawns a cube at `pos` and returns its id.
    pub async fn spawn(&mut self, client_ref: u32, pos: [f32; 3]) -> Uuid {
        self.send(&ClientMsg::Spawn {
            client_ref,
            model: "cube".into(),
            transform: WireTransform::at(pos),
            props: Default::default(),
        })
        .await;
        self.recv_until(|msg| match msg {
            ServerMsg::Spawned { client_ref: r, id } if *r == client_ref => Some(*id),
            _ => None,
        })
        .await
    }

    /// The server's current tick, by ping.
    pub async fn tick(&mut self) -> u64 {
        let t = f64::from(rand_u32());
        self.send(&ClientMsg::Ping { t }).await;
        self.recv_until(|msg| match msg {
            ServerMsg::Pong { t: echoed, tick } if *echoed == t => Some(*tick),
            _ => None,
        })
        .await
    }
}

fn rand_u32() -> u32 {
    Uuid::new_v4().as_u128() as u32
}

/// Has `builder` (in a space with a client that does not read) spawn objects with ~7 KB
/// props, five a round, reading everything it is sent itself, until the server has closed
/// someone as too slow or `rounds` are done; returns how many it closed so.
pub async fn flood_until_slow(server: &TestServer, builder: &mut Client, rounds: u32) -> u64 {
    let blob = plaza_net::Props::from_json(&format!(r#"{{"blob":"{}"}}"#, "x".repeat(7000)))
        .expect("an object");
    let slow = || {
        server
            .server
            .edge()
            .tick_stats
            .slow_disconnects
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    for round in 0..rounds {
        for n in 0..5 {
            let spawn = ClientMsg::Spawn {
                client_ref: round * 5 + n,
                model: "cube".into(),
                transform: WireTransform::IDENTITY,
                props: blob.clone(),
            };
            builder.send(&spawn).await;
        }
        let last = round * 5 + 4;
        builder
            .recv_until(|m| {
                matches!(m, ServerMsg::Spawned { client_ref, .. } if *client_ref == last)
                    .then_some(())
            })
            .await;
        if slow() > 0 {
            break;
        }
    }
    slow()
}

/// `GET path` over plain HTTP/1.1: the status code and the JSON body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get_text(addr, path).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// `GET path` on `addr`: the status and the body as text.
pub async fn http_get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_string())
}

/// An HTTP/1.1 request with an optional bearer token and body: the status and body bytes.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("sends");
    // The server may answer (e.g. 413) before reading a large body; a failed write is fine.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, response[split + 4..].to_vec())
}

/// `GET path` with an optional bearer token: the status and the response head as text.
pub async fn http_head(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, head)
}

/// An HTTP request with a JSON body (or none): the status and the JSON answer.
pub async fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let content_type = (!bytes.is_empty()).then_some("application/json");
    let (status, answer) = http(addr, method, path, token, content_type, &bytes).await;
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null),
    )
}

/// Registers `name` with a password over HTTP and returns the login token.
pub async fn register(addr: SocketAddr, name: &str, password: &str) -> String {
    let (status, body) = http_json(
        addr,
        "POST",
        "/api/users",
        None,
        Some(serde_json::json!({ "name": name, "password": password })),
    )
    .await;
    assert_eq!(status, 201, "registration of {name}: {body}");
    body["token"].as_str().expect("a token").to_string()
}

/// Polls `check` every 50 ms until it holds, for at most `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Props as a JSON value, to compare meaning rather than spelling (Postgres reorders keys).
pub fn json_of(props: &plaza_net::Props) -> serde_json::Value {
    serde_json::from_str(props.as_str()).expect("props are JSON")
}

/// What [`build_scene`] made: one object kept (moved, with props), one removed, one line said.
pub struct Scene {
    pub space: Uuid,
    pub kept: Uuid,
    pub moved_to: WireTransform,
    pub props: plaza_net::Props,
    pub user: Uuid,
    pub line: String,
}

impl Scene {
    /// Checks that `joined` (of the scene's space, after a restart) holds the scene: the
    /// same space, only the kept object at its last state, and the line said.
    pub fn assert_restored(&self, joined: &ServerMsg) {
        let ServerMsg::Joined {
            space,
            objects,
            chat,
            ..
        } = joined
        else {
            panic!("expected joined, got {joined:?}");
        };
        assert_eq!(*space, self.space, "the space keeps its id");
        assert_eq!(
            objects.len(),
            1,
            "the despawned object stays gone: {objects:?}"
        );
        let object = &objects[0];
        assert_eq!(
            (object.id, object.version, object.owner),
            (self.kept, 3, self.user)
        );
        assert_eq!(object.transform, self.moved_to);
        assert_eq!(json_of(&object.props), json_of(&self.props));
        let said: Vec<_> = chat.iter().map(|c| (c.text.as_str(), c.from)).collect();
        assert_eq!(said, vec![(self.line.as_str(), self.user)]);
    }
}

/// `client` joins `space`, spawns two objects, moves one and sets its props, despawns the
/// other and says `line`; returns once the server has applied all of it.
pub async fn build_scene(client: &mut Client, space: &str, line: &str) -> Scene {
    let ServerMsg::Joined { space, .. } = client.join(space).await else {
        unreachable!()
    };
    let kept = client.spawn(1, [1.0, 2.0, 3.0]).await;
    let gone = client.spawn(2, [0.0; 3]).await;
    let moved_to = WireTransform {
        pos: [4.0, 5.0, 6.0],
        rot: [0.0, 1.0, 0.0, 0.0],
        scale: [0.5; 3],
    };
    client
        .send(&ClientMsg::Move {
            id: kept,
            transform: moved_to,
            request: None,
        })
        .await;
    let props = plaza_net::Props::from_json(r#"{"label":"keep me","n":[1,2]}"#).expect("an object");
    client
        .send(&ClientMsg::SetProps {
            id: kept,
            props: props.clone(),
            request: None,
        })
        .await;
    client
        .send(&ClientMsg::Despawn {
            id: gone,
            request: None,
        })
        .await;
    client
        .send(&ClientMsg::Chat {
            text: line.into(),
            request: None,
        })
        .await;
    client
        .recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == line).then_some(()))
        .await;
    Scene {
        space,
        kept,
        moved_to,
        props,
        user: client.user,
        line: line.to_string(),
    }
}

/// Rows of a query against a test server's SQLite file (read alongside the running server;
/// WAL lets readers in while it writes). Each row is its columns as text.
pub async fn sqlite_rows(server: &TestServer, sql: &'static str) -> Vec<Vec<Option<String>>> {
    use sqlx::Row;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(server.config.sqlite_file())
        .read_only(true);
    let mut conn = sqlx::ConnectOptions::connect(&options)
        .await
        .expect("the test database opens");
    let rows = sqlx::query(sql)
        .fetch_all(&mut conn)
        .await
        .expect("the query runs");
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| {
                            row.try_get::<Option<i64>, _>(i)
                                .ok()
                                .flatten()
                                .map(|n| n.to_string())
                        })
                })
                .collect()
        })
        .collect()
}
