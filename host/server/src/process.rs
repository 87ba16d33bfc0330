//! The process's own figures for `/metrics`, read from `/proc/self` (Linux);
//! zero where a file cannot be read.

/// Resident memory, CPU time and open descriptors of this process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessFigures {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    pub open_fds: usize,
}

/// `/proc` reports CPU times in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// Read the figures now.
pub fn read() -> ProcessFigures {
    let mut figures = ProcessFigures::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        figures.rss_bytes = vm_rss_bytes(&status).unwrap_or(0);
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        figures.cpu_seconds = cpu_ticks(&stat).map_or(0.0, |t| t as f64 / TICKS_PER_SECOND);
    }
    figures.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    figures
}

/// `VmRSS:   1234 kB` in `/proc/self/status`.
fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// utime + stime (fields 14 and 15) of `/proc/self/stat`; the command name
/// (field 2, in parentheses) may hold spaces, so fields are counted after it.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        assert_eq!(vm_rss_bytes("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tx\n"), None);
        let stat = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 1000 10";
        assert_eq!(cpu_ticks(stat), Some(10));
        assert_eq!(cpu_ticks("garbage"), None);
        let now = read();
        assert!(now.rss_bytes > 0 && now.open_fds > 0, "{now:?}");
    }
}
