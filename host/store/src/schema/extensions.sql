-- Version 6: third-party extensions (extensions spec). Owned by extensions.rs.
--
-- `component` holds the component's bytes (an extension is not a scene
-- asset). `scope` is a region name or empty for the whole host; `grants` the
-- effective grant names separated by spaces; `state` is running, stopped or
-- faulted. Ids are 16-byte BLOBs like the other tables.
CREATE TABLE extensions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB UNIQUE NOT NULL,
    domain TEXT NOT NULL,
    scope TEXT NOT NULL,
    hash TEXT NOT NULL,
    component BLOB NOT NULL,
    grants TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    fault_reason TEXT NOT NULL DEFAULT '',
    installer_id BLOB NOT NULL
);
CREATE UNIQUE INDEX extensions_domain ON extensions (domain, scope);

-- Each extension's key-value storage; kept across updates, goes with its extension.
CREATE TABLE extension_storage (
    extension_id BLOB NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (extension_id, key)
) WITHOUT ROWID;
