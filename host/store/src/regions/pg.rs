//! Regions on PostgreSQL (see `regions.rs` for the SQLite form).

use uuid::Uuid;

use crate::pg::Postgres;
use crate::{Region, StoreError};

pub(crate) fn create_region(pg: &Postgres, region: &Region) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        let clash = tx
            .query_opt("SELECT name FROM regions WHERE id = $1 OR name = $2", &[&region.id, &region.name])
            .await?;
        if let Some(row) = clash {
            let existing: String = row.get(0);
            return Err(StoreError::Conflict(format!("a region with this id or name already exists ({existing})")));
        }
        tx.execute(
            "INSERT INTO regions (id, name, owner) VALUES ($1, $2, $3)",
            &[&region.id, &region.name, &region.owner],
        )
        .await?;
        for m in &region.managers {
            tx.execute(
                "INSERT INTO region_managers (region_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&region.id, m],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

pub(crate) fn list_regions(pg: &Postgres) -> Result<Vec<Region>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client.query("SELECT id, name, owner FROM regions ORDER BY seq", &[]).await?;
        let managers = client
            .query("SELECT region_id, account_id FROM region_managers ORDER BY account_id", &[])
            .await?;
        let mut out: Vec<Region> = rows
            .iter()
            .map(|r| Region {
                id: r.get(0),
                name: r.get(1),
                owner: r.get(2),
                managers: Vec::new(),
            })
            .collect();
        for m in &managers {
            let region: Uuid = m.get(0);
            if let Some(r) = out.iter_mut().find(|r| r.id == region) {
                r.managers.push(m.get(1));
            }
        }
        Ok(out)
    })
}
