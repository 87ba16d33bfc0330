//! OpenSim region archives (OAR): a gzip-compressed tar of `archive.xml`,
//! `objects/*.xml` (XML2), `assets/<uuid>_<kind>.<ext>`, `terrains/*.r32`,
//! `settings/*.xml` and members this host keeps without modelling them
//! (`landdata/`, …). See docs/oar.md.
//!
//! Codemap:
//! - [`read`]: the streaming reader, one checked member at a time, under
//!   [`OarLimits`]; [`paths`]: member kinds, asset file names, path safety.
//! - [`control`] (`archive.xml`), [`settings`] (water, sun), [`terrain`] (`.r32`).
//! - [`import`]: one store transaction per archive, the region updated with it;
//!   [`pipeline`]: its stages overlapped (a reader thread, parsers on all
//!   cores, the store and scene on the calling thread; a bounded queue).
//! - [`export`]: the archive OpenSim 0.9 loads; [`region`]: a region from the store.
//! - [`generate`]: synthetic archives of any size (tests, benchmark).
//!
//! Invariants: no size read from an archive is used to allocate; every refusal
//! is an [`OarError`] naming the member; an import that fails changes neither
//! the store nor the region.

pub mod control;
mod error;
pub mod export;
pub mod generate;
pub mod import;
pub mod limits;
pub mod paths;
pub mod pipeline;
pub mod read;
pub mod region;
pub mod settings;
pub mod terrain;

pub use error::OarError;
pub use export::{export, ExportSummary};
pub use import::{import, ImportOptions, ImportSummary, Mode};
pub use limits::OarLimits;
pub use region::load_region;
