//! Membership: this host's row in `grid_hosts`.

use deadpool_postgres::{Client, GenericClient};
use uuid::Uuid;

use crate::config::GridConfig;
use crate::error::GridError;

/// The advisory lock class of host registration (two-key form: class, name hash).
const REGISTER_LOCK_CLASS: i32 = 0x6772;

/// Register (or re-register) `name`. Refused when another incarnation with
/// the same name heartbeat within the last `LeaseSeconds`.
pub(crate) async fn register(
    client: &mut Client,
    config: &GridConfig,
    name: &str,
    advertise_url: &str,
    incarnation: Uuid,
) -> Result<(), GridError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&REGISTER_LOCK_CLASS, &name])
        .await?;
    let existing = tx
        .query_opt(
            "SELECT incarnation, advertise_url, EXTRACT(EPOCH FROM (now() - heartbeat))::float8 \
             FROM grid_hosts WHERE name = $1",
            &[&name],
        )
        .await?;
    if let Some(row) = existing {
        let (other, other_url, age_s): (String, String, f64) = (row.get(0), row.get(1), row.get(2));
        if other != incarnation.to_string() && age_s < config.lease_seconds as f64 {
            return Err(GridError::HostNameInUse {
                name: name.to_owned(),
                other_url,
                age_s: age_s.max(0.0),
                lease_s: config.lease_seconds,
            });
        }
    }
    tx.execute(
        "INSERT INTO grid_hosts (name, advertise_url, incarnation, preferred, started, heartbeat) \
         VALUES ($1, $2, $3, $4, now(), now()) \
         ON CONFLICT (name) DO UPDATE SET advertise_url = EXCLUDED.advertise_url, \
             incarnation = EXCLUDED.incarnation, preferred = EXCLUDED.preferred, \
             started = EXCLUDED.started, heartbeat = EXCLUDED.heartbeat",
        &[&name, &advertise_url, &incarnation.to_string(), &preferred(config)],
    )
    .await?;
    tx.execute("SELECT pg_notify('grid_changes', 'host:' || $1)", &[&name]).await?;
    tx.commit().await?;
    Ok(())
}

/// Heartbeat; `Ok(false)` when the row is no longer this incarnation's.
pub(crate) async fn heartbeat(
    client: &impl GenericClient,
    config: &GridConfig,
    name: &str,
    advertise_url: &str,
    incarnation: Uuid,
) -> Result<bool, GridError> {
    let incarnation = incarnation.to_string();
    let n = client
        .execute(
            "UPDATE grid_hosts SET heartbeat = now() WHERE name = $1 AND incarnation = $2",
            &[&name, &incarnation],
        )
        .await?;
    if n == 1 {
        return Ok(true);
    }
    // The row is gone (removed by hand): register again unless another host took the name.
    let n = client
        .execute(
            "INSERT INTO grid_hosts (name, advertise_url, incarnation, preferred, started, heartbeat) \
             VALUES ($1, $2, $3, $4, now(), now()) ON CONFLICT (name) DO NOTHING",
            &[&name, &advertise_url, &incarnation, &preferred(config)],
        )
        .await?;
    Ok(n == 1)
}

/// Leave the grid (graceful shutdown).
pub(crate) async fn leave(client: &impl GenericClient, name: &str, incarnation: Uuid) -> Result<(), GridError> {
    client
        .execute("DELETE FROM grid_hosts WHERE name = $1 AND incarnation = $2", &[&name, &incarnation.to_string()])
        .await?;
    client.execute("SELECT pg_notify('grid_changes', 'host:' || $1)", &[&name]).await?;
    Ok(())
}

fn preferred(config: &GridConfig) -> Vec<String> {
    config.preferred_regions.iter().map(|n| n.to_lowercase()).collect()
}
