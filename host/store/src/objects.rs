//! Scene objects (linksets with their parts and task inventories), one row each.
//!
//! An object is always written and read whole, so it is stored as one encoded
//! value (see [`encode`]). Writes are committed before they return; a batch is
//! one transaction, so it is applied entirely or not at all.

pub(crate) mod pg;

use dispatcher_scene::SceneObject;
use rusqlite::{params, Connection, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::{Store, StoreError};

/// First byte of every encoded value, so a later encoding can be told apart
/// from this one without guessing. 1 = MessagePack, structs as maps with field
/// names (the scene types skip empty members when serialising, which only a
/// self-describing format reads back).
const ENCODING_MSGPACK_NAMED: u8 = 1;
/// Scene objects since the kept XML became one text per part: MessagePack with
/// structs as arrays (no field names). The object types skip no members, so the
/// positional form reads back; it is about a third smaller and faster to decode
/// than the named one. Rows written with version 1 are still read.
const ENCODING_MSGPACK_POSITIONAL: u8 = 2;

/// Encodes a scene value for a BLOB column.
pub(crate) fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![ENCODING_MSGPACK_NAMED];
    rmp_serde::encode::write_named(&mut out, value).map_err(|e| StoreError::Invalid(format!("cannot encode {what}: {e}")))?;
    Ok(out)
}

/// Decodes what [`encode`] or [`encode_positional`] wrote; anything else is
/// corrupt data, never a panic.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    match bytes.split_first() {
        // rmp-serde reads maps and arrays alike into a struct.
        Some((&(ENCODING_MSGPACK_NAMED | ENCODING_MSGPACK_POSITIONAL), body)) => {
            rmp_serde::from_slice(body).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
        }
        Some((tag, _)) => Err(StoreError::Corrupt(format!("{what}: unknown encoding {tag}"))),
        None => Err(StoreError::Corrupt(format!("{what}: empty value"))),
    }
}

/// Encodes a scene object (see [`ENCODING_MSGPACK_POSITIONAL`]).
fn encode_positional(object: &SceneObject) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(ENCODED_OBJECT_BYTES_HINT);
    out.push(ENCODING_MSGPACK_POSITIONAL);
    rmp_serde::encode::write(&mut out, object).map_err(|e| StoreError::Invalid(format!("cannot encode scene object: {e}")))?;
    Ok(out)
}

/// An object encoded as the store holds it, ready for
/// [`crate::ArchiveImport::put_encoded_object`]: encoding is pure, so an
/// import does it on its parser threads, off the thread holding the
/// transaction.
pub fn encode_scene_object(object: &SceneObject) -> Result<Vec<u8>, StoreError> {
    encode_positional(object)
}

/// A one-part object with its kept XML encodes to about this many bytes.
const ENCODED_OBJECT_BYTES_HINT: usize = 4096;

const LOAD_OBJECTS: &str = "SELECT data FROM scene_objects WHERE region_id = ?1 ORDER BY seq";

const UPSERT_OBJECT: &str = "INSERT INTO scene_objects (region_id, object_id, data) VALUES (?1, ?2, ?3)
     ON CONFLICT (region_id, object_id) DO UPDATE SET data = excluded.data";

/// One object ready to write: region, object id, encoded value.
pub(crate) type EncodedObject = (Uuid, Uuid, Vec<u8>);

pub(crate) fn encode_object(region_id: Uuid, object: &SceneObject) -> Result<EncodedObject, StoreError> {
    Ok((region_id, object.id(), encode_positional(object)?))
}

/// Batches smaller than this are encoded on the calling thread.
const PARALLEL_ENCODE_MIN_OBJECTS: usize = 2048;
/// More encoder threads than this gain nothing on the hosts we target.
const MAX_ENCODER_THREADS: usize = 8;

/// Encodes a batch in order, on all cores when it is large (a write-behind
/// flush of every object of a busy region).
pub(crate) fn encode_objects(objects: &[(Uuid, &SceneObject)]) -> Result<Vec<EncodedObject>, StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_ENCODER_THREADS);
    if objects.len() < PARALLEL_ENCODE_MIN_OBJECTS || threads < 2 {
        return objects.iter().map(|(region, o)| encode_object(*region, o)).collect();
    }
    let chunk = objects.len().div_ceil(threads);
    let encoded: Vec<Result<Vec<EncodedObject>, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = objects
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|(region, o)| encode_object(*region, o)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StoreError::Invalid("an object encoder thread failed".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(objects.len());
    for part in encoded {
        out.extend(part?);
    }
    Ok(out)
}

/// Writes encoded objects in one immediate transaction (immediate, so that a
/// second process holding the lock makes us wait at the start instead of
/// failing half-way).
pub(crate) fn write_objects(conn: &mut Connection, rows: &[EncodedObject]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(UPSERT_OBJECT)?;
        for (region_id, object_id, data) in rows {
            stmt.execute(params![region_id.as_bytes(), object_id.as_bytes(), data])?;
        }
    }
    tx.commit()?;
    Ok(())
}

impl Store {
    /// Inserts or replaces the whole object (parts, task inventories). An
    /// existing object keeps its place in creation order.
    pub fn save_object(&self, region_id: Uuid, object: &SceneObject) -> Result<(), StoreError> {
        self.save_objects(region_id, std::slice::from_ref(object))
    }

    /// Inserts or replaces several objects in one transaction.
    pub fn save_objects(&self, region_id: Uuid, objects: &[SceneObject]) -> Result<(), StoreError> {
        // Encode before taking the connection: other writers need not wait on it.
        let batch: Vec<(Uuid, &SceneObject)> = objects.iter().map(|o| (region_id, o)).collect();
        let rows = encode_objects(&batch)?;
        self.write_encoded_objects(&rows)
    }

    /// Writes encoded objects (of any regions) in one transaction.
    pub(crate) fn write_encoded_objects(&self, rows: &[EncodedObject]) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::write_objects(pg, rows);
        }
        self.with_conn(|conn| write_objects(conn, rows))
    }

    /// Deletes the listed objects of the region, in one transaction. Ids that are
    /// not stored are ignored.
    pub fn delete_objects(&self, region_id: Uuid, object_ids: &[Uuid]) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::delete_objects(pg, region_id, object_ids);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached("DELETE FROM scene_objects WHERE region_id = ?1 AND object_id = ?2")?;
                for id in object_ids {
                    stmt.execute(params![region_id.as_bytes(), id.as_bytes()])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Deletes every object of the region.
    pub fn delete_all_objects(&self, region_id: Uuid) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::delete_all_objects(pg, region_id);
        }
        self.with_conn(|conn| {
            conn.execute("DELETE FROM scene_objects WHERE region_id = ?1", params![region_id.as_bytes()])?;
            Ok(())
        })
    }

    /// Every object of the region, in creation order.
    pub fn load_objects(&self, region_id: Uuid) -> Result<Vec<SceneObject>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::load_objects(pg, region_id);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(LOAD_OBJECTS)?;
            let mut rows = stmt.query(params![region_id.as_bytes()])?;
            load::decode_rows(|| {
                let Some(row) = rows.next()? else {
                    return Ok(None);
                };
                let data = row
                    .get_ref(0)?
                    .as_blob()
                    .map_err(|e| StoreError::Corrupt(format!("scene object: {e}")))?;
                Ok(Some(data.to_vec()))
            })
        })
    }
}

/// Loading a region: decoding dominates (every object is hundreds of small
/// allocations), so rows are read on the calling thread and decoded in chunks
/// on all cores, then put back in row order.
pub(crate) mod load {
    use std::sync::mpsc;

    use dispatcher_scene::SceneObject;
    use parking_lot::Mutex;

    use super::decode;
    use crate::StoreError;

    /// Rows per chunk handed to a decoder: big enough that handing over costs
    /// nothing measurable, small enough that the cores finish together.
    const CHUNK_ROWS: usize = 512;
    /// Chunks read ahead of the decoders per decoder; bounds the encoded bytes
    /// held at once (about 4 KiB per object) to a few MiB.
    const CHUNKS_AHEAD_PER_DECODER: usize = 2;
    /// More decoder threads than this gain nothing on the hosts we target.
    const MAX_DECODER_THREADS: usize = 8;

    type Decoded = (usize, Result<Vec<SceneObject>, StoreError>);

    fn decode_chunk(chunk: &[Vec<u8>]) -> Result<Vec<SceneObject>, StoreError> {
        chunk.iter().map(|data| decode(data, "scene object")).collect()
    }

    /// Decodes every row `next_row` yields, in order.
    pub(crate) fn decode_rows(mut next_row: impl FnMut() -> Result<Option<Vec<u8>>, StoreError>) -> Result<Vec<SceneObject>, StoreError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_DECODER_THREADS);
        let (chunk_tx, chunk_rx) = mpsc::sync_channel::<(usize, Vec<Vec<u8>>)>(threads * CHUNKS_AHEAD_PER_DECODER);
        let chunk_rx = Mutex::new(chunk_rx);
        let (done_tx, done_rx) = mpsc::channel::<Decoded>();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (chunk_rx, done_tx) = (&chunk_rx, done_tx.clone());
                scope.spawn(move || loop {
                    let next = chunk_rx.lock().recv();
                    let Ok((index, chunk)) = next else { return };
                    if done_tx.send((index, decode_chunk(&chunk))).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            let read = read_chunks(&mut next_row, &chunk_tx);
            // Closing the channel lets the decoders finish and exit.
            drop(chunk_tx);
            let mut decoded: Vec<Decoded> = done_rx.iter().collect();
            read?;
            decoded.sort_by_key(|(index, _)| *index);
            let total = decoded.iter().map(|(_, r)| r.as_ref().map_or(0, Vec::len)).sum();
            let mut out = Vec::with_capacity(total);
            for (_, chunk) in decoded {
                out.extend(chunk?);
            }
            Ok(out)
        })
    }

    fn read_chunks(
        next_row: &mut impl FnMut() -> Result<Option<Vec<u8>>, StoreError>,
        chunk_tx: &mpsc::SyncSender<(usize, Vec<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let mut index = 0;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK_ROWS);
            while chunk.len() < CHUNK_ROWS {
                match next_row()? {
                    Some(data) => chunk.push(data),
                    None => break,
                }
            }
            let last = chunk.len() < CHUNK_ROWS;
            if !chunk.is_empty() && chunk_tx.send((index, chunk)).is_err() {
                return Err(StoreError::Corrupt("scene object decoders stopped".into()));
            }
            if last {
                return Ok(());
            }
            index += 1;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use dispatcher_scene::{AssetType, Part, TaskInventoryItem, Vector3};

    /// A two-part object with task inventory on both parts and a kept element.
    pub(crate) fn sample(id: u128, x: f32) -> SceneObject {
        let mut root = Part::new(Uuid::from_u128(id), format!("obj {id}"));
        root.inventory
            .push(TaskInventoryItem::new(Uuid::from_u128(id + 10_000), "tile", AssetType::Object, Uuid::from_u128(7)));
        root.flags.push("Touch".into());
        let mut leg = Part::new(Uuid::from_u128(id + 20_000), "Leg");
        leg.offset_position = Vector3::new(-0.9, -0.4, -0.5);
        let mut obj = SceneObject::linked(root, vec![leg], Vector3::new(x, 10.0, 20.0));
        obj.start_parameter = Some("{\"a\":1}".into());
        obj
    }

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(dir.path()).expect("open")
    }

    /// The same store, or for SQLite the file opened again by a new connection.
    pub(crate) fn reopen(store: Store, dir: &Option<tempfile::TempDir>) -> Store {
        match dir {
            Some(dir) => {
                drop(store);
                open(dir)
            }
            None => store,
        }
    }

    /// Inserts a row as it is, bypassing the encoder, on either backend.
    pub(crate) fn raw_insert_object(store: &Store, region: Uuid, object: Uuid, data: &[u8]) {
        if let Some(pg) = store.pg() {
            pg.block(async {
                let client = pg.client().await?;
                client
                    .execute(
                        "INSERT INTO scene_objects (region_id, object_id, data) VALUES ($1, $2, $3)",
                        &[&region, &object, &data],
                    )
                    .await?;
                Ok::<_, StoreError>(())
            })
            .expect("raw insert");
            return;
        }
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO scene_objects (region_id, object_id, data) VALUES (?1, ?2, ?3)",
                    params![region.as_bytes(), object.as_bytes(), data],
                )?;
                Ok(())
            })
            .expect("raw insert");
    }

    #[test]
    fn objects_round_trip_in_creation_order_and_survive_reopen() {
        for (_kind, store, dir) in crate::testing::stores() {
            let region = Uuid::from_u128(1);
            let objs = vec![sample(300, 1.0), sample(100, 2.0), sample(200, 3.0)];
            store.save_objects(region, &objs).expect("save");
            assert_eq!(store.load_objects(region).expect("load"), objs);
            let store = reopen(store, &dir);
            assert_eq!(store.load_objects(region).expect("load"), objs);
            assert!(store.load_objects(Uuid::from_u128(2)).expect("other").is_empty());
        }
    }

    #[test]
    fn save_replaces_whole_object_and_keeps_its_place() {
        for (_kind, store, _dir) in crate::testing::stores() {
            let region = Uuid::from_u128(1);
            store.save_object(region, &sample(1, 1.0)).expect("a");
            store.save_object(region, &sample(2, 1.0)).expect("b");
            let mut changed = sample(1, 99.0);
            changed.root_mut().inventory.clear();
            store.save_object(region, &changed).expect("replace");
            let loaded = store.load_objects(region).expect("load");
            assert_eq!(loaded, vec![changed, sample(2, 1.0)]);
        }
    }

    #[test]
    fn an_object_listed_twice_in_a_batch_keeps_its_first_place_and_last_value() {
        for (kind, store, _dir) in crate::testing::stores() {
            let region = Uuid::from_u128(1);
            store
                .save_objects(region, &[sample(5, 1.0), sample(6, 1.0), sample(5, 3.0), sample(4, 1.0)])
                .expect("save");
            let loaded = store.load_objects(region).expect("load");
            assert_eq!(loaded, vec![sample(5, 3.0), sample(6, 1.0), sample(4, 1.0)], "{kind}");
        }
    }

    #[test]
    fn large_batches_keep_creation_order_across_statements_and_pages() {
        // More rows than one multi-row statement and one load page hold on PostgreSQL.
        for (kind, store, _dir) in crate::testing::stores() {
            let region = Uuid::from_u128(1);
            let objs: Vec<SceneObject> = (0..9_000u128).rev().map(|n| sample(1_000_000 + n * 3, n as f32)).collect();
            store.save_objects(region, &objs).expect("save");
            store.save_object(region, &sample(5, 0.0)).expect("one more");
            let loaded = store.load_objects(region).expect("load");
            assert_eq!(loaded.len(), objs.len() + 1, "{kind}");
            assert_eq!(&loaded[..objs.len()], &objs[..], "{kind}");
            assert_eq!(loaded[objs.len()], sample(5, 0.0), "{kind}");
        }
    }

    #[test]
    fn delete_semantics() {
        for (_kind, store, dir) in crate::testing::stores() {
            let (r1, r2) = (Uuid::from_u128(1), Uuid::from_u128(2));
            store
                .save_objects(r1, &[sample(1, 0.0), sample(2, 0.0), sample(3, 0.0)])
                .expect("r1");
            // The same object id in another region is another row.
            store.save_objects(r2, &[sample(1, 5.0)]).expect("r2");
            store
                .delete_objects(r1, &[Uuid::from_u128(2), Uuid::from_u128(999)])
                .expect("delete");
            let ids = |store: &Store, r| -> Vec<Uuid> { store.load_objects(r).expect("load").iter().map(|o| o.id()).collect() };
            assert_eq!(ids(&store, r1), vec![Uuid::from_u128(1), Uuid::from_u128(3)]);
            assert_eq!(ids(&store, r2), vec![Uuid::from_u128(1)]);
            store.delete_all_objects(r1).expect("all");
            assert!(ids(&store, r1).is_empty());
            assert_eq!(ids(&store, r2), vec![Uuid::from_u128(1)]);
            let store = reopen(store, &dir);
            assert!(store.load_objects(r1).expect("load").is_empty());
        }
    }

    #[test]
    fn penrose_fixture_round_trips() {
        let xml = include_bytes!("../../scene/tests/fixtures/penrose_assets_region_object.xml");
        let obj = dispatcher_scene::parse_object(xml, &dispatcher_scene::SceneLimits::default()).expect("parse");
        for (_kind, store, _dir) in crate::testing::stores() {
            store.save_object(Uuid::from_u128(1), &obj).expect("save");
            let back = store.load_objects(Uuid::from_u128(1)).expect("load");
            assert_eq!(back, vec![obj.clone()]);
            assert_eq!(dispatcher_scene::write_object(&back[0]), dispatcher_scene::write_object(&obj));
        }
    }

    #[test]
    fn objects_are_written_positional_and_named_rows_still_load() {
        let obj = sample(42, 1.0);
        let (_, _, row) = encode_object(Uuid::from_u128(1), &obj).expect("encode");
        assert_eq!(row[0], ENCODING_MSGPACK_POSITIONAL);
        let named = encode(&obj, "scene object").expect("named");
        assert!(row.len() < named.len());
        for (_kind, store, _dir) in crate::testing::stores() {
            let region = Uuid::from_u128(1);
            store.save_object(region, &sample(1, 0.0)).expect("save");
            // A row from before the positional encoding (version 1).
            raw_insert_object(&store, region, obj.id(), &named);
            assert_eq!(store.load_objects(region).expect("load"), vec![sample(1, 0.0), obj.clone()]);
        }
    }

    #[test]
    fn kept_elements_stored_as_a_tree_by_version_1_still_decode() {
        use dispatcher_scene::xml_tree::Element;
        use dispatcher_scene::KeptXml;
        let tree = vec![Element::leaf("PathScaleX", "100"), Element::new("Sit").with_child(Element::leaf("X", "1"))];
        let mut row = vec![ENCODING_MSGPACK_NAMED];
        rmp_serde::encode::write_named(&mut row, &tree).expect("encode");
        let kept: KeptXml = decode(&row, "kept").expect("decode");
        assert_eq!(kept.to_xml(), "<PathScaleX>100</PathScaleX><Sit><X>1</X></Sit>");
    }

    #[test]
    fn load_walks_the_region_index_without_sorting() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = open(&dir);
        let plan: Vec<String> = store
            .with_conn(|c| {
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {LOAD_OBJECTS}"))?;
                let rows = stmt.query_map(params![Uuid::nil().as_bytes()], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .expect("plan");
        let plan = plan.join("; ");
        assert!(plan.contains("scene_objects_load"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        assert!(matches!(decode::<SceneObject>(&[], "x"), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode::<SceneObject>(&[9, 1, 2], "x"), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode::<SceneObject>(&[1, 0xc1, 0xff], "x"), Err(StoreError::Corrupt(_))));
        for (kind, store, _dir) in crate::testing::stores() {
            let region = Uuid::from_u128(1);
            raw_insert_object(&store, region, Uuid::from_u128(5), &[0x01, 0xff]);
            assert!(matches!(store.load_objects(region), Err(StoreError::Corrupt(_))), "{kind}");
        }
    }

    /// Runs raw SQL on the PostgreSQL store's database.
    pub(crate) fn pg_execute(store: &Store, sql: &str) {
        let pg = store.pg().expect("a PostgreSQL store");
        pg.block(async {
            let client = pg.client().await?;
            client.batch_execute(sql).await?;
            Ok::<_, StoreError>(())
        })
        .expect(sql);
    }

    /// Set in the child process of the crash test: its data directory.
    const CRASH_CHILD_DIR_VAR: &str = "DISPATCHER_STORE_CRASH_CHILD_DIR";
    /// Bounds the child's loop in case its parent dies without killing it.
    const CRASH_CHILD_MAX_WRITES: u128 = 20_000;
    /// Acknowledgements the parent waits for before it kills the child.
    const CRASH_ACKS_BEFORE_KILL: usize = 120;

    pub(crate) fn crash_asset(n: u128) -> dispatcher_scene::Asset {
        dispatcher_scene::Asset::from_type(Uuid::from_u128(n), AssetType::Notecard, format!("asset {n}").into_bytes())
    }

    /// The writer the crash test kills: each line it prints is a write that
    /// has been acknowledged (returned Ok). Runs only inside that test.
    #[test]
    #[ignore = "child process of acknowledged_writes_survive_sigkill"]
    fn crash_child_writer() {
        use std::io::Write;
        let Ok(dir) = std::env::var(CRASH_CHILD_DIR_VAR) else {
            return;
        };
        let store = Store::open(std::path::Path::new(&dir)).expect("open");
        let mut out = std::io::stdout().lock();
        for n in 1..CRASH_CHILD_MAX_WRITES {
            store.save_object(Uuid::from_u128(1), &sample(n, n as f32)).expect("save");
            writeln!(out, "object {n}").expect("print");
            store.put_asset(&crash_asset(n)).expect("asset");
            writeln!(out, "asset {n}").expect("print");
            out.flush().expect("flush");
        }
    }

    #[test]
    fn acknowledged_writes_survive_sigkill() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("tmp");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "objects::tests::crash_child_writer", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CRASH_CHILD_DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let (mut objects, mut assets) = (Vec::new(), Vec::new());
        let mut record = |line: &str| {
            let mut words = line.split(' ');
            match (words.next(), words.next().and_then(|n| n.parse::<u128>().ok())) {
                (Some("object"), Some(n)) => objects.push(n),
                (Some("asset"), Some(n)) => assets.push(n),
                _ => {} // the test harness's own lines
            }
        };
        let mut acks = 0;
        while acks < CRASH_ACKS_BEFORE_KILL {
            let line = lines.next().expect("child ended early").expect("read");
            acks += usize::from(line.starts_with("object ") || line.starts_with("asset "));
            record(&line);
        }
        // SIGKILL, mid-write: no destructor, no flush, no checkpoint.
        child.kill().expect("kill");
        // Lines already in the pipe were acknowledged before the kill.
        for line in lines.map_while(Result::ok) {
            record(&line);
        }
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the child was killed, not finished");
        assert!(objects.len() >= CRASH_ACKS_BEFORE_KILL / 2);

        let store = Store::open(dir.path()).expect("reopen after kill");
        let stored: std::collections::HashSet<Uuid> = store
            .load_objects(Uuid::from_u128(1))
            .expect("load")
            .iter()
            .map(|o| o.id())
            .collect();
        for n in &objects {
            assert!(stored.contains(&Uuid::from_u128(*n)), "acknowledged object {n} lost");
        }
        for n in &assets {
            assert_eq!(store.get_asset(Uuid::from_u128(*n)).expect("get"), Some(crash_asset(*n)), "asset {n}");
        }
    }
}
