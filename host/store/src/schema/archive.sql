-- Version 6: what region archives (OAR) bring that the scene does not model.
-- Owned by archive.rs.

-- Archive members kept verbatim per region (parcels, region settings, extra
-- terrains, members of kinds this host does not read) so that an export gives
-- them back. `path` is the member's path inside the archive.
CREATE TABLE region_archive_members (
    region_id BLOB NOT NULL,
    path TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (region_id, path)
);

-- The region's water level (metres), a region setting archives carry.
CREATE TABLE region_water (
    region_id BLOB PRIMARY KEY NOT NULL,
    height_m REAL NOT NULL
);

-- Assets an archive brought into the region (by id; the data is in `assets`),
-- so that an export gives back every asset, referenced by an object or not
-- (ground textures, scripts' notecards…).
CREATE TABLE region_archive_assets (
    region_id BLOB NOT NULL,
    asset_id BLOB NOT NULL,
    PRIMARY KEY (region_id, asset_id)
);
