-- forage PostgreSQL schema version 1: runs, their requests (secrets sealed) and outputs, and the
-- event log. Same shape as the SQLite schema; timestamps are BIGINT microseconds since the Unix
-- epoch (UTC), JSON columns are TEXT written and read by forage.

CREATE TABLE runs (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- queue order and list order
    id               TEXT    NOT NULL UNIQUE,
    interaction_id   TEXT    NOT NULL,
    owner            TEXT    NOT NULL,
    processor        TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    modified_at      BIGINT  NOT NULL,
    metadata         TEXT,                          -- JSON object or NULL
    error            TEXT,                          -- JSON ErrorObject or NULL
    warnings         TEXT    NOT NULL DEFAULT '[]', -- JSON array of Warning
    taskgroup_id     TEXT,
    input_tokens     BIGINT  NOT NULL DEFAULT 0,
    output_tokens    BIGINT  NOT NULL DEFAULT 0,
    llm_calls        BIGINT  NOT NULL DEFAULT 0,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    lease_token      TEXT,
    lease_worker     TEXT,
    lease_expires_at BIGINT,
    last_event_seq   BIGINT  NOT NULL DEFAULT 0
);

-- The queue: queued runs and running runs (whose lease may expire), oldest first.
CREATE INDEX runs_leasable ON runs (seq) WHERE status IN ('queued', 'running');
-- Runs left cancelling by a worker that died.
CREATE INDEX runs_cancelling ON runs (lease_expires_at) WHERE status = 'cancelling';
CREATE INDEX runs_by_status ON runs (status);
-- An owner's runs, newest first, optionally by status.
CREATE INDEX runs_by_owner ON runs (owner, seq);
CREATE INDEX runs_by_owner_status ON runs (owner, status, seq);
-- Continuing an interaction.
CREATE INDEX runs_by_interaction ON runs (interaction_id, owner, status, seq);

CREATE TABLE run_requests (
    run_id         TEXT NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    request        TEXT NOT NULL,                   -- TaskRunCreate JSON, header values redacted
    secrets_sealed TEXT                             -- SecretCipher-sealed JSON of the header values
);

CREATE TABLE run_outputs (
    run_id     TEXT NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    output     TEXT NOT NULL,                       -- TaskOutput JSON
    transcript TEXT NOT NULL                        -- the conversation, JSON
);

CREATE TABLE events (
    run_id TEXT   NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    at     BIGINT NOT NULL,
    body   TEXT   NOT NULL,                         -- RunEvent JSON
    PRIMARY KEY (run_id, seq)
);
