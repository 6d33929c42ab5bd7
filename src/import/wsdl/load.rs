//! Reading the files of one import: local files only (a URL is refused with advice), each read
//! once, with caps on their number and size.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::tree::{parse, Node};

/// Most files (WSDLs and schemas) one import reads.
const MAX_FILES: usize = 64;
/// Largest file read.
const MAX_FILE_SIZE: u64 = 8 << 20;

/// The files of one import.
#[derive(Debug, Default)]
pub(crate) struct Loader {
    seen: BTreeSet<PathBuf>,
}

impl Loader {
    /// The file `location` names, relative to the directory of `from`.
    pub(crate) fn resolve(&self, from: &Path, location: &str) -> Result<PathBuf, String> {
        if location.contains("://") {
            return Err(format!(
                "{} refers to {location}; polygate reads local files only: download it and point the location at the local copy",
                from.display()
            ));
        }
        let location = location.strip_prefix("file:").unwrap_or(location);
        Ok(from
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(location))
    }

    /// Parses `path`, or `None` when this import already read it.
    pub(crate) fn load(&mut self, path: &Path) -> Result<Option<Node>, String> {
        let canonical =
            std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !self.seen.insert(canonical) {
            return Ok(None);
        }
        if self.seen.len() > MAX_FILES {
            return Err(format!(
                "more than {MAX_FILES} WSDL and schema files are imported"
            ));
        }
        let size = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if size > MAX_FILE_SIZE {
            return Err(format!(
                "{}: larger than {MAX_FILE_SIZE} bytes",
                path.display()
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = crate::codec::xml::decode_document(&bytes, None)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let text = std::str::from_utf8(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        parse(text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
