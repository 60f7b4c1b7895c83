//! The decoding constraint's automaton: which bytes may come next for a JSON text valid
//! against a compiled [`Schema`].
//!
//! A state is a set of stacks of frames (a pushdown automaton run nondeterministically: a
//! union of schemas, or which optional property comes next, is a choice between stacks that
//! later bytes settle). A byte advances every stack; the stacks it cannot advance are dropped;
//! no stack left means the byte is invalid. A stack with no frames left is a complete value.
//!
//! The language is compact JSON (no whitespace), object properties in the schema's order, no
//! `\u` escapes, strings of valid UTF-8 — a subset of what the schema accepts, so everything
//! accepted validates.

use super::schema::{Node, NodeId, Prop, Schema};

/// How deep `{}`-schemas (any value) may nest.
const MAX_ANY_DEPTH: usize = 12;
/// Digits of an integer part, a fraction and an exponent.
const MAX_INT_DIGITS: u8 = 15;
const MAX_FRAC_DIGITS: u8 = 8;
const MAX_EXP_DIGITS: u8 = 2;
/// Free keys (maps) at most this long.
const MAX_KEY_LEN: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Frame {
    /// A value of this node is to start.
    Value(NodeId),
    /// The literal `lit` (an index into the matcher's literals), `pos` bytes matched.
    Lit { lit: u32, pos: u32 },
    /// Inside a string (after its opening quote).
    Str {
        min: u32,
        max: u32,
        len: u32,
        /// After a backslash.
        esc: bool,
        /// UTF-8 continuation bytes still needed, and the range of the next one.
        need: u8,
        lo: u8,
        hi: u8,
    },
    /// Inside a number.
    Num {
        node: NodeId,
        st: NumSt,
        neg: bool,
        /// The integer part's digits so far (for integer bounds).
        val: i64,
        digits: u8,
    },
    /// Inside an array: `count` items started; `after_item` once one was.
    Arr {
        node: NodeId,
        count: u32,
        after_item: bool,
    },
    /// Inside an object: properties from `next` on may come; `any` once one did.
    Obj { node: NodeId, next: u32, any: bool },
    /// Inside a map (free keys).
    Map { node: NodeId, any: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NumSt {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

type Stack = Vec<Frame>;

/// Where the automaton is: the stacks still alive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    stacks: Vec<Stack>,
}

/// A string being written, when it is all the automaton is doing (one stack, inside a string,
/// not in an escape): the mask walks the vocabulary trie through it without building states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrRun {
    len: u32,
    max: u32,
    need: u8,
    lo: u8,
    hi: u8,
}

/// What a byte does to a [`StrRun`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrStep {
    /// The string goes on.
    Next(StrRun),
    /// A quote or backslash: the general automaton decides.
    General,
    Reject,
}

/// A compiled schema ready to match bytes.
#[derive(Debug, Clone)]
pub struct Matcher {
    schema: Schema,
    lits: Vec<Vec<u8>>,
    /// For each node: its literals' ids (Literals nodes) or its keys' ids (`"key":`, Object
    /// nodes).
    node_lits: Vec<Vec<u32>>,
    colon: u32,
    quote: u32,
    /// The branches of "any value".
    any_full: NodeId,
    any_scalar: NodeId,
}

impl Matcher {
    pub fn new(mut schema: Schema) -> Matcher {
        // The branches of "any value" as nodes of their own.
        let push = |s: &mut Schema, n: Node| {
            s.nodes.push(n);
            (s.nodes.len() - 1) as NodeId
        };
        let any = push(&mut schema, Node::Any);
        let lits = push(
            &mut schema,
            Node::Literals(vec![b"null".to_vec(), b"true".to_vec(), b"false".to_vec()]),
        );
        let num = push(
            &mut schema,
            Node::Number {
                non_negative: false,
            },
        );
        let string = push(
            &mut schema,
            Node::String {
                min_len: 0,
                max_len: u32::MAX,
            },
        );
        let arr = push(
            &mut schema,
            Node::Array {
                item: any,
                min: 0,
                max: u32::MAX,
            },
        );
        let map = push(&mut schema, Node::Map { value: any });
        let any_full = push(&mut schema, Node::Union(vec![lits, num, string, arr, map]));
        let any_scalar = push(&mut schema, Node::Union(vec![lits, num, string]));

        let mut all_lits: Vec<Vec<u8>> = vec![b":".to_vec(), b"\"".to_vec()];
        let mut node_lits = Vec::with_capacity(schema.nodes.len());
        for n in &schema.nodes {
            let ids = match n {
                Node::Literals(ls) => ls
                    .iter()
                    .map(|l| {
                        all_lits.push(l.clone());
                        (all_lits.len() - 1) as u32
                    })
                    .collect(),
                Node::Object { props } => props
                    .iter()
                    .map(|p: &Prop| {
                        let mut k = p.key_json.clone();
                        k.push(b':');
                        all_lits.push(k);
                        (all_lits.len() - 1) as u32
                    })
                    .collect(),
                _ => Vec::new(),
            };
            node_lits.push(ids);
        }
        Matcher {
            schema,
            lits: all_lits,
            node_lits,
            colon: 0,
            quote: 1,
            any_full,
            any_scalar,
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The state before any byte.
    pub fn start(&self) -> State {
        State {
            stacks: vec![vec![Frame::Value(self.schema.root)]],
        }
    }

    /// The state after `bytes`, or `None` when they cannot be part of a valid text.
    pub fn advance(&self, state: &State, bytes: &[u8]) -> Option<State> {
        let mut cur = state.clone();
        for b in bytes {
            cur = self.advance_byte(&cur, *b)?;
        }
        Some(cur)
    }

    /// The state after one byte.
    pub fn advance_byte(&self, state: &State, b: u8) -> Option<State> {
        let mut out = Vec::new();
        for s in &state.stacks {
            self.feed(s.clone(), b, &mut out);
        }
        if out.is_empty() {
            return None;
        }
        if out.len() > 1 {
            let mut uniq: Vec<Stack> = Vec::with_capacity(out.len());
            for s in out {
                if !uniq.contains(&s) {
                    uniq.push(s);
                }
            }
            out = uniq;
        }
        Some(State { stacks: out })
    }

    /// Whether the bytes so far are a complete valid value.
    pub fn is_complete(&self, state: &State) -> bool {
        state.stacks.iter().any(|s| self.stack_complete(s))
    }

    /// Whether more bytes may come.
    pub fn can_continue(&self, state: &State) -> bool {
        // A complete number may still take digits; anything with frames left may go on.
        state.stacks.iter().any(|s| !s.is_empty())
    }

    fn stack_complete(&self, s: &Stack) -> bool {
        match s.as_slice() {
            [] => true,
            [Frame::Num { .. }] => s.first().is_some_and(|f| self.num_complete(f)),
            _ => false,
        }
    }

    fn num_complete(&self, f: &Frame) -> bool {
        let Frame::Num {
            node, st, neg, val, ..
        } = *f
        else {
            return false;
        };
        if !matches!(st, NumSt::Zero | NumSt::Int | NumSt::Frac | NumSt::Exp) {
            return false;
        }
        if let Node::Integer { min, max } = self.schema.node(node) {
            let v = if neg { -val } else { val };
            return min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m);
        }
        true
    }

    /// Feeds `b` to one stack; the stacks it leads to go to `out`.
    fn feed(&self, mut s: Stack, b: u8, out: &mut Vec<Stack>) {
        let Some(top) = s.last().copied() else {
            return;
        };
        match top {
            Frame::Value(node) => {
                s.pop();
                self.start_value(s, node, b, out);
            }
            Frame::Lit { lit, pos } => {
                let l = &self.lits[lit as usize];
                if l.get(pos as usize) == Some(&b) {
                    s.pop();
                    if (pos + 1) as usize != l.len() {
                        s.push(Frame::Lit { lit, pos: pos + 1 });
                    }
                    out.push(s);
                }
            }
            Frame::Str {
                min,
                max,
                len,
                esc,
                need,
                lo,
                hi,
            } => {
                let mut f = (min, max, len, esc, need, lo, hi);
                if esc {
                    if !matches!(b, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') {
                        return;
                    }
                    f.3 = false;
                    f.2 += 1;
                } else if need > 0 {
                    if b < lo || b > hi {
                        return;
                    }
                    f.4 -= 1;
                    f.5 = 0x80;
                    f.6 = 0xBF;
                    if f.4 == 0 {
                        f.2 += 1;
                    }
                } else if b == b'"' {
                    if len < min {
                        return;
                    }
                    s.pop();
                    out.push(s);
                    return;
                } else if len >= max {
                    return;
                } else if b == b'\\' {
                    f.3 = true;
                } else if b < 0x20 {
                    return;
                } else if b < 0x80 {
                    f.2 += 1;
                } else {
                    let (n, l, h) = match b {
                        0xC2..=0xDF => (1, 0x80, 0xBF),
                        0xE0 => (2, 0xA0, 0xBF),
                        0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                        0xED => (2, 0x80, 0x9F),
                        0xF0 => (3, 0x90, 0xBF),
                        0xF1..=0xF3 => (3, 0x80, 0xBF),
                        0xF4 => (3, 0x80, 0x8F),
                        _ => return,
                    };
                    f.4 = n;
                    f.5 = l;
                    f.6 = h;
                }
                s.pop();
                s.push(Frame::Str {
                    min: f.0,
                    max: f.1,
                    len: f.2,
                    esc: f.3,
                    need: f.4,
                    lo: f.5,
                    hi: f.6,
                });
                out.push(s);
            }
            Frame::Num { .. } => {
                if let Some(next) = self.num_step(&top, b) {
                    s.pop();
                    s.push(next);
                    out.push(s);
                } else if self.num_complete(&top) {
                    // The number ended; the byte belongs to what follows it.
                    s.pop();
                    if !s.is_empty() {
                        self.feed(s, b, out);
                    }
                }
            }
            Frame::Arr {
                node,
                count,
                after_item,
            } => {
                let Node::Array { item, min, max } = self.schema.node(node).clone() else {
                    return;
                };
                if b == b']' && count >= min {
                    s.pop();
                    out.push(s);
                } else if !after_item {
                    if max >= 1 {
                        s.pop();
                        s.push(Frame::Arr {
                            node,
                            count: 1,
                            after_item: true,
                        });
                        self.start_value(s, item, b, out);
                    }
                } else if b == b',' && count < max {
                    s.pop();
                    s.push(Frame::Arr {
                        node,
                        count: count + 1,
                        after_item: true,
                    });
                    s.push(Frame::Value(item));
                    out.push(s);
                }
            }
            Frame::Obj { node, next, any } => {
                let Node::Object { props } = self.schema.node(node) else {
                    return;
                };
                let rest = props.get(next as usize..).unwrap_or(&[]);
                if b == b'}' {
                    if !rest.iter().any(|p| p.required) {
                        s.pop();
                        out.push(s);
                    }
                    return;
                }
                let (sep, pos) = if any { (b',', 0) } else { (b'"', 1) };
                if b != sep {
                    return;
                }
                s.pop();
                for (i, p) in rest.iter().enumerate() {
                    let j = next as usize + i;
                    let mut t = s.clone();
                    t.push(Frame::Obj {
                        node,
                        next: (j + 1) as u32,
                        any: true,
                    });
                    t.push(Frame::Value(p.value));
                    t.push(Frame::Lit {
                        lit: self.node_lits[node as usize][j],
                        pos,
                    });
                    out.push(t);
                    if p.required {
                        break;
                    }
                }
            }
            Frame::Map { node, any } => {
                let Node::Map { value } = *self.schema.node(node) else {
                    return;
                };
                let key = Frame::Str {
                    min: 0,
                    max: MAX_KEY_LEN,
                    len: 0,
                    esc: false,
                    need: 0,
                    lo: 0x80,
                    hi: 0xBF,
                };
                s.pop();
                match b {
                    b'}' => out.push(s),
                    b'"' if !any => {
                        s.push(Frame::Map { node, any: true });
                        s.push(Frame::Value(value));
                        s.push(Frame::Lit {
                            lit: self.colon,
                            pos: 0,
                        });
                        s.push(key);
                        out.push(s);
                    }
                    b',' if any => {
                        s.push(Frame::Map { node, any: true });
                        s.push(Frame::Value(value));
                        s.push(Frame::Lit {
                            lit: self.colon,
                            pos: 0,
                        });
                        s.push(key);
                        s.push(Frame::Lit {
                            lit: self.quote,
                            pos: 0,
                        });
                        out.push(s);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Starts a value of `node` with byte `b` on top of `s`.
    fn start_value(&self, mut s: Stack, node: NodeId, b: u8, out: &mut Vec<Stack>) {
        match self.schema.node(node) {
            Node::Never => {}
            Node::Any => {
                let alt = if s.len() < MAX_ANY_DEPTH {
                    self.any_full
                } else {
                    self.any_scalar
                };
                self.start_value(s, alt, b, out);
            }
            Node::Union(alts) => {
                for a in alts {
                    self.start_value(s.clone(), *a, b, out);
                }
            }
            Node::Literals(ls) => {
                for (i, l) in ls.iter().enumerate() {
                    if l.first() == Some(&b) {
                        let mut t = s.clone();
                        if l.len() > 1 {
                            t.push(Frame::Lit {
                                lit: self.node_lits[node as usize][i],
                                pos: 1,
                            });
                        }
                        out.push(t);
                    }
                }
            }
            Node::String { min_len, max_len } => {
                if b == b'"' {
                    s.push(Frame::Str {
                        min: *min_len,
                        max: *max_len,
                        len: 0,
                        esc: false,
                        need: 0,
                        lo: 0x80,
                        hi: 0xBF,
                    });
                    out.push(s);
                }
            }
            Node::Integer { .. } | Node::Number { .. } => {
                let f = if b == b'-' {
                    let neg_ok = match self.schema.node(node) {
                        Node::Integer { min, .. } => min.is_none_or(|m| m < 0),
                        Node::Number { non_negative } => !non_negative,
                        _ => false,
                    };
                    neg_ok.then_some(Frame::Num {
                        node,
                        st: NumSt::Minus,
                        neg: true,
                        val: 0,
                        digits: 0,
                    })
                } else if b.is_ascii_digit() {
                    let st = if b == b'0' { NumSt::Zero } else { NumSt::Int };
                    let f = Frame::Num {
                        node,
                        st,
                        neg: false,
                        val: i64::from(b - b'0'),
                        digits: 1,
                    };
                    self.int_in_reach(&f).then_some(f)
                } else {
                    None
                };
                if let Some(f) = f {
                    s.push(f);
                    out.push(s);
                }
            }
            Node::Array { min, .. } => {
                let _ = min;
                if b == b'[' {
                    s.push(Frame::Arr {
                        node,
                        count: 0,
                        after_item: false,
                    });
                    out.push(s);
                }
            }
            Node::Object { .. } => {
                if b == b'{' {
                    s.push(Frame::Obj {
                        node,
                        next: 0,
                        any: false,
                    });
                    out.push(s);
                }
            }
            Node::Map { .. } => {
                if b == b'{' {
                    s.push(Frame::Map { node, any: false });
                    out.push(s);
                }
            }
        }
    }

    /// Whether an integer's digits so far can still end within its bounds (more digits only
    /// move its value away from zero).
    fn int_in_reach(&self, f: &Frame) -> bool {
        let Frame::Num {
            node, st, neg, val, ..
        } = *f
        else {
            return false;
        };
        match self.schema.node(node) {
            // A zero takes no more digits: it is in bounds or not.
            Node::Integer { min, max } if st == NumSt::Zero => {
                min.is_none_or(|m| m <= 0) && max.is_none_or(|m| m >= 0)
            }
            Node::Integer { min, max } => {
                if neg {
                    min.is_none_or(|m| -val >= m)
                } else {
                    max.is_none_or(|m| val <= m)
                }
            }
            _ => true,
        }
    }

    fn num_step(&self, f: &Frame, b: u8) -> Option<Frame> {
        let Frame::Num {
            node,
            st,
            neg,
            val,
            digits,
        } = *f
        else {
            return None;
        };
        let int = matches!(self.schema.node(node), Node::Integer { .. });
        let digit = b.is_ascii_digit();
        let d = i64::from(b.wrapping_sub(b'0'));
        let mk = |st, val, digits| Frame::Num {
            node,
            st,
            neg,
            val,
            digits,
        };
        let next = match (st, b) {
            (NumSt::Minus, b'0') => mk(NumSt::Zero, 0, 1),
            (NumSt::Minus, _) if digit => mk(NumSt::Int, d, 1),
            (NumSt::Int, _) if digit && digits < MAX_INT_DIGITS => mk(
                NumSt::Int,
                val.saturating_mul(10).saturating_add(d),
                digits + 1,
            ),
            (NumSt::Zero | NumSt::Int, b'.') if !int => mk(NumSt::Dot, val, 0),
            (NumSt::Zero | NumSt::Int | NumSt::Frac, b'e' | b'E') if !int => mk(NumSt::E, val, 0),
            (NumSt::Dot, _) if digit => mk(NumSt::Frac, val, 1),
            (NumSt::Frac, _) if digit && digits < MAX_FRAC_DIGITS => {
                mk(NumSt::Frac, val, digits + 1)
            }
            (NumSt::E, b'+' | b'-') => mk(NumSt::ESign, val, 0),
            (NumSt::E | NumSt::ESign, _) if digit => mk(NumSt::Exp, val, 1),
            (NumSt::Exp, _) if digit && digits < MAX_EXP_DIGITS => mk(NumSt::Exp, val, digits + 1),
            _ => return None,
        };
        self.int_in_reach(&next).then_some(next)
    }

    /// A key under which the mask of `state` may be cached: the state itself, except that
    /// the length of a string with no maximum is forgotten once past its minimum (the allowed
    /// tokens are then the same at every step of a long string).
    pub fn mask_key(&self, state: &State) -> State {
        let mut k = state.clone();
        for s in &mut k.stacks {
            for f in s.iter_mut() {
                if let Frame::Str { min, max, len, .. } = f
                    && *max == u32::MAX
                    && *len >= *min
                {
                    *len = *min;
                }
            }
        }
        k
    }

    /// The string run `state` is in, if that is all it is.
    pub fn str_run(&self, state: &State) -> Option<StrRun> {
        match state.stacks.as_slice() {
            [s] => match s.last() {
                Some(Frame::Str {
                    max,
                    len,
                    esc: false,
                    need,
                    lo,
                    hi,
                    ..
                }) => Some(StrRun {
                    len: *len,
                    max: *max,
                    need: *need,
                    lo: *lo,
                    hi: *hi,
                }),
                _ => None,
            },
            _ => None,
        }
    }

    /// One byte of a string run (the same rules as [`Matcher::advance_byte`] inside a string).
    pub fn str_step(&self, r: StrRun, b: u8) -> StrStep {
        let mut r = r;
        if r.need > 0 {
            if b < r.lo || b > r.hi {
                return StrStep::Reject;
            }
            r.need -= 1;
            r.lo = 0x80;
            r.hi = 0xBF;
            if r.need == 0 {
                r.len += 1;
            }
            return StrStep::Next(r);
        }
        if b == b'"' || b == b'\\' {
            return StrStep::General;
        }
        if r.len >= r.max || b < 0x20 {
            return StrStep::Reject;
        }
        if b < 0x80 {
            r.len += 1;
            return StrStep::Next(r);
        }
        let (n, l, h) = match b {
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return StrStep::Reject,
        };
        r.need = n;
        r.lo = l;
        r.hi = h;
        StrStep::Next(r)
    }

    /// `state` (in a string run) moved on to `r`.
    pub fn with_str_run(&self, state: &State, r: StrRun) -> State {
        let mut st = state.clone();
        if let Some(Frame::Str {
            len, need, lo, hi, ..
        }) = st.stacks.first_mut().and_then(|s| s.last_mut())
        {
            *len = r.len;
            *need = r.need;
            *lo = r.lo;
            *hi = r.hi;
        }
        st
    }

    /// Bytes that complete the text from `state` (the shortest this automaton knows), used
    /// when the token budget runs out. `None` if no completion was found (not expected).
    pub fn completion(&self, state: &State) -> Option<Vec<u8>> {
        let mut candidates: Vec<&Stack> = state.stacks.iter().collect();
        candidates.sort_by_key(|s| s.len());
        for s in candidates {
            let tail = self.close_stack(s);
            if let Some(end) = self.advance(state, &tail)
                && self.is_complete(&end)
            {
                return Some(tail);
            }
        }
        None
    }

    fn close_stack(&self, s: &Stack) -> Vec<u8> {
        let mut out = Vec::new();
        for f in s.iter().rev() {
            match *f {
                Frame::Value(n) => out.extend(self.schema.min_value(n, 0)),
                Frame::Lit { lit, pos } => out
                    .extend_from_slice(self.lits[lit as usize].get(pos as usize..).unwrap_or(&[])),
                Frame::Str {
                    min,
                    len,
                    esc,
                    need,
                    lo,
                    ..
                } => {
                    let mut len = len;
                    if esc {
                        out.push(b'n');
                        len += 1;
                    }
                    if need > 0 {
                        out.push(lo);
                        out.extend(std::iter::repeat_n(0x80, need as usize - 1));
                        len += 1;
                    }
                    while len < min {
                        out.push(b'a');
                        len += 1;
                    }
                    out.push(b'"');
                }
                Frame::Num {
                    node, st, neg, val, ..
                } => {
                    match st {
                        NumSt::Minus | NumSt::Dot | NumSt::E | NumSt::ESign => out.push(b'0'),
                        _ => {}
                    }
                    // An integer below its minimum: more digits make it larger.
                    if let Node::Integer { min: Some(m), .. } = self.schema.node(node)
                        && !neg
                        && val < *m
                    {
                        let mut v = val;
                        while v < *m && v < i64::MAX / 10 {
                            out.push(b'0');
                            v *= 10;
                        }
                    }
                }
                Frame::Arr {
                    node,
                    count,
                    after_item,
                } => {
                    if let Node::Array { item, min, .. } = self.schema.node(node) {
                        let mut count = count;
                        let mut first = !after_item;
                        while count < *min {
                            if !first {
                                out.push(b',');
                            }
                            first = false;
                            out.extend(self.schema.min_value(*item, 0));
                            count += 1;
                        }
                    }
                    out.push(b']');
                }
                Frame::Obj { node, next, any } => {
                    if let Node::Object { props } = self.schema.node(node) {
                        let mut any = any;
                        for p in props.iter().skip(next as usize).filter(|p| p.required) {
                            if any {
                                out.push(b',');
                            }
                            any = true;
                            out.extend_from_slice(&p.key_json);
                            out.push(b':');
                            out.extend(self.schema.min_value(p.value, 0));
                        }
                    }
                    out.push(b'}');
                }
                Frame::Map { .. } => out.push(b'}'),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(schema: serde_json::Value) -> Matcher {
        Matcher::new(Schema::compile(&schema).expect("compiles"))
    }

    fn accepts(m: &Matcher, text: &str) -> bool {
        m.advance(&m.start(), text.as_bytes())
            .is_some_and(|s| m.is_complete(&s))
    }

    fn prefix_ok(m: &Matcher, text: &str) -> bool {
        m.advance(&m.start(), text.as_bytes()).is_some()
    }

    fn diagnose() -> serde_json::Value {
        json!({"type": "object", "properties": {
            "namespace": {"type": ["string", "null"]},
            "min_severity": {"type": "string", "enum": ["critical", "high", "medium", "low", "info"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500}
        }})
    }

    #[test]
    fn objects_in_schema_order_with_optional_properties() {
        let m = m(diagnose());
        assert!(accepts(&m, "{}"));
        assert!(accepts(&m, r#"{"limit":5}"#));
        assert!(accepts(
            &m,
            r#"{"limit":500,"min_severity":"high","namespace":"shop"}"#
        ));
        assert!(accepts(&m, r#"{"min_severity":"info","namespace":null}"#));
        assert!(!accepts(&m, r#"{"limit":501}"#));
        assert!(!prefix_ok(&m, r#"{"limit":0"#));
        assert!(!prefix_ok(&m, r#"{"limit":-"#));
        assert!(!prefix_ok(&m, r#"{"min_severity":"hi""#));
        assert!(
            !prefix_ok(&m, r#"{"namespace":"a","limit""#),
            "schema order"
        );
        assert!(!prefix_ok(&m, r#"{"other""#));
        assert!(!prefix_ok(&m, r#"{ "#), "no whitespace");
        assert!(prefix_ok(&m, r#"{"min_severity":"cri"#));
        assert!(!accepts(&m, r#"{"limit":5"#));
    }

    #[test]
    fn required_properties_must_come() {
        let m = m(
            json!({"type": "object", "required": ["kind", "name"], "properties": {
            "kind": {"type": "string"}, "name": {"type": "string", "minLength": 1},
            "namespace": {"type": "string"}}}),
        );
        assert!(!prefix_ok(&m, "{}"));
        assert!(!prefix_ok(&m, r#"{"name""#), "kind is required before name");
        assert!(accepts(&m, r#"{"kind":"Deployment","name":"web"}"#));
        assert!(
            !prefix_ok(&m, r#"{"kind":"Deployment","name":"""#),
            "minLength"
        );
        assert!(accepts(
            &m,
            r#"{"kind":"Pod","name":"é\n\"","namespace":"x"}"#
        ));
        assert!(!prefix_ok(&m, "{\"kind\":\"a\nb"), "raw control char");
        assert!(!prefix_ok(&m, r#"{"kind":"\u0041"#), "no \\u escapes");
    }

    #[test]
    fn numbers_arrays_refs_and_unions() {
        let m = m(json!({
        "definitions": {"Item": {"type": "object", "required": ["v"], "properties": {"v": {"type": "number"}}}},
        "type": "object", "required": ["items", "tag"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/definitions/Item"}, "maxItems": 2},
            "tag": {"anyOf": [{"type": "boolean"}, {"type": "integer"}, {"const": "x"}]}
        }}));
        assert!(accepts(&m, r#"{"items":[],"tag":true}"#));
        assert!(accepts(
            &m,
            r#"{"items":[{"v":-1.5e+3},{"v":0}],"tag":-12}"#
        ));
        assert!(accepts(&m, r#"{"items":[{"v":1}],"tag":"x"}"#));
        assert!(!prefix_ok(&m, r#"{"items":[{"v":1},{"v":2},"#), "maxItems");
        assert!(!prefix_ok(&m, r#"{"items":[{"v":01"#), "leading zero");
        assert!(!prefix_ok(&m, r#"{"items":[],"tag":1.5"#), "integer");
        assert!(!prefix_ok(&m, r#"{"items":[],"tag":"y"#));
    }

    #[test]
    fn recursive_and_free_schemas() {
        let m = m(
            json!({"$ref": "#/$defs/T", "$defs": {"T": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/T"}},
            "meta": {}}}}}),
        );
        assert!(accepts(
            &m,
            r#"{"children":[{"children":[{}]}],"meta":{"a":[1,"b",null]}}"#
        ));
        assert!(!prefix_ok(&m, r#"{"children":[1"#));
    }

    #[test]
    fn completion_closes_any_prefix() {
        let m = m(
            json!({"type": "object", "required": ["kind", "name", "n", "tags"], "properties": {
            "kind": {"type": "string", "enum": ["Deployment", "Pod"]},
            "name": {"type": "string", "minLength": 2}, "n": {"type": "integer", "minimum": 10},
            "tags": {"type": "array", "minItems": 1, "items": {"type": "number"}}}}),
        );
        let full = r#"{"kind":"Deployment","n":12,"name":"wé\"b","tags":[1.5e-2]}"#;
        let bytes = full.as_bytes();
        for i in 0..bytes.len() {
            let Some(s) = m.advance(&m.start(), &bytes[..i]) else {
                panic!("prefix {i} rejected");
            };
            let tail = m
                .completion(&s)
                .unwrap_or_else(|| panic!("no completion after {i} bytes"));
            let mut text = bytes[..i].to_vec();
            text.extend(tail);
            let v: serde_json::Value = serde_json::from_slice(&text).expect("parses");
            assert!(
                v.get("tags")
                    .is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()))
            );
        }
        assert!(accepts(&m, full));
    }

    /// A random walk through the automaton (each step a byte it allows, picked by
    /// `choices`), closed by the completion: the text must parse and satisfy the schema.
    fn walk(m: &Matcher, choices: &[u8]) -> Vec<u8> {
        let alphabet: Vec<u8> = (0x20u8..0x7F)
            .chain([0xC3, 0xA9, 0xE6, 0x97, 0xA5, b'\n'])
            .collect();
        let mut st = m.start();
        let mut text = Vec::new();
        for c in choices {
            if m.is_complete(&st) && c % 7 == 0 {
                break;
            }
            let ok: Vec<u8> = alphabet
                .iter()
                .copied()
                .filter(|b| m.advance_byte(&st, *b).is_some())
                .collect();
            if ok.is_empty() {
                break;
            }
            let b = ok[*c as usize % ok.len()];
            st = m.advance_byte(&st, b).expect("allowed");
            text.push(b);
        }
        let tail = m.completion(&st).expect("a completion");
        text.extend(tail);
        text
    }

    proptest::proptest! {
        #[test]
        fn random_walks_give_valid_json(choices in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let m = m(json!({"type": "object", "required": ["kind", "replicas"], "properties": {
                "kind": {"type": "string", "enum": ["Deployment", "StatefulSet"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 20},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
                "ratio": {"type": ["number", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "extra": {}
            }}));
            let text = walk(&m, &choices);
            let v: serde_json::Value = serde_json::from_slice(&text)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&text)));
            let kind = v["kind"].as_str().expect("kind");
            proptest::prop_assert!(kind == "Deployment" || kind == "StatefulSet");
            let r = v["replicas"].as_i64().expect("integer replicas");
            proptest::prop_assert!((0..=20).contains(&r));
            if let Some(l) = v.get("labels") {
                for val in l.as_object().expect("object").values() {
                    proptest::prop_assert!(val.as_str().is_some_and(|s| s.chars().count() <= 5));
                }
            }
            if let Some(r) = v.get("ratio") {
                proptest::prop_assert!(r.is_number() || r.is_null());
            }
            if let Some(t) = v.get("tags") {
                let t = t.as_array().expect("array");
                proptest::prop_assert!(t.len() <= 3 && t.iter().all(|s| s.is_string()));
            }
            let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
            for k in keys {
                proptest::prop_assert!(["kind", "replicas", "labels", "ratio", "tags", "extra"].contains(&k.as_str()));
            }
        }

        #[test]
        fn everything_valid_in_schema_order_is_accepted(
            kind in proptest::prop_oneof![proptest::strategy::Just("Deployment"), proptest::strategy::Just("StatefulSet")],
            replicas in 0i64..=20,
            name in "[a-z0-9 \\-\"é日]{0,12}",
            ratio in proptest::option::of(-1.0e6f64..1.0e6),
        ) {
            let m = m(json!({"type": "object", "required": ["kind", "replicas"], "properties": {
                "kind": {"type": "string", "enum": ["Deployment", "StatefulSet"]},
                "name": {"type": "string"},
                "ratio": {"type": ["number", "null"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 20}
            }}));
            let text = format!(
                "{{\"kind\":{},\"name\":{},\"ratio\":{},\"replicas\":{}}}",
                json!(kind), json!(name), json!(ratio.map(|r| (r * 1000.0).round() / 1000.0)), replicas
            );
            proptest::prop_assert!(accepts(&m, &text), "{}", text);
        }
    }
}
