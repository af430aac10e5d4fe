//! A TCP proxy of the test's own in front of a shared server, to cut or
//! silence the path to it without touching the server itself.
//!
//! - [`Mode::Pass`]: bytes flow both ways.
//! - [`Mode::Cut`]: every connection is closed at once and new ones are
//!   closed as soon as they are accepted (a server that went away).
//! - [`Mode::Silent`]: connections stay open and new ones are accepted, but
//!   no byte goes through either way (a partition, or a load balancer with
//!   no backend).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Cut,
    Silent,
}

/// A running proxy; dropping it stops it and closes its connections.
pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on an OS-picked port of 127.0.0.1 and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy listens");
        let addr = listener.local_addr().expect("bound address");
        let (mode, _) = watch::channel(Mode::Pass);
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let mode = mode.clone();
            let tasks = Arc::clone(&tasks);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let connection = tokio::spawn(relay(client, target, mode.subscribe()));
                    if let Ok(mut tasks) = tasks.lock() {
                        tasks.retain(|task| !task.is_finished());
                        tasks.push(connection);
                    }
                }
            }
        });
        Proxy {
            addr,
            mode,
            tasks,
            accept,
        }
    }

    /// Switches every connection, present and future, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `host:port` of the proxy, for a URL.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        if let Ok(tasks) = self.tasks.lock() {
            for task in tasks.iter() {
                task.abort();
            }
        }
    }
}

/// One client connection, forwarded while the mode allows.
async fn relay(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    if *mode.borrow() == Mode::Cut {
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut to_server = [0u8; 16 * 1024];
    let mut to_client = [0u8; 16 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Cut => return,
            Mode::Silent => {
                // Hold both sockets open and move nothing until the mode changes.
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::Pass => {
                tokio::select! {
                    changed = mode.changed() => if changed.is_err() { return },
                    read = client_read.read(&mut to_server) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if server_write.write_all(&to_server[..n]).await.is_err() { return },
                    },
                    read = server_read.read(&mut to_client) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if client_write.write_all(&to_client[..n]).await.is_err() { return },
                    },
                }
            }
        }
    }
}
