//! Writing a region as an archive OpenSim 0.9 loads: `archive.xml` (version
//! 1.0) first, then assets, objects (XML2), the terrain, the settings and the
//! kept members of earlier imports.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;

use dispatcher_scene::{write_object_xml2, Region};
use dispatcher_store::Store;
use flate2::write::GzEncoder;
use flate2::Compression;
use uuid::Uuid;

use crate::paths::{asset_path, classify, object_path, Kind, SETTINGS_DIR, TERRAINS_DIR};
use crate::{control, settings, terrain, OarError};

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportSummary {
    pub objects: usize,
    pub assets: usize,
    pub kept: usize,
    pub bytes_in: u64,
}

struct Writer<W: Write> {
    tar: tar::Builder<GzEncoder<W>>,
    mtime: u64,
    written: HashSet<String>,
    bytes_in: u64,
}

impl<W: Write> Writer<W> {
    fn add(&mut self, path: &str, data: &[u8]) -> Result<(), OarError> {
        if !self.written.insert(path.to_string()) {
            return Ok(());
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        self.tar
            .append_data(&mut header, path, data)
            .map_err(|e| OarError::Write(format!("{path}: {e}")))?;
        self.bytes_in += data.len() as u64;
        Ok(())
    }
}

/// Every asset id the region's objects refer to (task inventory, textures,
/// sculpt maps).
fn referenced_assets(region: &Region) -> BTreeSet<Uuid> {
    let mut ids = BTreeSet::new();
    for object in region.objects() {
        for part in object.parts() {
            ids.extend(part.inventory.iter().map(|i| i.asset_id));
            ids.extend(part.shape.texture_entry.textures());
            ids.insert(part.shape.sculpt_texture);
        }
    }
    ids.remove(&Uuid::nil());
    ids
}

/// Writes `region` (with the store's assets and kept members) to `out`.
pub fn export<W: Write>(store: &Store, region: &Region, out: W, now_unix: i64) -> Result<(ExportSummary, W), OarError> {
    let mut w = Writer {
        tar: tar::Builder::new(GzEncoder::new(out, Compression::fast())),
        mtime: u64::try_from(now_unix).unwrap_or(0),
        written: HashSet::new(),
        bytes_in: 0,
    };
    let mut summary = ExportSummary::default();
    w.add(crate::paths::CONTROL_FILE, control::write(Uuid::new_v4(), now_unix, region.size()).as_bytes())?;

    let mut asset_ids: BTreeSet<Uuid> = store.archive_asset_ids(region.id)?.into_iter().collect();
    asset_ids.extend(referenced_assets(region));
    for id in asset_ids {
        let Some(asset) = store.get_asset(id)? else { continue };
        let Some(path) = asset_path(id, asset.asset_type) else { continue };
        w.add(&path, &asset.data)?;
        summary.assets += 1;
    }
    for object in region.objects() {
        let p = object.position;
        let path = object_path(object.name(), [p.x, p.y, p.z], object.id());
        w.add(&path, write_object_xml2(object).as_bytes())?;
        summary.objects += 1;
    }
    let safe_name: String = region
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '.' | '_') { c } else { '_' })
        .collect();
    w.add(&format!("{TERRAINS_DIR}{safe_name}.r32"), &terrain::write(&region.terrain))?;

    let kept = store.archive_members(region.id)?;
    let kept_settings = kept.iter().find(|(p, _)| classify(p) == Kind::Settings);
    let settings_path = kept_settings.map_or_else(|| format!("{SETTINGS_DIR}{safe_name}.xml"), |(p, _)| p.clone());
    let sun_hours = region.sun.current_time_hours(now_unix);
    let doc = settings::write(kept_settings.map(|(_, d)| d.as_slice()), region.water_height_m, sun_hours);
    w.add(&settings_path, &doc)?;
    for (path, data) in &kept {
        if classify(path) == Kind::Terrain
            && w.written.iter().any(|p| p.starts_with(TERRAINS_DIR))
            && path.ends_with(&format!("/{safe_name}.r32"))
        {
            continue;
        }
        if w.written.contains(path) {
            continue;
        }
        w.add(path, data)?;
        summary.kept += 1;
    }
    summary.bytes_in = w.bytes_in;
    let gz = w.tar.into_inner().map_err(|e| OarError::Write(e.to_string()))?;
    let out = gz.finish().map_err(|e| OarError::Write(e.to_string()))?;
    Ok((summary, out))
}
