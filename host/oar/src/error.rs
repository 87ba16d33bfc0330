//! Why an archive is refused. Every variant about a member names it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OarError {
    #[error("not a gzip file (an OAR is a gzip-compressed tar archive)")]
    NotGzip,
    #[error("not a tar archive inside the gzip stream: {0}")]
    NotTar(String),
    #[error("the archive is corrupt after member {after:?}: {reason}")]
    Corrupt { after: String, reason: String },
    #[error("the archive has no archive.xml (not an OpenSim region archive)")]
    NoControlFile,
    #[error("archive.xml: unsupported major version {0} (this host reads 0 and 1)")]
    UnknownVersion(String),
    #[error("member {member:?}: {reason}")]
    BadMember { member: String, reason: String },
    #[error("member {member:?}: path leaves the archive (absolute or with ..)")]
    UnsafePath { member: String },
    #[error("member {member:?} declares {declared} bytes, more than the limit of {limit} ([OAR] MaxMemberBytes)")]
    MemberTooLarge { member: String, declared: u64, limit: u64 },
    #[error("member {member:?} is truncated ({read} of {declared} bytes)")]
    Truncated { member: String, read: u64, declared: u64 },
    #[error("more than {limit} members ([OAR] MaxMembers)")]
    TooManyMembers { limit: usize },
    #[error("the archive unpacks to more than {limit} bytes ([OAR] MaxArchiveBytes)")]
    ArchiveTooLarge { limit: u64 },
    #[error("cannot write the archive: {0}")]
    Write(String),
    #[error("region: {0}")]
    Region(String),
    #[error("store: {0}")]
    Store(#[from] dispatcher_store::StoreError),
}

impl OarError {
    pub(crate) fn member(member: &str, reason: impl std::fmt::Display) -> Self {
        OarError::BadMember {
            member: member.to_string(),
            reason: reason.to_string(),
        }
    }
}
