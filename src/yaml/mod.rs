//! The YAML front end: turns the text of one file into a list of documents, each a tree of
//! [`Node`]s that remembers where every node came from (byte offset, line, column).
//!
//! Parsing never panics and never runs away: nesting depth, the number of nodes (alias expansion
//! included) and the size of the input are bounded by [`Limits`], and every violation is a
//! [`YamlError`] with a position. Typed values are read from the tree by [`de::from_node`], which
//! follows Kubernetes' lenient scalar rules (a plain `1` is a fine string), and semantic checks
//! find the span of any field again with [`Node::lookup`]. [`emit`] writes YAML back out.

pub mod de;
pub mod emit;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Parser, ScalarStyle};

/// A position in a source text. `line` and `col` count from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub offset: u32,
    pub line: u32,
    pub col: u32,
}

/// The source range of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

/// One YAML node with its span. Scalars borrow from the source text where they can.
#[derive(Clone, Debug, PartialEq)]
pub struct Node<'a> {
    pub value: Value<'a>,
    pub span: Span,
}

/// The content of a node. Mapping keys are always scalars (their text).
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Scalar(Scalar<'a>),
    Seq(Vec<Node<'a>>),
    Map(Vec<Entry<'a>>),
}

/// A scalar with its text after escape processing; `plain` is false for quoted and block scalars.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar<'a> {
    pub text: Cow<'a, str>,
    pub plain: bool,
}

/// One `key: value` pair of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry<'a> {
    pub key: Cow<'a, str>,
    pub key_span: Span,
    pub value: Node<'a>,
}

/// Bounds that keep hostile input from exhausting time, stack or memory.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 128,
            max_nodes: 2_000_000,
        }
    }
}

/// A syntax error or a limit that was hit.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlError {
    pub message: String,
    pub pos: Pos,
    pub limit: bool,
}

impl<'a> Node<'a> {
    /// True for an empty plain scalar, `~` and the spellings of `null`.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.plain && is_null_text(&s.text))
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// The scalar text of `key` in a mapping node.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match &self.get(key)?.value {
            Value::Scalar(s) if !(s.plain && is_null_text(&s.text)) => Some(&s.text),
            _ => None,
        }
    }

    /// The node at a JSON-pointer-like path, if every segment exists.
    pub fn at(&self, path: &str) -> Option<&Node<'a>> {
        let mut cur = self;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur = match &cur.value {
                Value::Map(entries) => {
                    let key = unescape_segment(seg);
                    &entries.iter().find(|e| e.key == key)?.value
                }
                Value::Seq(items) => items.get(seg.parse::<usize>().ok()?)?,
                Value::Scalar(_) => return None,
            };
        }
        Some(cur)
    }

    /// The span of the node at a JSON-pointer-like path (`/spec/storage/pvc`), or of the deepest
    /// existing ancestor when the path runs out. A path that ends in a key points at the key.
    pub fn lookup(&self, path: &str) -> Span {
        let mut cur = self;
        let mut span = self.span;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            let key = unescape_segment(seg);
            let next = match &cur.value {
                Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| {
                    span = e.key_span;
                    &e.value
                }),
                Value::Seq(items) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .inspect(|n| span = n.span),
                Value::Scalar(_) => None,
            };
            match next {
                Some(n) => cur = n,
                None => return span,
            }
        }
        span
    }
}

/// JSON-pointer escaping of one path segment: `~` becomes `~0` and `/` becomes `~1`, so a
/// key such as `app.kubernetes.io/name` stays one segment.
pub fn escape_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape_segment(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

pub(crate) fn is_null_text(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

fn pos(m: &granit_parser::Marker) -> Pos {
    Pos {
        offset: m.byte_offset().unwrap_or(m.index()) as u32,
        line: m.line() as u32,
        col: m.col() as u32 + 1,
    }
}

enum Frame<'a> {
    Seq {
        items: Vec<Node<'a>>,
        start: Pos,
        anchor: usize,
        nodes: usize,
    },
    Map {
        entries: Vec<Entry<'a>>,
        key: Option<(Cow<'a, str>, Span)>,
        /// The keys seen, once the map is large enough for a linear scan to hurt.
        seen: Option<HashSet<Cow<'a, str>>>,
        /// Indices of `<<` merge entries (a plain `<<` key), resolved when the map closes.
        merges: Vec<usize>,
        start: Pos,
        anchor: usize,
        nodes: usize,
    },
}

/// Parse every document of a YAML stream. Empty documents are kept as null scalars so that
/// document indices stay stable.
pub fn parse_documents(text: &str, limits: Limits) -> Result<Vec<Node<'_>>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut anchors: HashMap<usize, (Node<'_>, usize)> = HashMap::new();
    let mut total_nodes = 0usize;
    let mut root: Option<Node> = None;

    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| {
            let message = scan_message(&e);
            YamlError {
                limit: message.contains("recursion limit"),
                message,
                pos: pos(e.marker()),
            }
        })?;
        let start = pos(&span.start);
        let end = pos(&span.end);
        // A completed node (scalar, alias, or closed collection) with its subtree size.
        let completed: Option<(Node<'_>, usize, usize)> = match event {
            Event::StreamStart | Event::StreamEnd => None,
            Event::DocumentStart(..) => {
                anchors.clear();
                root = None;
                None
            }
            Event::DocumentEnd => {
                docs.push(root.take().unwrap_or(Node {
                    value: Value::Scalar(Scalar {
                        text: Cow::Borrowed(""),
                        plain: true,
                    }),
                    span: Span { start, end: start },
                }));
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag.as_ref().is_some_and(|t| t.core_suffix() == Some("str"));
                let plain = matches!(style, ScalarStyle::Plain) && !forced_str;
                let node = Node {
                    value: Value::Scalar(Scalar { text, plain }),
                    span: Span { start, end },
                };
                Some((node, anchor, 1))
            }
            Event::Alias(id) => {
                let (node, count) = anchors.get(&id).cloned().ok_or_else(|| YamlError {
                    message: "alias to an unknown anchor".into(),
                    pos: start,
                    limit: false,
                })?;
                let mut node = node;
                node.span = Span { start, end };
                Some((node, 0, count))
            }
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    start,
                    anchor,
                    nodes: 1,
                });
                check_depth(&stack, limits, start)?;
                None
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    seen: None,
                    merges: Vec::new(),
                    start,
                    anchor,
                    nodes: 1,
                });
                check_depth(&stack, limits, start)?;
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    start,
                    anchor,
                    nodes,
                }) => Some((
                    Node {
                        value: Value::Seq(items),
                        span: Span { start, end },
                    },
                    anchor,
                    nodes,
                )),
                _ => return Err(internal(start)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    entries,
                    merges,
                    start,
                    anchor,
                    nodes,
                    ..
                }) => Some((
                    Node {
                        value: Value::Map(merge_keys(entries, &merges)?),
                        span: Span { start, end },
                    },
                    anchor,
                    nodes,
                )),
                _ => return Err(internal(start)),
            },
            _ => None,
        };
        let Some((node, anchor, count)) = completed else {
            continue;
        };
        total_nodes += count;
        if total_nodes > limits.max_nodes {
            return Err(YamlError {
                message: format!(
                    "the document expands to more than {} nodes (alias expansion included)",
                    limits.max_nodes
                ),
                pos: node.span.start,
                limit: true,
            });
        }
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), count));
        }
        attach(&mut stack, &mut root, node, count)?;
    }
    Ok(docs)
}

fn attach<'a>(
    stack: &mut [Frame<'a>],
    root: &mut Option<Node<'a>>,
    node: Node<'a>,
    count: usize,
) -> Result<(), YamlError> {
    match stack.last_mut() {
        None => *root = Some(node),
        Some(Frame::Seq { items, nodes, .. }) => {
            *nodes += count;
            items.push(node);
        }
        Some(Frame::Map {
            entries,
            key,
            nodes,
            seen,
            merges,
            ..
        }) => {
            *nodes += count;
            match key.take() {
                None => {
                    let Value::Scalar(s) = node.value else {
                        return Err(YamlError {
                            message: "mapping keys must be scalars".into(),
                            pos: node.span.start,
                            limit: false,
                        });
                    };
                    // Linear for small maps; a set once a map grows (hostile files can hold
                    // a million keys).
                    if seen.is_none() && entries.len() >= 32 {
                        *seen = Some(entries.iter().map(|e| e.key.clone()).collect());
                    }
                    let duplicate = match seen {
                        Some(set) => !set.insert(s.text.clone()),
                        None => entries.iter().any(|e| e.key == s.text),
                    };
                    if duplicate {
                        return Err(YamlError {
                            message: format!("duplicate key `{}`", s.text),
                            pos: node.span.start,
                            limit: false,
                        });
                    }
                    if s.plain && s.text == "<<" {
                        merges.push(entries.len());
                    }
                    *key = Some((s.text, node.span));
                }
                Some((k, key_span)) => entries.push(Entry {
                    key: k,
                    key_span,
                    value: node,
                }),
            }
        }
    }
    Ok(())
}

/// Resolve YAML merge keys (`<<: *base` or `<<: [*a, *b]`), as the YAML library under
/// kubectl and the API machinery does: the merged mappings' entries are added unless the
/// mapping sets the key itself, and earlier mappings in a list win over later ones.
fn merge_keys<'a>(entries: Vec<Entry<'a>>, merges: &[usize]) -> Result<Vec<Entry<'a>>, YamlError> {
    if merges.is_empty() {
        return Ok(entries);
    }
    let mut own = Vec::with_capacity(entries.len());
    let mut merged = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        if !merges.contains(&i) {
            own.push(e);
            continue;
        }
        let bad = || YamlError {
            message: "a merge key `<<` needs a mapping or a list of mappings".into(),
            pos: e.key_span.start,
            limit: false,
        };
        match e.value.value {
            Value::Map(m) => merged.push(m),
            Value::Seq(items) => {
                for item in items {
                    match item.value {
                        Value::Map(m) => merged.push(m),
                        _ => return Err(bad()),
                    }
                }
            }
            _ => return Err(bad()),
        }
    }
    let mut keys: HashSet<Cow<'a, str>> = own.iter().map(|e| e.key.clone()).collect();
    for m in merged {
        for e in m {
            if keys.insert(e.key.clone()) {
                own.push(e);
            }
        }
    }
    Ok(own)
}

fn check_depth(stack: &[Frame<'_>], limits: Limits, at: Pos) -> Result<(), YamlError> {
    if stack.len() > limits.max_depth {
        return Err(YamlError {
            message: format!("nesting is deeper than {} levels", limits.max_depth),
            pos: at,
            limit: true,
        });
    }
    Ok(())
}

fn internal(at: Pos) -> YamlError {
    YamlError {
        message: "unbalanced YAML event stream".into(),
        pos: at,
        limit: false,
    }
}

fn scan_message(e: &granit_parser::ScanError) -> String {
    let full = e.to_string();
    // The parser appends " at line L column C"; the diagnostic prints the position itself.
    match full.find(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_fill_in_what_the_mapping_does_not_set() {
        let docs = parse_documents(
            "a: &a {x: 1, y: 2}\nb: &b {y: 9, z: 3}\nm:\n  <<: [*a, *b]\n  x: 0\n'<<': literal\n",
            Limits::default(),
        )
        .unwrap();
        let m = docs[0].get("m").unwrap();
        let get = |k: &str| m.get_str(k).map(str::to_string);
        assert_eq!(get("x").as_deref(), Some("0"), "the mapping's own key wins");
        assert_eq!(
            get("y").as_deref(),
            Some("2"),
            "earlier merged mappings win"
        );
        assert_eq!(get("z").as_deref(), Some("3"));
        assert!(m.get("<<").is_none());
        assert_eq!(
            docs[0].get_str("<<"),
            Some("literal"),
            "a quoted << is a key"
        );
        assert!(parse_documents("m:\n  <<: 5\n", Limits::default()).is_err());
    }

    #[test]
    fn documents_and_spans() {
        let docs = parse_documents("a: 1\nb:\n  - x\n---\nc: 'q'\n", Limits::default()).unwrap();
        assert_eq!(docs.len(), 2);
        let span = docs[0].lookup("/b/0");
        assert_eq!((span.start.line, span.start.col), (3, 5));
        let key = docs[1].lookup("/c");
        assert_eq!((key.start.line, key.start.col), (5, 1));
        let docs = parse_documents("x: 1\na/b~c: 2\n", Limits::default()).unwrap();
        assert_eq!(docs[0].lookup("/a~1b~0c").start.line, 2);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("a: 1\na: 2\n", Limits::default()).unwrap_err();
        assert!(err.message.contains("duplicate key"));
        assert_eq!(err.pos.line, 2);
    }

    #[test]
    fn alias_bombs_hit_the_node_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_documents(&text, Limits::default()).unwrap_err();
        assert!(err.limit);
    }

    #[test]
    fn deep_nesting_hits_the_depth_limit() {
        let text = "[".repeat(20_000);
        let err = parse_documents(&text, Limits::default()).unwrap_err();
        assert!(err.limit, "{err:?}");
    }
}
