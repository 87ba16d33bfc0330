//! Regions (scenes) with their estate owner and managers.

pub(crate) mod pg;

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use crate::{Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: Uuid,
    pub name: String,
    pub owner: Uuid,
    pub managers: Vec<Uuid>,
}

#[derive(Clone, Debug, Default)]
pub struct NewRegion {
    pub id: Option<Uuid>,
    pub name: String,
    pub owner: Uuid,
    pub managers: Vec<Uuid>,
}

fn parse(id: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(id).map_err(|_| StoreError::Corrupt(format!("uuid {id:?}")))
}

impl Store {
    pub fn create_region(&self, new: &NewRegion) -> Result<Region, StoreError> {
        let name = new.name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("a region needs a name".into()));
        }
        let region = Region {
            id: new.id.unwrap_or_else(Uuid::new_v4),
            name: name.to_owned(),
            owner: new.owner,
            managers: new.managers.clone(),
        };
        if let Some(pg) = self.pg() {
            pg::create_region(pg, &region)?;
            return Ok(region);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let clash: Option<String> = tx
                .query_row(
                    "SELECT name FROM regions WHERE id = ?1 OR name = ?2",
                    params![region.id.to_string(), region.name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(existing) = clash {
                return Err(StoreError::Conflict(format!("a region with this id or name already exists ({existing})")));
            }
            tx.execute(
                "INSERT INTO regions (id, name, owner) VALUES (?1, ?2, ?3)",
                params![region.id.to_string(), region.name, region.owner.to_string()],
            )?;
            for m in &region.managers {
                tx.execute(
                    "INSERT OR IGNORE INTO region_managers (region_id, account_id) VALUES (?1, ?2)",
                    params![region.id.to_string(), m.to_string()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        Ok(region)
    }

    /// Every region in creation order.
    pub fn list_regions(&self) -> Result<Vec<Region>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::list_regions(pg);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT id, name, owner FROM regions ORDER BY seq")?;
            let rows: Vec<(String, String, String)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut mstmt = conn.prepare("SELECT account_id FROM region_managers WHERE region_id = ?1 ORDER BY account_id")?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, name, owner) in rows {
                let managers: Vec<String> = mstmt.query_map([&id], |r| r.get(0))?.collect::<Result<_, _>>()?;
                out.push(Region {
                    id: parse(&id)?,
                    name,
                    owner: parse(&owner)?,
                    managers: managers.iter().map(|m| parse(m)).collect::<Result<_, _>>()?,
                });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_keep_order_and_managers() {
        for (_kind, store, _dir) in crate::testing::stores() {
            regions_keep_order_and_managers_on(&store);
        }
    }

    fn regions_keep_order_and_managers_on(store: &Store) {
        let owner = Uuid::new_v4();
        let m = Uuid::new_v4();
        let a = store
            .create_region(&NewRegion {
                name: "B".into(),
                owner,
                managers: vec![m],
                ..Default::default()
            })
            .expect("a");
        let b = store
            .create_region(&NewRegion {
                name: "A".into(),
                owner,
                ..Default::default()
            })
            .expect("b");
        assert!(matches!(
            store.create_region(&NewRegion {
                name: "A".into(),
                owner,
                ..Default::default()
            }),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.list_regions().expect("list"), vec![a, b]);
    }
}
