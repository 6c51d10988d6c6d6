//! Bounded body reads: a response body is read chunk by chunk and never buffered beyond a
//! byte limit, so a huge or endless page costs at most the limit in memory.

use reqwest::Response;

/// Reads a response body incrementally up to `limit` bytes.
pub(crate) struct BoundedBody {
    response: Response,
    buf: Vec<u8>,
    limit: usize,
    /// The body had more than `limit` bytes; what was read is cut at the limit.
    over: bool,
    done: bool,
}

impl BoundedBody {
    pub(crate) fn new(response: Response, limit: usize) -> BoundedBody {
        let expected = response
            .content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(64 * 1024);
        BoundedBody {
            response,
            buf: Vec::with_capacity(expected.min(limit)),
            limit,
            over: false,
            done: false,
        }
    }

    /// Reads until at least `want` bytes are held (or the body or the limit ends first).
    pub(crate) async fn fill(&mut self, want: usize) -> Result<(), reqwest::Error> {
        while !self.done && self.buf.len() < want {
            match self.response.chunk().await? {
                None => self.done = true,
                Some(chunk) => {
                    let room = self.limit - self.buf.len();
                    if chunk.len() > room {
                        self.buf.extend_from_slice(&chunk[..room]);
                        self.over = true;
                        self.done = true;
                    } else {
                        self.buf.extend_from_slice(&chunk);
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads the whole body, up to the limit.
    pub(crate) async fn read_all(&mut self) -> Result<(), reqwest::Error> {
        // At the limit one more chunk is awaited: only a body that goes on is `over`.
        self.fill(usize::MAX).await
    }

    /// The bytes read so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the body went on past the limit.
    pub(crate) fn over(&self) -> bool {
        self.over
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}
