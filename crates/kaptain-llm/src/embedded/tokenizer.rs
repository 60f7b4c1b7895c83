//! The tokenizer a GGUF file carries in its metadata: `tokenizer.ggml.model = gpt2` (byte-level
//! BPE), `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`, `tokenizer.ggml.token_type`,
//! `tokenizer.ggml.pre` (the pre-tokenizer's regexes) and the special token ids.
//!
//! Encoding: the text is first split on the special (control and user-defined) tokens, which
//! map to their ids as they are; the rest is pre-tokenized (digits one by one for the
//! `smollm`/`starcoder` family, then GPT-2's regex), each piece mapped byte by byte to GPT-2's
//! printable alphabet and merged by rank. Decoding maps ids back to bytes; the bytes of a
//! streamed answer are handed on as UTF-8 once complete ([`Utf8Stream`]).

use std::collections::HashMap;

use candle_core::quantized::gguf_file;
use fancy_regex::Regex;

use crate::LlmError;

/// GPT-2's regex (as Hugging Face's ByteLevel pre-tokenizer has it).
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's regex (`tokenizer.ggml.pre = llama-bpe` and kin).
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types.
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

/// A byte-level BPE tokenizer read from a GGUF file's metadata.
#[derive(Debug)]
pub struct Tokenizer {
    /// Each token's bytes (special tokens: their text).
    token_bytes: Vec<Vec<u8>>,
    /// Whether a token is special (control or user-defined: matched as a whole in the text).
    special: Vec<bool>,
    /// Byte-level token string (GPT-2 alphabet) → id.
    vocab: HashMap<String, u32>,
    /// (left, right) → rank.
    merges: HashMap<(String, String), u32>,
    /// The special tokens' texts, longest first.
    specials: Vec<(String, u32)>,
    pre: Regex,
    split_digits: bool,
    byte_to_char: [char; 256],
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub add_bos: bool,
}

/// GPT-2's byte → printable char table.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        table[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + n).unwrap_or('\u{fffd}');
            n += 1;
            c
        };
    }
    table
}

fn md<'a>(
    ct: &'a gguf_file::Content,
    key: &str,
    file: &str,
) -> Result<&'a gguf_file::Value, LlmError> {
    ct.metadata
        .get(key)
        .ok_or_else(|| LlmError::Model(format!("{file}: no {key} in the GGUF metadata")))
}

impl Tokenizer {
    /// Reads the tokenizer of a GGUF file's metadata (`file` names it in errors).
    pub fn from_gguf(ct: &gguf_file::Content, file: &str) -> Result<Tokenizer, LlmError> {
        let bad = |what: &str, e: candle_core::Error| {
            LlmError::Model(format!("{file}: {what} in the GGUF metadata: {e}"))
        };
        let model = md(ct, "tokenizer.ggml.model", file)?
            .to_string()
            .map_err(|e| bad("tokenizer.ggml.model", e))?;
        if model != "gpt2" {
            return Err(LlmError::Model(format!(
                "{file}: tokenizer {model:?} is not supported (the embedded runtime reads byte-level BPE, tokenizer.ggml.model = gpt2)"
            )));
        }
        let tokens: Vec<String> = md(ct, "tokenizer.ggml.tokens", file)?
            .to_vec()
            .map_err(|e| bad("tokenizer.ggml.tokens", e))?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| bad("tokenizer.ggml.tokens", e))?;
        let types: Vec<i32> = match ct.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| bad("tokenizer.ggml.token_type", e))?
                .iter()
                .map(|v| v.to_i32())
                .collect::<Result<_, _>>()
                .map_err(|e| bad("tokenizer.ggml.token_type", e))?,
            None => vec![1; tokens.len()],
        };
        let merges_raw: Vec<String> = md(ct, "tokenizer.ggml.merges", file)?
            .to_vec()
            .map_err(|e| bad("tokenizer.ggml.merges", e))?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| bad("tokenizer.ggml.merges", e))?;
        let id = |key: &str| {
            ct.metadata.get(key).and_then(|v| {
                v.to_u32()
                    .ok()
                    .or_else(|| v.to_i32().ok().map(|i| i as u32))
            })
        };
        let pre = ct
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| "default".to_string());
        let (pattern, split_digits) = match pre.as_str() {
            "llama3" | "llama-bpe" | "llama-v3" | "falcon3" | "pixtral" => (LLAMA3_PATTERN, false),
            "smollm" | "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b"
            | "command-r" => (GPT2_PATTERN, true),
            _ => (GPT2_PATTERN, false),
        };
        let add_bos = ct
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        Tokenizer::new(
            tokens,
            types,
            &merges_raw,
            pattern,
            split_digits,
            id("tokenizer.ggml.bos_token_id"),
            id("tokenizer.ggml.eos_token_id"),
            add_bos,
        )
        .map_err(|e| LlmError::Model(format!("{file}: {e}")))
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        tokens: Vec<String>,
        types: Vec<i32>,
        merges_raw: &[String],
        pattern: &str,
        split_digits: bool,
        bos: Option<u32>,
        eos: Option<u32>,
        add_bos: bool,
    ) -> Result<Tokenizer, String> {
        let byte_to_char = bytes_to_unicode();
        let mut char_to_byte = HashMap::new();
        for (b, c) in byte_to_char.iter().enumerate() {
            char_to_byte.insert(*c, b as u8);
        }
        let mut token_bytes = Vec::with_capacity(tokens.len());
        let mut special = Vec::with_capacity(tokens.len());
        let mut vocab = HashMap::with_capacity(tokens.len());
        let mut specials = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            let ty = types.get(i).copied().unwrap_or(1);
            let is_special = ty == TYPE_CONTROL || ty == TYPE_USER_DEFINED;
            let bytes = if is_special {
                t.as_bytes().to_vec()
            } else {
                // A normal token is in GPT-2's alphabet; a char outside it stands for itself.
                let mut out = Vec::with_capacity(t.len());
                for c in t.chars() {
                    match char_to_byte.get(&c) {
                        Some(b) => out.push(*b),
                        None => {
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
                out
            };
            if is_special && !t.is_empty() {
                specials.push((t.clone(), i as u32));
            }
            token_bytes.push(bytes);
            special.push(is_special);
            vocab.entry(t.clone()).or_insert(i as u32);
        }
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let mut merges = HashMap::with_capacity(merges_raw.len());
        for (rank, m) in merges_raw.iter().enumerate() {
            let Some((l, r)) = m.split_once(' ') else {
                return Err(format!("merge {rank} ({m:?}) is not two tokens"));
            };
            merges
                .entry((l.to_string(), r.to_string()))
                .or_insert(rank as u32);
        }
        let pre = Regex::new(pattern).map_err(|e| format!("pre-tokenizer regex: {e}"))?;
        Ok(Tokenizer {
            token_bytes,
            special,
            vocab,
            merges,
            specials,
            pre,
            split_digits,
            byte_to_char,
            bos,
            eos,
            add_bos,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// A token's bytes.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// The id of a special token's text (e.g. `<|im_end|>`).
    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.specials
            .iter()
            .find(|(t, _)| t == text)
            .map(|(_, id)| *id)
    }

    /// Encodes `text`; special tokens written in it become their ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest special token (the longest at that position).
            let mut best: Option<(usize, &str, u32)> = None;
            for (t, id) in &self.specials {
                if let Some(pos) = rest.find(t.as_str())
                    && best.is_none_or(|(p, bt, _)| pos < p || (pos == p && t.len() > bt.len()))
                {
                    best = Some((pos, t, *id));
                }
            }
            match best {
                Some((pos, t, id)) => {
                    self.encode_plain(&rest[..pos], &mut out);
                    out.push(id);
                    rest = &rest[pos + t.len()..];
                }
                None => {
                    self.encode_plain(rest, &mut out);
                    rest = "";
                }
            }
        }
        out
    }

    /// Encodes text with no special tokens in it.
    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        if !self.split_digits {
            self.encode_regex(text, out);
            return;
        }
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c.is_numeric() {
                self.encode_regex(&text[start..i], out);
                self.encode_piece(&text[i..i + c.len_utf8()], out);
                start = i + c.len_utf8();
            }
        }
        self.encode_regex(&text[start..], out);
    }

    fn encode_regex(&self, text: &str, out: &mut Vec<u32>) {
        let mut last = 0;
        for m in self.pre.find_iter(text) {
            let Ok(m) = m else {
                // The regex gave up (backtracking limit): the rest as one piece.
                break;
            };
            if m.start() > last {
                self.encode_piece(&text[last..m.start()], out);
            }
            self.encode_piece(m.as_str(), out);
            last = m.end();
        }
        if last < text.len() {
            self.encode_piece(&text[last..], out);
        }
    }

    /// BPE of one pre-tokenized piece.
    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) {
        if piece.is_empty() {
            return;
        }
        let mut parts: Vec<String> = piece
            .bytes()
            .map(|b| self.byte_to_char[b as usize].to_string())
            .collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                if let Some(&rank) = self.merges.get(&(parts[i].clone(), parts[i + 1].clone()))
                    && best.is_none_or(|(r, _)| rank < r)
                {
                    best = Some((rank, i));
                }
            }
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].push_str(&right);
        }
        for p in parts {
            match self.vocab.get(&p) {
                Some(id) => out.push(*id),
                None => {
                    // Not in the vocabulary (a broken file): fall back to its single bytes.
                    for c in p.chars() {
                        if let Some(id) = self.vocab.get(&c.to_string()) {
                            out.push(*id);
                        }
                    }
                }
            }
        }
    }

    /// The bytes of `ids`.
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for id in ids {
            out.extend_from_slice(self.token_bytes(*id));
        }
        out
    }

    /// The text of `ids` (invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }
}

/// Hands on the text of a stream of bytes as soon as it is complete UTF-8.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds `bytes`; returns the text now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let s = s.to_string();
                self.pending.clear();
                s
            }
            Err(e) => {
                let good = e.valid_up_to();
                if e.error_len().is_some() {
                    // Invalid (not just incomplete): hand it on replaced.
                    let s = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    return s;
                }
                let s = String::from_utf8_lossy(&self.pending[..good]).into_owned();
                self.pending.drain(..good);
                s
            }
        }
    }

    /// What is left (replaced where incomplete).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_table_is_gpt2s() {
        let t = bytes_to_unicode();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        let mut all: Vec<char> = t.to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 256);
    }

    #[test]
    fn utf8_stream_waits_for_whole_chars() {
        let mut s = Utf8Stream::default();
        let e = "é".as_bytes();
        assert_eq!(s.push(&[b'a', e[0]]), "a");
        assert_eq!(s.push(&e[1..]), "é");
        assert_eq!(s.finish(), "");
    }
}
