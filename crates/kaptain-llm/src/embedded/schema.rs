//! A JSON Schema compiled into the nodes the decoding constraint walks.
//!
//! The subset is the one `schemars` emits and tools' argument schemas use: `type` (one or a
//! list), `object` with `properties`/`required`/`additionalProperties`, `string` (with
//! `minLength`/`maxLength`; `format` and `pattern` are not enforced), `integer` and `number`
//! (`minimum`/`maximum`; for numbers only the sign is enforced), `boolean`, `null`, `enum`
//! and `const` of any JSON values, `array` of `items` (`minItems`/`maxItems`), `nullable`,
//! `$ref` to `#/definitions/..` or `#/$defs/..` (recursion allowed), `anyOf`/`oneOf` of those,
//! `allOf` (object schemas merged), and `{}`/`true` (any value, nesting bounded).
//!
//! What the constraint generates is a subset of what the schema accepts: compact JSON (no
//! whitespace), object properties in the schema's order, no properties beyond the schema's,
//! so everything generated validates. (`oneOf` is treated as `anyOf`: a value matching two
//! branches is possible in principle; schemars' `oneOf`s have disjoint branches.)

use std::collections::HashMap;

use serde_json::{Map, Value};

/// An index into [`Schema::nodes`].
pub type NodeId = u32;

/// One property of an object node.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    /// The key as JSON text with its quotes: `"name"`.
    pub key_json: Vec<u8>,
    pub value: NodeId,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Any JSON value.
    Any,
    /// One of fixed JSON texts (`null`, `true`, an enum's values, a const).
    Literals(Vec<Vec<u8>>),
    String {
        min_len: u32,
        max_len: u32,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number {
        non_negative: bool,
    },
    Array {
        item: NodeId,
        min: u32,
        max: u32,
    },
    /// An object with known properties (generated in this order).
    Object {
        props: Vec<Prop>,
    },
    /// An object with free keys, each value of `value` (a map).
    Map {
        value: NodeId,
    },
    /// One of these.
    Union(Vec<NodeId>),
    /// Nothing is valid (`false`, an empty enum).
    Never,
}

/// A compiled schema: nodes, the root first.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub nodes: Vec<Node>,
    pub root: NodeId,
}

/// Why a schema cannot be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("schema: {0}")]
pub struct SchemaError(pub String);

impl Schema {
    /// Compiles `schema`.
    pub fn compile(schema: &Value) -> Result<Schema, SchemaError> {
        let mut c = Compiler {
            root: schema,
            nodes: Vec::new(),
            refs: HashMap::new(),
        };
        let root = c.node(schema, 0)?;
        Ok(Schema {
            nodes: c.nodes,
            root,
        })
    }

    pub fn node(&self, id: NodeId) -> &Node {
        self.nodes.get(id as usize).unwrap_or(&Node::Never)
    }

    /// The shortest JSON text valid for `id` (used to close an answer cut short).
    pub fn min_value(&self, id: NodeId, depth: u32) -> Vec<u8> {
        if depth > 32 {
            return b"null".to_vec();
        }
        match self.node(id) {
            Node::Any | Node::Never => b"null".to_vec(),
            Node::Literals(l) => l
                .iter()
                .min_by_key(|l| l.len())
                .cloned()
                .unwrap_or_default(),
            Node::String { min_len, .. } => {
                let mut v = vec![b'"'];
                v.extend(std::iter::repeat_n(b'a', *min_len as usize));
                v.push(b'"');
                v
            }
            Node::Integer { min, max } => {
                let v = if min.is_some_and(|m| m > 0) {
                    min.unwrap_or(0)
                } else if max.is_some_and(|m| m < 0) {
                    max.unwrap_or(0)
                } else {
                    0
                };
                v.to_string().into_bytes()
            }
            Node::Number { .. } => b"0".to_vec(),
            Node::Array { item, min, .. } => {
                let mut v = vec![b'['];
                for i in 0..*min {
                    if i > 0 {
                        v.push(b',');
                    }
                    v.extend(self.min_value(*item, depth + 1));
                }
                v.push(b']');
                v
            }
            Node::Object { props } => {
                let mut v = vec![b'{'];
                let mut first = true;
                for p in props.iter().filter(|p| p.required) {
                    if !first {
                        v.push(b',');
                    }
                    first = false;
                    v.extend_from_slice(&p.key_json);
                    v.push(b':');
                    v.extend(self.min_value(p.value, depth + 1));
                }
                v.push(b'}');
                v
            }
            Node::Map { .. } => b"{}".to_vec(),
            Node::Union(alts) => alts
                .iter()
                .filter(|a| !matches!(self.node(**a), Node::Never))
                .map(|a| self.min_value(*a, depth + 1))
                .min_by_key(Vec::len)
                .unwrap_or_else(|| b"null".to_vec()),
        }
    }
}

struct Compiler<'a> {
    root: &'a Value,
    nodes: Vec<Node>,
    refs: HashMap<String, NodeId>,
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

impl<'a> Compiler<'a> {
    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        (self.nodes.len() - 1) as NodeId
    }

    fn resolve(&self, r: &str) -> Result<&'a Value, SchemaError> {
        let Some(path) = r.strip_prefix('#') else {
            return Err(SchemaError(format!("$ref {r:?} is not local")));
        };
        let mut v = self.root;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let part = part.replace("~1", "/").replace("~0", "~");
            v = v
                .get(part.as_str())
                .ok_or_else(|| SchemaError(format!("$ref {r:?} points nowhere")))?;
        }
        Ok(v)
    }

    fn node(&mut self, s: &'a Value, depth: u32) -> Result<NodeId, SchemaError> {
        if depth > 64 {
            return Err(SchemaError("nested too deeply".into()));
        }
        let obj = match s {
            Value::Bool(true) => return Ok(self.push(Node::Any)),
            Value::Bool(false) => return Ok(self.push(Node::Never)),
            Value::Object(o) => o,
            _ => return Err(SchemaError(format!("not a schema: {s}"))),
        };
        if let Some(Value::String(r)) = obj.get("$ref") {
            if let Some(id) = self.refs.get(r) {
                return Ok(*id);
            }
            // A placeholder first, so that a recursive reference finds it.
            let id = self.push(Node::Never);
            self.refs.insert(r.clone(), id);
            let target = self.resolve(r)?;
            let inner = self.node(target, depth + 1)?;
            let n = self.nodes[inner as usize].clone();
            self.nodes[id as usize] = n;
            // Siblings of $ref (e.g. "nullable") still apply.
            let nullable = obj.get("nullable") == Some(&Value::Bool(true));
            return Ok(if nullable { self.or_null(id) } else { id });
        }
        let nullable = obj.get("nullable") == Some(&Value::Bool(true));
        let id = self.node_inner(obj, depth)?;
        Ok(if nullable { self.or_null(id) } else { id })
    }

    fn or_null(&mut self, id: NodeId) -> NodeId {
        let null = self.push(Node::Literals(vec![b"null".to_vec()]));
        self.push(Node::Union(vec![id, null]))
    }

    fn node_inner(
        &mut self,
        obj: &'a Map<String, Value>,
        depth: u32,
    ) -> Result<NodeId, SchemaError> {
        if let Some(c) = obj.get("const") {
            return Ok(self.push(Node::Literals(vec![json_bytes(c)])));
        }
        if let Some(e) = obj.get("enum") {
            let Value::Array(vals) = e else {
                return Err(SchemaError("enum is not an array".into()));
            };
            if vals.is_empty() {
                return Ok(self.push(Node::Never));
            }
            return Ok(self.push(Node::Literals(vals.iter().map(json_bytes).collect())));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = obj.get(key) {
                let Value::Array(alts) = alts else {
                    return Err(SchemaError(format!("{key} is not an array")));
                };
                // Keywords beside anyOf (e.g. a description) are ignored; a type beside it
                // applies to each branch by intersection, which the branches state anyway.
                let mut ids = Vec::new();
                for a in alts {
                    ids.push(self.node(a, depth + 1)?);
                }
                return Ok(self.push(Node::Union(ids)));
            }
        }
        if let Some(all) = obj.get("allOf") {
            let Value::Array(all) = all else {
                return Err(SchemaError("allOf is not an array".into()));
            };
            if all.len() == 1 && obj.get("properties").is_none() && obj.get("type").is_none() {
                return self.node(&all[0], depth + 1);
            }
            // Merge object schemas: properties and required of every part.
            let mut merged = obj.clone();
            merged.remove("allOf");
            let mut props = merged
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut required: Vec<Value> = merged
                .get("required")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for part in all {
                let part = match part.get("$ref").and_then(Value::as_str) {
                    Some(r) => self.resolve(r)?,
                    None => part,
                };
                if let Some(p) = part.get("properties").and_then(Value::as_object) {
                    for (k, v) in p {
                        props.insert(k.clone(), v.clone());
                    }
                }
                if let Some(r) = part.get("required").and_then(Value::as_array) {
                    required.extend(r.iter().cloned());
                }
            }
            merged.insert("type".into(), Value::String("object".into()));
            merged.insert("properties".into(), Value::Object(props));
            merged.insert("required".into(), Value::Array(required));
            // The merged schema lives only here: compile it from an owned value.
            let owned = Value::Object(merged);
            return self.node_owned(owned, depth);
        }
        match obj.get("type") {
            Some(Value::String(t)) => self.typed(t, obj, depth),
            Some(Value::Array(ts)) => {
                let mut ids = Vec::new();
                for t in ts {
                    let Value::String(t) = t else {
                        return Err(SchemaError(format!("type {t} is not a string")));
                    };
                    ids.push(self.typed(t, obj, depth)?);
                }
                Ok(match ids.as_slice() {
                    [one] => *one,
                    _ => self.push(Node::Union(ids)),
                })
            }
            None if obj.contains_key("properties") => self.typed("object", obj, depth),
            None if obj.contains_key("items") => self.typed("array", obj, depth),
            None => Ok(self.push(Node::Any)),
            Some(t) => Err(SchemaError(format!("type {t} is not a string"))),
        }
    }

    /// Compiles a schema made here (allOf merged); its `$ref`s still resolve against the root.
    fn node_owned(&mut self, v: Value, depth: u32) -> Result<NodeId, SchemaError> {
        // The nodes hold no borrow of the schema, so a short-lived compiler over the same
        // root and refs does it.
        let mut sub = Compiler {
            root: self.root,
            nodes: std::mem::take(&mut self.nodes),
            refs: std::mem::take(&mut self.refs),
        };
        let r = sub.node(&v, depth + 1);
        self.nodes = sub.nodes;
        self.refs = sub.refs;
        r
    }

    fn typed(
        &mut self,
        t: &str,
        obj: &'a Map<String, Value>,
        depth: u32,
    ) -> Result<NodeId, SchemaError> {
        let u32_of = |k: &str| {
            obj.get(k)
                .and_then(Value::as_u64)
                .map(|v| v.min(u32::MAX as u64) as u32)
        };
        let node = match t {
            "null" => Node::Literals(vec![b"null".to_vec()]),
            "boolean" => Node::Literals(vec![b"true".to_vec(), b"false".to_vec()]),
            "string" => Node::String {
                min_len: u32_of("minLength").unwrap_or(0),
                max_len: u32_of("maxLength").unwrap_or(u32::MAX),
            },
            "integer" => {
                let bound = |k: &str, ek: &str, up: bool| {
                    let v = obj.get(k).and_then(Value::as_f64);
                    let ev = obj.get(ek).and_then(Value::as_f64);
                    let inc = v.map(|v| if up { v.floor() } else { v.ceil() });
                    let exc = ev.map(|v| if up { v.ceil() - 1.0 } else { v.floor() + 1.0 });
                    let b = match (inc, exc) {
                        (Some(a), Some(b)) => Some(if up { a.min(b) } else { a.max(b) }),
                        (a, b) => a.or(b),
                    };
                    b.map(|f| f.clamp(-9.0e15, 9.0e15) as i64)
                };
                Node::Integer {
                    min: bound("minimum", "exclusiveMinimum", false),
                    max: bound("maximum", "exclusiveMaximum", true),
                }
            }
            "number" => Node::Number {
                non_negative: obj
                    .get("minimum")
                    .and_then(Value::as_f64)
                    .is_some_and(|m| m >= 0.0)
                    || obj
                        .get("exclusiveMinimum")
                        .and_then(Value::as_f64)
                        .is_some_and(|m| m >= 0.0),
            },
            "array" => {
                let item = match obj.get("items") {
                    Some(Value::Array(tuple)) if tuple.len() == 1 => {
                        self.node(&tuple[0], depth + 1)?
                    }
                    Some(Value::Array(_)) => self.push(Node::Any),
                    Some(items) => self.node(items, depth + 1)?,
                    None => self.push(Node::Any),
                };
                Node::Array {
                    item,
                    min: u32_of("minItems").unwrap_or(0),
                    max: u32_of("maxItems").unwrap_or(u32::MAX),
                }
            }
            "object" => {
                let required: Vec<&str> = obj
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match obj.get("properties").and_then(Value::as_object) {
                    Some(props) if !props.is_empty() => {
                        let mut out = Vec::new();
                        for (k, v) in props {
                            let value = self.node(v, depth + 1)?;
                            out.push(Prop {
                                key_json: json_bytes(&Value::String(k.clone())),
                                value,
                                required: required.contains(&k.as_str()),
                            });
                        }
                        // A required key the properties do not describe: any value.
                        for r in &required {
                            if !props.contains_key(*r) {
                                let value = self.push(Node::Any);
                                out.push(Prop {
                                    key_json: json_bytes(&Value::String((*r).to_string())),
                                    value,
                                    required: true,
                                });
                            }
                        }
                        Node::Object { props: out }
                    }
                    _ => match obj.get("additionalProperties") {
                        Some(Value::Bool(false)) => Node::Object { props: Vec::new() },
                        Some(v @ Value::Object(_)) => Node::Map {
                            value: self.node(v, depth + 1)?,
                        },
                        _ => {
                            let value = self.push(Node::Any);
                            Node::Map { value }
                        }
                    },
                }
            }
            other => return Err(SchemaError(format!("unknown type {other:?}"))),
        };
        Ok(self.push(node))
    }
}
