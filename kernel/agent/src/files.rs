//! `/files/{browse,read,download}` logic: resolves a requested path to a
//! canonical path (following symlinks) and allows it only inside the
//! sandbox root `<work_dir>/slaves`; reads pages of files and lists
//! directories in Mesos' JSON shapes. No `..` or symlink leads out.
//!
//! Owns confinement and the JSON shapes; routing is [`crate::http`].

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Largest page `/files/read` returns.
pub const MAX_READ_LENGTH: u64 = 16 * 1024 * 1024;

/// Errors of the files API (and their status codes).
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// No such file or directory (404).
    #[error("No such file or directory: {0}")]
    NotFound(String),
    /// The path resolves outside every sandbox (403).
    #[error("Access to '{0}' is forbidden")]
    Forbidden(String),
    /// A bad query parameter (400).
    #[error("{0}")]
    BadRequest(String),
    /// Reading failed (500).
    #[error("Failed to read '{path}': {source}")]
    Io {
        /// The path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves `requested` inside `root` (which must exist).
pub fn confine(root: &Path, requested: &str) -> Result<PathBuf, FilesError> {
    if requested.is_empty() {
        return Err(FilesError::BadRequest(
            "Missing 'path' query parameter".into(),
        ));
    }
    let root = root
        .canonicalize()
        .map_err(|_| FilesError::NotFound(requested.to_owned()))?;
    let path = Path::new(requested)
        .canonicalize()
        .map_err(|_| FilesError::NotFound(requested.to_owned()))?;
    if path.starts_with(&root) {
        Ok(path)
    } else {
        Err(FilesError::Forbidden(requested.to_owned()))
    }
}

/// `/files/read` answer.
#[derive(Debug, Serialize, PartialEq)]
pub struct ReadPage {
    /// The bytes (lossy UTF-8).
    pub data: String,
    /// Where they start, or the file size for `offset=-1`.
    pub offset: u64,
}

/// Reads `length` bytes at `offset` (`-1`: just the size).
pub fn read(path: &Path, offset: i64, length: Option<i64>) -> Result<ReadPage, FilesError> {
    let io = |source| FilesError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.is_dir() {
        return Err(FilesError::BadRequest(format!(
            "Cannot read a directory: {}",
            path.display()
        )));
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if offset == -1 {
        return Ok(ReadPage {
            data: String::new(),
            offset: size,
        });
    }
    if offset < 0 {
        return Err(FilesError::BadRequest("Negative offset provided".into()));
    }
    let offset = offset as u64;
    let length = match length {
        Some(l) if l < -1 => return Err(FilesError::BadRequest("Negative length provided".into())),
        Some(l) if l >= 0 => (l as u64).min(MAX_READ_LENGTH),
        _ => MAX_READ_LENGTH,
    };
    if offset >= size {
        return Ok(ReadPage {
            data: String::new(),
            offset,
        });
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = Vec::new();
    file.take(length).read_to_end(&mut buf).map_err(io)?;
    Ok(ReadPage {
        data: String::from_utf8_lossy(&buf).into_owned(),
        offset,
    })
}

/// One `/files/browse` entry (Mesos' `FileInfo` JSON).
#[derive(Debug, Serialize)]
pub struct FileInfo {
    /// Absolute path.
    pub path: String,
    /// Hard links.
    pub nlink: u64,
    /// Bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// `ls -l` style mode (`drwxr-xr-x`).
    pub mode: String,
    /// Owner name.
    pub uid: String,
    /// Group name.
    pub gid: String,
}

/// Lists a directory (sorted by name).
pub fn browse(dir: &Path) -> Result<Vec<FileInfo>, FilesError> {
    let io = |source| FilesError::Io {
        path: dir.display().to_string(),
        source,
    };
    if !dir.is_dir() {
        return Err(FilesError::NotFound(dir.display().to_string()));
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        out.push(FileInfo {
            path: entry.path().display().to_string(),
            nlink: meta.nlink(),
            size: meta.len(),
            mtime: meta.mtime(),
            mode: mode_string(&meta),
            uid: nix::unistd::User::from_uid(meta.uid().into())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| meta.uid().to_string()),
            gid: nix::unistd::Group::from_gid(meta.gid().into())
                .ok()
                .flatten()
                .map(|g| g.name)
                .unwrap_or_else(|| meta.gid().to_string()),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn mode_string(meta: &std::fs::Metadata) -> String {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else {
        '-'
    };
    let mode = meta.mode();
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement_refuses_escapes() {
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("slaves");
        let sandbox = root.join("a/frameworks/f/executors/e/runs/c");
        std::fs::create_dir_all(&sandbox).unwrap();
        std::fs::write(sandbox.join("stdout"), "hello\n").unwrap();
        std::fs::write(work.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink("/etc", sandbox.join("etc")).unwrap();

        let ok = confine(&root, sandbox.join("stdout").to_str().unwrap()).unwrap();
        assert!(ok.ends_with("stdout"));
        let dotdot = format!("{}/../../../../../../../../secret", sandbox.display());
        assert!(matches!(
            confine(&root, &dotdot),
            Err(FilesError::Forbidden(_))
        ));
        let through_link = format!("{}/etc/passwd", sandbox.display());
        assert!(matches!(
            confine(&root, &through_link),
            Err(FilesError::Forbidden(_))
        ));
        assert!(matches!(
            confine(&root, "/etc/passwd"),
            Err(FilesError::Forbidden(_))
        ));
        assert!(matches!(
            confine(&root, &format!("{}/nope", sandbox.display())),
            Err(FilesError::NotFound(_))
        ));
    }

    #[test]
    fn reads_pages_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("stdout");
        std::fs::write(&f, "hello world").unwrap();
        assert_eq!(read(&f, -1, None).unwrap().offset, 11);
        assert_eq!(read(&f, 6, None).unwrap().data, "world");
        assert_eq!(read(&f, 0, Some(5)).unwrap().data, "hello");
        assert_eq!(read(&f, 50, Some(5)).unwrap().data, "");
        assert!(matches!(read(&f, -5, None), Err(FilesError::BadRequest(_))));
        let listing = browse(dir.path()).unwrap();
        assert_eq!(listing.len(), 1);
        assert_eq!(listing[0].size, 11);
        assert!(listing[0].mode.starts_with('-'));
    }
}
