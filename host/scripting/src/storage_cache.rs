//! A read cache of one extension's storage, shared by its instances: a read
//! that hits costs no database query (on SQLite, one query on the store's one
//! connection per read, serialising an extension's concurrent requests).
//!
//! Coherence: every write goes through the store first and the cache with it
//! (write-through), so the store stays the only truth and a write by one
//! instance is seen by the next read of any instance. A read that misses
//! fills the cache only if no write of any key began or ended since the read
//! looked (a generation counter), so a read racing a write cannot put back
//! the value the write replaced. A write that fails (quota, database) forgets
//! the key. The cache holds at most its byte bound (keys, values and absent
//! keys) and is emptied when full; update, remove and a fault's restart
//! empty it. Only on SQLite: on PostgreSQL (grid mode) other hosts write the
//! same rows, so every read goes to the database ([`StorageCache::disabled`]).

use std::collections::HashMap;

use parking_lot::Mutex;

/// Bytes one extension's cache holds at most.
pub const STORAGE_CACHE_BYTES: usize = 4 << 20;
/// Bytes charged per entry beside its key and value.
const ENTRY_OVERHEAD: usize = 64;

/// What a read found.
pub enum Lookup {
    /// The stored value (`None`: the key is absent).
    Hit(Option<Vec<u8>>),
    /// Not cached: read the store, then [`StorageCache::fill`] with this.
    Miss(u64),
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Option<Vec<u8>>>,
    bytes: usize,
    generation: u64,
    /// Writes between `begin_write` and `end_write` now.
    writing: usize,
}

impl Inner {
    fn forget(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes = self.bytes.saturating_sub(cost(key, old.as_deref()));
        }
    }

    fn put(&mut self, key: &str, value: Option<&[u8]>, bound: usize) {
        self.forget(key);
        let c = cost(key, value);
        if c > bound / 4 {
            return;
        }
        if self.bytes + c > bound {
            self.entries.clear();
            self.bytes = 0;
        }
        self.entries.insert(key.to_owned(), value.map(<[u8]>::to_vec));
        self.bytes += c;
    }
}

fn cost(key: &str, value: Option<&[u8]>) -> usize {
    key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD
}

/// One extension's storage cache.
#[derive(Debug)]
pub struct StorageCache {
    inner: Mutex<Inner>,
    /// 0: disabled (every read misses, nothing is kept).
    bound: usize,
}

impl StorageCache {
    pub fn new(bound: usize) -> StorageCache {
        StorageCache {
            inner: Mutex::new(Inner::default()),
            bound,
        }
    }

    /// A cache that keeps nothing (PostgreSQL: other hosts write too).
    pub fn disabled() -> StorageCache {
        StorageCache::new(0)
    }

    pub fn lookup(&self, key: &str) -> Lookup {
        let inner = self.inner.lock();
        match inner.entries.get(key) {
            Some(value) => Lookup::Hit(value.clone()),
            None => Lookup::Miss(inner.generation),
        }
    }

    /// Keep what a read that missed at `generation` found, unless a write
    /// began or ended since.
    pub fn fill(&self, key: &str, generation: u64, value: Option<&[u8]>) {
        if self.bound == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        if inner.generation == generation && inner.writing == 0 {
            inner.put(key, value, self.bound);
        }
    }

    /// Before a write reaches the store: forget the key, so no read takes
    /// the old value once the write may have committed.
    pub fn begin_write(&self, key: &str) {
        let mut inner = self.inner.lock();
        inner.generation += 1;
        inner.writing += 1;
        inner.forget(key);
    }

    /// After the write: `Some(value)` when the store now holds `value`
    /// (`None`: deleted), `None` when it is not known (the write failed).
    pub fn end_write(&self, key: &str, stored: Option<Option<&[u8]>>) {
        let mut inner = self.inner.lock();
        inner.generation += 1;
        inner.writing = inner.writing.saturating_sub(1);
        match stored {
            Some(value) if self.bound > 0 => inner.put(key, value, self.bound),
            _ => inner.forget(key),
        }
    }

    /// Forget everything (update, remove, restart after a fault).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.bytes = 0;
    }

    /// Bytes held now (tests, status).
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(cache: &StorageCache, key: &str) -> Option<Option<Vec<u8>>> {
        match cache.lookup(key) {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss(_) => None,
        }
    }

    fn miss(cache: &StorageCache, key: &str) -> u64 {
        match cache.lookup(key) {
            Lookup::Miss(g) => g,
            Lookup::Hit(v) => panic!("{key} cached as {v:?}"),
        }
    }

    #[test]
    fn a_write_replaces_what_was_read() {
        let cache = StorageCache::new(1 << 20);
        let g = miss(&cache, "k");
        cache.fill("k", g, Some(b"old"));
        assert_eq!(hit(&cache, "k"), Some(Some(b"old".to_vec())));
        cache.begin_write("k");
        assert_eq!(hit(&cache, "k"), None, "forgotten while the write runs");
        cache.end_write("k", Some(Some(b"new")));
        assert_eq!(hit(&cache, "k"), Some(Some(b"new".to_vec())));
        cache.begin_write("k");
        cache.end_write("k", Some(None));
        assert_eq!(hit(&cache, "k"), Some(None), "a delete is cached as absent");
        cache.begin_write("k");
        cache.end_write("k", None);
        assert_eq!(hit(&cache, "k"), None, "a failed write forgets the key");
    }

    /// A read that looked before a write and read the store's old value
    /// must not put it back after the write.
    #[test]
    fn a_read_racing_a_write_does_not_fill() {
        let cache = StorageCache::new(1 << 20);
        let g = miss(&cache, "k");
        cache.begin_write("k");
        cache.end_write("k", Some(Some(b"new")));
        cache.fill("k", g, Some(b"old"));
        assert_eq!(hit(&cache, "k"), Some(Some(b"new".to_vec())));
        // Looked after the write began, read the old row: not kept while
        // the write runs (a reader after its commit must not see it).
        let cache = StorageCache::new(1 << 20);
        cache.begin_write("k");
        let g = miss(&cache, "k");
        cache.fill("k", g, Some(b"old"));
        assert_eq!(hit(&cache, "k"), None);
        cache.end_write("k", Some(Some(b"new")));
        assert_eq!(hit(&cache, "k"), Some(Some(b"new".to_vec())));
        // Looked before the write began, filled after it ended: refused.
        let cache = StorageCache::new(1 << 20);
        let g = miss(&cache, "k");
        cache.begin_write("other");
        cache.fill("k", g, Some(b"old"));
        assert_eq!(hit(&cache, "k"), None);
    }

    #[test]
    fn bounded_in_bytes_and_disabled_keeps_nothing() {
        let cache = StorageCache::new(1000);
        for i in 0..100 {
            let key = format!("key{i}");
            let g = miss(&cache, &key);
            cache.fill(&key, g, Some(&[0; 100]));
            assert!(cache.bytes() <= 1000, "{}", cache.bytes());
        }
        let g = miss(&cache, "big");
        cache.fill("big", g, Some(&[0; 600]));
        assert_eq!(hit(&cache, "big"), None, "a value over a quarter of the bound is not kept");
        cache.clear();
        assert_eq!(cache.bytes(), 0);
        let off = StorageCache::disabled();
        let g = miss(&off, "k");
        off.fill("k", g, Some(b"v"));
        off.begin_write("k");
        off.end_write("k", Some(Some(b"v")));
        assert_eq!(hit(&off, "k"), None);
    }
}
