//! The streaming reader: gzip → tar → one member at a time, each checked
//! (path, type, declared and actual size) and handed to the caller before the
//! next is read. Memory is one member plus the decoder's buffers; no size read
//! from the archive is ever used to allocate.

use std::io::{self, BufRead, BufReader, Read};

use flate2::read::GzDecoder;

use crate::control::{self, Control};
use crate::limits::OarLimits;
use crate::paths::{classify, safe_path, Kind};
use crate::OarError;

/// One member: its (safe, relative) path, what it is, its bytes.
#[derive(Debug)]
pub struct Member {
    pub path: String,
    pub kind: Kind,
    pub data: Vec<u8>,
}

/// Counts what the gzip stream unpacks to and fails past the limit.
struct Counted<R> {
    inner: R,
    read: u64,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("archive larger than the limit"));
        }
        Ok(n)
    }
}

/// Reads every member of the archive in order, calling `visit` for each
/// (the control file too, as [`Kind::Control`]). Returns the control file's
/// content; an archive without one is refused after the last member.
pub fn read_archive<R: Read>(
    input: R,
    limits: &OarLimits,
    mut visit: impl FnMut(Member) -> Result<(), OarError>,
) -> Result<Control, OarError> {
    let mut input = BufReader::new(input);
    let head = input.fill_buf().map_err(|_| OarError::NotGzip)?;
    if head.len() < 2 || head[0] != 0x1f || head[1] != 0x8b {
        return Err(OarError::NotGzip);
    }
    let counted = Counted {
        inner: GzDecoder::new(input),
        read: 0,
        limit: limits.max_archive_bytes,
        exceeded: false,
    };
    let mut archive = tar::Archive::new(counted);
    let mut control = None;
    let mut previous = String::new();
    let mut count = 0usize;
    let entries = archive.entries().map_err(|e| OarError::NotTar(e.to_string()))?;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => return Err(stream_error(&previous, count, &e, limits)),
        };
        count += 1;
        if count > limits.max_members {
            return Err(OarError::TooManyMembers { limit: limits.max_members });
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let shown: String = raw.chars().take(200).collect();
        let Some(path) = safe_path(&raw) else {
            return Err(OarError::UnsafePath { member: shown });
        };
        let entry_type = entry.header().entry_type();
        if entry_type.is_dir() {
            previous = path;
            continue;
        }
        if !(entry_type.is_file() || entry_type == tar::EntryType::Continuous) {
            return Err(OarError::member(&path, "not a regular file (links and devices are refused)"));
        }
        let declared = entry.header().size().map_err(|e| OarError::member(&path, e))?;
        if declared > limits.max_member_bytes {
            return Err(OarError::MemberTooLarge {
                member: path,
                declared,
                limit: limits.max_member_bytes,
            });
        }
        let mut data = Vec::new();
        let read = (&mut entry).take(limits.max_member_bytes + 1).read_to_end(&mut data);
        if let Err(e) = read {
            if archive_too_large(&e) {
                return Err(OarError::ArchiveTooLarge {
                    limit: limits.max_archive_bytes,
                });
            }
            return Err(OarError::Truncated {
                member: path,
                read: data.len() as u64,
                declared,
            });
        }
        if data.len() as u64 != declared {
            return Err(OarError::Truncated {
                member: path,
                read: data.len() as u64,
                declared,
            });
        }
        let kind = classify(&path);
        if kind == Kind::Control {
            control = Some(control::parse(&data)?);
        }
        previous.clone_from(&path);
        visit(Member { path, kind, data })?;
    }
    control.ok_or(OarError::NoControlFile)
}

fn archive_too_large(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Other && e.to_string().contains("archive larger than the limit")
}

/// An error between members: before the first one the stream is not a tar
/// archive; later the archive is corrupt or truncated after `previous`.
fn stream_error(previous: &str, count: usize, e: &io::Error, limits: &OarLimits) -> OarError {
    if archive_too_large(e) {
        return OarError::ArchiveTooLarge {
            limit: limits.max_archive_bytes,
        };
    }
    if count == 0 {
        return OarError::NotTar(e.to_string());
    }
    OarError::Corrupt {
        after: previous.to_string(),
        reason: e.to_string(),
    }
}
