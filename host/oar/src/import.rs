//! Importing an archive into a region: every member goes into one store
//! transaction and into the in-memory region at the same time, so that on
//! success the two match and on any failure neither has changed.
//!
//! Without merge the region is replaced: its objects and kept members go, the
//! archive's objects, terrain, settings and unmodelled members come in (the
//! region keeps its terrain, sun and water when the archive has none). With
//! merge only objects and assets are added, as OpenSim's `load oar --merge`.

use std::io::Read;

use dispatcher_scene::{Asset, Region, SceneLimits, SunUpdate};
use dispatcher_store::{ArchiveImport, Store};
use uuid::Uuid;

use crate::limits::OarLimits;
use crate::paths::Kind;
use crate::pipeline::{self, Arrival, ParsedObject};
use crate::read::Member;
use crate::{settings, terrain, OarError};

/// Replace the region, or add to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Replace,
    Merge,
}

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub mode: Mode,
    pub limits: OarLimits,
    /// Unix seconds, for a fixed sun position.
    pub now_unix: i64,
}

/// What an import brought (also reported as progress while it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    pub major_version: u32,
    pub members: usize,
    pub objects: usize,
    pub parts: usize,
    pub assets: usize,
    pub terrain: bool,
    pub settings: bool,
    pub kept: usize,
}

/// Imports the archive read from `input` into `region` (whose id names the
/// store's region) in one transaction. On error nothing changed, in the store
/// or in `region`.
pub fn import<R: Read + Send>(
    store: &Store,
    region: &mut Region,
    input: R,
    options: &ImportOptions,
    progress: &mut dyn FnMut(&ImportSummary),
) -> Result<ImportSummary, OarError> {
    let scene_limits = region.limits().clone();
    match options.mode {
        Mode::Replace => {
            let (sx, sy) = region.size();
            let mut fresh = Region::with_size(region.id, region.name.clone(), sx, sy, scene_limits.clone())
                .map_err(|e| OarError::Region(e.to_string()))?;
            fresh.terrain = region.terrain.clone();
            fresh.sun = region.sun.clone();
            fresh.water_height_m = region.water_height_m;
            let summary = store.import_archive(region.id, |tx| {
                tx.clear_region()?;
                run(tx, &mut fresh, input, options, &scene_limits, progress)
            })?;
            *region = fresh;
            Ok(summary)
        }
        Mode::Merge => {
            let mut added = Vec::new();
            let result = store.import_archive(region.id, |tx| {
                let mut staging = Staging {
                    region: &mut *region,
                    added: &mut added,
                };
                run_merge(tx, &mut staging, input, options, &scene_limits, progress)
            });
            if result.is_err() {
                for id in added {
                    // Removing what this import added cannot fail.
                    let _ = region.remove_object(id);
                }
            }
            result
        }
    }
}

/// The region a merge adds to, with what it added (to take back on failure).
struct Staging<'a> {
    region: &'a mut Region,
    added: &'a mut Vec<Uuid>,
}

fn run_merge<R: Read + Send>(
    tx: &ArchiveImport<'_>,
    staging: &mut Staging<'_>,
    input: R,
    options: &ImportOptions,
    scene_limits: &SceneLimits,
    progress: &mut dyn FnMut(&ImportSummary),
) -> Result<ImportSummary, OarError> {
    let mut summary = ImportSummary::default();
    let control = pipeline::run(input, &options.limits, scene_limits, |arrival| {
        match arrival {
            Arrival::Objects(batch) => {
                summary.members += batch.len();
                let ids = add_objects(tx, staging.region, batch, &mut summary)?;
                staging.added.extend(ids);
                progress(&summary);
            }
            Arrival::Member(member) => {
                summary.members += 1;
                if let Kind::Asset(id, t) = member.kind {
                    add_asset(tx, id, t, member, scene_limits, &mut summary)?;
                }
            }
        }
        Ok(())
    })?;
    summary.major_version = control.major_version;
    progress(&summary);
    Ok(summary)
}

fn run<R: Read + Send>(
    tx: &ArchiveImport<'_>,
    region: &mut Region,
    input: R,
    options: &ImportOptions,
    scene_limits: &SceneLimits,
    progress: &mut dyn FnMut(&ImportSummary),
) -> Result<ImportSummary, OarError> {
    let mut summary = ImportSummary::default();
    let control = pipeline::run(input, &options.limits, scene_limits, |arrival| {
        let member = match arrival {
            Arrival::Objects(batch) => {
                summary.members += batch.len();
                add_objects(tx, region, batch, &mut summary)?;
                progress(&summary);
                return Ok(());
            }
            Arrival::Member(member) => member,
        };
        summary.members += 1;
        match member.kind {
            Kind::Control | Kind::Object => {}
            Kind::Asset(id, t) => add_asset(tx, id, t, member, scene_limits, &mut summary)?,
            Kind::Terrain if !summary.terrain => {
                let t = terrain::read(&member.path, &member.data, region.size())?;
                tx.put_terrain(&t)?;
                region.terrain = t;
                summary.terrain = true;
            }
            Kind::Settings if !summary.settings => {
                let s = settings::parse(&member.path, &member.data)?;
                if let Some(w) = s.water_height_m {
                    tx.put_water_height(w)?;
                    region.water_height_m = w;
                }
                if let Some(hours) = s.fixed_sun_hours {
                    let update = SunUpdate {
                        current_time_hours: hours,
                        ..SunUpdate::default()
                    };
                    region.sun.apply(update, options.now_unix);
                    tx.put_sun(&region.sun)?;
                }
                tx.put_kept_member(&member.path, &member.data)?;
                summary.settings = true;
                summary.kept += 1;
            }
            _ => {
                tx.put_kept_member(&member.path, &member.data)?;
                summary.kept += 1;
            }
        }
        Ok(())
    })?;
    summary.major_version = control.major_version;
    progress(&summary);
    Ok(summary)
}

/// Writes and adds a parsed batch in archive order; the first refusal names
/// its member.
fn add_objects(
    tx: &ArchiveImport<'_>,
    region: &mut Region,
    batch: Vec<(String, Result<ParsedObject, OarError>)>,
    summary: &mut ImportSummary,
) -> Result<Vec<Uuid>, OarError> {
    let mut ids = Vec::with_capacity(batch.len());
    for (path, result) in batch {
        let ParsedObject { object, encoded } = result?;
        let id = object.id();
        let parts = object.part_count();
        tx.put_encoded_object(id, &encoded)?;
        region.add_object(object).map_err(|e| OarError::member(&path, e))?;
        summary.objects += 1;
        summary.parts += parts;
        ids.push(id);
    }
    Ok(ids)
}

fn add_asset(
    tx: &ArchiveImport<'_>,
    id: Uuid,
    asset_type: dispatcher_scene::AssetType,
    member: Member,
    scene_limits: &SceneLimits,
    summary: &mut ImportSummary,
) -> Result<(), OarError> {
    let mut asset = Asset::from_type(id, asset_type, member.data);
    asset.local = false;
    asset.check_limits(scene_limits).map_err(|e| OarError::member(&member.path, e))?;
    tx.put_asset(&asset)?;
    summary.assets += 1;
    Ok(())
}
