//! The journal's one error type: every failure names what was being done and,
//! where a file is involved, which file and at what byte offset.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the journal. Never a panic: bad bytes on disk,
/// a refused syscall or a wrong sequence all come back as one of these.
#[derive(Debug)]
pub enum Error {
    /// A system call failed.
    Io {
        /// What the journal was doing (`"pwrite"`, `"fdatasync"`, `"open"`...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Bytes on disk are damaged somewhere other than the tail of the log (or the
    /// damage cannot be told apart from valid data), so nothing is guessed.
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset in that file where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An append did not continue the log: sequences are strictly consecutive.
    Sequence {
        /// The sequence the journal expected (last + 1).
        expected: u64,
        /// The sequence the caller offered.
        got: u64,
    },
    /// A batch (or one record) cannot fit in a segment.
    TooLarge {
        /// Bytes the batch or record needs on disk.
        needed: u64,
        /// Bytes available in an empty segment.
        capacity: u64,
    },
    /// The writer failed earlier (a write or fsync error) and refuses all further
    /// appends: the kernel may have dropped dirty pages, so retrying could silently
    /// lose data. Reopen the journal to recover from what is on disk.
    Failed(String),
    /// A sequence asked of a reader or snapshot store is not there.
    NotFound(String),
    /// Invalid configuration or argument.
    Config(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// The OS error number, when this is an I/O error carrying one (lets callers
    /// tell ENOSPC/EFBIG from the rest).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, source } => {
                write!(f, "journal: {op} failed on {}: {source}", path.display())
            }
            Error::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "journal: corrupt data in {} at byte offset {offset}: {reason}",
                path.display()
            ),
            Error::Sequence { expected, got } => write!(
                f,
                "journal: sequence {got} appended but {expected} expected (sequences are strictly consecutive)"
            ),
            Error::TooLarge { needed, capacity } => write!(
                f,
                "journal: {needed} bytes do not fit in a segment of {capacity} usable bytes"
            ),
            Error::Failed(msg) => write!(
                f,
                "journal: writer is in the failed state after an earlier error ({msg}); reopen to recover"
            ),
            Error::NotFound(msg) => write!(f, "journal: not found: {msg}"),
            Error::Config(msg) => write!(f, "journal: bad configuration: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias for the journal.
pub type Result<T> = std::result::Result<T, Error>;
