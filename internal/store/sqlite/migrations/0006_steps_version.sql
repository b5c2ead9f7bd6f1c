-- Counts changes to a run's step rows, so that a planner can keep them in
-- memory between passes and know when another writer changed them.
ALTER TABLE runs ADD COLUMN steps_version INTEGER NOT NULL DEFAULT 0;
