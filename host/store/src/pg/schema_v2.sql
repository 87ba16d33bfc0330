-- Version 2: scene objects are rewritten in place by the dynamics
-- write-behind many times a second. With pages half full, an update of an
-- object's value finds room on its own page and is a HOT update (no new index
-- entries, the old version pruned on the next visit): the write-behind flush
-- measured 2.5 to 3 times faster (benches/pg_load.rs). Applies to pages
-- written from now on.
ALTER TABLE scene_objects SET (fillfactor = 50);
