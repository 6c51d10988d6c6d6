//! HTTP clients for one LLM server, enough that no connection carries more than
//! [`CALLS_PER_CLIENT`] calls at once. Over HTTP/2 (an `https` server, by ALPN) a client keeps a
//! single connection per server, and calls past the server's limit on concurrent streams wait
//! for one to end; another client opens another connection. 100 is the smallest limit RFC 9113
//! recommends a server to allow. Over HTTP/1.1 each client pools its own connections, so more
//! clients change nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::LlmError;

/// Calls in flight on one client before the next call gets another client.
pub(crate) const CALLS_PER_CLIENT: usize = 100;

/// The clients, and how to make another.
pub(crate) struct Clients {
    first: Arc<Counted>,
    /// Clients made when every earlier one was full.
    more: Mutex<Vec<Arc<Counted>>>,
    /// `None` for a single client given from outside, which is never added to.
    connect_timeout: Option<Duration>,
}

struct Counted {
    client: reqwest::Client,
    in_flight: AtomicUsize,
}

impl Counted {
    fn new(client: reqwest::Client) -> Arc<Counted> {
        Arc::new(Counted {
            client,
            in_flight: AtomicUsize::new(0),
        })
    }
}

/// One call's client; the call counts against it until this is dropped.
pub(crate) struct ClientLease {
    counted: Arc<Counted>,
}

impl ClientLease {
    /// Counts a call against `counted`; the caller holds the lock that chose it.
    fn of(counted: Arc<Counted>) -> ClientLease {
        counted.in_flight.fetch_add(1, Ordering::AcqRel);
        ClientLease { counted }
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.counted.client
    }
}

impl Drop for ClientLease {
    fn drop(&mut self) {
        self.counted.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Clients {
    /// Clients made as needed, each with `connect_timeout`.
    pub(crate) fn growing(connect_timeout: Duration) -> Result<Clients, LlmError> {
        let first = super::http::client(connect_timeout)?;
        Ok(Clients::with(first, Some(connect_timeout)))
    }

    /// Only `client`, whatever the load.
    pub(crate) fn single(client: reqwest::Client) -> Clients {
        Clients::with(client, None)
    }

    fn with(client: reqwest::Client, connect_timeout: Option<Duration>) -> Clients {
        Clients {
            first: Counted::new(client),
            more: Mutex::new(Vec::new()),
            connect_timeout,
        }
    }

    /// A client with room for one more call: the first with fewer than [`CALLS_PER_CLIENT`] in
    /// flight, else a new one (or, when none can be made, the least busy). A new client is built
    /// outside the lock.
    pub(crate) fn lease(&self) -> ClientLease {
        if let Some(lease) = self.lease_roomy(None) {
            return lease;
        }
        let made = match self.connect_timeout.map(super::http::client) {
            Some(Ok(client)) => Some(client),
            Some(Err(error)) => {
                tracing::warn!(%error, "could not make another LLM client; sharing the least busy");
                None
            }
            None => None,
        };
        self.lease_roomy(made)
            .unwrap_or_else(|| self.lease_least_busy())
    }

    /// Leases a client with room, else `made` (kept for later calls), if any.
    fn lease_roomy(&self, made: Option<reqwest::Client>) -> Option<ClientLease> {
        let mut more = self.more.lock().unwrap_or_else(|p| p.into_inner());
        let roomy = std::iter::once(&self.first)
            .chain(more.iter())
            .find(|c| c.in_flight.load(Ordering::Acquire) < CALLS_PER_CLIENT)
            .cloned();
        let counted = match (roomy, made) {
            (Some(counted), _) => counted,
            (None, Some(client)) => {
                let counted = Counted::new(client);
                more.push(counted.clone());
                counted
            }
            (None, None) => return None,
        };
        Some(ClientLease::of(counted))
    }

    fn lease_least_busy(&self) -> ClientLease {
        let more = self.more.lock().unwrap_or_else(|p| p.into_inner());
        let least = std::iter::once(&self.first)
            .chain(more.iter())
            .min_by_key(|c| c.in_flight.load(Ordering::Acquire))
            .unwrap_or(&self.first)
            .clone();
        ClientLease::of(least)
    }

    /// How many clients there are (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        1 + self.more.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_client_is_made_only_when_every_client_is_full() {
        let clients = Clients::growing(Duration::from_secs(1)).expect("clients");
        let mut first: Vec<_> = (0..CALLS_PER_CLIENT).map(|_| clients.lease()).collect();
        assert_eq!(clients.len(), 1);
        let extra = clients.lease();
        assert_eq!(clients.len(), 2);
        assert!(!Arc::ptr_eq(&extra.counted, &first[0].counted));
        // A call that ends frees room on the first client, which the next call takes.
        drop(first.pop());
        let next = clients.lease();
        assert_eq!(clients.len(), 2);
        assert!(Arc::ptr_eq(&next.counted, &first[0].counted));
        assert_eq!(
            next.counted.in_flight.load(Ordering::Acquire),
            CALLS_PER_CLIENT
        );
    }

    #[test]
    fn a_single_client_takes_every_call() {
        let clients = Clients::single(reqwest::Client::new());
        let leases: Vec<_> = (0..CALLS_PER_CLIENT + 5).map(|_| clients.lease()).collect();
        assert_eq!(clients.len(), 1);
        assert_eq!(
            leases[0].counted.in_flight.load(Ordering::Acquire),
            CALLS_PER_CLIENT + 5
        );
    }
}
