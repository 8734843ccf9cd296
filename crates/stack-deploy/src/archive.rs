//! Zips a directory asset (`"packaging": "zip"`, e.g. a Lambda function's code)
//! the way cdk-assets publishes it: every file under the directory, by its path
//! relative to it with `/` separators, in sorted order, with a fixed timestamp, so
//! the same directory always gives the same bytes. Unix permissions are kept: a
//! custom runtime's `bootstrap` must stay executable. Symbolic links are followed.
//!
//! The asset's S3 key is a hash CDK computed over the directory at synth time, so
//! the zip bytes need not match the CDK CLI's; they only need to be a valid archive
//! of the same files.

use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use common::{Error, Result};

/// Every file under `dir`, relative paths with `/`, sorted.
fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Error::io(format!("failed to read asset directory {}", d.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("failed to read {}", d.display()), e))?;
            let path = entry.path();
            // `metadata` follows symbolic links, as cdk-assets does.
            let meta = std::fs::metadata(&path)
                .map_err(|e| Error::io(format!("failed to read {}", path.display()), e))?;
            if meta.is_dir() {
                todo.push(path);
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The zip archive of `dir`, in memory (Lambda code assets are small: 50 MB zipped
/// at most for a direct upload, 250 MB unzipped).
pub fn zip_directory(dir: &Path) -> Result<Vec<u8>> {
    let fail = |e: zip::result::ZipError| {
        Error::io(
            format!("failed to zip asset directory {}", dir.display()),
            std::io::Error::other(e),
        )
    };
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, path) in files(dir)? {
        let meta = std::fs::metadata(&path)
            .map_err(|e| Error::io(format!("failed to read {}", path.display()), e))?;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::default())
            .unix_permissions(meta.permissions().mode() & 0o777);
        zip.start_file(name, options).map_err(fail)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::io(format!("failed to read {}", path.display()), e))?;
        zip.write_all(&bytes)
            .map_err(|e| Error::io(format!("failed to zip {}", path.display()), e))?;
    }
    Ok(zip.finish().map_err(fail)?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("lib/deep")).unwrap();
        std::fs::write(d.path().join("index.js"), "exports.handler = 1;\n").unwrap();
        std::fs::write(d.path().join("lib/deep/util.js"), "module.exports = 2;\n").unwrap();
        std::fs::write(d.path().join("bootstrap"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            d.path().join("bootstrap"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("index.js", d.path().join("main.js")).unwrap();
        std::fs::create_dir(d.path().join("empty")).unwrap();
        d
    }

    #[test]
    fn a_directory_zips_to_sorted_relative_files_with_their_modes() {
        let d = tree();
        let bytes = zip_directory(d.path()).unwrap();
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let names: Vec<String> = (0..z.len())
            .map(|i| z.by_index(i).unwrap().name().unwrap().into_owned())
            .collect();
        assert_eq!(
            names,
            ["bootstrap", "index.js", "lib/deep/util.js", "main.js"]
        );
        let mut read = |name: &str| {
            let mut f = z.by_name(name).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            (s, f.unix_mode().map(|m| m & 0o777))
        };
        assert_eq!(read("bootstrap"), ("#!/bin/sh\n".into(), Some(0o755)));
        assert_eq!(read("lib/deep/util.js").0, "module.exports = 2;\n");
        // The symbolic link is followed: its target's content under its own name.
        assert_eq!(read("main.js").0, "exports.handler = 1;\n");
    }

    #[test]
    fn the_same_files_give_the_same_bytes_whatever_their_times() {
        // Two copies of one tree, the second with every file's mtime years back:
        // an archive that carried file times (or the clock) would differ.
        let (a, b) = (tree(), tree());
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        for f in ["index.js", "lib/deep/util.js", "bootstrap"] {
            std::fs::File::options()
                .write(true)
                .open(b.path().join(f))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        assert_eq!(
            zip_directory(a.path()).unwrap(),
            zip_directory(b.path()).unwrap()
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let e = zip_directory(Path::new("/nonexistent/asset.dir")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/asset.dir"), "{e}");
    }
}
