//! Region archive handlers (authoring.md §3): `ImportOarRequest` and
//! `ExportOarRequest`, for the region's estate owner and gods.
//!
//! The import holds the region's write lock for its whole run: the store's
//! one transaction and the in-memory region change together (dispatcher-oar
//! guarantees that on failure neither changed), so the scene matches the store
//! afterwards. Callback registrations of objects that are gone are dropped.
//! A successful import publishes one `RegionReloaded` scene event after the
//! lock is released.

use std::time::{SystemTime, UNIX_EPOCH};

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_oar::{ImportOptions, Mode, OarError};

use crate::messages::archive::{ExportOarRequest, ExportOarResponse, ImportOarRequest, ImportOarResponse};
use crate::messages::asset::AssetBytes;
use crate::region_host::RegionHost;
use crate::RemoteControl;

/// Account level from which a user is a god (OpenSim's convention).
const GOD_LEVEL: i32 = 200;

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The caller must be the region's estate owner or a god.
fn require_owner_or_god(rc: &RemoteControl, host: &RegionHost, ctx: &RequestContext) -> Result<(), HandlerError> {
    let user = ctx.require_user()?;
    let store_err = |e: dispatcher_store::StoreError| HandlerError::Internal(e.to_string());
    let owner = rc
        .store
        .list_regions()
        .map_err(store_err)?
        .into_iter()
        .find(|r| r.id == host.id)
        .map(|r| r.owner);
    if owner == Some(user.id) {
        return Ok(());
    }
    let level = rc.store.account_by_id(user.id).map_err(store_err)?.map_or(0, |a| a.level);
    if level >= GOD_LEVEL {
        return Ok(());
    }
    Err(HandlerError::NotPermitted(format!(
        "only the estate owner of {} or a god may import or export its archive",
        host.name
    )))
}

fn oar_failure(e: OarError) -> HandlerError {
    match e {
        OarError::Store(e) => HandlerError::Internal(e.to_string()),
        other => HandlerError::Invalid(format!("archive refused, nothing changed: {other}")),
    }
}

pub fn import_oar(
    rc: &RemoteControl,
    host: &RegionHost,
    ctx: &RequestContext,
    req: ImportOarRequest,
) -> Result<ImportOarResponse, HandlerError> {
    require_owner_or_god(rc, host, ctx)?;
    let options = ImportOptions {
        mode: if req.merge { Mode::Merge } else { Mode::Replace },
        limits: rc.rc_limits.oar.clone(),
        now_unix: unix_seconds(),
    };
    let mut region = host.region.write();
    let summary = dispatcher_oar::import(&rc.store, &mut region, req.archive.0.as_slice(), &options, &mut |_| {}).map_err(oar_failure)?;
    // Pending motion of replaced objects must not write them back.
    if !req.merge {
        rc.persist.forget_region(host.id);
        let mut regs = host.registrations.lock();
        let gone: Vec<_> = regs
            .touch
            .keys()
            .chain(regs.updated.keys())
            .copied()
            .filter(|id| region.object(*id).is_none())
            .collect();
        for id in gone {
            regs.drop_object(id);
        }
        host.dirty.lock().clear();
    }
    drop(region);
    // One coalesced event, not one per object: subscribers re-read the region
    // (event streams send a fresh snapshot; scripts of objects that are gone
    // go).
    rc.services
        .events
        .publish(dispatcher_dispatch::SceneEvent::RegionReloaded { region: host.name.clone() });
    Ok(ImportOarResponse {
        objects: summary.objects as u64,
        parts: summary.parts as u64,
        assets: summary.assets as u64,
        terrain: summary.terrain,
        kept: summary.kept as u64,
    })
}

pub fn export_oar(
    rc: &RemoteControl,
    host: &RegionHost,
    ctx: &RequestContext,
    _req: ExportOarRequest,
) -> Result<ExportOarResponse, HandlerError> {
    require_owner_or_god(rc, host, ctx)?;
    let region = host.region.read();
    let (summary, bytes) = dispatcher_oar::export(&rc.store, &region, Vec::new(), unix_seconds()).map_err(oar_failure)?;
    Ok(ExportOarResponse {
        archive: AssetBytes(bytes),
        objects: summary.objects as u64,
        assets: summary.assets as u64,
    })
}
