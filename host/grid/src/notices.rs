//! Change notices: one connection LISTENs on `grid_changes` and keeps this
//! host's caches true (owners, capabilities) and wakes the lease task when a
//! lease changes hands or is released. When the connection drops, notices
//! may have been missed: on reconnecting, the capability and endpoint caches
//! are emptied (entries are looked up again), a lease pass runs and the
//! extension listeners are told to re-read every record.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::db::{self, Notice, LISTENING};
use crate::{ExtensionChange, Inner};

/// Pause between reconnection attempts.
const RETRY: Duration = Duration::from_secs(1);

pub(crate) async fn run(inner: Weak<Inner>, pg: tokio_postgres::Config, mut closed: watch::Receiver<()>) {
    let mut down_logged = false;
    // Whether a connection has listened before: its successors may have missed notices.
    let mut listened = false;
    loop {
        let (tx, mut rx) = mpsc::unbounded_channel::<Notice>();
        let connection = db::listen(&pg, tx);
        tokio::pin!(connection);
        loop {
            tokio::select! {
                _ = closed.changed() => return,
                result = &mut connection => {
                    if let Err(e) = result {
                        if !down_logged {
                            tracing::warn!("grid: {e}; retrying every {} s", RETRY.as_secs());
                            down_logged = true;
                        }
                    }
                    break;
                }
                Some(notice) = rx.recv() => {
                    let Some(inner) = inner.upgrade() else { return };
                    if notice == LISTENING && down_logged {
                        tracing::info!("grid: change notices restored");
                        down_logged = false;
                    }
                    let reconnected = notice == LISTENING && std::mem::replace(&mut listened, true);
                    handle(&inner, &notice, reconnected);
                }
            }
        }
        tokio::select! {
            _ = closed.changed() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

fn handle(inner: &std::sync::Arc<Inner>, notice: &str, reconnected: bool) {
    if notice == LISTENING {
        if reconnected {
            let listeners = inner.extension_listeners.lock().clone();
            for listener in listeners {
                listener(ExtensionChange::All);
            }
        }
        for cache in inner.caches.lock().iter() {
            cache.evict_all();
        }
        for cache in inner.endpoint_caches.lock().iter() {
            cache.evict_all();
        }
        inner.endpoint_misses.lock().clear();
        inner.wake.notify_one();
        return;
    }
    let Some((kind, rest)) = notice.split_once(':') else { return };
    match kind {
        "lease" => {
            inner.wake.notify_one();
            if let Ok(id) = Uuid::parse_str(rest) {
                let inner = std::sync::Arc::clone(inner);
                tokio::spawn(async move {
                    if let Err(e) = inner.refresh_owner(id).await {
                        tracing::debug!("grid: owner of {id} not refreshed: {e}");
                    }
                });
            }
        }
        "host" => inner.wake.notify_one(),
        "cap" => {
            // `cap:<id>@<incarnation of the writer>`; a host's own writes are already in its cache.
            let (id, origin) = rest.split_once('@').unwrap_or((rest, ""));
            if origin == inner.incarnation.to_string() {
                return;
            }
            if let Ok(id) = Uuid::parse_str(id) {
                for cache in inner.caches.lock().iter() {
                    cache.evict(id);
                }
            }
        }
        "ep" => {
            // `ep:<id>@<incarnation of the writer>`: created, renewed or closed
            // elsewhere. A look-up that found nothing is no longer believed.
            let (id, origin) = rest.split_once('@').unwrap_or((rest, ""));
            if let Ok(id) = Uuid::parse_str(id) {
                inner.endpoint_misses.lock().remove(&id);
            }
            if origin == inner.incarnation.to_string() {
                return;
            }
            if let Ok(id) = Uuid::parse_str(id) {
                for cache in inner.endpoint_caches.lock().iter() {
                    cache.evict(id);
                }
            }
        }
        "ext" => {
            // `ext:<id>@<incarnation of the writer>`: an extension changed elsewhere.
            let (id, origin) = rest.split_once('@').unwrap_or((rest, ""));
            if origin == inner.incarnation.to_string() {
                return;
            }
            if let Ok(id) = Uuid::parse_str(id) {
                let listeners = inner.extension_listeners.lock().clone();
                for listener in listeners {
                    listener(ExtensionChange::One(id));
                }
            }
        }
        _ => {}
    }
}
