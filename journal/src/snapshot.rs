//! Snapshots beside the log: opaque blobs tagged with the sequence they cover,
//! written atomically (temp file, fsync, rename, fsync directory), and the
//! retention operation that removes or archives segments wholly covered by the
//! newest snapshot, run only when asked.
//!
//! File `snapshots/<seq:020>.snap`: `magic "RGXJSNP1" | seq u64 | payload_len u64 |
//! crc32c(payload) u32 | crc32c(bytes 0..28) u32 | payload`.

use crate::format::{ARCHIVE_DIR, SNAPSHOT_DIR};
use crate::{Error, Result, fsutil};
use std::io::Write;
use std::path::{Path, PathBuf};

const SNAP_MAGIC: &[u8; 8] = b"RGXJSNP1";
const SNAP_HEADER: usize = 32;

/// The snapshot store of one journal directory.
pub struct Snapshots {
    journal_dir: PathBuf,
    dir: PathBuf,
}

/// What retention does with covered segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Delete them.
    Delete,
    /// Move them into `archive/` inside the journal directory.
    Archive,
}

fn snap_name(seq: u64) -> String {
    format!("{seq:020}.snap")
}

impl Snapshots {
    /// The store for the journal in `journal_dir` (creates `snapshots/`).
    pub fn open(journal_dir: impl AsRef<Path>) -> Result<Snapshots> {
        let journal_dir = journal_dir.as_ref().to_path_buf();
        let dir = journal_dir.join(SNAPSHOT_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        Ok(Snapshots { journal_dir, dir })
    }

    /// Stores `blob` as the snapshot of the state after record `seq`, atomically:
    /// a crash leaves either the old set of snapshots or the new one.
    pub fn save(&self, seq: u64, blob: &[u8]) -> Result<PathBuf> {
        let path = self.dir.join(snap_name(seq));
        let tmp = self.dir.join(format!("{}.tmp", snap_name(seq)));
        let mut h = [0u8; SNAP_HEADER];
        h[0..8].copy_from_slice(SNAP_MAGIC);
        h[8..16].copy_from_slice(&seq.to_le_bytes());
        h[16..24].copy_from_slice(&(blob.len() as u64).to_le_bytes());
        h[24..28].copy_from_slice(&crc32c::crc32c(blob).to_le_bytes());
        let hc = crc32c::crc32c(&h[0..28]);
        h[28..32].copy_from_slice(&hc.to_le_bytes());
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(&h)
            .and_then(|()| f.write_all(blob))
            .map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &tmp, e))?;
        fsutil::fsync_dir(&self.dir)?;
        Ok(path)
    }

    /// Sequences of the stored snapshots, oldest first (temp files ignored).
    pub fn list(&self) -> Result<Vec<u64>> {
        let mut v = Vec::new();
        let rd =
            std::fs::read_dir(&self.dir).map_err(|e| Error::io("read directory", &self.dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("read directory", &self.dir, e))?;
            let name = entry.file_name();
            let Some(digits) = name.to_str().and_then(|n| n.strip_suffix(".snap")) else {
                continue;
            };
            if digits.len() == 20
                && let Ok(seq) = digits.parse::<u64>()
            {
                v.push(seq);
            }
        }
        v.sort_unstable();
        Ok(v)
    }

    /// Loads and checks the snapshot for `seq`.
    pub fn load(&self, seq: u64) -> Result<Vec<u8>> {
        let path = self.dir.join(snap_name(seq));
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(format!(
                    "snapshot {seq} ({})",
                    path.display()
                )));
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        if data.len() < SNAP_HEADER || &data[0..8] != SNAP_MAGIC {
            return Err(Error::corrupt(&path, 0, "not a snapshot file"));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let u64_at = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().unwrap_or([0; 8]));
        if crc32c::crc32c(&data[0..28]) != u32_at(28) {
            return Err(Error::corrupt(&path, 0, "snapshot header CRC mismatch"));
        }
        if u64_at(8) != seq {
            return Err(Error::corrupt(
                &path,
                8,
                format!("snapshot says sequence {}", u64_at(8)),
            ));
        }
        let len = u64_at(16);
        if len != (data.len() - SNAP_HEADER) as u64 {
            return Err(Error::corrupt(
                &path,
                16,
                format!(
                    "snapshot length {len} but {} bytes present",
                    data.len() - SNAP_HEADER
                ),
            ));
        }
        let blob = &data[SNAP_HEADER..];
        if crc32c::crc32c(blob) != u32_at(24) {
            return Err(Error::corrupt(
                &path,
                SNAP_HEADER as u64,
                "snapshot payload CRC mismatch",
            ));
        }
        Ok(blob.to_vec())
    }

    /// The newest snapshot, if any: `(seq, blob)`.
    pub fn latest(&self) -> Result<Option<(u64, Vec<u8>)>> {
        match self.list()?.last() {
            Some(&seq) => Ok(Some((seq, self.load(seq)?))),
            None => Ok(None),
        }
    }

    /// Deletes or archives every segment whose records all precede or equal the
    /// newest snapshot's sequence. The newest segment is never touched, so this is
    /// safe beside a live writer. Returns the segments removed/moved.
    pub fn retain(&self, action: Retention) -> Result<Vec<PathBuf>> {
        let Some(&snap) = self.list()?.last() else {
            return Ok(Vec::new());
        };
        let segs = crate::reader::list_segments(&self.journal_dir)?;
        let mut done = Vec::new();
        let archive = self.journal_dir.join(ARCHIVE_DIR);
        for pair in segs.windows(2) {
            let (_, path) = &pair[0];
            let (next_first, _) = pair[1];
            // Records of this segment are [first, next_first - 1].
            if next_first.saturating_sub(1) > snap {
                break;
            }
            match action {
                Retention::Delete => {
                    std::fs::remove_file(path).map_err(|e| Error::io("remove segment", path, e))?;
                }
                Retention::Archive => {
                    std::fs::create_dir_all(&archive)
                        .map_err(|e| Error::io("create directory", &archive, e))?;
                    let name = path
                        .file_name()
                        .map(|n| n.to_os_string())
                        .unwrap_or_default();
                    let to = archive.join(name);
                    std::fs::rename(path, &to)
                        .map_err(|e| Error::io("archive segment", path, e))?;
                }
            }
            done.push(path.clone());
        }
        if !done.is_empty() {
            if action == Retention::Archive {
                fsutil::fsync_dir(&archive)?;
            }
            fsutil::fsync_dir(&self.journal_dir)?;
        }
        Ok(done)
    }
}
