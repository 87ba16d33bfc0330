//! `dispatcher grid status`: hosts, leases and capabilities as the database has them.

use std::fmt;

use deadpool_postgres::GenericClient;

use crate::config::redact_url;
use crate::db;
use crate::error::GridError;

#[derive(Clone, Debug, PartialEq)]
pub struct HostStatus {
    pub name: String,
    pub advertise_url: String,
    /// Seconds since the last heartbeat.
    pub heartbeat_age_s: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LeaseStatus {
    pub region_id: String,
    pub host: String,
    pub epoch: i64,
    /// Seconds until the lease runs out (negative: expired that long ago).
    pub expires_in_s: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GridStatus {
    pub hosts: Vec<HostStatus>,
    pub leases: Vec<LeaseStatus>,
    pub live_capabilities: i64,
}

/// Read the status through `client`.
pub(crate) async fn read(client: &impl GenericClient) -> Result<GridStatus, GridError> {
    let exists: bool = client.query_one("SELECT to_regclass('grid_schema') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        return Err(GridError::Database(
            "no grid here yet: the grid's tables are created when the first host starts".into(),
        ));
    }
    let hosts = client
        .query(
            "SELECT name, advertise_url, EXTRACT(EPOCH FROM (now() - heartbeat))::float8 FROM grid_hosts ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|r| HostStatus {
            name: r.get(0),
            advertise_url: r.get(1),
            heartbeat_age_s: r.get(2),
        })
        .collect();
    let leases = client
        .query(
            "SELECT region_id, host, epoch, EXTRACT(EPOCH FROM (expires - now()))::float8 FROM grid_leases ORDER BY region_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| LeaseStatus {
            region_id: r.get(0),
            host: r.get(1),
            epoch: r.get(2),
            expires_in_s: r.get(3),
        })
        .collect();
    let live_capabilities = client
        .query_one("SELECT count(*) FROM grid_capabilities WHERE expires IS NULL OR expires > now()", &[])
        .await?
        .get(0);
    Ok(GridStatus {
        hosts,
        leases,
        live_capabilities,
    })
}

/// The status of the grid at `database_url`, without joining it (the
/// operator's command: no registration, no migration).
pub async fn status_of(database_url: &str) -> Result<GridStatus, GridError> {
    let pool = db::pool(db::pg_config(database_url)?)?;
    let client = match tokio::time::timeout(db::CONNECT_TIMEOUT + std::time::Duration::from_secs(1), pool.get()).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(db::classify_connect(database_url, e)),
        Err(_) => {
            return Err(GridError::Unreachable {
                url: redact_url(database_url),
                reason: format!("no connection within {} s", db::CONNECT_TIMEOUT.as_secs()),
            })
        }
    };
    read(&client).await
}

impl fmt::Display for GridStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "hosts ({}):", self.hosts.len())?;
        for h in &self.hosts {
            writeln!(f, "  {:<24} {:<32} heartbeat {:.1} s ago", h.name, h.advertise_url, h.heartbeat_age_s)?;
        }
        writeln!(f, "regions ({}):", self.leases.len())?;
        for l in &self.leases {
            let state = if l.expires_in_s > 0.0 {
                format!("expires in {:.1} s", l.expires_in_s)
            } else {
                format!("EXPIRED {:.1} s ago", -l.expires_in_s)
            };
            writeln!(f, "  {}  owner {:<24} epoch {:<6} {state}", l.region_id, l.host, l.epoch)?;
        }
        write!(f, "capabilities live: {}", self.live_capabilities)
    }
}
