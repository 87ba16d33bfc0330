//! The script table: every script of the host by id.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use uuid::Uuid;

use crate::script::{Script, ScriptInfo};

#[derive(Default)]
pub struct ScriptTable {
    scripts: RwLock<HashMap<Uuid, Arc<Script>>>,
}

impl ScriptTable {
    pub fn get(&self, id: Uuid) -> Option<Arc<Script>> {
        self.scripts.read().get(&id).cloned()
    }

    /// The scripts whose info passes `filter`, in no particular order
    /// (callers sort when order matters).
    pub fn select(&self, filter: impl Fn(&ScriptInfo) -> bool) -> Vec<Arc<Script>> {
        self.scripts.read().values().filter(|s| filter(&s.info.read())).cloned().collect()
    }

    /// Whether any script passes `filter`.
    pub fn any(&self, filter: impl Fn(&ScriptInfo) -> bool) -> bool {
        self.scripts.read().values().any(|s| filter(&s.info.read()))
    }

    pub fn insert(&self, script: Arc<Script>) {
        self.scripts.write().insert(script.id(), script);
    }

    pub fn remove(&self, id: Uuid) {
        self.scripts.write().remove(&id);
    }

    /// Every script (shutdown, the cache sweep).
    pub fn all(&self) -> Vec<Arc<Script>> {
        self.scripts.read().values().cloned().collect()
    }
}
