-- forage schema version 2: task groups (maintained counts and an event log) and durable
-- webhook deliveries. Timestamps are INTEGER microseconds since the Unix epoch (UTC).

-- The webhook URL of a run that announces its end (NULL: none).
ALTER TABLE runs ADD COLUMN webhook_url TEXT;

-- A group's members in the order they were added (runs.seq is the cursor).
CREATE INDEX runs_by_group ON runs (taskgroup_id, seq) WHERE taskgroup_id IS NOT NULL;
CREATE INDEX runs_by_group_status ON runs (taskgroup_id, status, seq) WHERE taskgroup_id IS NOT NULL;

CREATE TABLE task_groups (
    id             TEXT    NOT NULL PRIMARY KEY,
    owner          TEXT    NOT NULL,
    metadata       TEXT,                           -- JSON object or NULL
    created_at     INTEGER NOT NULL,
    modified_at    INTEGER NOT NULL,
    num_runs       INTEGER NOT NULL DEFAULT 0,
    last_event_seq INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Members by status, kept up to date with every status change (never computed by a scan).
CREATE TABLE task_group_counts (
    group_id TEXT    NOT NULL REFERENCES task_groups (id) ON DELETE CASCADE,
    status   TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (group_id, status)
) WITHOUT ROWID;

CREATE TABLE task_group_events (
    group_id TEXT    NOT NULL REFERENCES task_groups (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    run_id   TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    PRIMARY KEY (group_id, seq)
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,        -- whevent_…
    run_id          TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    owner           TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    state           TEXT    NOT NULL,               -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,                        -- due time (or lease end) while pending
    last_error      TEXT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_run ON webhook_deliveries (run_id, seq);
