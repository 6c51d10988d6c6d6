//! The `LISTEN` side of notices: one dedicated connection per store that hears other nodes'
//! notices and forwards them into the store's broadcast channel; reconnects when it drops.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::notify::{CHANNEL, decode};
use crate::Notice;

/// How often the listener checks that its connection is alive.
const PING_EVERY: Duration = Duration::from_secs(15);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the listener; `ready` fires once it first listens.
pub(crate) fn spawn(
    config: Config,
    origin: String,
    notices: broadcast::Sender<Notice>,
    ready: oneshot::Sender<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen(&config, &origin, &notices, &mut ready).await {
                Ok(()) => tracing::warn!("the PostgreSQL notice connection closed; reconnecting"),
                Err(e) => {
                    tracing::warn!(error = %e, "the PostgreSQL notice connection failed; reconnecting")
                }
            }
            // Notices may have been missed meanwhile: wake idle workers to look for work.
            let _ = notices.send(Notice::RunQueued);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// Listens on one connection until it fails.
async fn listen(
    config: &Config,
    origin: &str,
    notices: &broadcast::Sender<Notice>,
    ready: &mut Option<oneshot::Sender<()>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let listen_sql = format!("LISTEN {CHANNEL}");
    // The one query in flight (LISTEN, then pings); the connection is driven by `messages`
    // meanwhile, so the query can progress.
    let mut query: Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send + '_>> =
        Box::pin(client.batch_execute(&listen_sql));
    let mut in_flight = true;
    let mut listened = false;
    let mut ping_sent = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            done = &mut query, if in_flight => {
                done?;
                in_flight = false;
                if !listened {
                    listened = true;
                    tracing::debug!("listening for PostgreSQL notices");
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if let Some((from, notice)) = decode(n.payload())
                        && from != origin
                    {
                        let _ = notices.send(notice);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = ping.tick() => {
                if in_flight && ping_sent.elapsed() >= PING_EVERY {
                    // The last query never answered: the peer is gone.
                    return Ok(());
                }
                if !in_flight {
                    query = Box::pin(client.batch_execute("SELECT 1"));
                    in_flight = true;
                    ping_sent = Instant::now();
                }
            }
        }
    }
}
