-- Version 2: scene state (objects, parts, object inventory, assets, terrain, sun, appearance).
-- Owned by the scene persistence modules of this crate.
SELECT 1;
