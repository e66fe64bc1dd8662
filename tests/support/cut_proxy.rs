//! A TCP proxy on loopback in front of a store's server that can lose the server's answers and
//! then cut every connection: what a network failure between a request and its reply looks
//! like to the client. The server still receives and executes every request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

struct State {
    target: SocketAddr,
    /// Answers from the server are dropped instead of forwarded.
    losing_answers: AtomicBool,
    /// The tasks forwarding each connection; aborting one closes both of its sockets.
    connections: Mutex<Vec<JoinHandle<()>>>,
}

pub struct CutProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accepting: JoinHandle<()>,
}

impl CutProxy {
    /// A proxy to the server of `url` (`redis://…` or `postgres://user:pw@host:port/db`).
    pub async fn start(url: &str) -> CutProxy {
        let target = authority(url)
            .parse()
            .unwrap_or_else(|e| panic!("{url}: the test servers listen on an IP address: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("the proxy's address");
        let state = Arc::new(State {
            target,
            losing_answers: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
        });
        let accepting = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let forwarding = tokio::spawn(forward(client, Arc::clone(&state)));
                    state.connections.lock().unwrap().push(forwarding);
                }
            }
        });
        CutProxy {
            addr,
            state,
            accepting,
        }
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        url.replacen(authority(url), &self.addr.to_string(), 1)
    }

    /// From now on the server's answers are lost; `after` that, every open connection is cut
    /// and new ones are forwarded normally again.
    pub fn lose_answers_then_cut(&self, after: Duration) {
        self.state.losing_answers.store(true, Ordering::SeqCst);
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            for connection in state.connections.lock().unwrap().drain(..) {
                connection.abort();
            }
            state.losing_answers.store(false, Ordering::SeqCst);
        });
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        for connection in self.state.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

/// `host:port` of a URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    &rest[..end]
}

async fn forward(client: TcpStream, state: Arc<State>) {
    let Ok(server) = TcpStream::connect(state.target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let answers = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if state.losing_answers.load(Ordering::SeqCst) {
                continue;
            }
            if client_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = requests => {}
        () = answers => {}
    }
}
