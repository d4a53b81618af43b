//! Writing an output file so that a reader sees the old file or the new
//! one, never half of one, and so that nothing but the named file is ever
//! written: not a device renamed over, not a file a planted link points to.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Replaces the file at `path` with `bytes`.
///
/// A regular file (or nothing yet, or a symbolic link) is replaced
/// atomically: the bytes go into a new file beside it, created
/// exclusively (`O_EXCL`: an existing file or link of that name is never
/// opened, let alone followed) under a name no one can plant in advance,
/// which is then renamed over `path`. A link at `path` is replaced by the
/// file, its target left alone, as `mv` would. Anything else that exists
/// at `path` (a device such as `/dev/null`, a FIFO) is written to as it
/// is, as any program writing there would: renaming over it would
/// replace the device node. A directory is refused.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "it is a directory",
            ));
        }
        Ok(metadata) if !metadata.is_file() && !metadata.file_type().is_symlink() => {
            return OpenOptions::new().write(true).open(path)?.write_all(bytes);
        }
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let (partial, mut file) = create_partial(path)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&partial, path));
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

/// A new file beside `path`, created exclusively: `.NAME.PID.NANOS.partial`,
/// a fresh name tried again if one is taken.
fn create_partial(path: &Path) -> io::Result<(PathBuf, fs::File)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "it names no file"))?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut last = None;
    for attempt in 0..16u32 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(name);
        partial_name.push(format!(".{}.{nanos}{attempt}.partial", std::process::id()));
        let partial = directory.join(partial_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
        {
            Ok(file) => return Ok((partial, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free name for the partial file")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mcp-policy-fs-write-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_file_is_created_then_replaced_and_nothing_is_left_beside_it() {
        let dir = scratch("replace");
        let path = dir.join("table.json");
        replace(&path, b"one").unwrap();
        replace(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["table.json"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_are_never_followed_into_another_file() {
        let dir = scratch("links");
        let victim = dir.join("victim.txt");
        fs::write(&victim, "precious").unwrap();
        // A link planted where the old, predictable partial name was.
        std::os::unix::fs::symlink(&victim, dir.join("table.partial")).unwrap();
        // And a link at the output itself: replaced, its target untouched.
        let linked = dir.join("linked.json");
        std::os::unix::fs::symlink(&victim, &linked).unwrap();
        replace(&dir.join("table.json"), b"table").unwrap();
        replace(&linked, b"table").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(fs::symlink_metadata(&linked).unwrap().is_file());
        assert_eq!(fs::read(dir.join("table.json")).unwrap(), b"table");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_to_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        replace(Path::new("/dev/null"), b"table").unwrap();
        let metadata = fs::symlink_metadata("/dev/null").unwrap();
        assert!(metadata.file_type().is_char_device());
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = scratch("dir");
        let error = replace(&dir, b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::IsADirectory);
        assert!(dir.is_dir());
        fs::remove_dir_all(&dir).unwrap();
    }
}
