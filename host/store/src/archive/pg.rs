//! Region archives on PostgreSQL (see `archive.rs` for the SQLite form): the
//! transaction an import runs in, kept members, archive asset ids, water.
//!
//! An import's objects are buffered and written with the multi-row upsert of
//! `pg/objects.rs` a few thousand at a time, so a 50,000-object archive is a
//! few dozen statements, not one round trip per object. Everything runs in
//! one transaction, fenced once at its start (the share lock on the lease row
//! is held until commit).

use deadpool_postgres::{Object, Transaction};
use dispatcher_scene::{Asset, Sun, Terrain};
use parking_lot::Mutex;
use tokio_postgres::Statement;
use uuid::Uuid;

use crate::objects::pg::{dedupe, upsert_chunk, UPSERT_OBJECTS, WRITE_CHUNK_ROWS};
use crate::objects::{encode, EncodedObject};
use crate::pg::Postgres;
use crate::StoreError;

/// The writes of one import on PostgreSQL (wrapped by `crate::ArchiveImport`).
pub(crate) struct PgImport<'a> {
    pg: &'a Postgres,
    tx: Transaction<'a>,
    region_id: Uuid,
    /// Objects put and not yet written.
    objects: Mutex<Vec<EncodedObject>>,
    upsert_objects: Statement,
    put_asset: Statement,
    put_member: Statement,
}

/// Inserts or replaces an asset and records it as one of the region's
/// archive assets, in one statement.
fn put_archive_asset_sql() -> String {
    format!(
        "WITH a AS ({}) INSERT INTO region_archive_assets (region_id, asset_id) VALUES ($10, $1) ON CONFLICT DO NOTHING",
        crate::assets::pg::UPSERT_ASSET
    )
}

const UPSERT_MEMBER: &str = "INSERT INTO region_archive_members (region_id, path, data) VALUES ($1, $2, $3)
     ON CONFLICT (region_id, path) DO UPDATE SET data = excluded.data";

impl<'a> PgImport<'a> {
    /// Opens the import's transaction on `client` (fenced) and prepares its
    /// statements.
    pub(crate) fn begin(pg: &'a Postgres, client: &'a mut Object, region_id: Uuid) -> Result<PgImport<'a>, StoreError> {
        pg.block(async move {
            let tx = client.transaction().await?;
            pg.fences.check(&*tx, region_id).await?;
            let upsert_objects = tx.prepare_cached(UPSERT_OBJECTS).await?;
            let put_asset = tx.prepare_cached(&put_archive_asset_sql()).await?;
            let put_member = tx.prepare_cached(UPSERT_MEMBER).await?;
            Ok(PgImport {
                pg,
                tx,
                region_id,
                objects: Mutex::new(Vec::new()),
                upsert_objects,
                put_asset,
                put_member,
            })
        })
    }

    fn write_buffered(&self) -> Result<(), StoreError> {
        let rows = std::mem::take(&mut *self.objects.lock());
        if rows.is_empty() {
            return Ok(());
        }
        self.pg.block(async {
            for chunk in dedupe(&rows).chunks(WRITE_CHUNK_ROWS) {
                upsert_chunk(&self.tx, &self.upsert_objects, chunk).await?;
            }
            Ok(())
        })
    }

    pub(crate) fn clear_region(&self) -> Result<(), StoreError> {
        // Objects put before the clear would be deleted by it.
        self.objects.lock().clear();
        self.pg.block(async {
            let id = &self.region_id;
            self.tx.execute("DELETE FROM scene_objects WHERE region_id = $1", &[id]).await?;
            self.tx
                .execute("DELETE FROM region_archive_members WHERE region_id = $1", &[id])
                .await?;
            self.tx
                .execute("DELETE FROM region_archive_assets WHERE region_id = $1", &[id])
                .await?;
            Ok(())
        })
    }

    /// An object already encoded (by the archive reader's parser threads).
    pub(crate) fn put_encoded_object(&self, object_id: Uuid, data: &[u8]) -> Result<(), StoreError> {
        self.put_encoded((self.region_id, object_id, data.to_vec()))
    }

    fn put_encoded(&self, row: EncodedObject) -> Result<(), StoreError> {
        let full = {
            let mut objects = self.objects.lock();
            objects.push(row);
            objects.len() >= WRITE_CHUNK_ROWS
        };
        if full {
            self.write_buffered()?;
        }
        Ok(())
    }

    pub(crate) fn put_asset(&self, asset: &Asset) -> Result<(), StoreError> {
        let code = i32::from(asset.asset_type.code());
        let [p1, p2, p3, p4, p5, p6, p7, p8, p9] = crate::assets::pg::asset_params(asset, &code);
        self.pg.block(async {
            self.tx
                .execute(&self.put_asset, &[p1, p2, p3, p4, p5, p6, p7, p8, p9, &self.region_id])
                .await?;
            Ok(())
        })
    }

    fn put_value(&self, table: &str, data: &[u8]) -> Result<(), StoreError> {
        self.pg.block(async {
            self.tx
                .execute(&crate::region_state::pg::put_value_sql(table), &[&self.region_id, &data])
                .await?;
            Ok(())
        })
    }

    pub(crate) fn put_terrain(&self, terrain: &Terrain) -> Result<(), StoreError> {
        self.put_value(crate::region_state::TERRAIN_TABLE, &encode(terrain, "terrain")?)
    }

    pub(crate) fn put_sun(&self, sun: &Sun) -> Result<(), StoreError> {
        self.put_value(crate::region_state::SUN_TABLE, &encode(sun, "sun")?)
    }

    pub(crate) fn put_water_height(&self, height_m: f32) -> Result<(), StoreError> {
        self.pg.block(async {
            self.tx.execute(UPSERT_WATER, &[&self.region_id, &f64::from(height_m)]).await?;
            Ok(())
        })
    }

    pub(crate) fn put_kept_member(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        self.pg.block(async {
            self.tx.execute(&self.put_member, &[&self.region_id, &path, &data]).await?;
            Ok(())
        })
    }

    /// Writes the buffered objects and commits.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        self.write_buffered()?;
        let PgImport { pg, tx, .. } = self;
        // The import's commit (its statements ran before, each blocked on).
        pg.write(tx.commit())?;
        Ok(())
    }
}

pub(crate) const UPSERT_WATER: &str = "INSERT INTO region_water (region_id, height_m) VALUES ($1, $2)
     ON CONFLICT (region_id) DO UPDATE SET height_m = excluded.height_m";

pub(crate) fn save_water_height(pg: &Postgres, region_id: Uuid, height_m: f32) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        pg.fences.check(&*tx, region_id).await?;
        tx.execute(UPSERT_WATER, &[&region_id, &f64::from(height_m)]).await?;
        tx.commit().await?;
        Ok(())
    })
}

pub(crate) fn load_water_height(pg: &Postgres, region_id: Uuid) -> Result<Option<f32>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let row = client
            .query_opt("SELECT height_m FROM region_water WHERE region_id = $1", &[&region_id])
            .await?;
        let h: Option<f64> = row.map(|r| r.try_get(0)).transpose()?;
        Ok(h.map(|h| h as f32))
    })
}

pub(crate) fn archive_members(pg: &Postgres, region_id: Uuid) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client
            .query(
                "SELECT path, data FROM region_archive_members WHERE region_id = $1 ORDER BY path COLLATE \"C\"",
                &[&region_id],
            )
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    })
}

pub(crate) fn archive_asset_ids(pg: &Postgres, region_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client
            .query("SELECT asset_id FROM region_archive_assets WHERE region_id = $1 ORDER BY asset_id", &[&region_id])
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    })
}
