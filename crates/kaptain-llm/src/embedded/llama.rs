//! The llama-family transformer (llama, mistral, SmolLM, TinyLlama: dense, grouped-query
//! attention, SwiGLU, RMSNorm, rotary positions) over GGUF weights, on candle's CPU tensors.
//!
//! For hidden states `x` (one row per token), each block computes
//!
//! ```text
//! n  = rmsnorm(x) * g_attn
//! x += Wo · attention(rope(Wq·n), rope(Wk·n), Wv·n)      (causal, grouped-query)
//! m  = rmsnorm(x) * g_ffn
//! x += Wdown · (silu(Wgate·m) * Wup·m)
//! ```
//!
//! and the logits of the next token are `Wout · (rmsnorm(x_last) * g_out)`. The keys and
//! values of earlier positions stay in a cache, so a new token costs one row per layer.
//!
//! How the weights are held is our measured choice: candle's CPU kernels for quantized
//! blocks are scalar for Q4_1/Q5_x and use SIMD for the others only when the binary is
//! compiled for AVX (`-C target-cpu`), which a distributed kaptain is not; its f16 matmul
//! (the `gemm` crate) picks AVX2/AVX-512 at run time. So a model whose f16 weights fit
//! [`F16_LIMIT_BYTES`] is dequantized to f16 at load (SmolLM2-135M: 3-20x faster than its
//! Q4_1 blocks here, ~270 MB); larger ones stay quantized. In f16 the projections that
//! read the same input (Q/K/V, gate/up) are joined into one matrix: one matmul each.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::ops::{rms_norm, silu, softmax_last_dim};

/// Models whose f16 weights take at most this many bytes are run in f16.
pub const F16_LIMIT_BYTES: u64 = 3 << 30;

/// How weights are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Dequantized to f16 (fast matmul on any x86-64/aarch64 CPU).
    F16,
    /// As the file has them.
    Quantized,
}

fn bad(msg: String) -> candle_core::Error {
    candle_core::Error::Msg(msg)
}

/// The shape of the network, from the GGUF metadata.
#[derive(Debug, Clone, Copy)]
struct Config {
    dim: usize,
    blocks: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f32,
    rope_base: f64,
}

impl Config {
    fn read(ct: &gguf_file::Content) -> Result<Config> {
        let get = |k: &str| {
            ct.metadata
                .get(&format!("llama.{k}"))
                .ok_or_else(|| bad(format!("no llama.{k} in the GGUF metadata")))
        };
        let count = |k: &str| -> Result<usize> { Ok(get(k)?.to_u32()? as usize) };
        let dim = count("embedding_length")?;
        let heads = count("attention.head_count")?;
        let kv_heads = count("attention.head_count_kv")?;
        if heads == 0 || kv_heads == 0 || dim % heads != 0 || heads % kv_heads != 0 {
            return Err(bad(format!(
                "{heads} attention heads ({kv_heads} for keys/values) do not divide an embedding of {dim}"
            )));
        }
        let head_dim = dim / heads;
        if let Some(r) = ct.metadata.get("llama.rope.dimension_count") {
            let r = r.to_u32()? as usize;
            if r != head_dim {
                return Err(bad(format!(
                    "rotary embedding over {r} of {head_dim} head dimensions is not supported"
                )));
            }
        }
        let rope_base = match ct.metadata.get("llama.rope.freq_base") {
            Some(v) => f64::from(v.to_f32()?),
            None => 10_000.0,
        };
        Ok(Config {
            dim,
            blocks: count("block_count")?,
            heads,
            kv_heads,
            head_dim,
            eps: get("attention.layer_norm_rms_epsilon")?.to_f32()?,
            rope_base,
        })
    }

    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// Reads the tensors of one GGUF file, matrices in the chosen precision.
struct Reader<'a, R> {
    ct: &'a gguf_file::Content,
    r: &'a mut R,
    precision: Precision,
}

impl<R: std::io::Read + std::io::Seek> Reader<'_, R> {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<QTensor> {
        let t = self.ct.tensor(self.r, name, &Device::Cpu)?;
        if t.shape().dims() != shape {
            return Err(bad(format!(
                "{name} has shape {:?}, expected {shape:?}",
                t.shape().dims()
            )));
        }
        Ok(t)
    }

    /// A per-channel vector (the norms' gains), as f32.
    fn vector(&mut self, name: &str, len: usize) -> Result<Tensor> {
        self.tensor(name, &[len])?.dequantize(&Device::Cpu)
    }

    /// A `rows x cols` matrix `W` applied as `x · Wᵀ`. Float tensors stay float (f32);
    /// quantized ones become f16 or stay quantized as `precision` says.
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<QMatMul> {
        let t = self.tensor(name, &[rows, cols])?;
        match (t.dtype(), self.precision) {
            (GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16, _) => {
                Ok(QMatMul::Tensor(t.dequantize(&Device::Cpu)?))
            }
            (_, Precision::F16) => Ok(QMatMul::TensorF16(t.dequantize_f16(&Device::Cpu)?)),
            (_, Precision::Quantized) => QMatMul::from_qtensor(t),
        }
    }

    /// Matrices `(name, rows)` over the same input of `cols`.
    fn joined(&mut self, parts: &[(String, usize)], cols: usize) -> Result<Joined> {
        let mats = parts
            .iter()
            .map(|(name, rows)| self.matrix(name, *rows, cols))
            .collect::<Result<Vec<_>>>()?;
        Joined::new(mats, parts.iter().map(|p| p.1).collect())
    }
}

/// Projections of one input: one matrix with its output split when the parts are plain
/// tensors of one dtype, else one matmul per part.
#[derive(Debug)]
struct Joined {
    mats: Vec<QMatMul>,
    rows: Vec<usize>,
}

impl Joined {
    fn new(mats: Vec<QMatMul>, rows: Vec<usize>) -> Result<Joined> {
        let joined = {
            let f16: Option<Vec<&Tensor>> = mats
                .iter()
                .map(|m| match m {
                    QMatMul::TensorF16(t) => Some(t),
                    _ => None,
                })
                .collect();
            let f32: Option<Vec<&Tensor>> = mats
                .iter()
                .map(|m| match m {
                    QMatMul::Tensor(t) => Some(t),
                    _ => None,
                })
                .collect();
            match (f16, f32) {
                (Some(ts), _) => Some(QMatMul::TensorF16(Tensor::cat(&ts, 0)?)),
                (_, Some(ts)) => Some(QMatMul::Tensor(Tensor::cat(&ts, 0)?)),
                _ => None,
            }
        };
        let mats = match joined {
            Some(one) => vec![one],
            None => mats,
        };
        Ok(Joined { mats, rows })
    }

    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        if let [one] = self.mats.as_slice() {
            let y = one.forward(x)?;
            let mut at = 0;
            let mut out = Vec::with_capacity(self.rows.len());
            for &n in &self.rows {
                out.push(y.narrow(D::Minus1, at, n)?);
                at += n;
            }
            Ok(out)
        } else {
            self.mats.iter().map(|m| m.forward(x)).collect()
        }
    }
}

/// Rotary position embedding. GGUF llama files store Wq and Wk with their rows permuted so
/// that a head's dimensions rotate in adjacent pairs `(2i, 2i+1)` by the angle `p·θ_i`,
/// `θ_i = base^(-2i/head_dim)` (candle's `rope_i`).
#[derive(Debug)]
struct Rope {
    /// `cos(p·θ_i)` and `sin(p·θ_i)`, one row per position `p`.
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    fn new(head_dim: usize, base: f64, positions: usize) -> Result<Rope> {
        let pairs = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * pairs);
        let mut sin = Vec::with_capacity(positions * pairs);
        for p in 0..positions {
            for i in 0..pairs {
                let angle = p as f64 * base.powf(-((2 * i) as f64) / head_dim as f64);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Ok(Rope {
            cos: Tensor::from_vec(cos, (positions, pairs), &Device::Cpu)?,
            sin: Tensor::from_vec(sin, (positions, pairs), &Device::Cpu)?,
        })
    }

    fn positions(&self) -> usize {
        self.cos.dim(0).unwrap_or(0)
    }

    /// Rotates `x` (batch, heads, seq, head_dim) whose first row is at position `pos`.
    fn rotate(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let seq = x.dim(2)?;
        candle_nn::rotary_emb::rope_i(
            &x.contiguous()?,
            &self.cos.narrow(0, pos, seq)?,
            &self.sin.narrow(0, pos, seq)?,
        )
    }
}

/// The keys and values of the positions seen so far, each (batch, kv_heads, positions,
/// head_dim).
#[derive(Debug, Default)]
struct KvCache {
    kv: Option<(Tensor, Tensor)>,
}

impl KvCache {
    /// Appends the keys and values of positions `pos..` (`pos == 0` starts over; a `pos`
    /// before the end drops the cached positions from `pos` on) and returns all of them.
    fn append(&mut self, k: Tensor, v: Tensor, pos: usize) -> Result<(Tensor, Tensor)> {
        let kv = match &self.kv {
            Some((ck, cv)) if pos > 0 => {
                if ck.dim(2)? < pos {
                    return Err(bad(format!(
                        "position {pos} does not follow the {} cached ones",
                        ck.dim(2)?
                    )));
                }
                let (ck, cv) = (ck.narrow(2, 0, pos)?, cv.narrow(2, 0, pos)?);
                (Tensor::cat(&[&ck, &k], 2)?, Tensor::cat(&[&cv, &v], 2)?)
            }
            None if pos > 0 => {
                return Err(bad(format!(
                    "position {pos} does not follow an empty cache"
                )));
            }
            _ => (k, v),
        };
        self.kv = Some(kv.clone());
        Ok(kv)
    }
}

/// One transformer block and its cache.
#[derive(Debug)]
struct Block {
    attn_norm: Tensor,
    /// Wq, Wk, Wv.
    qkv: Joined,
    wo: QMatMul,
    ffn_norm: Tensor,
    /// Wgate, Wup.
    gate_up: Joined,
    down: QMatMul,
    cache: KvCache,
}

impl Block {
    fn read<R: std::io::Read + std::io::Seek>(
        rd: &mut Reader<'_, R>,
        s: &Config,
        i: usize,
        hidden: usize,
    ) -> Result<Block> {
        let name = |t: &str| format!("blk.{i}.{t}.weight");
        Ok(Block {
            attn_norm: rd.vector(&name("attn_norm"), s.dim)?,
            qkv: rd.joined(
                &[
                    (name("attn_q"), s.dim),
                    (name("attn_k"), s.kv_dim()),
                    (name("attn_v"), s.kv_dim()),
                ],
                s.dim,
            )?,
            wo: rd.matrix(&name("attn_output"), s.dim, s.dim)?,
            ffn_norm: rd.vector(&name("ffn_norm"), s.dim)?,
            gate_up: rd.joined(
                &[(name("ffn_gate"), hidden), (name("ffn_up"), hidden)],
                s.dim,
            )?,
            down: rd.matrix(&name("ffn_down"), s.dim, hidden)?,
            cache: KvCache::default(),
        })
    }

    /// `x` (batch, seq, dim) at positions `pos..`; `mask` is added to the attention scores.
    fn forward(
        &mut self,
        x: &Tensor,
        pos: usize,
        mask: Option<&Tensor>,
        rope: &Rope,
        s: &Config,
    ) -> Result<Tensor> {
        let (b, seq, _) = x.dims3()?;
        let n = rms_norm(x, &self.attn_norm, s.eps)?;
        let [q, k, v]: [Tensor; 3] = self
            .qkv
            .forward(&n)?
            .try_into()
            .map_err(|_| bad("Q/K/V projection".into()))?;
        let by_head = |t: Tensor, heads: usize| -> Result<Tensor> {
            t.reshape((b, seq, heads, s.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = rope.rotate(&by_head(q, s.heads)?, pos)?;
        let k = rope.rotate(&by_head(k, s.kv_heads)?, pos)?;
        let v = by_head(v, s.kv_heads)?;
        let (k, v) = self.cache.append(k, v, pos)?;
        let y = attend(&q, &k, &v, mask, s)?;
        let x = (x + self.wo.forward(&y)?)?;
        let m = rms_norm(&x, &self.ffn_norm, s.eps)?;
        let [gate, up]: [Tensor; 2] = self
            .gate_up
            .forward(&m)?
            .try_into()
            .map_err(|_| bad("gate/up projection".into()))?;
        let y = self.down.forward(&(silu(&gate)? * up)?)?;
        x + y
    }
}

/// softmax(q·kᵀ/√d + mask)·v with queries `q` (batch, heads, seq, d) and keys and values
/// (batch, kv_heads, len, d); query head `h` reads key/value head `h / (heads/kv_heads)`.
/// The queries of the heads that share a key/value head are stacked into one matrix, so
/// keys and values are used in place, not repeated per head. Returns (batch, seq, heads·d).
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, s: &Config) -> Result<Tensor> {
    let (b, heads, seq, d) = q.dims4()?;
    let len = k.dim(2)?;
    let stacked = (b, s.kv_heads, heads / s.kv_heads * seq, d);
    let q = (q / (d as f64).sqrt())?.reshape(stacked)?;
    let scores = q.matmul(&k.t()?)?.reshape((b, heads, seq, len))?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let p = softmax_last_dim(&scores)?.reshape((b, s.kv_heads, heads / s.kv_heads * seq, len))?;
    p.matmul(v)?
        .reshape((b, heads, seq, d))?
        .transpose(1, 2)?
        .reshape((b, seq, heads * d))
}

/// The additive causal mask of `seq` new positions after `pos` cached ones: row `i` (at
/// position `pos + i`) sees keys `0..=pos + i`.
fn causal_mask(seq: usize, pos: usize) -> Result<Tensor> {
    let len = pos + seq;
    let m: Vec<f32> = (0..seq)
        .flat_map(|i| (0..len).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(m, (seq, len), &Device::Cpu)
}

/// The model and its KV cache.
#[derive(Debug)]
pub struct Llama {
    config: Config,
    /// The token embeddings; also the output projection when the file has none (tied).
    embed: QMatMul,
    blocks: Vec<Block>,
    out_norm: Tensor,
    out: QMatMul,
    rope: Rope,
    /// The tokens whose keys and values the blocks' caches hold, in order.
    cached: Vec<u32>,
}

impl Llama {
    /// Loads the weights of `ct` (read from `r`); `positions` is the context to cover.
    /// `precision` defaults to f16 when the model fits [`F16_LIMIT_BYTES`] in it.
    pub fn load<R: std::io::Read + std::io::Seek>(
        ct: &gguf_file::Content,
        r: &mut R,
        positions: usize,
        precision: Option<Precision>,
    ) -> Result<(Llama, Precision)> {
        let s = Config::read(ct)?;
        let params: u64 = ct
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count() as u64)
            .sum();
        let precision = precision.unwrap_or(if params * 2 <= F16_LIMIT_BYTES {
            Precision::F16
        } else {
            Precision::Quantized
        });
        let info = |name: &str| ct.tensor_infos.get(name).map(|t| t.shape.dims().to_vec());
        let vocab = match info("token_embd.weight").as_deref() {
            Some(&[v, _]) => v,
            _ => return Err(bad("no 2-d token_embd.weight in the GGUF file".into())),
        };
        let hidden = match info("blk.0.ffn_gate.weight").as_deref() {
            Some(&[h, _]) => h,
            _ => return Err(bad("no 2-d blk.0.ffn_gate.weight in the GGUF file".into())),
        };
        let mut rd = Reader { ct, r, precision };
        let embed = rd.matrix("token_embd.weight", vocab, s.dim)?;
        let blocks = (0..s.blocks)
            .map(|i| Block::read(&mut rd, &s, i, hidden))
            .collect::<Result<Vec<_>>>()?;
        let out = if ct.tensor_infos.contains_key("output.weight") {
            rd.matrix("output.weight", vocab, s.dim)?
        } else {
            embed.clone()
        };
        let model = Llama {
            out_norm: rd.vector("output_norm.weight", s.dim)?,
            embed,
            blocks,
            out,
            rope: Rope::new(s.head_dim, s.rope_base, positions)?,
            config: s,
            cached: Vec::new(),
        };
        Ok((model, precision))
    }

    /// The tokens already in the cache: a prompt that starts with some of them needs only
    /// its rest fed (at the position after the shared part).
    pub fn cached(&self) -> &[u32] {
        &self.cached
    }

    /// Forgets what the cache holds: the next call starts at position 0.
    pub fn forget(&mut self) {
        self.cached.clear();
    }

    /// Runs `tokens` (batch 1, seq) at positions `pos..`; returns the logits (batch, vocab)
    /// of the last position. The cache keeps the positions before `pos` (at most
    /// [`Llama::cached`]'s length) and drops the rest: `pos == 0` starts a new sequence.
    pub fn forward(&mut self, tokens: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = tokens.dims2()?;
        if seq == 0 || pos + seq > self.rope.positions() {
            return Err(bad(format!(
                "{seq} tokens at position {pos} do not fit the context of {}",
                self.rope.positions()
            )));
        }
        let mask = if seq > 1 {
            Some(causal_mask(seq, pos)?)
        } else {
            None
        };
        if pos > self.cached.len() {
            return Err(bad(format!(
                "position {pos} does not follow the {} cached tokens",
                self.cached.len()
            )));
        }
        // Until every block has its new keys and values, only the positions before `pos`
        // are known to be cached.
        self.cached.truncate(pos);
        let mut x = self.embed.embedding(tokens)?.to_dtype(DType::F32)?;
        for block in &mut self.blocks {
            x = block.forward(&x, pos, mask.as_ref(), &self.rope, &self.config)?;
        }
        self.cached.extend(tokens.flatten_all()?.to_vec1::<u32>()?);
        let last = x.narrow(1, seq - 1, 1)?.squeeze(1)?.contiguous()?;
        self.out
            .forward(&rms_norm(&last, &self.out_norm, self.config.eps)?)
    }
}

#[cfg(test)]
mod tests;
