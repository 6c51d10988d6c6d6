-- forage schema version 4: a run's rows are keyed by its integer `runs.seq` and a group's by
-- its integer `task_groups.seq`, instead of repeating their 37-character text ids in every
-- event, request, output, checkpoint, group event and index entry. A run that began its own
-- interaction stores no interaction id (NULL reads as the run's id). Stored data is copied as
-- it is; only the keys change.

-- The old tables step aside (their foreign keys follow them), and their named indexes go.
DROP INDEX runs_by_status;
DROP INDEX runs_by_lease_expiry;
DROP INDEX runs_by_owner;
DROP INDEX runs_by_owner_status;
DROP INDEX runs_by_interaction;
DROP INDEX runs_by_group;
DROP INDEX runs_by_group_status;
DROP INDEX webhook_deliveries_due;
DROP INDEX webhook_deliveries_by_run;
ALTER TABLE runs RENAME TO old_runs;
ALTER TABLE run_requests RENAME TO old_run_requests;
ALTER TABLE run_outputs RENAME TO old_run_outputs;
ALTER TABLE run_checkpoints RENAME TO old_run_checkpoints;
ALTER TABLE events RENAME TO old_events;
ALTER TABLE task_groups RENAME TO old_task_groups;
ALTER TABLE task_group_counts RENAME TO old_task_group_counts;
ALTER TABLE task_group_events RENAME TO old_task_group_events;
ALTER TABLE webhook_deliveries RENAME TO old_webhook_deliveries;

CREATE TABLE task_groups (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    owner          TEXT    NOT NULL,
    metadata       TEXT,                           -- JSON object or NULL
    created_at     INTEGER NOT NULL,
    modified_at    INTEGER NOT NULL,
    num_runs       INTEGER NOT NULL DEFAULT 0,
    last_event_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE runs (
    seq              INTEGER PRIMARY KEY,          -- creation order: queue order and list order
    id               TEXT    NOT NULL UNIQUE,
    interaction_id   TEXT,                         -- NULL: the run began its own interaction
    owner            TEXT    NOT NULL,
    processor        TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    modified_at      INTEGER NOT NULL,
    metadata         TEXT,                         -- JSON object or NULL
    error            TEXT,                         -- JSON ErrorObject or NULL
    warnings         TEXT    NOT NULL DEFAULT '[]',-- JSON array of Warning
    group_seq        INTEGER REFERENCES task_groups (seq),
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    llm_calls        INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_token      TEXT,
    lease_worker     TEXT,
    lease_expires_at INTEGER,
    last_event_seq   INTEGER NOT NULL DEFAULT 0,
    webhook_url      TEXT                          -- where the run announces its end (NULL: none)
);

CREATE TABLE run_requests (
    run_seq        INTEGER PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    request        TEXT NOT NULL,                  -- TaskRunCreate JSON, header values redacted
    secrets_sealed TEXT                            -- SecretCipher-sealed JSON of the header values
);

CREATE TABLE run_outputs (
    run_seq    INTEGER PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    output     TEXT NOT NULL,                      -- TaskOutput JSON
    transcript TEXT NOT NULL                       -- the conversation, JSON
);

CREATE TABLE run_checkpoints (
    run_seq INTEGER PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    version INTEGER NOT NULL,                      -- grows with each checkpoint of the run
    state   TEXT    NOT NULL                       -- the engine's run state, JSON
);

CREATE TABLE events (
    run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    body    TEXT    NOT NULL,                      -- RunEvent JSON
    PRIMARY KEY (run_seq, seq)
) WITHOUT ROWID;

-- Members by status, kept up to date with every status change (never computed by a scan).
CREATE TABLE task_group_counts (
    group_seq INTEGER NOT NULL REFERENCES task_groups (seq) ON DELETE CASCADE,
    status    TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (group_seq, status)
) WITHOUT ROWID;

CREATE TABLE task_group_events (
    group_seq INTEGER NOT NULL REFERENCES task_groups (seq) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    run_seq   INTEGER NOT NULL,
    status    TEXT    NOT NULL,
    PRIMARY KEY (group_seq, seq)
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,        -- whevent_…
    run_seq         INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    owner           TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    state           TEXT    NOT NULL,               -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,                        -- due time (or lease end) while pending
    last_error      TEXT
);

INSERT INTO task_groups (id, owner, metadata, created_at, modified_at, num_runs, last_event_seq)
SELECT id, owner, metadata, created_at, modified_at, num_runs, last_event_seq
FROM old_task_groups ORDER BY created_at, id;

INSERT INTO runs (seq, id, interaction_id, owner, processor, status, created_at, modified_at,
                  metadata, error, warnings, group_seq, input_tokens, output_tokens, llm_calls,
                  attempts, lease_token, lease_worker, lease_expires_at, last_event_seq, webhook_url)
SELECT r.seq, r.id, NULLIF(r.interaction_id, r.id), r.owner, r.processor, r.status, r.created_at,
       r.modified_at, r.metadata, r.error, r.warnings, g.seq, r.input_tokens, r.output_tokens,
       r.llm_calls, r.attempts, r.lease_token, r.lease_worker, r.lease_expires_at,
       r.last_event_seq, r.webhook_url
FROM old_runs r LEFT JOIN task_groups g ON g.id = r.taskgroup_id;

INSERT INTO run_requests (run_seq, request, secrets_sealed)
SELECT r.seq, q.request, q.secrets_sealed FROM old_run_requests q JOIN runs r ON r.id = q.run_id;

INSERT INTO run_outputs (run_seq, output, transcript)
SELECT r.seq, o.output, o.transcript FROM old_run_outputs o JOIN runs r ON r.id = o.run_id;

INSERT INTO run_checkpoints (run_seq, version, state)
SELECT r.seq, c.version, c.state FROM old_run_checkpoints c JOIN runs r ON r.id = c.run_id;

INSERT INTO events (run_seq, seq, at, body)
SELECT r.seq, e.seq, e.at, e.body FROM old_events e JOIN runs r ON r.id = e.run_id;

INSERT INTO task_group_counts (group_seq, status, count)
SELECT g.seq, c.status, c.count FROM old_task_group_counts c JOIN task_groups g ON g.id = c.group_id;

INSERT INTO task_group_events (group_seq, seq, at, run_seq, status)
SELECT g.seq, e.seq, e.at, r.seq, e.status FROM old_task_group_events e
JOIN task_groups g ON g.id = e.group_id JOIN runs r ON r.id = e.run_id;

INSERT INTO webhook_deliveries (seq, id, run_seq, owner, url, state, attempts, created_at,
                                next_attempt_at, last_error)
SELECT d.seq, d.id, r.seq, d.owner, d.url, d.state, d.attempts, d.created_at, d.next_attempt_at,
       d.last_error
FROM old_webhook_deliveries d JOIN runs r ON r.id = d.run_id;

DROP TABLE old_webhook_deliveries;
DROP TABLE old_task_group_events;
DROP TABLE old_task_group_counts;
DROP TABLE old_events;
DROP TABLE old_run_checkpoints;
DROP TABLE old_run_outputs;
DROP TABLE old_run_requests;
DROP TABLE old_runs;
DROP TABLE old_task_groups;

-- The queue: oldest queued run first.
CREATE INDEX runs_by_status ON runs (status, seq);
-- Running runs whose worker stopped heartbeating.
CREATE INDEX runs_by_lease_expiry ON runs (lease_expires_at) WHERE status = 'running';
-- An owner's runs, newest first, optionally by status.
CREATE INDEX runs_by_owner ON runs (owner, seq);
CREATE INDEX runs_by_owner_status ON runs (owner, status, seq);
-- Continuing an interaction (its first run is found by its id).
CREATE INDEX runs_by_interaction ON runs (interaction_id, owner, status, seq)
    WHERE interaction_id IS NOT NULL;
-- A group's members in the order they were added (runs.seq is the cursor).
CREATE INDEX runs_by_group ON runs (group_seq, seq) WHERE group_seq IS NOT NULL;
CREATE INDEX runs_by_group_status ON runs (group_seq, status, seq) WHERE group_seq IS NOT NULL;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_run ON webhook_deliveries (run_seq, seq);
