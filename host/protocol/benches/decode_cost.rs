//! Decode cost per byte for adversarial shapes (issue 11, finding 1), from
//! 1 KiB up to the 24 MiB body limit, JSON and BSON. Each body is a
//! `CreateCapabilityRequest` (a pre-authentication message: anyone can send
//! it) and is measured through the pipeline's first steps: `decode_request`
//! (parse, find `$type`, bind the envelope) and binding the typed request.
//! Linear code shows a flat ns/byte per shape; quadratic code grows with size.
//!
//! A plain program (`harness = false`):
//! `cargo bench -p dispatcher-protocol --bench decode_cost`
//! (`DECODE_BENCH_MAX_BYTES` lowers the largest size for a quick look.)

use std::time::Duration;

use dispatcher_messages::dispatcher::CreateCapabilityRequest;
use dispatcher_protocol::{bson, decode_request, json, DecodeLimits, Encoding, Value};

const TYPE: &str = "Dispatcher.Messages.CreateCapabilityRequest";

/// Members put in one object; the rest of a shape's members go to further
/// objects in an array, so every object stays under `max_members_per_object`.
const PER_OBJECT: usize = 100_000;

fn variant(base: &str, bits: usize) -> String {
    base.chars()
        .enumerate()
        .map(|(i, c)| if (bits >> (i % 20)) & 1 == 1 { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// The request with `extra` members after the envelope.
fn request(extra: Vec<(String, Value)>) -> Value {
    let mut members = vec![("$type".to_string(), Value::from(TYPE)), ("_domain".to_string(), Value::from("Dispatcher"))];
    members.extend(extra);
    Value::Object(members)
}

/// `n` members named by `key`: the first PER_OBJECT in the request itself
/// (bound to the typed request), the rest in objects inside an unknown member.
fn spread_members(n: usize, key: impl Fn(usize) -> (String, Value)) -> Value {
    let mut all: Vec<(String, Value)> = (0..n).map(&key).collect();
    let rest = if all.len() > PER_OBJECT { all.split_off(PER_OBJECT) } else { Vec::new() };
    let mut chunks = Vec::new();
    let mut rest = rest.into_iter().peekable();
    while rest.peek().is_some() {
        chunks.push(Value::Object(rest.by_ref().take(PER_OBJECT).collect()));
    }
    if !chunks.is_empty() {
        all.push(("overflow".into(), Value::Array(chunks)));
    }
    request(all)
}

fn deep(levels: usize, i: usize) -> Value {
    let mut v = Value::Int(i as i64);
    for level in 0..levels {
        v = if level % 2 == 0 { Value::Array(vec![v]) } else { Value::Object(vec![("d".into(), v)]) };
    }
    v
}

/// Builds one shape's request from a unit count.
type Builder = Box<dyn Fn(usize) -> Value>;

/// The shapes: name and a builder from a unit count.
fn shapes() -> Vec<(&'static str, Builder)> {
    vec![
        ("distinct members", Box::new(|n| spread_members(n, |i| (format!("k{i}"), Value::Int(0))))),
        (
            "case-variant duplicates",
            Box::new(|n| {
                spread_members(n, |i| {
                    if i % 2 == 0 {
                        // 512 spellings of a field, each bound, the last wins.
                        (variant("firstname", i / 2), Value::from(format!("n{i}")))
                    } else {
                        // Up to 2^17 distinct spellings of an unknown name.
                        (variant("unknownmembername", i / 2), Value::Int(1))
                    }
                })
            }),
        ),
        (
            // Depth 1 (request) + 1 (array) + 29 = 31, under the cap of 32.
            "deep nesting to the cap",
            Box::new(|n| request(vec![("nested".into(), Value::Array((0..n).map(|i| deep(29, i)).collect()))])),
        ),
        (
            "long string",
            Box::new(|n| {
                let mut s = String::with_capacity(n * 64);
                for _ in 0..n {
                    s.push_str("0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"é\n");
                }
                request(vec![("HashedPasswd".into(), Value::String(s))])
            }),
        ),
        (
            "array elements",
            Box::new(|n| {
                request(vec![(
                    "DomainList".into(),
                    Value::Array((0..n).map(|i| Value::from(format!("d{}", i % 10))).collect()),
                )])
            }),
        ),
    ]
}

fn encode(v: &Value, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Json => json::to_string(v).into_bytes(),
        Encoding::Bson => bson::encode(v),
    }
}

/// A body of about `target` bytes (never over `limit`) of this shape.
fn body(build: &dyn Fn(usize) -> Value, encoding: Encoding, target: usize, limit: usize) -> Vec<u8> {
    let probe = 64;
    let base = encode(&build(0), encoding).len();
    let per_unit = (encode(&build(probe), encoding).len() - base) as f64 / probe as f64;
    let mut n = ((target.saturating_sub(base)) as f64 / per_unit).max(1.0) as usize;
    loop {
        let bytes = encode(&build(n), encoding);
        if bytes.len() <= limit {
            return bytes;
        }
        n = n * 97 / 100;
    }
}

/// This thread's CPU time (user + system, page faults included): unlike wall
/// time it does not grow when other processes share the cores.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given.
    #[allow(unsafe_code, reason = "the thread CPU clock is only reachable through libc")]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median CPU time of decode_request + bind, over enough runs to fill ~0.4 s.
fn measure(bytes: &[u8], encoding: Encoding, limits: &DecodeLimits) -> Duration {
    let once = || {
        let started = thread_cpu();
        let decoded = decode_request(bytes, encoding, limits).expect("decodes");
        let typed: CreateCapabilityRequest = decoded.bind().expect("binds");
        std::hint::black_box(typed);
        drop(decoded);
        thread_cpu() - started
    };
    let first = once();
    let runs = (Duration::from_millis(400).as_nanos() / first.as_nanos().max(1)).clamp(3, 200) as usize;
    let mut times: Vec<Duration> = (0..runs).map(|_| once()).collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let limits = DecodeLimits::default();
    let max = std::env::var("DECODE_BENCH_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(limits.max_body_bytes)
        .min(limits.max_body_bytes);
    let mut sizes: Vec<usize> = vec![1 << 10, 16 << 10, 256 << 10, 4 << 20];
    sizes.retain(|s| *s < max);
    sizes.push(max);
    println!(
        "decode_request + bind CreateCapabilityRequest (and freeing the tree), median thread CPU time of runs; body limit {} bytes",
        limits.max_body_bytes
    );
    println!("{:<26} {:<5} {:>10} {:>11} {:>8}", "shape", "enc", "bytes", "ms", "ns/byte");
    let mut summary = Vec::new();
    for (name, build) in shapes() {
        for encoding in [Encoding::Json, Encoding::Bson] {
            let mut per_byte = Vec::new();
            for &target in &sizes {
                let bytes = body(&*build, encoding, target, max);
                let t = measure(&bytes, encoding, &limits);
                let ns = t.as_nanos() as f64 / bytes.len() as f64;
                println!(
                    "{:<26} {:<5} {:>10} {:>11.3} {:>8.2}",
                    name,
                    format!("{encoding:?}"),
                    bytes.len(),
                    t.as_secs_f64() * 1e3,
                    ns
                );
                per_byte.push(ns);
            }
            let (first, last) = (per_byte[0], per_byte[per_byte.len() - 1]);
            let hi = per_byte.iter().cloned().fold(f64::MIN, f64::max);
            let lo = per_byte.iter().cloned().fold(f64::MAX, f64::min);
            summary.push((name, encoding, last / first, hi / lo));
        }
    }
    println!();
    println!("{:<26} {:<5} {:>22} {:>14}", "shape", "enc", "ns/byte largest/1 KiB", "max/min");
    for (name, encoding, ratio, spread) in summary {
        println!("{:<26} {:<5} {:>22.2} {:>14.2}", name, format!("{encoding:?}"), ratio, spread);
    }
}
