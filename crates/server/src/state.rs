//! What every handler shares.

use std::sync::Arc;

use forage_api::{RequestLimits, Unsupported};
use forage_store::Store;
use tokio_util::sync::CancellationToken;

use crate::admission::{Admission, AdmissionLimits};
use crate::auth::Auth;
use crate::handoff::IdleWorkers;
use crate::hub::Hub;
use crate::signals::RunSignals;
use crate::webhooks::SigningKeys;

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Auth>,
    pub limits: Arc<RequestLimits>,
    pub unsupported: Arc<Unsupported>,
    /// Cancelled when the server stops: long-polls and event streams end.
    pub closing: CancellationToken,
    /// Webhook signing secrets per owner.
    pub signing: Arc<SigningKeys>,
    /// One producer per watched run, shared by all its event-stream watchers.
    pub hub: Arc<Hub>,
    /// Wakes the watchers of a run (long-polls, feeds, cancel watchers) when it changes.
    pub signals: Arc<RunSignals>,
    /// Request rate and run caps.
    pub admission: Arc<Admission>,
    /// Workers waiting for a run: a new run is handed to one of them as it is created.
    pub idle_workers: Arc<IdleWorkers>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, auth: Auth, limits: RequestLimits) -> AppState {
        let signals = Arc::new(RunSignals::new(store.as_ref()));
        AppState {
            hub: Arc::new(Hub::new(signals.clone())),
            signals,
            store,
            auth: Arc::new(auth),
            limits: Arc::new(limits),
            unsupported: Arc::new(unsupported_fields()),
            closing: CancellationToken::new(),
            signing: Arc::new(SigningKeys::ephemeral()),
            admission: Arc::new(Admission::new(AdmissionLimits::default())),
            idle_workers: Arc::new(IdleWorkers::default()),
        }
    }

    /// The same state with these admission limits.
    pub fn with_admission(mut self, limits: AdmissionLimits) -> AppState {
        self.admission = Arc::new(Admission::new(limits));
        self
    }
}

/// Request fields this version parses but refuses (422 naming the field).
pub fn unsupported_fields() -> Unsupported {
    Unsupported {
        fields: vec![
            (
                "memory_scope_key",
                "memory is not available in this version of forage",
            ),
            (
                "advanced_settings",
                "advanced settings (data sources, location) are not available in this version of forage",
            ),
        ],
    }
}
