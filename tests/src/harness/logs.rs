//! Keeps the last lines a child printed (for failure messages) and a full copy on disk.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

const KEEP: usize = 400;

pub struct LogTail {
    lines: Mutex<VecDeque<String>>,
    file: Mutex<Option<File>>,
    path: PathBuf,
}

impl LogTail {
    pub fn new(path: &Path) -> Arc<LogTail> {
        Arc::new(LogTail {
            lines: Mutex::new(VecDeque::new()),
            file: Mutex::new(File::create(path).ok()),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn push(&self, line: String) {
        if let Some(f) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{line}");
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `n` lines, one per line.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let skip = lines.len().saturating_sub(n);
        lines
            .iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Reads `reader` line by line on a background thread until EOF, prefixing each line with
/// `label`, and calls `on_line` with the raw line first.
pub fn drain<R: Read + Send + 'static>(
    reader: R,
    label: &'static str,
    tail: Arc<LogTail>,
    mut on_line: impl FnMut(&str) + Send + 'static,
) {
    thread::Builder::new()
        .name(format!("drain-{label}"))
        .spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\r', '\n']);
                        on_line(line);
                        tail.push(format!("[{label}] {line}"));
                    }
                }
            }
            tail.push(format!("[{label}] <closed>"));
        })
        .expect("cannot start a log drain thread");
}
