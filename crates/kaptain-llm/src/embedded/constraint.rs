//! Constrained decoding: which tokens of the vocabulary keep the output valid.
//!
//! The vocabulary's byte strings are put once in a prefix trie ([`TokenTrie`]); a step walks
//! the trie depth-first from the current [`State`], advancing the automaton one byte per
//! edge, so that a rejected prefix prunes every token under it (at most 256 first bytes are
//! tried, and the walk goes deep only where the automaton accepts).

use super::matcher::{Matcher, State, StrRun, StrStep};
use super::schema::{Node, NodeId, Prop, Schema, SchemaError};
use super::tokenizer::Tokenizer;
use crate::ToolSpec;

/// The vocabulary as a byte trie (special tokens left out: they are never part of JSON).
#[derive(Debug)]
pub struct TokenTrie {
    /// Per node: children as (byte, node), sorted by byte.
    children: Vec<Vec<(u8, u32)>>,
    /// Per node: the tokens whose bytes end here.
    tokens: Vec<Vec<u32>>,
}

impl TokenTrie {
    pub fn new(tok: &Tokenizer) -> TokenTrie {
        TokenTrie::from_tokens(
            (0..tok.vocab_size() as u32)
                .filter(|id| !tok.is_special(*id))
                .map(|id| (id, tok.token_bytes(id))),
        )
    }

    /// The trie of `(id, bytes)` pairs.
    pub fn from_tokens<'a>(tokens: impl Iterator<Item = (u32, &'a [u8])>) -> TokenTrie {
        let mut t = TokenTrie {
            children: vec![Vec::new()],
            tokens: vec![Vec::new()],
        };
        for (id, bytes) in tokens {
            if bytes.is_empty() {
                continue;
            }
            let mut node = 0usize;
            for b in bytes {
                node = match t.children[node].binary_search_by_key(b, |c| c.0) {
                    Ok(i) => t.children[node][i].1 as usize,
                    Err(i) => {
                        t.children.push(Vec::new());
                        t.tokens.push(Vec::new());
                        let new = t.children.len() - 1;
                        t.children[node].insert(i, (*b, new as u32));
                        new
                    }
                };
            }
            t.tokens[node].push(id);
        }
        t
    }

    pub fn nodes(&self) -> usize {
        self.children.len()
    }

    /// Sets `allowed[id]` for every token whose bytes the automaton accepts from `state`.
    pub fn allowed(&self, m: &Matcher, state: &State, allowed: &mut [bool]) {
        // An explicit stack: (trie node, automaton state).
        let mut work: Vec<(u32, State)> = vec![(0, state.clone())];
        while let Some((node, st)) = work.pop() {
            if let Some(run) = m.str_run(&st) {
                self.walk_string(m, &st, node, run, allowed, &mut work);
                continue;
            }
            for (b, child) in &self.children[node as usize] {
                if let Some(next) = m.advance_byte(&st, *b) {
                    for id in &self.tokens[*child as usize] {
                        if let Some(a) = allowed.get_mut(*id as usize) {
                            *a = true;
                        }
                    }
                    if !self.children[*child as usize].is_empty() {
                        work.push((*child, next));
                    }
                }
            }
        }
    }
}

impl TokenTrie {
    /// The trie under `node` while the automaton only writes a string: plain bytes advance a
    /// few counters; a quote or backslash hands over to the general walk.
    fn walk_string(
        &self,
        m: &Matcher,
        base: &State,
        node: u32,
        run: StrRun,
        allowed: &mut [bool],
        work: &mut Vec<(u32, State)>,
    ) {
        let mut stack: Vec<(u32, StrRun)> = vec![(node, run)];
        while let Some((n, r)) = stack.pop() {
            for (b, child) in &self.children[n as usize] {
                let next = match m.str_step(r, *b) {
                    StrStep::Reject => continue,
                    StrStep::Next(r2) => {
                        if !self.children[*child as usize].is_empty() {
                            stack.push((*child, r2));
                        }
                        true
                    }
                    StrStep::General => {
                        let here = m.with_str_run(base, r);
                        match m.advance_byte(&here, *b) {
                            Some(st) => {
                                if !self.children[*child as usize].is_empty() {
                                    work.push((*child, st));
                                }
                                true
                            }
                            None => false,
                        }
                    }
                };
                if next {
                    for id in &self.tokens[*child as usize] {
                        if let Some(a) = allowed.get_mut(*id as usize) {
                            *a = true;
                        }
                    }
                }
            }
        }
    }
}

/// The schema of a tool call: `{"name": <one of the tools>, "arguments": <its schema>}`,
/// `name` first so that the arguments follow the chosen tool's schema.
pub fn tool_call_schema(tools: &[&ToolSpec]) -> Result<Schema, SchemaError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut alts: Vec<NodeId> = Vec::new();
    for t in tools {
        let params = Schema::compile(&t.parameters)
            .map_err(|e| SchemaError(format!("tool {}: {}", t.name, e.0)))?;
        let offset = nodes.len() as NodeId;
        for n in params.nodes {
            nodes.push(shift(n, offset));
        }
        let args = params.root + offset;
        nodes.push(Node::Literals(vec![
            serde_json::to_vec(&t.name).unwrap_or_default(),
        ]));
        let name = (nodes.len() - 1) as NodeId;
        nodes.push(Node::Object {
            props: vec![
                Prop {
                    key_json: b"\"name\"".to_vec(),
                    value: name,
                    required: true,
                },
                Prop {
                    key_json: b"\"arguments\"".to_vec(),
                    value: args,
                    required: true,
                },
            ],
        });
        alts.push((nodes.len() - 1) as NodeId);
    }
    nodes.push(Node::Union(alts));
    Ok(Schema {
        root: (nodes.len() - 1) as NodeId,
        nodes,
    })
}

fn shift(n: Node, by: NodeId) -> Node {
    match n {
        Node::Array { item, min, max } => Node::Array {
            item: item + by,
            min,
            max,
        },
        Node::Object { props } => Node::Object {
            props: props
                .into_iter()
                .map(|p| Prop {
                    value: p.value + by,
                    ..p
                })
                .collect(),
        },
        Node::Map { value } => Node::Map { value: value + by },
        Node::Union(alts) => Node::Union(alts.into_iter().map(|a| a + by).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_trie_walk_allows_exactly_the_tokens_the_automaton_accepts() {
        // A vocabulary of JSON-ish pieces: quotes, escapes, multi-byte chars cut in the middle.
        let pieces: Vec<Vec<u8>> = [
            "{",
            "}",
            "{\"",
            "\"",
            "\":",
            "\",\"",
            "\"}",
            "}}",
            "name",
            "kind",
            "\"kind\":\"",
            "Deploy",
            "ment",
            "\"Deployment\"",
            "a",
            "ab",
            "a\"",
            "\\",
            "\\n",
            "\\\"",
            "\\u",
            " ",
            "1",
            "12",
            "0",
            "-",
            ".",
            "e",
            "5}",
            "null",
            "true",
            ",",
            ",\"",
            "é",
            "日本",
            "\n",
            "replicas",
            "\"replicas\":",
            "[",
            "]",
            "[\"",
            "\"]",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([
            vec![0xC3],
            vec![0xA9, b'"'],
            vec![0xE6, 0x97],
            vec![0xA5],
            vec![0xFF],
        ])
        .collect();
        let trie = TokenTrie::from_tokens(
            pieces
                .iter()
                .enumerate()
                .map(|(i, p)| (i as u32, p.as_slice())),
        );
        let m = Matcher::new(
            Schema::compile(
                &json!({"type": "object", "required": ["kind"], "properties": {
                "kind": {"type": "string", "maxLength": 12},
                "replicas": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}}}}),
            )
            .expect("compiles"),
        );
        let prefixes = [
            "",
            "{",
            "{\"",
            "{\"kind\":",
            "{\"kind\":\"",
            "{\"kind\":\"Dep",
            "{\"kind\":\"abcdefghijk",
            "{\"kind\":\"a\\",
            "{\"kind\":\"x\",\"replicas\":1",
            "{\"kind\":\"x\",\"tags\":[\"",
        ];
        let mut all = prefixes
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect::<Vec<_>>();
        all.push(b"{\"kind\":\"\xC3".to_vec());
        for p in all {
            let st = m.advance(&m.start(), &p).expect("a valid prefix");
            let mut got = vec![false; pieces.len()];
            trie.allowed(&m, &st, &mut got);
            let want: Vec<bool> = pieces.iter().map(|t| m.advance(&st, t).is_some()).collect();
            assert_eq!(got, want, "after {:?}", String::from_utf8_lossy(&p));
        }
    }

    #[test]
    fn tool_calls_name_one_tool_and_follow_its_schema() {
        let diagnose = ToolSpec {
            name: "diagnose".into(),
            description: String::new(),
            parameters: json!({"type": "object", "properties": {"namespace": {"type": "string"}}}),
        };
        let why = ToolSpec {
            name: "why".into(),
            description: String::new(),
            parameters: json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}),
        };
        let m = Matcher::new(tool_call_schema(&[&diagnose, &why]).expect("compiles"));
        let ok = |s: &str| {
            m.advance(&m.start(), s.as_bytes())
                .is_some_and(|st| m.is_complete(&st))
        };
        assert!(ok(r#"{"name":"diagnose","arguments":{}}"#));
        assert!(ok(r#"{"name":"why","arguments":{"name":"web"}}"#));
        assert!(!ok(r#"{"name":"why","arguments":{}}"#));
        assert!(!ok(r#"{"name":"diagnose","arguments":{"name":"web"}}"#));
        assert!(m.advance(&m.start(), br#"{"name":"other"#).is_none());
    }
}
