-- Version 3: per-avatar inventory (folders and items) served by RemoteControl and REST.
-- Owned by the inventory module of this crate (src/inventory.rs).
-- `avatar` is the account the row belongs to; `owner` is the item/folder's own
-- owner attribute (REST §7.1), normally the same UUID but not necessarily.
-- Store order (REST §7.1 "in store order") is the rowid order: upserts keep it.
CREATE TABLE inventory_folders (
    id TEXT PRIMARY KEY NOT NULL,
    avatar TEXT NOT NULL,
    parent TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    type INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX inventory_folders_avatar ON inventory_folders (avatar);
CREATE TABLE inventory_items (
    id TEXT PRIMARY KEY NOT NULL,
    avatar TEXT NOT NULL,
    folder TEXT NOT NULL,
    owner TEXT NOT NULL,
    creator TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    asset_type INTEGER NOT NULL,
    inv_type INTEGER NOT NULL,
    perm_base INTEGER NOT NULL,
    perm_current INTEGER NOT NULL,
    perm_next INTEGER NOT NULL,
    perm_everyone INTEGER NOT NULL,
    perm_group INTEGER NOT NULL,
    group_id TEXT NOT NULL,
    group_owned INTEGER NOT NULL,
    sale_type INTEGER NOT NULL,
    sale_price INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    creation_date INTEGER NOT NULL
);
CREATE INDEX inventory_items_avatar ON inventory_items (avatar);
