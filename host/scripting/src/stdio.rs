//! WASI stdout and stderr of a script, written line by line into its log ring
//! buffer (stdout as `info`, stderr as `warn`). Writes never fail and never
//! block: output beyond a line's byte cap is cut, so a chatty guest costs only
//! its own log space.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamError};

use crate::limits::ScriptingLimits;
use crate::script::Script;

/// The `StdoutStream` handed to the WASI context.
pub struct LogOutput {
    script: Arc<Script>,
    level: &'static str,
    limits: ScriptingLimits,
}

impl LogOutput {
    pub fn new(script: Arc<Script>, level: &'static str, limits: ScriptingLimits) -> Self {
        LogOutput { script, level, limits }
    }

    fn stream(&self) -> LogStream {
        LogStream {
            script: self.script.clone(),
            level: self.level,
            log_ring_lines: self.limits.log_ring_lines,
            max_line_bytes: self.limits.max_log_line_bytes,
            pending: Vec::new(),
        }
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.stream())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.stream())
    }
}

/// One open stream; keeps an unfinished line until its newline arrives.
struct LogStream {
    script: Arc<Script>,
    level: &'static str,
    log_ring_lines: usize,
    max_line_bytes: usize,
    pending: Vec<u8>,
}

/// Largest write permit handed out.
const WRITE_PERMIT_BYTES: usize = 64 * 1024;

impl LogStream {
    fn accept(&mut self, mut bytes: &[u8]) {
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n') {
            self.append(&bytes[..pos]);
            self.emit();
            bytes = &bytes[pos + 1..];
        }
        self.append(bytes);
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = self.max_line_bytes.saturating_sub(self.pending.len());
        self.pending.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        self.script.push_log(self.level, &text, self.log_ring_lines, self.max_line_bytes);
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

#[async_trait::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.accept(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT_BYTES)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.get_mut().accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
