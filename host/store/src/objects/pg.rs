//! Scene objects on PostgreSQL (see `objects.rs` for the SQLite form).
//!
//! A batch is one transaction of multi-row statements (`unnest` of arrays, a
//! few thousand rows each), not a statement per object. A load is one query
//! read through a portal page by page while earlier pages decode.

use std::collections::{HashMap, HashSet, VecDeque};

use deadpool_postgres::Transaction;
use dispatcher_scene::SceneObject;
use uuid::Uuid;

use crate::objects::EncodedObject;
use crate::pg::{Fences, Postgres};
use crate::StoreError;

/// Inserts or replaces objects given as arrays (region ids, object ids,
/// encoded values). New rows take `seq` in array order; a replaced row keeps
/// its place.
pub(crate) const UPSERT_OBJECTS: &str = "INSERT INTO scene_objects (region_id, object_id, data)
     SELECT r, o, d FROM unnest($1::uuid[], $2::uuid[], $3::bytea[]) WITH ORDINALITY AS t(r, o, d, n) ORDER BY n
     ON CONFLICT (region_id, object_id) DO UPDATE SET data = excluded.data";

/// Rows per multi-row statement: bounds one message to a few tens of MiB.
pub(crate) const WRITE_CHUNK_ROWS: usize = 4096;

/// Rows fetched from the load portal at a time.
const LOAD_PAGE_ROWS: i32 = 1024;

const LOAD_OBJECTS: &str = "SELECT data FROM scene_objects WHERE region_id = $1 ORDER BY seq";

/// The rows as SQLite's row-by-row upsert leaves them: an object listed twice
/// keeps the place of its first listing and the value of its last (one
/// statement cannot touch a row twice).
pub(crate) fn dedupe(rows: &[EncodedObject]) -> Vec<&EncodedObject> {
    let mut index: HashMap<(Uuid, Uuid), usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<&EncodedObject> = Vec::with_capacity(rows.len());
    for row in rows {
        match index.get(&(row.0, row.1)) {
            Some(&i) => out[i] = row,
            None => {
                index.insert((row.0, row.1), out.len());
                out.push(row);
            }
        }
    }
    out
}

/// Upserts `rows` inside the caller's transaction, after the fence check of
/// each region they belong to.
pub(crate) async fn write_rows(fences: &Fences, tx: &Transaction<'_>, rows: &[EncodedObject]) -> Result<(), StoreError> {
    let regions: HashSet<Uuid> = rows.iter().map(|r| r.0).collect();
    for region in regions {
        fences.check(&**tx, region).await?;
    }
    let rows = dedupe(rows);
    if rows.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare_cached(UPSERT_OBJECTS).await?;
    for chunk in rows.chunks(WRITE_CHUNK_ROWS) {
        upsert_chunk(tx, &stmt, chunk).await?;
    }
    Ok(())
}

/// One multi-row upsert of already deduplicated rows.
pub(crate) async fn upsert_chunk(
    tx: &Transaction<'_>,
    stmt: &tokio_postgres::Statement,
    chunk: &[&EncodedObject],
) -> Result<(), StoreError> {
    let regions: Vec<Uuid> = chunk.iter().map(|r| r.0).collect();
    let ids: Vec<Uuid> = chunk.iter().map(|r| r.1).collect();
    let data: Vec<&[u8]> = chunk.iter().map(|r| r.2.as_slice()).collect();
    tx.execute(stmt, &[&regions, &ids, &data]).await?;
    Ok(())
}

/// Writes the rows in one transaction: all or nothing.
pub(crate) fn write_objects(pg: &Postgres, rows: &[EncodedObject]) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        write_rows(&pg.fences, &tx, rows).await?;
        tx.commit().await?;
        Ok(())
    })
}

pub(crate) fn delete_objects(pg: &Postgres, region_id: Uuid, object_ids: &[Uuid]) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        pg.fences.check(&*tx, region_id).await?;
        tx.execute("DELETE FROM scene_objects WHERE region_id = $1 AND object_id = ANY($2)", &[&region_id, &object_ids])
            .await?;
        tx.commit().await?;
        Ok(())
    })
}

pub(crate) fn delete_all_objects(pg: &Postgres, region_id: Uuid) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        pg.fences.check(&*tx, region_id).await?;
        tx.execute("DELETE FROM scene_objects WHERE region_id = $1", &[&region_id]).await?;
        tx.commit().await?;
        Ok(())
    })
}

/// Every object of the region in creation order: one query, read a page at a
/// time on this thread and decoded on all cores (`objects::load`).
pub(crate) fn load_objects(pg: &Postgres, region_id: Uuid) -> Result<Vec<SceneObject>, StoreError> {
    let mut client = pg.block(pg.client())?;
    let tx = pg.block(client.build_transaction().read_only(true).start())?;
    let portal = pg.block(tx.bind(LOAD_OBJECTS, &[&region_id]))?;
    let mut page: VecDeque<tokio_postgres::Row> = VecDeque::new();
    let mut exhausted = false;
    let objects = crate::objects::load::decode_rows(|| {
        if page.is_empty() && !exhausted {
            let rows = pg.block(tx.query_portal(&portal, LOAD_PAGE_ROWS))?;
            exhausted = rows.len() < LOAD_PAGE_ROWS as usize;
            page.extend(rows);
        }
        match page.pop_front() {
            Some(row) => Ok(Some(row.try_get::<_, &[u8]>(0)?.to_vec())),
            None => Ok(None),
        }
    })?;
    pg.block(tx.commit())?;
    Ok(objects)
}
