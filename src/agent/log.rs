//! Structured logs: one JSON object per line on stderr (`time`, `level`, `msg`, then the
//! event's fields), the form log collectors parse without configuration.

use serde_json::{Map, Value};

/// The current time as RFC 3339 UTC with milliseconds.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = crate::status::rfc3339(now.as_secs() as i64);
    format!("{}.{:03}Z", secs.trim_end_matches('Z'), now.subsec_millis())
}

/// Write one log line; `fields` is a JSON object (anything else is logged as `detail`).
pub fn emit(level: &str, msg: &str, fields: Value) {
    let mut line = Map::new();
    line.insert("time".into(), timestamp().into());
    line.insert("level".into(), level.into());
    line.insert("msg".into(), msg.into());
    match fields {
        Value::Object(m) => line.extend(m),
        Value::Null => {}
        other => {
            line.insert("detail".into(), other);
        }
    }
    eprintln!("{}", Value::Object(line));
}

pub fn info(msg: &str, fields: Value) {
    emit("info", msg, fields);
}

pub fn warn(msg: &str, fields: Value) {
    emit("warn", msg, fields);
}

pub fn error(msg: &str, fields: Value) {
    emit("error", msg, fields);
}
