-- forage PostgreSQL schema version 4: a checkpoint's batch of tool calls, saved on its own as
-- each call finishes. The state is saved after each LLM turn; while the turn's calls run, only
-- the batch (the calls and the results so far) is written again, not the whole conversation.

ALTER TABLE run_checkpoints ADD COLUMN batch TEXT; -- JSON; when set, it replaces the state's batch
