//! The `dispatcher` host: wiring only. Configuration, the HTTP and UDP
//! listeners, the console, first-run seeding and clean shutdown live here; the
//! message path itself is `dispatcher-dispatch`, the wire format
//! `dispatcher-protocol`, the database `dispatcher-store`.

pub mod author;
pub mod callbacks;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod console;
pub mod dashboard;
pub mod datalock;
pub mod dev;
pub mod directory;
pub mod event_stream;
pub mod forward;
pub mod grid_host;
pub mod grid_link;
pub mod grid_scenes;
pub mod http;
pub mod ini;
pub mod metrics;
pub mod oar;
pub mod process;
pub mod script_scene;
pub mod serve;
pub mod udp;
