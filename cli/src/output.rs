//! Standard output for data: buffered, and quiet when the reader went away (`| head`).

use std::io::{self, BufWriter, ErrorKind, Stdout, Write};

use crate::failure::Failure;

/// Buffered standard output. A closed pipe ends the output without an error: the reader
/// has what it wanted.
pub struct Output {
    out: BufWriter<Stdout>,
    closed: bool,
}

impl Output {
    pub fn new() -> Output {
        Output {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
            closed: false,
        }
    }

    /// Writes one line.
    pub fn line(&mut self, line: &str) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let written = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        self.check(written)
    }

    /// Whether the reader went away: the rest of the output would be lost.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn flush(&mut self) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.out.flush();
        self.check(flushed)
    }

    fn check(&mut self, result: io::Result<()>) -> Result<(), Failure> {
        match result {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(err) => Err(Failure::failed(format!(
                "cannot write to standard output: {err}"
            ))),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
