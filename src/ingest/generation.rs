//! Generations of a data directory's tables: every commit makes a whole new directory of them, and one atomic
//! rename of a symbolic link makes it the current one, so that a reader sees one generation or the next, never
//! a mixture, whatever happens to the writer.
//!
//! ```text
//! DATA/current -> gen-000007          the generation readers open (a symbolic link, switched by rename)
//! DATA/gen-000007/cbs_84851ned/...    its tables; files a commit did not change are hard links to the last's
//! DATA/gen-000007/.readers            readers hold a shared lock on it while they read the generation
//! ```
//!
//! A reader resolves `current` once per statement and reads that generation's files to the end, holding a
//! shared lock ([`Lease`]) so that no writer removes it meanwhile; a writer removes a generation that is not
//! current only when it can take that lock exclusively. A data directory written before generations existed
//! has its tables at the top level and no `current`: readers read them there, and the next commit moves them
//! into the first generation.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::{IngestError, Result};

/// The symbolic link naming the current generation.
pub const CURRENT: &str = "current";
const PREFIX: &str = "gen-";
/// The file readers lock (shared) inside a generation.
pub const READERS: &str = ".readers";

/// The name of the current generation, or `None` where the data directory has none (its tables, if any, are at
/// its top level).
pub fn current_name(data_dir: &Path) -> Result<Option<String>> {
    let link = data_dir.join(CURRENT);
    match std::fs::read_link(&link) {
        Ok(target) => {
            let name = target.to_string_lossy().into_owned();
            if number(&name).is_none() {
                return Err(IngestError::store(&link, format!("names {name:?}, not a generation ({PREFIX}NNNNNN)")));
            }
            Ok(Some(name))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IngestError::io(&link, e)),
    }
}

/// The directory of the current tables: the current generation's, or the data directory itself.
pub fn tables_dir(data_dir: &Path) -> PathBuf {
    match current_name(data_dir) {
        Ok(Some(name)) => data_dir.join(name),
        _ => data_dir.to_path_buf(),
    }
}

fn number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// The generations in a data directory, by number.
fn generations(data_dir: &Path) -> Vec<(u64, String)> {
    let mut found: Vec<(u64, String)> = std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            number(&name).map(|n| (n, name))
        })
        .collect();
    found.sort();
    found
}

/// The name the next generation takes.
pub fn next_name(data_dir: &Path) -> String {
    let last = generations(data_dir).last().map_or(0, |(n, _)| *n);
    format!("{PREFIX}{:06}", last + 1)
}

/// A reader's hold on the generation it reads: while any lease of it lives, no writer removes it.
#[derive(Debug)]
pub struct Lease {
    root: PathBuf,
    name: Option<String>,
    _lock: Option<File>,
}

impl Lease {
    /// The generation's tables directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The generation's name; `None` for tables at the data directory's top level.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// A lease on the current generation. A generation a writer is removing right now is not current any more:
/// the current one is read again.
pub fn lease(data_dir: &Path) -> Result<Lease> {
    for _ in 0..100 {
        let Some(name) = current_name(data_dir)? else {
            return Ok(Lease { root: data_dir.to_path_buf(), name: None, _lock: None });
        };
        let root = data_dir.join(&name);
        let readers = root.join(READERS);
        match File::open(&readers) {
            Ok(file) => match file.try_lock_shared() {
                Ok(()) => return Ok(Lease { root, name: Some(name), _lock: Some(file) }),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(IngestError::io(&readers, e)),
            },
            // a generation without its lock file (a read-only copy made without it) is read unguarded
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && root.is_dir() => {
                return Ok(Lease { root, name: Some(name), _lock: None });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IngestError::io(&readers, e)),
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(IngestError::store(data_dir, "the current generation kept changing while it was opened"))
}

/// Makes generation `name` (a directory in `data_dir`) the current one, in one atomic rename of the link.
pub fn switch(data_dir: &Path, name: &str) -> Result<()> {
    let pending = data_dir.join(format!("{CURRENT}.new"));
    let _ = std::fs::remove_file(&pending);
    std::os::unix::fs::symlink(name, &pending).map_err(|e| IngestError::io(&pending, e))?;
    let link = data_dir.join(CURRENT);
    std::fs::rename(&pending, &link).map_err(|e| IngestError::io(&link, e))?;
    File::open(data_dir).and_then(|d| d.sync_all()).map_err(|e| IngestError::io(data_dir, e))
}

/// Removes every generation but the current one that no reader holds, moving each into `trash` first (a rename:
/// whatever then fails leaves no half-removed generation behind). A writer calls it, holding the directory's lock.
pub fn remove_unused(data_dir: &Path, trash: &Path) -> Result<()> {
    let current = current_name(data_dir)?;
    for (_, name) in generations(data_dir) {
        if Some(&name) == current.as_ref() {
            continue;
        }
        let root = data_dir.join(&name);
        let readers = root.join(READERS);
        let unused = match File::options().write(true).open(&readers) {
            Ok(file) => file.try_lock().is_ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(_) => false,
        };
        if unused {
            let away = trash.join(format!("old-{name}"));
            std::fs::rename(&root, &away).map_err(|e| IngestError::io(&root, e))?;
            std::fs::remove_dir_all(&away).map_err(|e| IngestError::io(&away, e))?;
        }
    }
    Ok(())
}

/// Makes `to` hold every file under `from` as a hard link (directories made anew), but for the paths (relative
/// to `from`) in `skip` and, where `only` is given, top-level entries it does not accept. Directories are synced.
pub fn link_tree(
    from: &Path,
    to: &Path,
    skip: &dyn Fn(&Path) -> bool,
    only: Option<&dyn Fn(&str) -> bool>,
) -> Result<()> {
    fn walk(from: &Path, to: &Path, relative: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
        std::fs::create_dir_all(to).map_err(|e| IngestError::io(to, e))?;
        for entry in std::fs::read_dir(from).map_err(|e| IngestError::io(from, e))? {
            let entry = entry.map_err(|e| IngestError::io(from, e))?;
            let name = entry.file_name();
            let path = relative.join(&name);
            if skip(&path) || name == READERS {
                continue;
            }
            let (source, target) = (entry.path(), to.join(&name));
            let kind = entry.file_type().map_err(|e| IngestError::io(&source, e))?;
            if kind.is_dir() {
                walk(&source, &target, &path, skip)?;
            } else if kind.is_file() {
                std::fs::hard_link(&source, &target).map_err(|e| IngestError::io(&target, e))?;
            }
        }
        File::open(to).and_then(|d| d.sync_all()).map_err(|e| IngestError::io(to, e))
    }
    std::fs::create_dir_all(to).map_err(|e| IngestError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| IngestError::io(from, e))? {
        let entry = entry.map_err(|e| IngestError::io(from, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = PathBuf::from(&name);
        if skip(&path) || name == READERS || only.is_some_and(|accept| !accept(&name)) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().map_err(|e| IngestError::io(&source, e))?;
        if kind.is_dir() {
            walk(&source, &target, &path, skip)?;
        } else if kind.is_file() {
            std::fs::hard_link(&source, &target).map_err(|e| IngestError::io(&target, e))?;
        }
    }
    File::open(to).and_then(|d| d.sync_all()).map_err(|e| IngestError::io(to, e))
}

/// Whether a top-level entry of a data directory written before generations existed is one of its tables.
pub fn is_legacy_table(name: &str) -> bool {
    name.starts_with("cbs_") || ["regions.parquet", "population.parquet", "region_membership.parquet"].contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_is_seen_and_a_leased_generation_stays() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        assert_eq!(current_name(data).unwrap(), None);
        assert_eq!(tables_dir(data), data);
        for name in ["gen-000001", "gen-000002"] {
            std::fs::create_dir(data.join(name)).unwrap();
            std::fs::write(data.join(name).join(READERS), b"").unwrap();
        }
        assert_eq!(next_name(data), "gen-000003");
        switch(data, "gen-000001").unwrap();
        let held = lease(data).unwrap();
        assert_eq!(held.name(), Some("gen-000001"));
        switch(data, "gen-000002").unwrap();
        assert_eq!(tables_dir(data), data.join("gen-000002"));
        let trash = tempfile::tempdir().unwrap();
        remove_unused(data, trash.path()).unwrap();
        assert!(data.join("gen-000001").is_dir(), "a leased generation stays");
        drop(held);
        remove_unused(data, trash.path()).unwrap();
        assert!(!data.join("gen-000001").exists(), "an unused one goes");
        assert!(data.join("gen-000002").is_dir());
        std::fs::remove_file(data.join(CURRENT)).unwrap();
        std::os::unix::fs::symlink("../etc", data.join(CURRENT)).unwrap();
        assert!(current_name(data).is_err(), "a link to anything but a generation is refused");
    }
}
