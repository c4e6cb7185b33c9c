//! Hostile servers on 127.0.0.1, standing for the DICOMweb, S3 and URL servers members
//! name: each answers every request with what the test says — a body of a given length,
//! or one that goes on until the client hangs up — and counts what it requested and how
//! many body bytes it managed to write before Medgrid closed the connection.
//!
//! What a test can measure is what the server *wrote*, which is more than Medgrid *read*:
//! the difference sits in socket buffers. The server's send buffer is made small
//! ([`SEND_BUFFER`], doubled by Linux), so the slack is mostly the client's receive
//! buffer, which Linux grows with the throughput it sees. [`SLACK`] bounds both.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

/// The send buffer asked for on the server's sockets (Linux doubles it).
pub const SEND_BUFFER: u32 = 64 * 1024;
/// Body bytes a server may write beyond what the client read before it hung up: its own
/// send buffer (2 × [`SEND_BUFFER`] = 128 KiB), the client's receive buffer (autotuned by
/// Linux from what the reader drains; some 64 KiB seen on loopback) and the HTTP client's
/// read buffer. About 190 KiB is seen; 2 MiB leaves room for a loaded machine and is
/// still far below the 256 MiB the tests' servers offer.
pub const SLACK: u64 = 2 << 20;
/// Bytes of filler written at a time.
const CHUNK: usize = 64 * 1024;

/// One answer: a status line and headers, a body, and maybe filler after it.
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Filler bytes written after `body` (the connection then closes, which ends the
    /// body: no length is announced).
    filler: Option<(u8, u64)>,
}

impl Answer {
    /// A complete answer, its length announced.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            filler: None,
        }
    }

    /// `start`, then `byte` repeated up to `up_to` bytes (far more than any cap under
    /// test, so that only Medgrid's cap can end it early) — without announced length.
    pub fn endless(content_type: &str, start: impl Into<Vec<u8>>, byte: u8, up_to: u64) -> Self {
        Self {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: start.into(),
            filler: Some((byte, up_to)),
        }
    }

    fn head(&self) -> String {
        let mut head = format!("HTTP/1.1 {} Hostile\r\nConnection: close\r\n", self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if self.filler.is_none() {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        head
    }
}

type Answering = dyn Fn(&str) -> Answer + Send + Sync;

#[derive(Default)]
struct Counts {
    /// Request targets (path and query), in order.
    requests: Mutex<Vec<String>>,
    /// Body bytes written, over all connections.
    written: AtomicU64,
    connections: AtomicU64,
}

/// A server answering each request (one per connection) with `answer(target)`.
pub struct Hostile {
    pub addr: SocketAddr,
    counts: Arc<Counts>,
    /// Connections being served.
    open: watch::Receiver<u64>,
}

impl Hostile {
    pub async fn spawn(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        // accepted sockets inherit it: what the server writes ahead stays small
        socket.set_send_buffer_size(SEND_BUFFER).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(64).unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let (open_tx, open) = watch::channel(0_u64);
        let open_tx = Arc::new(open_tx);
        let answer: Arc<Answering> = Arc::new(answer);
        let shared = counts.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                open_tx.send_modify(|n| *n += 1);
                let (counts, answer, open_tx) = (shared.clone(), answer.clone(), open_tx.clone());
                tokio::spawn(async move {
                    serve(stream, &counts, &*answer).await;
                    open_tx.send_modify(|n| *n -= 1);
                });
            }
        });
        Self { addr, counts, open }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request targets so far (path and query).
    pub fn requests(&self) -> Vec<String> {
        self.counts.requests.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Ordering::SeqCst)
    }

    /// Body bytes written over every connection, once none is open any more (within 30 s:
    /// a connection still open then fails the test).
    pub async fn written(&self) -> u64 {
        let mut open = self.open.clone();
        let closed = tokio::time::timeout(Duration::from_secs(30), open.wait_for(|n| *n == 0));
        assert!(
            matches!(closed.await, Ok(Ok(_))),
            "the client still holds a connection to the hostile server"
        );
        self.counts.written.load(Ordering::SeqCst)
    }
}

/// Reads one request head, answers it, and counts what was written until the end or
/// until the client hung up.
async fn serve(mut stream: TcpStream, counts: &Counts, answer: &Answering) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.split(' ').nth(1).unwrap_or_default().to_owned();
    counts.requests.lock().unwrap().push(target.clone());
    let answer = answer(&target);
    if stream.write_all(answer.head().as_bytes()).await.is_err() {
        return;
    }
    if stream.write_all(&answer.body).await.is_err() {
        return;
    }
    counts
        .written
        .fetch_add(answer.body.len() as u64, Ordering::SeqCst);
    if let Some((byte, up_to)) = answer.filler {
        let chunk = vec![byte; CHUNK];
        let mut sent = answer.body.len() as u64;
        while sent < up_to {
            let n = usize::try_from((up_to - sent).min(CHUNK as u64)).unwrap();
            // `write`, not `write_all`: every byte the kernel took is counted
            match stream.write(&chunk[..n]).await {
                Ok(0) | Err(_) => return,
                Ok(wrote) => {
                    sent += wrote as u64;
                    counts.written.fetch_add(wrote as u64, Ordering::SeqCst);
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}
