//! A leased run as both stores read it (its request still sealed), and its opening for the
//! worker: header values in clear, checkpoint decoded.

use crate::sqlite::codec::from_json;
use crate::{
    Checkpoint, Lease, LeasedRun, RunOutcome, RunRecord, SecretCipher, Store, StoreError, secrets,
};

/// A leased run as stored: the request still sealed.
pub(crate) struct LeasedRow {
    pub lease: Lease,
    pub record: RunRecord,
    pub request: String,
    pub secrets_sealed: Option<String>,
    /// The run's last checkpoint, if it has one.
    pub checkpoint: Option<StoredCheckpoint>,
}

/// A checkpoint as stored: its version, state and the batch saved after the state (JSON text).
pub(crate) struct StoredCheckpoint {
    pub version: i64,
    pub state: String,
    pub batch: Option<String>,
}

/// A leased run whose stored request cannot be read. Such a run would be leased forever: the
/// store finishes it as failed, saying why.
struct Unreadable {
    lease: Lease,
    why: String,
}

impl Unreadable {
    fn outcome(&self) -> RunOutcome {
        RunOutcome::Failed {
            error: forage_api::ErrorObject::new(format!(
                "the run's stored request cannot be read: {}",
                self.why
            )),
            warnings: Vec::new(),
            usage: Default::default(),
        }
    }
}

impl LeasedRow {
    /// The run for its worker, or `None` when its request cannot be read: `store` (the store
    /// that leased it) then finishes it as failed, saying why.
    pub(crate) async fn open_or_fail(
        self,
        cipher: &SecretCipher,
        store: &dyn Store,
    ) -> Result<Option<LeasedRun>, StoreError> {
        match self.open(cipher)? {
            Ok(run) => Ok(Some(run)),
            Err(unreadable) => {
                store
                    .finish(&unreadable.lease, unreadable.outcome())
                    .await?;
                Ok(None)
            }
        }
    }

    /// The run for its worker; `Ok(Err(_))` when its request cannot be read.
    fn open(self, cipher: &SecretCipher) -> Result<Result<LeasedRun, Unreadable>, StoreError> {
        let request = match secrets::open_request(
            cipher,
            &self.request,
            self.secrets_sealed.as_deref(),
        ) {
            Ok(request) => request,
            Err(e) => {
                tracing::error!(run_id = %self.lease.run_id, error = %e, "cannot read a leased run's request");
                return Ok(Err(Unreadable {
                    lease: self.lease,
                    why: e.to_string(),
                }));
            }
        };
        let checkpoint = match self.checkpoint {
            Some(stored) => Some(Checkpoint {
                version: u64::try_from(stored.version).unwrap_or(0),
                state: from_json("run checkpoint", &stored.state)?,
                batch: match stored.batch {
                    Some(batch) => Some(from_json("run checkpoint's batch", &batch)?),
                    None => None,
                },
            }),
            None => None,
        };
        Ok(Ok(LeasedRun {
            lease: self.lease,
            record: self.record,
            request,
            checkpoint,
        }))
    }
}
