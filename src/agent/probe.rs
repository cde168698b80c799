//! The model id a NIM serves, read from its OpenAI-compatible `GET /v1/models` at the
//! Service's cluster endpoint (`clusterIP:port`, or an InferenceService's `http://` address),
//! as the operator fills `status.model.name`. Plain HTTP/1.0 over a TCP connection with a
//! deadline; any failure (an `https://` address too) is "unknown".

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

/// `host:port` and the path prefix of an endpoint: `10.0.0.1:8000` or
/// `http://name.namespace.svc.cluster.local[:port][/prefix]`.
fn address(endpoint: &str) -> Option<(String, &str)> {
    if endpoint.contains("://") {
        let rest = endpoint.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let host = match host.contains(':') {
            true => host.to_string(),
            false => format!("{host}:80"),
        };
        return Some((host, path.trim_end_matches('/')));
    }
    Some((endpoint.to_string(), ""))
}

async fn fetch(endpoint: &str) -> Option<String> {
    let (host, prefix) = address(endpoint)?;
    let mut stream = TcpStream::connect(&host).await.ok()?;
    let path = match prefix {
        "" => "/v1/models".to_string(),
        p => format!("/{p}/v1/models"),
    };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nUser-Agent: nimc-agent\r\n\r\n"
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

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn endpoints_become_addresses() {
        assert_eq!(address("10.0.0.1:8000"), Some(("10.0.0.1:8000".into(), "")));
        assert_eq!(
            address("http://llama.nim.svc.cluster.local"),
            Some(("llama.nim.svc.cluster.local:80".into(), ""))
        );
        assert_eq!(
            address("http://llama-predictor.nim.svc:8080/openai/"),
            Some(("llama-predictor.nim.svc:8080".into(), "openai"))
        );
        assert_eq!(address("https://llama.example.com"), None);
    }
}
