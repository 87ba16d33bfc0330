//! The operator console on standard input, with the original's commands
//! (dispatcher-core.md §11): `dispatcher binding`, `dispatcher stats`,
//! `dispatcher stats reset`, `dispatcher show capabilities`, plus `help`.
//! Output goes to standard output. A closed standard input just ends the console.

use std::io::{BufRead, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dispatcher_dispatch::Dispatcher;

/// Execute one console line; returns the text to print (empty for blank lines).
pub fn execute(dispatcher: &Dispatcher, line: &str) -> String {
    let services = dispatcher.services();
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => String::new(),
        ["dispatcher", "binding"] => {
            let b = services.bindings.read().clone();
            format!("Asynchronous Binding: {}\nSynchronous Binding:  {}\n", b.asynchronous, b.synchronous)
        }
        ["dispatcher", "stats"] => {
            // §11's format, with the callback line (ours) before the queue
            // depth once there is something to count.
            let report = services.stats.report(services.pool.depth());
            match services.endpoints.counters_are_zero() {
                true => report,
                false => {
                    let (per_type, depth) = report.split_at(report.rfind("Current async queue depth").unwrap_or(report.len()));
                    format!("{per_type}{}{depth}", services.endpoints.report())
                }
            }
        }
        ["dispatcher", "stats", "callbacks"] => services.endpoints.report(),
        ["dispatcher", "stats", "reset"] => {
            services.stats.reset();
            services.endpoints.reset_counters();
            "Dispatcher stats reset\n".into()
        }
        ["dispatcher", "show", "capabilities"] => show_capabilities(dispatcher),
        ["help"] => "dispatcher binding | dispatcher stats [reset|callbacks] | dispatcher show capabilities\n".into(),
        _ => format!("unknown command {line:?}; type help\n"),
    }
}

fn clock(expiry: Option<Instant>) -> String {
    let Some(at) = expiry else {
        return "never".into();
    };
    let now = Instant::now();
    let wall = SystemTime::now() + at.saturating_duration_since(now);
    let secs = wall.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02} UTC", day / 3600, (day / 60) % 60, day % 60)
}

fn show_capabilities(dispatcher: &Dispatcher) -> String {
    let mut out = format!("{:<36} {:<15} {:<30} {:<30} {:<50}\n", "Capability", "Expiration", "User Name", "Scene", "Domains");
    for cap in dispatcher.services().capabilities.list() {
        out.push_str(&format!(
            "{:<36} {:<15} {:<30} {:<30} {:<50}\n",
            cap.id.to_string(),
            clock(cap.expires_at()),
            cap.user_name,
            cap.scene,
            cap.domains.join(",")
        ));
    }
    out
}

/// Read commands from standard input on a thread of its own.
pub fn spawn(dispatcher: Dispatcher) {
    let spawned = std::thread::Builder::new().name("console".into()).spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            let out = execute(&dispatcher, &line);
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "console not started");
    }
}
