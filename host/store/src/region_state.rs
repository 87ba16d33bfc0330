//! A region's terrain and sun, one encoded value each per region.

pub(crate) mod pg;

use dispatcher_scene::{Sun, Terrain};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use crate::objects::{decode, encode};
use crate::{Store, StoreError};

/// The keyed single-value tables of this module. Table names are constants,
/// never input, so formatting them into SQL is safe.
pub(crate) const TERRAIN_TABLE: &str = "region_terrain";
pub(crate) const SUN_TABLE: &str = "region_sun";

impl Store {
    fn put_region_value(&self, table: &str, region_id: Uuid, data: &[u8]) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::put_region_value(pg, table, region_id, data);
        }
        self.with_conn(|conn| {
            conn.prepare_cached(&format!(
                "INSERT INTO {table} (region_id, data) VALUES (?1, ?2)
                 ON CONFLICT (region_id) DO UPDATE SET data = excluded.data"
            ))?
            .execute(params![region_id.as_bytes(), data])?;
            Ok(())
        })
    }

    fn get_region_value(&self, table: &str, region_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::get_region_value(pg, table, region_id);
        }
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!("SELECT data FROM {table} WHERE region_id = ?1"))?
                .query_row(params![region_id.as_bytes()], |r| r.get(0))
                .optional()?)
        })
    }

    pub fn save_terrain(&self, region_id: Uuid, terrain: &Terrain) -> Result<(), StoreError> {
        self.put_region_value(TERRAIN_TABLE, region_id, &encode(terrain, "terrain")?)
    }

    /// `None` when the region has no stored terrain yet.
    pub fn load_terrain(&self, region_id: Uuid) -> Result<Option<Terrain>, StoreError> {
        self.get_region_value(TERRAIN_TABLE, region_id)?
            .map(|data| decode(&data, "terrain"))
            .transpose()
    }

    pub fn save_sun(&self, region_id: Uuid, sun: &Sun) -> Result<(), StoreError> {
        self.put_region_value(SUN_TABLE, region_id, &encode(sun, "sun")?)
    }

    /// `None` when the region has no stored sun yet.
    pub fn load_sun(&self, region_id: Uuid) -> Result<Option<Sun>, StoreError> {
        self.get_region_value(SUN_TABLE, region_id)?
            .map(|data| decode(&data, "sun"))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terrain_and_sun_round_trip_per_region_and_survive_reopen() {
        for (_kind, store, dir) in crate::testing::stores() {
            let (r1, r2) = (Uuid::from_u128(1), Uuid::from_u128(2));
            assert_eq!(store.load_terrain(r1).expect("none"), None);
            assert_eq!(store.load_sun(r1).expect("none"), None);
            let mut terrain = Terrain::flat(256, 256, 21.0);
            terrain.set_height(3, 200, 42.5).expect("set");
            let sun = Sun {
                year_length_days: 7,
                time_offset_s: -90,
                ..Sun::default()
            };
            store.save_terrain(r1, &Terrain::flat(16, 16, 0.0)).expect("first");
            store.save_terrain(r1, &terrain).expect("replace");
            store.save_terrain(r2, &Terrain::flat(8, 4, 1.0)).expect("other");
            store.save_sun(r1, &sun).expect("sun");
            let store = crate::objects::tests::reopen(store, &dir);
            let back = store.load_terrain(r1).expect("load").expect("some");
            assert_eq!(back, terrain);
            assert_eq!(back.height(3, 200), Some(42.5));
            assert_eq!(store.load_terrain(r2).expect("load"), Some(Terrain::flat(8, 4, 1.0)));
            assert_eq!(store.load_sun(r1).expect("load"), Some(sun));
            assert_eq!(store.load_sun(r2).expect("load"), None);
        }
    }
}
