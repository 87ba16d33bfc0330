//! `[Grid]`: standalone or grid mode, and what a grid host needs to join.
//!
//! [`GridConfig::set`] parses one key (the server's INI reader calls it for
//! every entry of the section and reports a bad value with file, section and
//! key); [`GridConfig::validate`] checks the section as a whole once the file
//! is read (grid mode needs a database, a name, an address and a secret).

use std::time::Duration;

/// Which mode the host runs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GridMode {
    /// One host, its own embedded database (the default).
    #[default]
    Standalone,
    /// Many hosts sharing one PostgreSQL database.
    Grid,
}

/// The `[Grid]` section.
#[derive(Clone, PartialEq, Eq)]
pub struct GridConfig {
    /// `Mode`: `standalone` (default) or `grid`.
    pub mode: GridMode,
    /// `DatabaseUrl`: `postgresql://user:password@host:port/database`.
    pub database_url: Option<String>,
    /// `HostName`: unique per host of the grid.
    pub host_name: Option<String>,
    /// `AdvertiseUrl`: how the other hosts reach this one (`http://…`).
    pub advertise_url: Option<String>,
    /// `LeaseSeconds`: a region lease's length (default 10, at least 2);
    /// leases are renewed every third of it.
    pub lease_seconds: u64,
    /// `MaxRegions`: the most regions this host owns at once (0 = no limit).
    pub max_regions: u32,
    /// `PreferredRegions`: region names this host claims first (comma list).
    pub preferred_regions: Vec<String>,
    /// `Secret`: shared by the grid's hosts to authenticate forwarded traffic.
    pub secret: Option<String>,
}

// The secret and the database URL's password stay out of logs.
impl std::fmt::Debug for GridConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GridConfig")
            .field("mode", &self.mode)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("host_name", &self.host_name)
            .field("advertise_url", &self.advertise_url)
            .field("lease_seconds", &self.lease_seconds)
            .field("max_regions", &self.max_regions)
            .field("preferred_regions", &self.preferred_regions)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Default `LeaseSeconds`.
pub const DEFAULT_LEASE_SECONDS: u64 = 10;
/// Smallest `LeaseSeconds` (a renewal every third of it must fit a round trip).
pub const MIN_LEASE_SECONDS: u64 = 2;
/// Largest `LeaseSeconds` (an hour: longer leases make takeover pointless).
pub const MAX_LEASE_SECONDS: u64 = 3600;

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            mode: GridMode::Standalone,
            database_url: None,
            host_name: None,
            advertise_url: None,
            lease_seconds: DEFAULT_LEASE_SECONDS,
            max_regions: 0,
            preferred_regions: Vec::new(),
            secret: None,
        }
    }
}

/// A `[Grid]` section that cannot be used as a whole. `Display` names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridConfigError {
    #[error("[Grid] {key} must be set when Mode = grid ({hint})")]
    Missing { key: &'static str, hint: &'static str },
    #[error("[Grid] {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl GridConfig {
    /// Whether grid mode is on.
    pub fn is_grid(&self) -> bool {
        self.mode == GridMode::Grid
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    /// How often leases are renewed (a third of the lease).
    pub fn renew_interval(&self) -> Duration {
        Duration::from_millis(self.lease_seconds * 1000 / 3)
    }

    /// Apply one key of the section (case-insensitive); `Ok(false)` when the
    /// key is unknown, `Err(reason)` when the value is bad.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let v = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "mode" => {
                self.mode = match v.to_ascii_lowercase().as_str() {
                    "standalone" => GridMode::Standalone,
                    "grid" => GridMode::Grid,
                    _ => return Err("expected standalone or grid".into()),
                }
            }
            "databaseurl" => {
                check_database_url(v)?;
                self.database_url = non_empty(v);
            }
            "hostname" => {
                check_host_name(v)?;
                self.host_name = non_empty(v);
            }
            "advertiseurl" => {
                check_advertise_url(v)?;
                self.advertise_url = non_empty(v);
            }
            "leaseseconds" => {
                let n: u64 = v.parse().map_err(|e| format!("expected a number of seconds: {e}"))?;
                if !(MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(&n) {
                    return Err(format!("must be between {MIN_LEASE_SECONDS} and {MAX_LEASE_SECONDS}"));
                }
                self.lease_seconds = n;
            }
            "maxregions" => self.max_regions = v.parse().map_err(|e| format!("expected a number (0 = no limit): {e}"))?,
            "preferredregions" => self.preferred_regions = parse_name_list(v)?,
            "secret" => {
                if !v.is_empty() && v.len() < 16 {
                    return Err("must be at least 16 characters".into());
                }
                self.secret = non_empty(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Check the section as a whole: grid mode needs `DatabaseUrl`,
    /// `HostName`, `AdvertiseUrl` and `Secret`. Standalone ignores the rest.
    pub fn validate(&self) -> Result<(), GridConfigError> {
        if !self.is_grid() {
            return Ok(());
        }
        let need = |v: &Option<String>, key: &'static str, hint: &'static str| match v {
            Some(_) => Ok(()),
            None => Err(GridConfigError::Missing { key, hint }),
        };
        need(&self.database_url, "DatabaseUrl", "postgresql://user:password@host:5432/database")?;
        need(&self.host_name, "HostName", "a name unique in the grid, e.g. sim-a")?;
        need(&self.advertise_url, "AdvertiseUrl", "how other hosts reach this one, e.g. http://10.0.0.5:9000")?;
        need(&self.secret, "Secret", "the same secret of 16 characters or more on every host")?;
        if !(MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(&self.lease_seconds) {
            return Err(GridConfigError::Invalid {
                key: "LeaseSeconds",
                reason: format!("must be between {MIN_LEASE_SECONDS} and {MAX_LEASE_SECONDS}"),
            });
        }
        Ok(())
    }

    /// Whether `name` is one of `PreferredRegions` (names compared without regard to case).
    pub fn prefers(&self, name: &str) -> bool {
        self.preferred_regions.iter().any(|p| p.eq_ignore_ascii_case(name))
    }
}

fn non_empty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

fn check_database_url(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    if !(v.starts_with("postgresql://") || v.starts_with("postgres://")) {
        return Err("expected postgresql://user:password@host:port/database".into());
    }
    v.parse::<tokio_postgres::Config>()
        .map(|_| ())
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))
}

fn check_host_name(v: &str) -> Result<(), String> {
    if v.len() > 64 {
        return Err("at most 64 characters".into());
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("letters, digits, '-', '_' and '.' only".into());
    }
    Ok(())
}

fn check_advertise_url(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or("expected http://host:port or https://host:port")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || v.len() > 512 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("expected http://host:port or https://host:port".into());
    }
    Ok(())
}

fn parse_name_list(v: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if names.len() > 10_000 {
        return Err("at most 10000 names".into());
    }
    if let Some(long) = names.iter().find(|n| n.len() > 256) {
        return Err(format!("region name too long: {:?}…", long.chars().take(32).collect::<String>()));
    }
    Ok(names)
}

/// The URL with its password replaced (for logs and errors).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(pairs: &[(&str, &str)]) -> Result<GridConfig, String> {
        let mut c = GridConfig::default();
        for (k, v) in pairs {
            if !c.set(k, v)? {
                return Err(format!("unknown {k}"));
            }
        }
        Ok(c)
    }

    #[test]
    fn defaults_are_standalone_and_valid() {
        let c = GridConfig::default();
        assert!(!c.is_grid());
        assert_eq!(c.lease_seconds, 10);
        assert_eq!(c.renew_interval(), Duration::from_millis(3333));
        c.validate().expect("standalone needs nothing");
    }

    #[test]
    fn values_are_parsed_and_checked() {
        let c = grid(&[
            ("Mode", "Grid"),
            ("DatabaseUrl", "postgresql://u:p@db.example:5432/d"),
            ("hostname", "sim-a"),
            ("AdvertiseUrl", "http://10.0.0.5:9000"),
            ("LeaseSeconds", "2"),
            ("MaxRegions", "3"),
            ("PreferredRegions", " Harbor Island, Test Region ,"),
            ("Secret", "0123456789abcdef"),
        ])
        .expect("good section");
        c.validate().expect("complete");
        assert_eq!(c.preferred_regions, vec!["Harbor Island", "Test Region"]);
        assert!(c.prefers("harbor island") && !c.prefers("Harbor"));
        assert_eq!((c.lease_seconds, c.max_regions), (2, 3));
        assert!(grid(&[("Mode", "cluster")]).is_err());
        assert!(grid(&[("LeaseSeconds", "1")]).is_err());
        assert!(grid(&[("LeaseSeconds", "ten")]).is_err());
        assert!(grid(&[("MaxRegions", "-1")]).is_err());
        assert!(grid(&[("DatabaseUrl", "mysql://x")]).is_err());
        assert!(grid(&[("DatabaseUrl", "postgresql://u:p@h:notaport/d")]).is_err());
        assert!(grid(&[("AdvertiseUrl", "10.0.0.5:9000")]).is_err());
        assert!(grid(&[("HostName", "sim a")]).is_err());
        assert!(grid(&[("Secret", "short")]).is_err());
        assert_eq!(GridConfig::default().set("Other", "x"), Ok(false));
    }

    #[test]
    fn grid_mode_names_each_missing_key() {
        let mut c = grid(&[("Mode", "grid")]).expect("mode");
        let mut order = Vec::new();
        for (key, value) in [
            ("DatabaseUrl", "postgresql://u:p@h/d"),
            ("HostName", "a"),
            ("AdvertiseUrl", "http://h:1"),
            ("Secret", "0123456789abcdef"),
        ] {
            let err = c.validate().expect_err("incomplete");
            assert!(err.to_string().contains(&format!("[Grid] {key}")), "{err}");
            order.push(key);
            c.set(key, value).expect("set");
        }
        c.validate().expect("complete");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = grid(&[("DatabaseUrl", "postgresql://u:hunter2@h/d"), ("Secret", "0123456789abcdef-topsecret")]).expect("set");
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2") && !text.contains("topsecret"), "{text}");
        assert_eq!(redact_url("postgresql://u:pw@h:5/d"), "postgresql://u:***@h:5/d");
    }
}
