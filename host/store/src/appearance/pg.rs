//! Avatar appearances on PostgreSQL (see `appearance.rs` for the SQLite
//! form). An appearance belongs to an avatar, not a region: not fenced.

use uuid::Uuid;

use crate::pg::Postgres;
use crate::StoreError;

pub(crate) fn save_appearance(pg: &Postgres, avatar_id: Uuid, data: &[u8]) -> Result<(), StoreError> {
    pg.write(async {
        let client = pg.client().await?;
        client
            .execute(
                "INSERT INTO avatar_appearance (avatar_id, data) VALUES ($1, $2)
                 ON CONFLICT (avatar_id) DO UPDATE SET data = excluded.data",
                &[&avatar_id, &data],
            )
            .await?;
        Ok(())
    })
}

pub(crate) fn load_appearance(pg: &Postgres, avatar_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let row = client
            .query_opt("SELECT data FROM avatar_appearance WHERE avatar_id = $1", &[&avatar_id])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    })
}
