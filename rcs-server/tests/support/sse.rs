//! Server-sent events read from the server's event stream (`/api/v1/events`).

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;

use super::{ADMIN, Running, client};

/// One SSE event: (name, id, data).
pub type Sse = (String, Option<u64>, Value);

/// An open event stream.
pub struct Stream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl Stream {
    pub async fn open(
        s: &Running,
        query: &str,
        last_event_id: Option<&str>,
    ) -> (u16, Option<Self>) {
        let mut r = client()
            .get(s.url(&format!("/api/v1/events{query}")))
            .bearer_auth(ADMIN);
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        (status, Some(Self::of(resp)))
    }

    /// The stream of an answer already taken (e.g. `/api/v1/live`'s).
    pub fn of(resp: reqwest::Response) -> Self {
        Self {
            body: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The data of the next `n` events named `name`, the others skipped, within 10 s.
    pub async fn next_named(&mut self, n: usize, name: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while out.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} `{name}` events within 10 s"
            );
            let (event, _, data) = self.next(1).await.remove(0);
            if event == name {
                out.push(data);
            }
        }
        out
    }

    /// The next `n` events (but keep-alive comments), within 10 s.
    pub async fn next(&mut self, n: usize) -> Vec<Sse> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while out.len() < n {
            if let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    event
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_owned)
                };
                if let Some(data) = field("data: ") {
                    out.push((
                        field("event: ").unwrap_or_default(),
                        field("id: ").and_then(|i| i.parse().ok()),
                        serde_json::from_str(&data).unwrap(),
                    ));
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("events within 10 s")
                .unwrap()
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
        out
    }
}
