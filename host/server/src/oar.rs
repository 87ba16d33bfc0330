//! `dispatcher region import|export --oar FILE`: region archives on the data
//! directory (the host stopped; a running host takes ImportOarRequest /
//! ExportOarRequest instead). Progress goes to stderr, the summary to stdout.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use dispatcher_oar::{ImportOptions, ImportSummary, Mode};
use dispatcher_scene::SceneLimits;
use dispatcher_store::Store;

use crate::config::HostConfig;

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Counts the compressed bytes read, for the progress line.
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

fn find_region(store: &Store, name: Option<&str>) -> anyhow::Result<dispatcher_store::Region> {
    let regions = store.list_regions()?;
    match name {
        Some(n) => regions
            .into_iter()
            .find(|r| r.name == n)
            .ok_or_else(|| anyhow!("no region named {n:?}; see `dispatcher region list`")),
        None => regions
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no regions exist; create one with `dispatcher region create`")),
    }
}

pub fn import(store: &Store, config: &HostConfig, file: &Path, region: Option<&str>, merge: bool) -> anyhow::Result<()> {
    let info = find_region(store, region)?;
    let limits = SceneLimits::default();
    let mut scene = dispatcher_oar::load_region(store, info.id, &info.name, &limits)?;
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let input = Counting {
        inner: BufReader::new(f),
        read: read.clone(),
    };
    let options = ImportOptions {
        mode: if merge { Mode::Merge } else { Mode::Replace },
        limits: config.oar.clone(),
        now_unix: now_unix(),
    };
    let start = Instant::now();
    let mut last = Instant::now();
    let mut progress = |s: &ImportSummary| {
        if last.elapsed().as_millis() >= 500 {
            last = Instant::now();
            let done = read.load(std::sync::atomic::Ordering::Relaxed);
            let percent = (done * 100).checked_div(total).unwrap_or(0);
            eprint!("\r{}: {percent}% read, {} objects, {} assets", file.display(), s.objects, s.assets);
        }
    };
    let result = dispatcher_oar::import(store, &mut scene, input, &options, &mut progress);
    if last.elapsed() != start.elapsed() {
        eprintln!();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => bail!("{}: {e}; nothing was changed", file.display()),
    };
    println!(
        "imported {} into {}: {} objects ({} parts), {} assets, terrain {}, settings {}, {} members kept, in {:.1} s{}",
        file.display(),
        info.name,
        summary.objects,
        summary.parts,
        summary.assets,
        if summary.terrain { "yes" } else { "no" },
        if summary.settings { "yes" } else { "no" },
        summary.kept,
        start.elapsed().as_secs_f64(),
        if merge { " (merged)" } else { "" }
    );
    Ok(())
}

pub fn export(store: &Store, file: &Path, region: &str) -> anyhow::Result<()> {
    let info = find_region(store, Some(region))?;
    let scene = dispatcher_oar::load_region(store, info.id, &info.name, &SceneLimits::default())?;
    // Written beside the target and renamed, so a failed export leaves no half file.
    let tmp = file.with_extension("oar.partial");
    let out = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let start = Instant::now();
    let (summary, out) = dispatcher_oar::export(store, &scene, BufWriter::new(out), now_unix())?;
    out.into_inner()
        .map_err(|e| anyhow!("cannot write {}: {e}", tmp.display()))?
        .sync_all()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot write {}", file.display()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "exported {} to {}: {} objects, {} assets, {} kept members, in {:.1} s",
        info.name,
        file.display(),
        summary.objects,
        summary.assets,
        summary.kept,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
