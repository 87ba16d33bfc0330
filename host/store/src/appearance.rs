//! Avatar appearances, one per avatar (account), shared by every region.

pub(crate) mod pg;

use dispatcher_scene::Appearance;
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use crate::objects::{decode, encode};
use crate::{Store, StoreError};

impl Store {
    pub fn save_appearance(&self, avatar_id: Uuid, appearance: &Appearance) -> Result<(), StoreError> {
        let data = encode(appearance, "appearance")?;
        if let Some(pg) = self.pg() {
            return pg::save_appearance(pg, avatar_id, &data);
        }
        self.with_conn(|conn| {
            conn.prepare_cached(
                "INSERT INTO avatar_appearance (avatar_id, data) VALUES (?1, ?2)
                 ON CONFLICT (avatar_id) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![avatar_id.as_bytes(), data])?;
            Ok(())
        })
    }

    /// `None` when the avatar never had an appearance stored (callers then use
    /// `Appearance::default()`).
    pub fn load_appearance(&self, avatar_id: Uuid) -> Result<Option<Appearance>, StoreError> {
        let data: Option<Vec<u8>> = if let Some(pg) = self.pg() {
            pg::load_appearance(pg, avatar_id)?
        } else {
            self.with_conn(|conn| {
                Ok(conn
                    .prepare_cached("SELECT data FROM avatar_appearance WHERE avatar_id = ?1")?
                    .query_row(params![avatar_id.as_bytes()], |r| r.get(0))
                    .optional()?)
            })?
        };
        data.map(|d| decode(&d, "appearance")).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_scene::SceneLimits;

    #[test]
    fn appearance_round_trips_and_survives_reopen() {
        for (_kind, store, dir) in crate::testing::stores() {
            let ada = Uuid::from_u128(1);
            assert_eq!(store.load_appearance(ada).expect("none"), None);
            let text = r#"{"visualparams":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,255,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148],
            "attachments":[{"point":2,"item":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","asset":"a55e7000-0004-4b6c-9d8e-112233445566"}]}"#;
            let changed = Appearance::default().replaced_by(text, &SceneLimits::default()).expect("valid");
            store.save_appearance(ada, &Appearance::default()).expect("first");
            store.save_appearance(ada, &changed).expect("replace");
            let store = crate::objects::tests::reopen(store, &dir);
            let back = store.load_appearance(ada).expect("load").expect("some");
            assert_eq!(back, changed);
            assert_eq!(back.to_json(), changed.to_json());
            assert_eq!(store.load_appearance(Uuid::from_u128(2)).expect("none"), None);
        }
    }
}
