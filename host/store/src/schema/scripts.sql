-- Version 4: WebAssembly scripts (scripting spec §6). Owned by scripts.rs.
--
-- The component itself is an asset (type 100, `application/wasm`) in `assets`;
-- a script row names it. `grants` are the effective grant names separated by
-- spaces. `state` is running, stopped or faulted; `fault_reason` is empty or a
-- fault name. Ids are 16-byte BLOBs like the scene tables.
CREATE TABLE scripts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB UNIQUE NOT NULL,
    region TEXT NOT NULL,
    object_id BLOB NOT NULL,
    name TEXT NOT NULL,
    asset_id BLOB NOT NULL,
    hash TEXT NOT NULL,
    uploader_id BLOB NOT NULL,
    owner_id BLOB NOT NULL,
    grants TEXT NOT NULL,
    start_parameter TEXT NOT NULL,
    state TEXT NOT NULL,
    fault_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX scripts_object ON scripts (region, object_id);

-- Each script's key-value storage; goes with its script.
CREATE TABLE script_storage (
    script_id BLOB NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (script_id, key)
) WITHOUT ROWID;
