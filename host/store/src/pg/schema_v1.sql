-- Version 1 of the PostgreSQL schema: every table of the SQLite schema
-- (versions 1 to 7 there), in PostgreSQL's types. Ids are `uuid`; encoded
-- scene values and component bytes are `bytea`; `seq` columns keep creation
-- (store) order as SQLite's rowids do. The grid's own tables (hosts, leases,
-- capabilities) belong to the crate dispatcher-grid and its migrations.

CREATE TABLE accounts (
    id uuid PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    level INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL,
    password_salt TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_name ON accounts (lower(first_name), lower(last_name));
CREATE INDEX accounts_email ON accounts (lower(email));

CREATE TABLE regions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid UNIQUE NOT NULL,
    name TEXT UNIQUE NOT NULL,
    owner uuid NOT NULL
);
CREATE TABLE region_managers (
    region_id uuid NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
    account_id uuid NOT NULL,
    PRIMARY KEY (region_id, account_id)
);

CREATE TABLE scene_objects (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id uuid NOT NULL,
    object_id uuid NOT NULL,
    data bytea NOT NULL,
    UNIQUE (region_id, object_id)
);
CREATE INDEX scene_objects_load ON scene_objects (region_id, seq);

CREATE TABLE assets (
    id uuid PRIMARY KEY,
    asset_type INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    content_type TEXT,
    creator_id TEXT NOT NULL,
    local BOOLEAN NOT NULL,
    temporary BOOLEAN NOT NULL,
    data bytea NOT NULL
);

CREATE TABLE region_terrain (
    region_id uuid PRIMARY KEY,
    data bytea NOT NULL
);
CREATE TABLE region_sun (
    region_id uuid PRIMARY KEY,
    data bytea NOT NULL
);
CREATE TABLE avatar_appearance (
    avatar_id uuid PRIMARY KEY,
    data bytea NOT NULL
);

CREATE TABLE inventory_folders (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id uuid PRIMARY KEY,
    avatar uuid NOT NULL,
    parent uuid NOT NULL,
    owner uuid NOT NULL,
    name TEXT NOT NULL,
    type INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX inventory_folders_avatar ON inventory_folders (avatar, seq);
CREATE TABLE inventory_items (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id uuid PRIMARY KEY,
    avatar uuid NOT NULL,
    folder uuid NOT NULL,
    owner uuid NOT NULL,
    creator TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    asset_id uuid NOT NULL,
    asset_type INTEGER NOT NULL,
    inv_type INTEGER NOT NULL,
    perm_base BIGINT NOT NULL,
    perm_current BIGINT NOT NULL,
    perm_next BIGINT NOT NULL,
    perm_everyone BIGINT NOT NULL,
    perm_group BIGINT NOT NULL,
    group_id uuid NOT NULL,
    group_owned BOOLEAN NOT NULL,
    sale_type INTEGER NOT NULL,
    sale_price INTEGER NOT NULL,
    flags BIGINT NOT NULL,
    creation_date BIGINT NOT NULL
);
CREATE INDEX inventory_items_avatar ON inventory_items (avatar, seq);

CREATE TABLE scripts (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid UNIQUE NOT NULL,
    region TEXT NOT NULL,
    object_id uuid NOT NULL,
    name TEXT NOT NULL,
    asset_id uuid NOT NULL,
    hash TEXT NOT NULL,
    uploader_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    grants TEXT NOT NULL,
    start_parameter TEXT NOT NULL,
    state TEXT NOT NULL,
    fault_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX scripts_object ON scripts (region, object_id);
CREATE INDEX scripts_hash ON scripts (hash);
CREATE INDEX scripts_asset ON scripts (asset_id);
CREATE TABLE script_storage (
    script_id uuid NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (script_id, key)
);

CREATE TABLE region_archive_members (
    region_id uuid NOT NULL,
    path TEXT NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (region_id, path)
);
CREATE TABLE region_water (
    region_id uuid PRIMARY KEY,
    height_m DOUBLE PRECISION NOT NULL
);
CREATE TABLE region_archive_assets (
    region_id uuid NOT NULL,
    asset_id uuid NOT NULL,
    PRIMARY KEY (region_id, asset_id)
);

CREATE TABLE extensions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid UNIQUE NOT NULL,
    domain TEXT NOT NULL,
    scope TEXT NOT NULL,
    hash TEXT NOT NULL,
    component bytea NOT NULL,
    grants TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    fault_reason TEXT NOT NULL DEFAULT '',
    installer_id uuid NOT NULL
);
CREATE UNIQUE INDEX extensions_domain ON extensions (domain, scope);
CREATE TABLE extension_storage (
    extension_id uuid NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (extension_id, key)
);
