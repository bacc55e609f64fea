//! The store the tables' Parquet files are read through: [`InlineLocalFiles`].
//!
//! object_store's `LocalFileSystem` hands every read to tokio's blocking pool and wakes the query's thread
//! when the read is done. A query over the half-year files makes one or two such reads per file, each
//! answered from the page cache in microseconds, and each costing two thread switches on the query's
//! path (the measured switches are in benches/RESULTS.md). A read from disk then holds that thread, which
//! the scan partitions, one per core, would wait for anyway.
//!
//! Only [`ObjectStore::get_ranges`] (the Parquet reader's column and page reads) is read inline; every
//! other operation (listing, metadata, writes) is `LocalFileSystem`'s own.
//!
//! Listings of directories inside a generation of a data directory (`ingest::generation`: one that holds
//! the readers' lock file) are kept: a generation never changes once readers read it, an ingest builds the
//! next one. A query lists every partition directory of its tables while planning, a `stat` of every file:
//! about a millisecond of each query's planning over 100M generated rows in 80 files (`benches/RESULTS.md`,
//! round 13). Other directories (someone else's files, a data directory from before generations) are
//! listed afresh every time, as DataFusion's own cache of listings (switched off in vtsql's sessions) would
//! not.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

/// `LocalFileSystem`, with byte ranges read on the calling thread and the listings of generations kept (see
/// the module documentation).
#[derive(Debug, Default)]
pub struct InlineLocalFiles {
    local: LocalFileSystem,
    listings: Arc<Listings>,
}

/// The directories listed so far: per directory (and per kind of listing), its entries where it lies inside a
/// generation, or that it does not.
#[derive(Debug, Default)]
struct Listings {
    entries: Mutex<HashMap<(bool, Path), Listing>>,
}

#[derive(Debug, Clone)]
enum Listing {
    /// Inside a generation: `list`'s entries, or `list_with_delimiter`'s answer.
    Files(Arc<Vec<ObjectMeta>>),
    Delimited(Arc<(Vec<Path>, Vec<ObjectMeta>)>),
    /// Elsewhere: listed afresh each time.
    Changing,
}

/// Directories a store keeps listings of at most; past it they are forgotten and listed again.
const MAX_LISTINGS: usize = 4096;

impl Listings {
    fn get(&self, key: &(bool, Path)) -> Option<Listing> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: (bool, Path), listing: Listing) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_LISTINGS {
                entries.clear();
            }
            entries.insert(key, listing);
        }
    }
}

impl InlineLocalFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `prefix` lies inside a generation: a directory at or above it holds the readers' lock file.
    fn in_generation(&self, prefix: &Path) -> bool {
        let Ok(path) = self.local.path_to_filesystem(prefix) else { return false };
        path.ancestors().any(|dir| dir.join(crate::ingest::generation::READERS).is_file())
    }

    /// How to answer a listing of `prefix` (`delimited`: `list_with_delimiter`'s).
    fn lookup(&self, delimited: bool, prefix: Option<&Path>) -> Lookup {
        let Some(prefix) = prefix else { return Lookup::Afresh };
        let key = (delimited, prefix.clone());
        match self.listings.get(&key) {
            Some(Listing::Changing) => Lookup::Afresh,
            Some(listing) => Lookup::Kept(listing),
            None if self.in_generation(prefix) => Lookup::Keep(key),
            None => {
                self.listings.put(key, Listing::Changing);
                Lookup::Afresh
            }
        }
    }
}

/// How a listing is answered.
enum Lookup {
    /// From an earlier listing of the directory.
    Kept(Listing),
    /// By listing a directory inside a generation, kept under this key.
    Keep((bool, Path)),
    /// By listing afresh (a directory elsewhere, or the whole store).
    Afresh,
}

impl fmt::Display for InlineLocalFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InlineLocalFiles({})", self.local)
    }
}

/// An error of reading `path` as object_store reports it, naming the file.
fn read_error(path: &std::path::Path, location: &Path, e: std::io::Error) -> datafusion::object_store::Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            datafusion::object_store::Error::NotFound { path: location.to_string(), source: Box::new(e) }
        }
        _ => datafusion::object_store::Error::Generic {
            store: "LocalFileSystem",
            source: format!("{}: {e}", path.display()).into(),
        },
    }
}

/// Reads `range` of `file` into a buffer that is not zeroed first. A zeroed buffer of a column chunk's size
/// (a megabyte or more) is one jemalloc hands out by discarding the pages of a freed one (`MADV_DONTNEED`),
/// so every read faulted fresh pages in, one per 4 KiB: a fifth of a query's time over foreign files
/// (benches/RESULTS.md, round 15). `pread` fills the buffer's spare capacity in one call where the page
/// cache holds the range (std's `read_to_end` would read it in doubling pieces, eight calls a megabyte).
fn read_range(file: &File, path: &std::path::Path, location: &Path, range: &Range<u64>) -> Result<bytes::Bytes> {
    let too_large = |e: std::num::TryFromIntError| datafusion::object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(e),
    };
    let capacity = usize::try_from(range.end.saturating_sub(range.start)).map_err(too_large)?;
    let mut buffer: Vec<u8> = Vec::with_capacity(capacity);
    while buffer.len() < capacity {
        let at = range.start + buffer.len() as u64;
        let offset = libc::off_t::try_from(at).map_err(too_large)?;
        let wanted = capacity - buffer.len();
        let spare = &mut buffer.spare_capacity_mut()[..wanted];
        // SAFETY: `spare` is valid for writes of `spare.len()` bytes, the most pread writes.
        let read = unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), offset) };
        match usize::try_from(read) {
            Ok(0) => {
                let short = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("bytes {}..{} asked for, the file ends at {at}", range.start, range.end),
                );
                return Err(read_error(path, location, short));
            }
            // SAFETY: pread initialised the first `read` bytes of the spare capacity.
            Ok(read) => unsafe { buffer.set_len(buffer.len() + read) },
            Err(_) => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(read_error(path, location, error));
                }
            }
        }
    }
    Ok(buffer.into())
}

#[async_trait::async_trait]
impl ObjectStore for InlineLocalFiles {
    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<bytes::Bytes>> {
        let path = self.local.path_to_filesystem(location)?;
        let file = File::open(&path).map_err(|e| read_error(&path, location, e))?;
        ranges.iter().map(|range| read_range(&file, &path, location, range)).collect()
    }

    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.local.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.local.get_opts(location, options).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        match self.lookup(false, prefix) {
            Lookup::Kept(Listing::Files(files)) => stream::iter(files.as_ref().clone().into_iter().map(Ok)).boxed(),
            Lookup::Keep(key) => {
                let listings = Arc::clone(&self.listings);
                let listed = self.local.list(prefix);
                stream::once(async move {
                    let files: Vec<ObjectMeta> = listed.try_collect().await?;
                    listings.put(key, Listing::Files(Arc::new(files.clone())));
                    Ok::<_, datafusion::object_store::Error>(stream::iter(files.into_iter().map(Ok)))
                })
                .try_flatten()
                .boxed()
            }
            _ => self.local.list(prefix),
        }
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        match self.lookup(true, prefix) {
            Lookup::Kept(Listing::Delimited(listed)) => {
                let (common_prefixes, objects) = listed.as_ref().clone();
                Ok(ListResult { common_prefixes, objects })
            }
            Lookup::Keep(key) => {
                let listed = self.local.list_with_delimiter(prefix).await?;
                let kept = (listed.common_prefixes.clone(), listed.objects.clone());
                self.listings.put(key, Listing::Delimited(Arc::new(kept)));
                Ok(listed)
            }
            _ => self.local.list_with_delimiter(prefix).await,
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.local.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.local.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_file(bytes: &[u8]) -> (tempfile::TempDir, Path) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("part-0.parquet");
        std::fs::write(&file, bytes).expect("a written file");
        let location = Path::from_filesystem_path(&file).expect("an absolute path");
        (dir, location)
    }

    #[tokio::test]
    async fn reads_the_ranges_local_file_system_reads() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (_dir, location) = store_with_file(&bytes);
        let ranges = [0..10, 9_990..10_000, 100..100, 4_000..7_500, 0..10_000, 5..6];
        let ours = InlineLocalFiles::new().get_ranges(&location, &ranges).await.unwrap();
        let theirs = LocalFileSystem::new().get_ranges(&location, &ranges).await.unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours[3].as_ref(), &bytes[4_000..7_500]);
        assert!(InlineLocalFiles::new().get_ranges(&location, &[]).await.unwrap().is_empty());
        // everything else is LocalFileSystem's
        let prefix = Path::from(location.as_ref().rsplit_once('/').map_or("", |(dir, _)| dir));
        let listed: Vec<ObjectMeta> =
            futures::TryStreamExt::try_collect(InlineLocalFiles::new().list(Some(&prefix))).await.unwrap();
        assert_eq!(listed.iter().map(|m| &m.location).collect::<Vec<_>>(), [&location]);
        let head = datafusion::object_store::ObjectStoreExt::head(&InlineLocalFiles::new(), &location).await.unwrap();
        assert_eq!(head.size, 10_000);
    }

    #[tokio::test]
    async fn errors_name_the_file() {
        let (dir, location) = store_with_file(b"PAR1");
        let past_the_end =
            InlineLocalFiles::new().get_ranges(&location, std::slice::from_ref(&(2..10))).await.unwrap_err();
        assert!(past_the_end.to_string().contains("part-0.parquet"), "{past_the_end}");
        let missing = Path::from_filesystem_path(dir.path()).unwrap().join("missing.parquet");
        let error = InlineLocalFiles::new().get_ranges(&missing, std::slice::from_ref(&(0..4))).await.unwrap_err();
        assert!(matches!(error, datafusion::object_store::Error::NotFound { .. }), "{error}");
        assert!(error.to_string().contains("missing.parquet"), "{error}");
    }

    /// The files listed (both ways) under `dir`, by name.
    async fn listed(store: &InlineLocalFiles, dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
        let prefix = Path::from_filesystem_path(dir).unwrap();
        let names = |metas: Vec<ObjectMeta>| {
            let mut names: Vec<String> = metas.iter().map(|m| m.location.filename().unwrap().to_string()).collect();
            names.sort();
            names
        };
        let all: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await.unwrap();
        let delimited = store.list_with_delimiter(Some(&prefix)).await.unwrap();
        (names(all), names(delimited.objects))
    }

    /// A directory inside a generation is listed once and its listing kept; any other directory is
    /// listed afresh, so a file added to it is seen.
    #[tokio::test]
    async fn listings_inside_a_generation_are_kept_and_others_are_not() {
        let data = tempfile::tempdir().unwrap();
        let generation = data.path().join("gen-000001");
        let partition = generation.join("cbs_84851ned/year=2025/half=1");
        let elsewhere = data.path().join("theirs/year=2025");
        for dir in [&partition, &elsewhere] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("part-0.parquet"), b"PAR1").unwrap();
        }
        std::fs::write(generation.join(crate::ingest::generation::READERS), b"").unwrap();
        let store = InlineLocalFiles::new();
        let one = (vec!["part-0.parquet".to_string()], vec!["part-0.parquet".to_string()]);
        assert_eq!(listed(&store, &partition).await, one);
        assert_eq!(listed(&store, &elsewhere).await, one);
        // a file appears in both (in a generation only a writer's bug could do that)
        for dir in [&partition, &elsewhere] {
            std::fs::write(dir.join("part-1.parquet"), b"PAR1").unwrap();
        }
        assert_eq!(listed(&store, &partition).await, one, "kept");
        let two = vec!["part-0.parquet".to_string(), "part-1.parquet".to_string()];
        assert_eq!(listed(&store, &elsewhere).await, (two.clone(), two.clone()), "listed afresh");
        // another store (another process) lists the generation as it is
        assert_eq!(listed(&InlineLocalFiles::new(), &partition).await, (two.clone(), two));
    }
}
