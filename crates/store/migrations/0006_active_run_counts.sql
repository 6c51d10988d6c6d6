-- forage SQLite schema version 6: how many runs each owner has in each unfinished status, moved
-- by the writes that change a run's status, in the same transaction. Admission reads a few of
-- these rows instead of counting the runs, which took time in proportion to the runs waiting
-- or in flight.

CREATE TABLE active_run_counts (
    owner  TEXT    NOT NULL,
    status TEXT    NOT NULL,                        -- 'queued', 'running' or 'cancelling'
    runs   INTEGER NOT NULL,
    PRIMARY KEY (owner, status)
) WITHOUT ROWID;

INSERT INTO active_run_counts (owner, status, runs)
    SELECT owner, status, COUNT(*) FROM runs
    WHERE status IN ('queued', 'running', 'cancelling')
    GROUP BY owner, status;
