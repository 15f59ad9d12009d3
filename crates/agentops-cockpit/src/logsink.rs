//! Where log lines go: stderr, or, while the terminal dashboard owns the
//! screen, a file (a line written onto the dashboard's terminal would tear
//! its frame). [`divert`] switches to the file until its guard drops.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;

/// The file log lines go to instead of stderr, while set.
static DIVERTED: Mutex<Option<File>> = Mutex::new(None);

/// The writer of the log subscriber: stderr unless [`divert`]ed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSink;

/// One log line's writer.
#[derive(Debug)]
pub struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut diverted = DIVERTED.lock().unwrap_or_else(|e| e.into_inner());
        match diverted.as_mut() {
            Some(f) => f.write(buf),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut diverted = DIVERTED.lock().unwrap_or_else(|e| e.into_inner());
        match diverted.as_mut() {
            Some(f) => f.flush(),
            None => io::stderr().flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter
    }
}

/// Log lines go to `path` (appended; its directory created) until the
/// guard drops; then to stderr again. When the file cannot be opened they
/// are dropped instead (into `io::sink`), never written on the terminal;
/// the error is returned for the caller to mention after the screen is
/// restored.
pub fn divert(path: &Path) -> (Diverted, Option<io::Error>) {
    let opened = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| File::options().create(true).append(true).open(path));
    let (file, err) = match opened {
        Ok(f) => (f, None),
        Err(e) => match File::options().write(true).open("/dev/null") {
            Ok(null) => (null, Some(e)),
            Err(_) => return (Diverted, Some(e)),
        },
    };
    *DIVERTED.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    (Diverted, err)
}

/// Restores stderr as the log's destination when dropped.
#[derive(Debug)]
pub struct Diverted;

impl Drop for Diverted {
    fn drop(&mut self) {
        *DIVERTED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_the_file_while_diverted_and_back_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("cockpit.log");
        {
            let (_guard, err) = divert(&path);
            assert!(err.is_none(), "{err:?}");
            LogSink.make_writer().write_all(b"one line\n").unwrap();
        }
        assert!(DIVERTED.lock().unwrap().is_none(), "stderr again");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one line\n");
    }
}
