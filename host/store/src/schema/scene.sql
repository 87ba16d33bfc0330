-- Version 2: scene state (objects with their parts and object inventory, assets,
-- terrain, sun, appearance). Owned by the scene persistence modules of this crate
-- (objects.rs, assets.rs, region_state.rs, appearance.rs, dynamics.rs).
--
-- Ids are 16-byte BLOBs (not text) here: these tables are read in bulk at start,
-- and half-size keys make the index and the scan cheaper.
-- Region ids are not foreign keys to `regions`: a region's scene may be written
-- by a host before the directory entry exists (tests, imports), and deleting a
-- region's scene is an explicit operation (`delete_all_objects`).

-- One row per object (linkset). The whole object (root, children, their task
-- inventories, kept-verbatim XML elements) is one encoded value in `data`:
-- an object is always written and read whole, so one row is one page read at
-- load and one write per update. `seq` keeps creation order (listings are in
-- creation order); an update keeps the row and so its place.
CREATE TABLE scene_objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    region_id BLOB NOT NULL,
    object_id BLOB NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (region_id, object_id)
);
-- Loading walks this index: one region's rows already in creation order, read
-- in table order. Without it SQLite sorts the whole region's rows (blobs and
-- all) through a temporary B-tree: 10x slower at 100 000 objects.
CREATE INDEX scene_objects_load ON scene_objects (region_id, seq);

-- Assets are written once and read by id; `data` can be large (the scene
-- limits' max_asset_bytes), so nothing reads this table in bulk. A rowid table
-- (not WITHOUT ROWID): large rows belong in overflow pages, not in the key tree.
CREATE TABLE assets (
    id BLOB PRIMARY KEY NOT NULL,
    asset_type INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    content_type TEXT,
    creator_id TEXT NOT NULL,
    local INTEGER NOT NULL,
    temporary INTEGER NOT NULL,
    data BLOB NOT NULL
);

-- Terrain and sun: one encoded value each per region.
CREATE TABLE region_terrain (
    region_id BLOB PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE region_sun (
    region_id BLOB PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
);

-- One appearance per avatar (account).
CREATE TABLE avatar_appearance (
    avatar_id BLOB PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
);
