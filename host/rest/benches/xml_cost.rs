//! REST XML reader cost per byte for adversarial shapes (issue 11, finding 1),
//! from 1 KiB up to the 24 MiB body limit. The reader's own caps (attributes
//! per element, nodes per body) are lifted for the scaling rows so the reader
//! itself is measured at every size; the last rows show the default caps
//! refusing the largest bodies.
//!
//! A plain program (`harness = false`):
//! `cargo bench -p dispatcher-rest --bench xml_cost`

use std::time::Duration;

use dispatcher_rest::config::RestLimits;
use dispatcher_rest::xml::{parse_fragment, XmlLimits};

/// Builds one shape's XML body from a unit count.
type Builder = Box<dyn Fn(usize) -> String>;

fn shapes() -> Vec<(&'static str, Builder)> {
    vec![
        (
            "attributes, one element",
            Box::new(|n| {
                let mut s = String::from("<Asset");
                for i in 0..n {
                    s.push_str(&format!(" a{i}=\"v&amp;{i}\""));
                }
                s + ">aGk=</Asset>"
            }),
        ),
        (
            "elements of 64 attributes",
            Box::new(|n| {
                let attrs: String = (0..64).map(|i| format!(" a{i}=\"{i}\"")).collect();
                let mut s = String::from("<Inventory>");
                for _ in 0..n {
                    s.push_str(&format!("<Item{attrs}/>"));
                }
                s + "</Inventory>"
            }),
        ),
        (
            "long text with references",
            Box::new(|n| {
                let mut s = String::from("<Asset type=\"7\">");
                for _ in 0..n {
                    s.push_str("aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=&amp;&#65;&lt;");
                }
                s + "</Asset>"
            }),
        ),
        (
            "deep nesting to the cap",
            Box::new(|n| {
                let chain = "<a>".repeat(63) + "x" + &"</a>".repeat(63);
                chain.repeat(n.max(1))
            }),
        ),
    ]
}

/// A body of about `target` bytes (never over `limit`).
fn body(build: &dyn Fn(usize) -> String, target: usize, limit: usize) -> String {
    let probe = 16;
    let base = build(0).len();
    let per_unit = (build(probe).len() - base) as f64 / probe as f64;
    let mut n = ((target.saturating_sub(base)) as f64 / per_unit).max(1.0) as usize;
    loop {
        let s = build(n);
        if s.len() <= limit {
            return s;
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

fn measure(body: &[u8], limits: XmlLimits) -> (Duration, bool) {
    let once = || {
        let started = thread_cpu();
        let ok = parse_fragment(body, limits).is_ok();
        (thread_cpu() - started, ok)
    };
    let (first, ok) = once();
    let runs = (Duration::from_millis(400).as_nanos() / first.as_nanos().max(1)).clamp(3, 200) as usize;
    let mut times: Vec<Duration> = (0..runs).map(|_| once().0).collect();
    times.sort();
    (times[times.len() / 2], ok)
}

fn main() {
    let rest = RestLimits::default();
    let max = std::env::var("DECODE_BENCH_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(rest.max_body_bytes)
        .min(rest.max_body_bytes);
    let defaults = XmlLimits {
        max_depth: rest.max_xml_depth,
        max_nodes: rest.max_xml_nodes,
        max_attributes_per_element: rest.max_xml_attributes_per_element,
    };
    let lifted = XmlLimits {
        max_nodes: usize::MAX,
        max_attributes_per_element: usize::MAX,
        ..defaults
    };
    let mut sizes: Vec<usize> = vec![1 << 10, 16 << 10, 256 << 10, 4 << 20];
    sizes.retain(|s| *s < max);
    sizes.push(max);
    println!(
        "xml::parse_fragment (and freeing the tree), median thread CPU time of runs; node and attribute caps lifted (depth cap {})",
        lifted.max_depth
    );
    println!("{:<28} {:>10} {:>11} {:>8}", "shape", "bytes", "ms", "ns/byte");
    let mut summary = Vec::new();
    let mut largest = Vec::new();
    for (name, build) in shapes() {
        let mut per_byte = Vec::new();
        for &target in &sizes {
            let text = body(&*build, target, max);
            let (t, ok) = measure(text.as_bytes(), lifted);
            assert!(ok, "{name} at {} bytes did not parse", text.len());
            let ns = t.as_nanos() as f64 / text.len() as f64;
            println!("{:<28} {:>10} {:>11.3} {:>8.2}", name, text.len(), t.as_secs_f64() * 1e3, ns);
            per_byte.push(ns);
        }
        let hi = per_byte.iter().cloned().fold(f64::MIN, f64::max);
        let lo = per_byte.iter().cloned().fold(f64::MAX, f64::min);
        summary.push((name, per_byte[per_byte.len() - 1] / per_byte[0], hi / lo));
        largest.push((name, body(&*build, max, max)));
    }
    println!();
    println!("{:<28} {:>22} {:>10}", "shape", "ns/byte largest/1 KiB", "max/min");
    for (name, ratio, spread) in summary {
        println!("{:<28} {:>22.2} {:>10.2}", name, ratio, spread);
    }
    println!();
    println!("largest bodies under the default caps (RestLimits::default()):");
    for (name, text) in largest {
        let started = thread_cpu();
        let result = parse_fragment(text.as_bytes(), defaults);
        let took = thread_cpu() - started;
        println!(
            "{:<28} {:>10} bytes {:>9.3} ms  {}",
            name,
            text.len(),
            took.as_secs_f64() * 1e3,
            match result {
                Ok(_) => "accepted".to_string(),
                Err(e) => format!("400 {e}"),
            }
        );
    }
}
