-- forage schema version 3: the checkpoint of each running run (its agent state after the last
-- LLM turn or tool call), so a run resumes after a crash without repeating finished tool calls.

CREATE TABLE run_checkpoints (
    run_id  TEXT    NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,                      -- grows with each checkpoint of the run
    state   TEXT    NOT NULL                       -- the engine's run state, JSON
);
