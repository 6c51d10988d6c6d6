//! Notices as `NOTIFY` payloads, so every node's waiters hear what any node changed.
//! A payload is `ORIGIN KIND [RUN_ID VALUE]`: the origin lets a store skip its own notices
//! (it already sent them to its local receivers).

use forage_api::{RunId, RunStatus};

use crate::Notice;

/// The `LISTEN`/`NOTIFY` channel of forage's notices.
pub(crate) const CHANNEL: &str = "forage_notices";

pub(crate) fn encode(origin: &str, notice: &Notice) -> String {
    match notice {
        Notice::RunQueued => format!("{origin} q"),
        Notice::RunChanged { run_id, status } => {
            format!("{origin} c {run_id} {}", status.as_str())
        }
        Notice::EventsAppended { run_id, seq } => format!("{origin} e {run_id} {seq}"),
        Notice::GroupChanged { group_id, seq } => format!("{origin} g {group_id} {seq}"),
        Notice::DeliveryQueued => format!("{origin} d"),
    }
}

/// The origin and the notice of a payload; `None` for a payload this build does not know.
pub(crate) fn decode(payload: &str) -> Option<(&str, Notice)> {
    let mut parts = payload.split(' ');
    let origin = parts.next()?;
    let notice = match parts.next()? {
        "q" => Notice::RunQueued,
        "c" => Notice::RunChanged {
            run_id: RunId::parse(parts.next()?)?,
            status: RunStatus::parse(parts.next()?)?,
        },
        "e" => Notice::EventsAppended {
            run_id: RunId::parse(parts.next()?)?,
            seq: parts.next()?.parse().ok()?,
        },
        "g" => Notice::GroupChanged {
            group_id: parts.next().filter(|g| !g.is_empty())?.to_owned(),
            seq: parts.next()?.parse().ok()?,
        },
        "d" => Notice::DeliveryQueued,
        _ => return None,
    };
    Some((origin, notice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_round_trips() {
        let id = RunId::generate();
        for notice in [
            Notice::RunQueued,
            Notice::RunChanged {
                run_id: id.clone(),
                status: RunStatus::Cancelling,
            },
            Notice::EventsAppended {
                run_id: id,
                seq: 42,
            },
        ] {
            let payload = encode("node-1", &notice);
            assert_eq!(decode(&payload), Some(("node-1", notice)));
        }
        assert_eq!(decode("node-1 z"), None);
    }
}
