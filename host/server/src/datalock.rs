//! The standalone data directory's lock: `<data>/dispatcher.lock`.
//!
//! A serving host holds an exclusive advisory lock (flock) on this file for
//! as long as it runs, and the store-writing CLI commands (`user create`,
//! `region create`, `region import`) hold it while they write. Whoever comes
//! second is refused and told who holds it. The file names its holder (pid,
//! role, HTTP address); the lock itself lives in the kernel, so a holder
//! killed with -9 leaves the file behind but not the lock, and the next
//! process proceeds. Grid mode's store is PostgreSQL, not the data directory:
//! it takes no lock.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "dispatcher.lock";

/// Who holds the lock, as its file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    /// `serve` or the CLI command that writes.
    pub role: Option<String>,
    /// The serving host's HTTP address.
    pub http: Option<String>,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut holder = Holder::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => holder.pid = v.trim().parse().ok(),
                Some(("role", v)) => holder.role = Some(v.trim().to_string()),
                Some(("http", v)) => holder.http = Some(v.trim().to_string()),
                _ => {}
            }
        }
        holder
    }

    /// True when the holder is a serving host.
    pub fn is_host(&self) -> bool {
        self.role.as_deref() == Some("serve")
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role.as_deref() {
            Some("serve") | None => f.write_str("a running dispatcher host")?,
            Some(role) => write!(f, "`dispatcher {role}`")?,
        }
        match self.pid {
            Some(pid) => write!(f, " (pid {pid}")?,
            None => f.write_str(" (pid unknown")?,
        }
        if let Some(http) = &self.http {
            write!(f, ", http {http}")?;
        }
        f.write_str(")")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the data directory {} is in use by {holder}", dir.display())]
    Held { dir: PathBuf, holder: Holder },
    #[error("cannot use the lock file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the lock (the file stays).
#[derive(Debug)]
pub struct DataLock {
    file: File,
    path: PathBuf,
    role: String,
}

impl DataLock {
    /// Take the data directory's lock for `role` (`serve`, `user create`, ...),
    /// or say who holds it.
    pub fn acquire(data_dir: &Path, role: &str) -> Result<DataLock, LockError> {
        let path = data_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        // Not truncated on open: the holder's record must survive a refused opener.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // A holder caught mid-write shows as "pid unknown"; the refusal stands.
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    dir: data_dir.to_path_buf(),
                    holder: Holder::parse(&text),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut lock = DataLock {
            file,
            path,
            role: role.to_string(),
        };
        lock.record(None)?;
        Ok(lock)
    }

    /// Rewrite the holder record, adding the HTTP address once it is bound.
    pub fn record(&mut self, http: Option<&str>) -> Result<(), LockError> {
        let mut text = format!("pid={}\nrole={}\n", std::process::id(), self.role);
        if let Some(http) = http {
            text.push_str(&format!("http={http}\n"));
        }
        let path = self.path.clone();
        let io = |source| LockError::Io { path, source };
        self.file.set_len(0).map_err(io.clone())?;
        self.file.seek(SeekFrom::Start(0)).map_err(io.clone())?;
        self.file.write_all(text.as_bytes()).map_err(io.clone())?;
        self.file.flush().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_acquirer_is_told_who_holds_it_and_proceeds_once_released() {
        let dir = tempfile::tempdir().expect("test setup");
        let mut first = DataLock::acquire(dir.path(), "serve").expect("test setup");
        first.record(Some("127.0.0.1:9000")).expect("test setup");
        match DataLock::acquire(dir.path(), "user create") {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(holder.pid, Some(std::process::id()));
                assert!(holder.is_host());
                assert_eq!(holder.http.as_deref(), Some("127.0.0.1:9000"));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        let second = DataLock::acquire(dir.path(), "user create").expect("test setup");
        drop(second);
        assert!(dir.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn a_garbled_record_still_refuses() {
        let holder = Holder::parse("pid=notanumber\nrubbish\n");
        assert_eq!(holder.pid, None);
        assert_eq!(holder.to_string(), "a running dispatcher host (pid unknown)");
    }
}
