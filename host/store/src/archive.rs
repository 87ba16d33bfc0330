//! Region archives (OAR): the one transaction an import runs in, the archive
//! members kept verbatim for export, and the region's water level.
//!
//! An import writes everything through one [`ArchiveImport`]: if the closure
//! given to [`Store::import_archive`] fails, the transaction rolls back and the
//! database is as it was (a broken archive changes nothing). Statements are
//! prepared once per transaction (`prepare_cached`). On PostgreSQL the same
//! methods write through `pg/archive.rs` (objects buffered into multi-row
//! upserts; the transaction fenced by the region's lease in grid mode).

pub(crate) mod pg;

use dispatcher_scene::{Asset, SceneObject, Sun, Terrain};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use uuid::Uuid;

use crate::objects::{encode, encode_scene_object};
use crate::{Store, StoreError};
use pg::PgImport;

/// The writes of one archive import, all inside one transaction (SQLite's or
/// PostgreSQL's).
pub struct ArchiveImport<'a> {
    inner: Inner<'a>,
    region_id: Uuid,
}

enum Inner<'a> {
    Sqlite(Transaction<'a>),
    Postgres(PgImport<'a>),
}

impl ArchiveImport<'_> {
    pub fn region_id(&self) -> Uuid {
        self.region_id
    }

    /// Deletes the region's objects and kept archive members (an import that
    /// replaces the region).
    pub fn clear_region(&self) -> Result<(), StoreError> {
        let tx = match &self.inner {
            Inner::Sqlite(tx) => tx,
            Inner::Postgres(pg) => return pg.clear_region(),
        };
        let id = self.region_id.as_bytes();
        tx.execute("DELETE FROM scene_objects WHERE region_id = ?1", params![id])?;
        tx.execute("DELETE FROM region_archive_members WHERE region_id = ?1", params![id])?;
        tx.execute("DELETE FROM region_archive_assets WHERE region_id = ?1", params![id])?;
        Ok(())
    }

    /// Inserts or replaces the object.
    pub fn put_object(&self, object: &SceneObject) -> Result<(), StoreError> {
        self.put_encoded_object(object.id(), &encode_scene_object(object)?)
    }

    /// Inserts or replaces an object already encoded with
    /// [`crate::encode_scene_object`].
    pub fn put_encoded_object(&self, object_id: Uuid, data: &[u8]) -> Result<(), StoreError> {
        let tx = match &self.inner {
            Inner::Sqlite(tx) => tx,
            Inner::Postgres(pg) => return pg.put_encoded_object(object_id, data),
        };
        tx.prepare_cached(
            "INSERT INTO scene_objects (region_id, object_id, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (region_id, object_id) DO UPDATE SET data = excluded.data",
        )?
        .execute(params![self.region_id.as_bytes(), object_id.as_bytes(), data])?;
        Ok(())
    }

    /// Inserts or replaces the asset and records it as one of the region's
    /// archive assets (exported with the region).
    pub fn put_asset(&self, asset: &Asset) -> Result<(), StoreError> {
        let tx = match &self.inner {
            Inner::Sqlite(tx) => tx,
            Inner::Postgres(pg) => return pg.put_asset(asset),
        };
        crate::assets::put_asset_tx(tx, asset)?;
        tx.prepare_cached("INSERT OR IGNORE INTO region_archive_assets (region_id, asset_id) VALUES (?1, ?2)")?
            .execute(params![self.region_id.as_bytes(), asset.id.as_bytes()])?;
        Ok(())
    }

    pub fn put_terrain(&self, terrain: &Terrain) -> Result<(), StoreError> {
        let tx = match &self.inner {
            Inner::Sqlite(tx) => tx,
            Inner::Postgres(pg) => return pg.put_terrain(terrain),
        };
        tx.prepare_cached(
            "INSERT INTO region_terrain (region_id, data) VALUES (?1, ?2)
                 ON CONFLICT (region_id) DO UPDATE SET data = excluded.data",
        )?
        .execute(params![self.region_id.as_bytes(), encode(terrain, "terrain")?])?;
        Ok(())
    }

    pub fn put_sun(&self, sun: &Sun) -> Result<(), StoreError> {
        let tx = match &self.inner {
            Inner::Sqlite(tx) => tx,
            Inner::Postgres(pg) => return pg.put_sun(sun),
        };
        tx.prepare_cached(
            "INSERT INTO region_sun (region_id, data) VALUES (?1, ?2)
                 ON CONFLICT (region_id) DO UPDATE SET data = excluded.data",
        )?
        .execute(params![self.region_id.as_bytes(), encode(sun, "sun")?])?;
        Ok(())
    }

    pub fn put_water_height(&self, height_m: f32) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Sqlite(tx) => put_water(tx, self.region_id, height_m),
            Inner::Postgres(pg) => pg.put_water_height(height_m),
        }
    }

    /// Keeps an archive member verbatim (replacing one at the same path).
    pub fn put_kept_member(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        let tx = match &self.inner {
            Inner::Sqlite(tx) => tx,
            Inner::Postgres(pg) => return pg.put_kept_member(path, data),
        };
        tx.prepare_cached(
            "INSERT INTO region_archive_members (region_id, path, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (region_id, path) DO UPDATE SET data = excluded.data",
        )?
        .execute(params![self.region_id.as_bytes(), path, data])?;
        Ok(())
    }

    fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            Inner::Sqlite(tx) => Ok(tx.commit()?),
            Inner::Postgres(pg) => pg.commit(),
        }
    }
}

fn put_water(conn: &rusqlite::Connection, region_id: Uuid, height_m: f32) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO region_water (region_id, height_m) VALUES (?1, ?2)
         ON CONFLICT (region_id) DO UPDATE SET height_m = excluded.height_m",
    )?
    .execute(params![region_id.as_bytes(), f64::from(height_m)])?;
    Ok(())
}

impl Store {
    /// Runs `f` inside one immediate transaction on the region's archive
    /// state; commits only when `f` succeeds. The store's connection is held
    /// for the whole call.
    pub fn import_archive<T, E: From<StoreError>>(
        &self,
        region_id: Uuid,
        f: impl FnOnce(&ArchiveImport<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(pg) = self.pg() {
            let mut client = pg.block(pg.client()).map_err(E::from)?;
            let import = ArchiveImport {
                inner: Inner::Postgres(PgImport::begin(pg, &mut client, region_id).map_err(E::from)?),
                region_id,
            };
            let value = f(&import)?;
            import.commit().map_err(E::from)?;
            return Ok(value);
        }
        let Some(conn) = self.sqlite() else {
            return Err(E::from(StoreError::Invalid("no database".into())));
        };
        let mut conn = conn.lock();
        crate::timed(&self.timing, &mut conn, |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| E::from(StoreError::from(e)))?;
            let import = ArchiveImport {
                inner: Inner::Sqlite(tx),
                region_id,
            };
            let value = f(&import)?;
            import.commit().map_err(E::from)?;
            Ok(value)
        })
    }

    /// The region's kept archive members, in path order.
    pub fn archive_members(&self, region_id: Uuid) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::archive_members(pg, region_id);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT path, data FROM region_archive_members WHERE region_id = ?1 ORDER BY path")?;
            let rows = stmt.query_map(params![region_id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Ids of the assets archives brought into the region, in id order.
    pub fn archive_asset_ids(&self, region_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::archive_asset_ids(pg, region_id);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT asset_id FROM region_archive_assets WHERE region_id = ?1 ORDER BY asset_id")?;
            let rows = stmt.query_map(params![region_id.as_bytes()], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for row in rows {
                let bytes = row?;
                out.push(Uuid::from_slice(&bytes).map_err(|e| StoreError::Corrupt(format!("archive asset id: {e}")))?);
            }
            Ok(out)
        })
    }

    /// `None` when the region has no stored water level.
    pub fn load_water_height(&self, region_id: Uuid) -> Result<Option<f32>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::load_water_height(pg, region_id);
        }
        self.with_conn(|conn| {
            let h: Option<f64> = conn
                .prepare_cached("SELECT height_m FROM region_water WHERE region_id = ?1")?
                .query_row(params![region_id.as_bytes()], |r| r.get(0))
                .optional()?;
            Ok(h.map(|h| h as f32))
        })
    }

    pub fn save_water_height(&self, region_id: Uuid, height_m: f32) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::save_water_height(pg, region_id, height_m);
        }
        self.with_conn(|conn| put_water(conn, region_id, height_m))
    }
}

#[cfg(test)]
mod tests {
    use dispatcher_scene::{AssetType, Part, Vector3};

    use super::*;

    fn object(id: u128) -> SceneObject {
        SceneObject::new(Part::new(Uuid::from_u128(id), "o"), Vec::new(), Vector3::new(1.0, 2.0, 3.0))
    }

    #[test]
    fn a_failing_import_changes_nothing_and_a_good_one_commits_everything() {
        for (kind, store, _dir) in crate::testing::stores() {
            let region = Uuid::from_u128(7);
            store.save_object(region, &object(1)).expect("existing");
            let failed: Result<(), StoreError> = store.import_archive(region, |tx| {
                tx.clear_region()?;
                tx.put_object(&object(2))?;
                tx.put_asset(&Asset::from_type(Uuid::from_u128(9), AssetType::Texture, vec![1, 2]))?;
                tx.put_kept_member("landdata/x.xml", b"<LandData/>")?;
                tx.put_water_height(12.5)?;
                tx.put_terrain(&Terrain::flat(4, 4, 3.0))?;
                Err(StoreError::Invalid("broken member".into()))
            });
            assert!(failed.is_err());
            let ids: Vec<Uuid> = store.load_objects(region).expect("load").iter().map(SceneObject::id).collect();
            assert_eq!(ids, vec![Uuid::from_u128(1)], "{kind}");
            assert!(!store.asset_exists(Uuid::from_u128(9)).expect("exists"));
            assert!(store.archive_members(region).expect("members").is_empty());
            assert!(store.archive_asset_ids(region).expect("asset ids").is_empty());
            assert_eq!(store.load_water_height(region).expect("water"), None);
            assert_eq!(store.load_terrain(region).expect("terrain"), None);

            store
                .import_archive(region, |tx| -> Result<(), StoreError> {
                    tx.clear_region()?;
                    tx.put_object(&object(2))?;
                    tx.put_kept_member("landdata/x.xml", b"<LandData/>")?;
                    tx.put_water_height(12.5)
                })
                .expect("import");
            let ids: Vec<Uuid> = store.load_objects(region).expect("load").iter().map(SceneObject::id).collect();
            assert_eq!(ids, vec![Uuid::from_u128(2)], "{kind}");
            assert_eq!(
                store.archive_members(region).expect("members"),
                vec![("landdata/x.xml".to_string(), b"<LandData/>".to_vec())]
            );
            assert_eq!(store.load_water_height(region).expect("water"), Some(12.5));
        }
    }

    #[test]
    fn an_import_writes_objects_in_order_assets_members_terrain_and_sun() {
        for (kind, store, _dir) in crate::testing::stores() {
            let (region, other) = (Uuid::from_u128(7), Uuid::from_u128(8));
            store.save_object(region, &object(1)).expect("existing");
            store.save_object(other, &object(1)).expect("other region");
            store.save_water_height(region, 3.0).expect("water");
            let count = 5_000u128;
            let assets = [Uuid::from_u128(0xb), Uuid::from_u128(0xa)];
            let sun = Sun {
                year_length_days: 3,
                ..Sun::default()
            };
            let objects_put = store
                .import_archive(region, |tx| -> Result<u128, StoreError> {
                    assert_eq!(tx.region_id(), region);
                    // Put before the clear: cleared with the rest.
                    tx.put_object(&object(99_999))?;
                    tx.clear_region()?;
                    for n in (100..100 + count).rev() {
                        tx.put_object(&object(n))?;
                    }
                    // Listed twice: keeps its first place, takes the last value.
                    let mut moved = object(150);
                    moved.position = Vector3::new(9.0, 9.0, 9.0);
                    tx.put_object(&moved)?;
                    for id in assets {
                        tx.put_asset(&Asset::from_type(id, AssetType::Texture, vec![1, 2, 3]))?;
                    }
                    tx.put_asset(&Asset::from_type(assets[0], AssetType::Texture, vec![4]))?;
                    tx.put_kept_member("settings/b.xml", b"b")?;
                    tx.put_kept_member("Settings/a.xml", b"a")?;
                    tx.put_kept_member("settings/b.xml", b"b2")?;
                    tx.put_terrain(&Terrain::flat(8, 8, 2.0))?;
                    tx.put_sun(&sun)?;
                    tx.put_water_height(21.0)?;
                    Ok(count)
                })
                .expect("import");
            assert_eq!(objects_put, count);
            let loaded = store.load_objects(region).expect("load");
            let ids: Vec<u128> = loaded.iter().map(|o| o.id().as_u128()).collect();
            let expected: Vec<u128> = (100..100 + count).rev().collect();
            assert_eq!(ids, expected, "{kind}");
            let moved = loaded.iter().find(|o| o.id() == Uuid::from_u128(150)).expect("150");
            assert_eq!(moved.position, Vector3::new(9.0, 9.0, 9.0), "{kind}");
            assert_eq!(store.load_objects(other).expect("other").len(), 1, "{kind}: other regions untouched");
            assert_eq!(store.archive_asset_ids(region).expect("ids"), vec![assets[1], assets[0]], "{kind}");
            assert_eq!(store.get_asset(assets[0]).expect("get").map(|a| a.data), Some(vec![4]));
            assert_eq!(
                store.archive_members(region).expect("members"),
                vec![("Settings/a.xml".to_string(), b"a".to_vec()), ("settings/b.xml".to_string(), b"b2".to_vec())],
                "{kind}"
            );
            assert_eq!(store.load_terrain(region).expect("terrain"), Some(Terrain::flat(8, 8, 2.0)));
            assert_eq!(store.load_sun(region).expect("sun"), Some(sun));
            assert_eq!(store.load_water_height(region).expect("water"), Some(21.0));
        }
    }
}
