//! Source files and locations in them.
//!
//! Every spec file read is registered once in [`Sources`]; a [`Span`] names a
//! file by [`FileId`] and a 1-based line and column (in characters), which is
//! what diagnostics print.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Index of a file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileId(pub usize);

/// A place in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Length in characters (on the first line, when printed).
    pub len: usize,
    /// Offset of the first character, in characters from the file start.
    pub offset: usize,
}

/// One source file: its display path (relative to the working directory, as
/// the user named it) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as shown in diagnostics, e.g. `pipelines/agents.yaml`.
    pub display: String,
    /// Path relative to the pipelines directory, e.g. `agents.yaml`.
    pub relative: PathBuf,
    pub text: String,
}

/// All source files of a run.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a file and return its id.
    pub fn add(&mut self, display: String, relative: PathBuf, text: String) -> FileId {
        self.files.push(SourceFile {
            display,
            relative,
            text,
        });
        FileId(self.files.len() - 1)
    }

    #[must_use]
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0)
    }

    /// The display path of a file, or `<unknown>`.
    #[must_use]
    pub fn path(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.display.as_str())
    }

    /// The path relative to the pipelines directory, with `/` separators.
    #[must_use]
    pub fn relative(&self, id: FileId) -> String {
        self.get(id)
            .map_or_else(String::new, |f| slash_path(&f.relative))
    }

    /// The text of line `line` (1-based), without its line break.
    #[must_use]
    pub fn line(&self, id: FileId, line: usize) -> Option<&str> {
        let text = &self.get(id)?.text;
        text.split('\n')
            .nth(line.checked_sub(1)?)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A path with `/` separators whatever the platform.
#[must_use]
pub fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| match c {
            std::path::Component::RootDir => String::new(),
            other => other.as_os_str().to_string_lossy().into_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Byte offset of the character at `char_offset` in `text`.
#[must_use]
pub fn byte_offset(text: &str, char_offset: usize) -> usize {
    text.char_indices()
        .nth(char_offset)
        .map_or(text.len(), |(b, _)| b)
}

/// Open `path` (links followed) for reading if it is a regular file. A FIFO,
/// socket or device is refused, not read: opening a FIFO waits for a writer
/// and reading a device may never end, and neither is a spec or a generated
/// file.
///
/// # Errors
/// The open's error, or `InvalidInput` ("not a regular file").
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    // Without it, opening a FIFO blocks until something opens it to write.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

/// The bytes of the regular file `path` ([`open_regular`]).
///
/// # Errors
/// As [`open_regular`], or the read's error.
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut open_regular(path)?, &mut bytes)?;
    Ok(bytes)
}
