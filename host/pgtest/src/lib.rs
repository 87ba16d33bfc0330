//! A real PostgreSQL server for tests, started from Debian's binaries.
//!
//! `initdb` into a temporary directory, `pg_ctl start` on a free loopback
//! port (as the unprivileged `postgres` user when the tests run as root, since
//! the server refuses to run as root), one database and one password role.
//! The server is stopped and its directory removed when the [`PgServer`] is
//! dropped. Tests that need the database to go away and come back use
//! [`PgServer::stop`] and [`PgServer::start`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// Why the test server could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum PgTestError {
    #[error("PostgreSQL's server binaries (initdb, pg_ctl) were not found; install Debian's `postgresql` package")]
    NoBinaries,
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{program} failed ({status}): {stderr}")]
    Failed { program: String, status: String, stderr: String },
    #[error("test server directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Database, role and password the server is set up with.
pub const DATABASE: &str = "dispatcher";
pub const ROLE: &str = "dispatcher";
pub const PASSWORD: &str = "dispatcher-test";

/// One running (or stopped) PostgreSQL server owned by a test.
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// The user the server runs as when we are root.
    run_as: Option<String>,
    running: bool,
}

impl PgServer {
    /// Create a cluster in a new temporary directory and start it.
    pub fn start_new() -> Result<PgServer, PgTestError> {
        let bin = find_bin_dir().ok_or(PgTestError::NoBinaries)?;
        let run_as = if is_root() { Some("postgres".to_string()) } else { None };
        let dir = tempfile::Builder::new().prefix("dispatcher-pg-").tempdir()?;
        if let Some(user) = &run_as {
            chown_recursive(dir.path(), user)?;
        }
        let port = free_port()?;
        let mut server = PgServer {
            bin,
            dir,
            port,
            run_as,
            running: false,
        };
        let pwfile = server.dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD)?;
        if let Some(user) = &server.run_as {
            chown_recursive(&pwfile, user)?;
        }
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                ROLE,
                "--pwfile",
                path_str(&pwfile),
                "--auth",
                "scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ],
        )?;
        server.start()?;
        server.psql("postgres", &format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"))?;
        Ok(server)
    }

    /// One server shared by every test of this test process, started on first
    /// use. A watchdog process stops it and removes its directory when the test
    /// process ends (statics are never dropped). Give each test its own
    /// database with [`PgServer::fresh_database`].
    pub fn shared() -> Result<&'static PgServer, String> {
        static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let server = PgServer::start_new().map_err(|e| e.to_string())?;
                server.watch_parent().map_err(|e| e.to_string())?;
                Ok(server)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A new empty database with a name unique in this process; its URL.
    pub fn fresh_database(&self) -> Result<String, PgTestError> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("t{}_{n}", std::process::id()))
    }

    /// Stops the server and removes its directory once this process has exited.
    fn watch_parent(&self) -> Result<(), PgTestError> {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match &self.run_as {
            Some(user) => format!("runuser -u {user} -- {} -D {} -m immediate stop", pg_ctl.display(), self.data_dir().display()),
            None => format!("{} -D {} -m immediate stop", pg_ctl.display(), self.data_dir().display()),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.path().display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| PgTestError::Spawn {
                program: "sh".into(),
                source,
            })?;
        Ok(())
    }

    /// `postgresql://…` URL of the test database.
    pub fn url(&self) -> String {
        format!("postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// URL of another database on the same server (create it with [`PgServer::create_database`]).
    pub fn url_for(&self, database: &str) -> String {
        format!("postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A fresh, empty database (so tests sharing one server stay apart).
    pub fn create_database(&self, name: &str) -> Result<String, PgTestError> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\" OWNER {ROLE}"))?;
        Ok(self.url_for(name))
    }

    /// Run one SQL statement through `psql` (for tests that inspect or damage state).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, PgTestError> {
        let out = Command::new("psql")
            .env("PGPASSWORD", PASSWORD)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", ROLE, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-t", "-A", "-c", sql])
            .output()
            .map_err(|source| PgTestError::Spawn {
                program: "psql".into(),
                source,
            })?;
        check("psql", &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Start the server (again) and wait until it accepts connections.
    pub fn start(&mut self) -> Result<(), PgTestError> {
        if self.running {
            return Ok(());
        }
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=300",
            self.port,
            path_str(self.dir.path())
        );
        self.run("pg_ctl", &["-D", path_str(&data), "-l", path_str(&log), "-o", &opts, "-w", "-t", "60", "start"])?;
        self.running = true;
        Ok(())
    }

    /// Stop the server at once (clients see their connections cut).
    pub fn stop(&mut self) -> Result<(), PgTestError> {
        if !self.running {
            return Ok(());
        }
        let data = self.data_dir();
        self.run("pg_ctl", &["-D", path_str(&data), "-m", "immediate", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// The server's log (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), PgTestError> {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|source| PgTestError::Spawn {
                program: program.into(),
                source,
            })?;
        check(program, &out)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn check(program: &str, out: &Output) -> Result<(), PgTestError> {
    if out.status.success() {
        return Ok(());
    }
    Err(PgTestError::Failed {
        program: program.into(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Debian keeps the server binaries in /usr/lib/postgresql/<major>/bin; take the newest.
fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown_recursive(path: &Path, user: &str) -> Result<(), PgTestError> {
    let out = Command::new("chown")
        .args(["-R", user])
        .arg(path)
        .output()
        .map_err(|source| PgTestError::Spawn {
            program: "chown".into(),
            source,
        })?;
    check("chown", &out)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_answers_stops_and_comes_back() {
        let mut pg = PgServer::start_new().expect("start PostgreSQL");
        assert_eq!(pg.psql(DATABASE, "SELECT 40 + 2").expect("query"), "42");
        pg.psql(DATABASE, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
            .expect("create");
        pg.stop().expect("stop");
        assert!(pg.psql(DATABASE, "SELECT 1").is_err(), "a stopped server must not answer");
        pg.start().expect("restart");
        assert_eq!(pg.psql(DATABASE, "SELECT x FROM t").expect("query"), "7");
        let other = pg.create_database("second").expect("create database");
        assert!(other.ends_with("/second"));
    }
}
