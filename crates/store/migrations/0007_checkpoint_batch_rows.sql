-- forage SQLite schema version 7: a checkpoint's batch of tool calls in a row of its own. SQLite
-- writes a whole row again when any of its columns changes, so a batch kept beside the state
-- wrote the whole state (the conversation and the trace so far) again after every tool call.
-- In its own row, each call writes only the batch. A batch counts while its version is above
-- the state's.

CREATE TABLE run_checkpoint_batches (
    run_seq INTEGER PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    version INTEGER NOT NULL,                      -- the checkpoint version that saved it
    batch   TEXT    NOT NULL                       -- JSON; replaces the state's batch when newer
);

INSERT INTO run_checkpoint_batches (run_seq, version, batch)
    SELECT run_seq, version, batch FROM run_checkpoints WHERE batch IS NOT NULL;

-- Version 6 raised the state's version to its batch's; the state came before the batch.
UPDATE run_checkpoints SET version = version - 1 WHERE batch IS NOT NULL;

ALTER TABLE run_checkpoints DROP COLUMN batch;
