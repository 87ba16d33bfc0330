//! Assets on PostgreSQL (see `assets.rs` for the SQLite form).

use dispatcher_scene::{Asset, AssetType};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::pg::Postgres;
use crate::StoreError;

/// Inserts or replaces an asset; parameters as [`put_asset_tx`] binds them.
pub(crate) const UPSERT_ASSET: &str =
    "INSERT INTO assets (id, asset_type, name, description, content_type, creator_id, local, temporary, data)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (id) DO UPDATE SET asset_type = excluded.asset_type, name = excluded.name,
       description = excluded.description, content_type = excluded.content_type,
       creator_id = excluded.creator_id, local = excluded.local,
       temporary = excluded.temporary, data = excluded.data";

/// The parameters of [`UPSERT_ASSET`] for `asset` (`$1`…`$9`); the type code
/// is bound as the first element of `code`, which the caller keeps alive.
pub(crate) fn asset_params<'a>(asset: &'a Asset, code: &'a i32) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 9] {
    [
        &asset.id,
        code,
        &asset.name,
        &asset.description,
        &asset.content_type,
        &asset.creator_id,
        &asset.local,
        &asset.temporary,
        &asset.data,
    ]
}

/// [`crate::Store::put_asset`] inside a caller's transaction (or on a client),
/// so an asset commits together with the rows that refer to it.
pub(crate) async fn put_asset_tx<C: GenericClient>(client: &C, asset: &Asset) -> Result<(), StoreError> {
    let code = i32::from(asset.asset_type.code());
    client.execute(UPSERT_ASSET, &asset_params(asset, &code)).await?;
    Ok(())
}

pub(crate) fn put_asset(pg: &Postgres, asset: &Asset) -> Result<(), StoreError> {
    pg.write(async {
        let client = pg.client().await?;
        let client: &tokio_postgres::Client = &client;
        put_asset_tx(client, asset).await
    })
}

pub(crate) fn get_asset(pg: &Postgres, id: Uuid) -> Result<Option<Asset>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let row = client
            .query_opt(
                "SELECT asset_type, name, description, content_type, creator_id, local, temporary, data
                 FROM assets WHERE id = $1",
                &[&id],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let code: i32 = row.try_get(0)?;
        let code = i8::try_from(code).map_err(|_| StoreError::Corrupt(format!("asset {id}: type code {code}")))?;
        Ok(Some(Asset {
            id,
            asset_type: AssetType::from(code),
            name: row.try_get(1)?,
            description: row.try_get(2)?,
            content_type: row.try_get(3)?,
            creator_id: row.try_get(4)?,
            local: row.try_get(5)?,
            temporary: row.try_get(6)?,
            data: row.try_get(7)?,
        }))
    })
}

pub(crate) fn asset_exists(pg: &Postgres, id: Uuid) -> Result<bool, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        Ok(client.query_opt("SELECT 1 FROM assets WHERE id = $1", &[&id]).await?.is_some())
    })
}
