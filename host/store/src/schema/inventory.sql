-- Version 3: per-avatar inventory (folders and items) served by RemoteControl and REST.
-- Owned by the inventory module of this crate.
SELECT 1;
