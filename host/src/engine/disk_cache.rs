//! An on-disk cache of compiled components, so a restart (or the next
//! `oam-wasm render`) does not compile the same plugins again.
//!
//! Owns one directory. Each entry is named after the sha256 of the
//! component's bytes and a digest of the engine's compatibility hash (its
//! wasmtime version, compiler and settings), so an upgraded host never even
//! looks at another version's artifacts. An entry is the sha256 of the
//! artifact followed by the artifact as `Component::serialize` wrote it.
//!
//! Trust: loading an artifact runs its machine code, so this cache only
//! loads files it wrote itself, into a directory only its own user can
//! write. A file is written to a temporary name and renamed into place, so
//! a reader never sees half of it; on load the artifact's sha256 is checked
//! before wasmtime sees a byte of it. Any problem (missing, unreadable,
//! corrupt, from another engine) is a cache miss, never an error: the
//! component is compiled again and the entry rewritten.
//!
//! Must not decide what to compile or when; [`super::Engine`] asks it.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// Suffix of cache entries.
const EXTENSION: &str = "cwasm";

/// Why a cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    #[error("cannot create plugin cache directory {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "plugin cache directory {path} is writable by other users (mode {mode:o}); it must be 0700 and owned by this user"
    )]
    Permissions { path: String, mode: u32 },
    #[error(
        "plugin cache directory {path} belongs to uid {owner}, not to this process (uid {uid})"
    )]
    Owner { path: String, owner: u32, uid: u32 },
}

/// A directory of compiled components.
#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    /// Tells concurrent writers' temporary files apart.
    sequence: AtomicU64,
}

impl DiskCache {
    /// Use `dir` (created with mode 0700 if missing). Refused when the
    /// directory is writable by anyone but its owner, or when its owner is
    /// not this process's user: an artifact someone else could have written
    /// must never be loaded.
    pub fn open(dir: impl Into<PathBuf>) -> Result<DiskCache, CacheDirError> {
        let dir = dir.into();
        let path = || dir.display().to_string();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| CacheDirError::Create {
                path: path(),
                source,
            })?;
        let meta = fs::metadata(&dir).map_err(|source| CacheDirError::Create {
            path: path(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(CacheDirError::Permissions { path: path(), mode });
        }
        // A file this process creates has its effective uid as owner.
        let probe = dir.join(format!(".owner-probe-{}", std::process::id()));
        let uid = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&probe)
            .and_then(|f| f.metadata())
            .map(|m| m.uid())
            .map_err(|source| CacheDirError::Create {
                path: path(),
                source,
            });
        let _ = fs::remove_file(&probe);
        let uid = uid?;
        if meta.uid() != uid {
            return Err(CacheDirError::Owner {
                path: path(),
                owner: meta.uid(),
                uid,
            });
        }
        Ok(DiskCache {
            dir,
            sequence: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the artifact of the component with sha256 `digest` lives for
    /// `engine`.
    fn entry(&self, engine: &wasmtime::Engine, digest: &str) -> PathBuf {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = hasher.0.finalize();
        let compat: String = compat[..8].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{digest}-{compat}.{EXTENSION}"))
    }

    /// The compiled component for `digest`, if this cache holds a good one.
    pub fn get(&self, engine: &wasmtime::Engine, digest: &str) -> Option<Component> {
        let path = self.entry(engine, digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read cached plugin; compiling it again");
                return None;
            }
        };
        let artifact = match bytes.split_at_checked(32) {
            Some((sum, artifact)) if Sha256::digest(artifact).as_slice() == sum => artifact,
            _ => {
                tracing::warn!(path = %path.display(), "cached plugin is corrupt; compiling it again");
                let _ = fs::remove_file(&path);
                return None;
            }
        };
        match deserialize(engine, artifact) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "cached plugin does not load; compiling it again");
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Store the compiled component for `digest`. Failures are logged and
    /// otherwise ignored: the cache is an optimization.
    pub fn put(&self, engine: &wasmtime::Engine, digest: &str, component: &Component) {
        let path = self.entry(engine, digest);
        let artifact = match component.serialize() {
            Ok(artifact) => artifact,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot serialize a compiled plugin for the cache");
                return;
            }
        };
        let tmp = self.dir.join(format!(
            ".{digest}.{}.{}.tmp",
            std::process::id(),
            self.sequence.fetch_add(1, Ordering::Relaxed)
        ));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| {
                file.write_all(&Sha256::digest(&artifact))?;
                file.write_all(&artifact)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %e, "cannot write a compiled plugin to the cache");
        }
    }
}

/// Load an artifact this cache wrote.
#[allow(
    unsafe_code,
    reason = "wasmtime cannot check that serialized machine code is benign"
)]
fn deserialize(engine: &wasmtime::Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` requires bytes produced by
    // `Component::serialize` of a compatible engine and not tampered with.
    // `artifact` comes from a file that `DiskCache::put` wrote (temporary
    // file + rename) in a directory `DiskCache::open` checked to be writable
    // only by this process's user, and its sha256 matched the one written
    // beside it. wasmtime itself checks the engine's compatibility (version,
    // target, settings) and returns an error on a mismatch. The bytes are
    // copied, so later changes to the file cannot reach the loaded code.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Feeds `Hash` output into sha256, so the compatibility hash gives the same
/// file name in every process of the same build (unlike `DefaultHasher`).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("oam-wasm-disk-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn engine() -> wasmtime::Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        wasmtime::Engine::new(&config).unwrap()
    }

    /// An empty component, in binary: the preamble and nothing else.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn component(engine: &wasmtime::Engine) -> Component {
        Component::new(engine, EMPTY_COMPONENT).unwrap()
    }

    #[test]
    fn a_stored_component_loads_back() {
        let dir = scratch("roundtrip");
        let cache = DiskCache::open(&dir).unwrap();
        let engine = engine();
        assert!(cache.get(&engine, "abc").is_none());
        cache.put(&engine, "abc", &component(&engine));
        assert!(cache.get(&engine, "abc").is_some());
        assert!(cache.get(&engine, "abd").is_none());
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_entry_is_a_miss_and_is_removed() {
        let dir = scratch("corrupt");
        let cache = DiskCache::open(&dir).unwrap();
        let engine = engine();
        cache.put(&engine, "abc", &component(&engine));
        let path = cache.entry(&engine, "abc");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert!(cache.get(&engine, "abc").is_none());
        assert!(!path.exists());
        // A checksum that matches garbage still does not load.
        let garbage = b"not an artifact".to_vec();
        let mut forged = Sha256::digest(&garbage).to_vec();
        forged.extend_from_slice(&garbage);
        fs::write(&path, &forged).unwrap();
        assert!(cache.get(&engine, "abc").is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_engine_configuration_uses_other_entries() {
        let dir = scratch("compat");
        let cache = DiskCache::open(&dir).unwrap();
        let engine = engine();
        cache.put(&engine, "abc", &component(&engine));
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        let other = wasmtime::Engine::new(&config).unwrap();
        assert_ne!(cache.entry(&engine, "abc"), cache.entry(&other, "abc"));
        assert!(cache.get(&other, "abc").is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let dir = scratch("perms");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = DiskCache::open(&dir).unwrap_err();
        assert!(matches!(err, CacheDirError::Permissions { .. }), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
