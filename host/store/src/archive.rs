//! Region archives (OAR): the one transaction an import runs in, the archive
//! members kept verbatim for export, and the region's water level.
//!
//! An import writes everything through one [`ArchiveImport`]: if the closure
//! given to [`Store::import_archive`] fails, the transaction rolls back and the
//! database is as it was (a broken archive changes nothing). Statements are
//! prepared once per transaction (`prepare_cached`).

use dispatcher_scene::{Asset, SceneObject, Sun, Terrain};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use uuid::Uuid;

use crate::objects::{encode, encode_scene_object};
use crate::{Store, StoreError};

/// The writes of one archive import, all inside one transaction.
pub struct ArchiveImport<'a> {
    tx: Transaction<'a>,
    region_id: Uuid,
}

impl ArchiveImport<'_> {
    pub fn region_id(&self) -> Uuid {
        self.region_id
    }

    /// Deletes the region's objects and kept archive members (an import that
    /// replaces the region).
    pub fn clear_region(&self) -> Result<(), StoreError> {
        let id = self.region_id.as_bytes();
        self.tx.execute("DELETE FROM scene_objects WHERE region_id = ?1", params![id])?;
        self.tx
            .execute("DELETE FROM region_archive_members WHERE region_id = ?1", params![id])?;
        self.tx
            .execute("DELETE FROM region_archive_assets WHERE region_id = ?1", params![id])?;
        Ok(())
    }

    /// Inserts or replaces the object.
    pub fn put_object(&self, object: &SceneObject) -> Result<(), StoreError> {
        self.put_encoded_object(object.id(), &encode_scene_object(object)?)
    }

    /// Inserts or replaces an object already encoded with
    /// [`crate::encode_scene_object`].
    pub fn put_encoded_object(&self, object_id: Uuid, data: &[u8]) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO scene_objects (region_id, object_id, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (region_id, object_id) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![self.region_id.as_bytes(), object_id.as_bytes(), data])?;
        Ok(())
    }

    /// Inserts or replaces the asset and records it as one of the region's
    /// archive assets (exported with the region).
    pub fn put_asset(&self, asset: &Asset) -> Result<(), StoreError> {
        crate::assets::put_asset_tx(&self.tx, asset)?;
        self.tx
            .prepare_cached("INSERT OR IGNORE INTO region_archive_assets (region_id, asset_id) VALUES (?1, ?2)")?
            .execute(params![self.region_id.as_bytes(), asset.id.as_bytes()])?;
        Ok(())
    }

    pub fn put_terrain(&self, terrain: &Terrain) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO region_terrain (region_id, data) VALUES (?1, ?2)
                 ON CONFLICT (region_id) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![self.region_id.as_bytes(), encode(terrain, "terrain")?])?;
        Ok(())
    }

    pub fn put_sun(&self, sun: &Sun) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO region_sun (region_id, data) VALUES (?1, ?2)
                 ON CONFLICT (region_id) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![self.region_id.as_bytes(), encode(sun, "sun")?])?;
        Ok(())
    }

    pub fn put_water_height(&self, height_m: f32) -> Result<(), StoreError> {
        put_water(&self.tx, self.region_id, height_m)
    }

    /// Keeps an archive member verbatim (replacing one at the same path).
    pub fn put_kept_member(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO region_archive_members (region_id, path, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (region_id, path) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![self.region_id.as_bytes(), path, data])?;
        Ok(())
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
        let Some(conn) = self.sqlite() else {
            return Err(E::from(StoreError::Invalid("archive import on PostgreSQL is not built yet".into())));
        };
        let mut conn = conn.lock();
        crate::timed(&self.timing, &mut conn, |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| E::from(StoreError::from(e)))?;
            let import = ArchiveImport { tx, region_id };
            let value = f(&import)?;
            import.tx.commit().map_err(|e| E::from(StoreError::from(e)))?;
            Ok(value)
        })
    }

    /// The region's kept archive members, in path order.
    pub fn archive_members(&self, region_id: Uuid) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT path, data FROM region_archive_members WHERE region_id = ?1 ORDER BY path")?;
            let rows = stmt.query_map(params![region_id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Ids of the assets archives brought into the region, in id order.
    pub fn archive_asset_ids(&self, region_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
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
        self.with_conn(|conn| {
            let h: Option<f64> = conn
                .prepare_cached("SELECT height_m FROM region_water WHERE region_id = ?1")?
                .query_row(params![region_id.as_bytes()], |r| r.get(0))
                .optional()?;
            Ok(h.map(|h| h as f32))
        })
    }

    pub fn save_water_height(&self, region_id: Uuid, height_m: f32) -> Result<(), StoreError> {
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
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let region = Uuid::from_u128(7);
        store.save_object(region, &object(1)).expect("existing");
        let failed: Result<(), StoreError> = store.import_archive(region, |tx| {
            tx.clear_region()?;
            tx.put_object(&object(2))?;
            tx.put_asset(&Asset::from_type(Uuid::from_u128(9), AssetType::Texture, vec![1, 2]))?;
            tx.put_kept_member("landdata/x.xml", b"<LandData/>")?;
            tx.put_water_height(12.5)?;
            Err(StoreError::Invalid("broken member".into()))
        });
        assert!(failed.is_err());
        let ids: Vec<Uuid> = store.load_objects(region).expect("load").iter().map(SceneObject::id).collect();
        assert_eq!(ids, vec![Uuid::from_u128(1)]);
        assert!(!store.asset_exists(Uuid::from_u128(9)).expect("exists"));
        assert!(store.archive_members(region).expect("members").is_empty());
        assert_eq!(store.load_water_height(region).expect("water"), None);

        store
            .import_archive(region, |tx| -> Result<(), StoreError> {
                tx.clear_region()?;
                tx.put_object(&object(2))?;
                tx.put_kept_member("landdata/x.xml", b"<LandData/>")?;
                tx.put_water_height(12.5)
            })
            .expect("import");
        let ids: Vec<Uuid> = store.load_objects(region).expect("load").iter().map(SceneObject::id).collect();
        assert_eq!(ids, vec![Uuid::from_u128(2)]);
        assert_eq!(
            store.archive_members(region).expect("members"),
            vec![("landdata/x.xml".to_string(), b"<LandData/>".to_vec())]
        );
        assert_eq!(store.load_water_height(region).expect("water"), Some(12.5));
    }
}
