//! The model id a NIM serves, read from its OpenAI-compatible `GET /v1/models` at the
//! Service's cluster endpoint (`clusterIP:port`), as the operator fills `status.model.name`.
//! Plain HTTP/1.0 over a TCP connection with a deadline; any failure is "unknown".

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response read (a model list is a few kilobytes).
const MAX_RESPONSE: u64 = 1 << 20;

/// The first model id `endpoint` (`host:port`) serves, or `None`.
pub async fn model_id(endpoint: &str, timeout: Duration) -> Option<String> {
    tokio::time::timeout(timeout, fetch(endpoint)).await.ok()?
}

async fn fetch(endpoint: &str) -> Option<String> {
    let mut stream = TcpStream::connect(endpoint).await.ok()?;
    let request = format!(
        "GET /v1/models HTTP/1.0\r\nHost: {endpoint}\r\nAccept: application/json\r\nUser-Agent: nimc-agent\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut body = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut body)
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&body);
    let (head, payload) = text.split_once("\r\n\r\n")?;
    if head.split_whitespace().nth(1) != Some("200") {
        return None;
    }
    let doc: Value = serde_json::from_str(payload).ok()?;
    let id = doc["data"][0]["id"].as_str()?;
    (!id.is_empty()).then(|| id.to_string())
}
