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
    /// Appends the keys and values of positions `pos..` (`pos == 0` starts over) and
    /// returns all of them.
    fn append(&mut self, k: Tensor, v: Tensor, pos: usize) -> Result<(Tensor, Tensor)> {
        let kv = match &self.kv {
            Some((ck, cv)) if pos > 0 => {
                if ck.dim(2)? != pos {
                    return Err(bad(format!(
                        "position {pos} does not follow the {} cached ones",
                        ck.dim(2)?
                    )));
                }
                (Tensor::cat(&[ck, &k], 2)?, Tensor::cat(&[cv, &v], 2)?)
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
        };
        Ok((model, precision))
    }

    /// Runs `tokens` (batch, seq) at positions `pos..`; returns the logits (batch, vocab)
    /// of the last position. `pos == 0` starts a new sequence (the KV cache is dropped).
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
        let mut x = self.embed.embedding(tokens)?.to_dtype(DType::F32)?;
        for block in &mut self.blocks {
            x = block.forward(&x, pos, mask.as_ref(), &self.rope, &self.config)?;
        }
        let last = x.narrow(1, seq - 1, 1)?.squeeze(1)?.contiguous()?;
        self.out
            .forward(&rms_norm(&last, &self.out_norm, self.config.eps)?)
    }
}

#[cfg(test)]
mod tests {
    //! A small random model written as a GGUF file, run by [`Llama`] and by a direct
    //! transcription of the formulas in the module header (plain loops in f64).

    use super::*;
    use candle_core::quantized::gguf_file::Value;
    use std::io::Cursor;

    const DIM: usize = 32;
    const HEADS: usize = 4;
    const KV_HEADS: usize = 2;
    const HD: usize = DIM / HEADS;
    const HIDDEN: usize = 64;
    const VOCAB: usize = 37;
    const BLOCKS: usize = 2;
    const EPS: f64 = 1e-5;
    const BASE: f64 = 10_000.0;

    /// Row-major matrices and vectors as the reference reads them.
    struct Weights(std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>);

    impl Weights {
        fn get(&self, name: &str) -> &[f32] {
            &self.0[name].1
        }

        /// `W · x` for `W` (rows, cols).
        fn apply(&self, name: &str, x: &[f64]) -> Vec<f64> {
            let (dims, w) = &self.0[name];
            (0..dims[0])
                .map(|r| {
                    (0..dims[1])
                        .map(|c| f64::from(w[r * dims[1] + c]) * x[c])
                        .sum()
                })
                .collect()
        }
    }

    /// A GGUF file of random weights in `dtype` (norms in f32), and the weights as stored.
    fn model_file(dtype: GgmlDType, tied: bool) -> (Vec<u8>, Weights) {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        };
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            ("token_embd.weight".into(), vec![VOCAB, DIM]),
            ("output_norm.weight".into(), vec![DIM]),
        ];
        if !tied {
            shapes.push(("output.weight".into(), vec![VOCAB, DIM]));
        }
        for i in 0..BLOCKS {
            for (t, dims) in [
                ("attn_norm", vec![DIM]),
                ("attn_q", vec![DIM, DIM]),
                ("attn_k", vec![KV_HEADS * HD, DIM]),
                ("attn_v", vec![KV_HEADS * HD, DIM]),
                ("attn_output", vec![DIM, DIM]),
                ("ffn_norm", vec![DIM]),
                ("ffn_gate", vec![HIDDEN, DIM]),
                ("ffn_up", vec![HIDDEN, DIM]),
                ("ffn_down", vec![DIM, HIDDEN]),
            ] {
                shapes.push((format!("blk.{i}.{t}.weight"), dims));
            }
        }
        let mut tensors = Vec::new();
        let mut stored = std::collections::BTreeMap::new();
        for (name, dims) in shapes {
            let n: usize = dims.iter().product();
            let vector = dims.len() == 1;
            let values: Vec<f32> = (0..n)
                .map(|_| if vector { 1.0 + rand() } else { rand() })
                .collect();
            let t = Tensor::from_vec(values, dims.as_slice(), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&t, if vector { GgmlDType::F32 } else { dtype }).unwrap();
            let back = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
            stored.insert(name.clone(), (dims, back.to_vec1::<f32>().unwrap()));
            tensors.push((name, q));
        }
        let meta = [
            ("general.architecture", Value::String("llama".into())),
            ("llama.embedding_length", Value::U32(DIM as u32)),
            ("llama.block_count", Value::U32(BLOCKS as u32)),
            ("llama.attention.head_count", Value::U32(HEADS as u32)),
            ("llama.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
            (
                "llama.attention.layer_norm_rms_epsilon",
                Value::F32(EPS as f32),
            ),
            ("llama.rope.freq_base", Value::F32(BASE as f32)),
        ];
        let meta: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
        let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut file = Cursor::new(Vec::new());
        gguf_file::write(&mut file, &meta, &tensors).unwrap();
        (file.into_inner(), Weights(stored))
    }

    fn rmsnorm(x: &[f64], g: &[f32]) -> Vec<f64> {
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let r = 1.0 / (ms + EPS).sqrt();
        x.iter()
            .zip(g)
            .map(|(v, g)| v * r * f64::from(*g))
            .collect()
    }

    /// Rotates each head's pairs `(2i, 2i+1)` by `p · BASE^(-2i/HD)`.
    fn rope(x: &mut [f64], p: usize) {
        for head in x.chunks_mut(HD) {
            for i in 0..HD / 2 {
                let a = p as f64 * BASE.powf(-((2 * i) as f64) / HD as f64);
                let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                head[2 * i] = x0 * a.cos() - x1 * a.sin();
                head[2 * i + 1] = x0 * a.sin() + x1 * a.cos();
            }
        }
    }

    /// The logits of the next token after `tokens`, from the formulas.
    fn reference(w: &Weights, tokens: &[u32], tied: bool) -> Vec<f64> {
        let emb = w.get("token_embd.weight");
        let mut xs: Vec<Vec<f64>> = tokens
            .iter()
            .map(|&t| {
                let t = t as usize;
                emb[t * DIM..(t + 1) * DIM]
                    .iter()
                    .map(|v| f64::from(*v))
                    .collect()
            })
            .collect();
        for b in 0..BLOCKS {
            let name = |t: &str| format!("blk.{b}.{t}.weight");
            let mut qs = Vec::new();
            let mut ks = Vec::new();
            let mut vs = Vec::new();
            for (p, x) in xs.iter().enumerate() {
                let n = rmsnorm(x, w.get(&name("attn_norm")));
                let mut q = w.apply(&name("attn_q"), &n);
                let mut k = w.apply(&name("attn_k"), &n);
                rope(&mut q, p);
                rope(&mut k, p);
                qs.push(q);
                ks.push(k);
                vs.push(w.apply(&name("attn_v"), &n));
            }
            for (p, x) in xs.iter_mut().enumerate() {
                let mut heads = vec![0.0; DIM];
                for h in 0..HEADS {
                    let kvh = h / (HEADS / KV_HEADS);
                    let q = &qs[p][h * HD..(h + 1) * HD];
                    let scores: Vec<f64> = (0..=p)
                        .map(|j| {
                            let k = &ks[j][kvh * HD..(kvh + 1) * HD];
                            q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (HD as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = e.iter().sum();
                    for (j, ej) in e.iter().enumerate() {
                        for d in 0..HD {
                            heads[h * HD + d] += ej / total * vs[j][kvh * HD + d];
                        }
                    }
                }
                for (xi, o) in x.iter_mut().zip(w.apply(&name("attn_output"), &heads)) {
                    *xi += o;
                }
                let m = rmsnorm(x, w.get(&name("ffn_norm")));
                let gate = w.apply(&name("ffn_gate"), &m);
                let up = w.apply(&name("ffn_up"), &m);
                let act: Vec<f64> = gate
                    .iter()
                    .zip(&up)
                    .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                    .collect();
                for (xi, o) in x.iter_mut().zip(w.apply(&name("ffn_down"), &act)) {
                    *xi += o;
                }
            }
        }
        let last = rmsnorm(&xs[tokens.len() - 1], w.get("output_norm.weight"));
        w.apply(
            if tied {
                "token_embd.weight"
            } else {
                "output.weight"
            },
            &last,
        )
    }

    fn load(file: &[u8], precision: Option<Precision>) -> (Llama, Precision) {
        let mut r = Cursor::new(file);
        let ct = gguf_file::Content::read(&mut r).unwrap();
        Llama::load(&ct, &mut r, 64, precision).unwrap()
    }

    fn run(m: &mut Llama, tokens: &[u32], pos: usize) -> Vec<f32> {
        let t = Tensor::new(tokens, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let l = m.forward(&t, pos).unwrap();
        assert_eq!(l.dims(), &[1, VOCAB]);
        l.squeeze(0).unwrap().to_vec1().unwrap()
    }

    fn max_diff(got: &[f32], want: &[f64]) -> f64 {
        assert_eq!(got.len(), want.len());
        got.iter()
            .zip(want)
            .map(|(g, w)| (f64::from(*g) - w).abs())
            .fold(0.0, f64::max)
    }

    const TOKENS: [u32; 12] = [3, 17, 0, 36, 5, 5, 22, 9, 30, 1, 14, 8];

    /// The whole sequence at once, then the same one as a chunk, a chunk at an offset and
    /// single tokens through the KV cache: every step's logits match the formulas.
    fn matches_reference(dtype: GgmlDType, precision: Option<Precision>, tied: bool, tol: f64) {
        let (file, w) = model_file(dtype, tied);
        let (mut m, _) = load(&file, precision);
        let want = reference(&w, &TOKENS, tied);
        let d = max_diff(&run(&mut m, &TOKENS, 0), &want);
        assert!(d < tol, "whole sequence: max |diff| {d}");
        let mut pos = 0;
        for chunk in [
            &TOKENS[..5],
            &TOKENS[5..8],
            &TOKENS[8..9],
            &TOKENS[9..10],
            &TOKENS[10..],
        ] {
            let got = run(&mut m, chunk, pos);
            pos += chunk.len();
            let d = max_diff(&got, &reference(&w, &TOKENS[..pos], tied));
            assert!(d < tol, "{pos} tokens: max |diff| {d}");
        }
    }

    #[test]
    fn f32_weights_match_the_formulas() {
        matches_reference(GgmlDType::F32, None, true, 1e-4);
        matches_reference(GgmlDType::F32, None, false, 1e-4);
    }

    #[test]
    fn quantized_weights_in_f16_match_the_formulas() {
        let (file, _) = model_file(GgmlDType::Q8_0, true);
        assert_eq!(load(&file, None).1, Precision::F16);
        matches_reference(GgmlDType::Q8_0, Some(Precision::F16), true, 2e-2);
        matches_reference(GgmlDType::Q8_0, Some(Precision::F16), false, 2e-2);
    }

    /// candle's quantized matmul also rounds the activations to 8-bit blocks: looser.
    #[test]
    fn quantized_weights_kept_quantized_match_the_formulas() {
        matches_reference(GgmlDType::Q8_0, Some(Precision::Quantized), true, 0.2);
        matches_reference(GgmlDType::Q8_0, Some(Precision::Quantized), false, 0.2);
    }

    #[test]
    fn positions_must_follow_the_cache_and_fit_the_context() {
        let (file, _) = model_file(GgmlDType::F32, true);
        let (mut m, _) = load(&file, None);
        let t = |ids: &[u32]| {
            Tensor::new(ids, &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap()
        };
        assert!(
            m.forward(&t(&[1]), 3).is_err(),
            "position 3 on an empty cache"
        );
        m.forward(&t(&[1, 2]), 0).unwrap();
        let e = m.forward(&t(&[3]), 5).unwrap_err().to_string();
        assert!(e.contains("does not follow the 2 cached"), "{e}");
        m.forward(&t(&[3]), 2).unwrap();
        let e = m.forward(&t(&[4; 62]), 3).unwrap_err().to_string();
        assert!(e.contains("do not fit the context of 64"), "{e}");
        // pos 0 starts over.
        m.forward(&t(&[1]), 0).unwrap();
        m.forward(&t(&[2]), 1).unwrap();
    }

    #[test]
    fn missing_metadata_and_bad_shapes_are_named() {
        let (file, _) = model_file(GgmlDType::F32, true);
        let mut r = Cursor::new(&file);
        let mut ct = gguf_file::Content::read(&mut r).unwrap();
        ct.metadata
            .insert("llama.attention.head_count_kv".into(), Value::U32(3));
        let e = Llama::load(&ct, &mut r, 8, None).unwrap_err().to_string();
        assert!(e.contains("4 attention heads (3 for keys/values)"), "{e}");
        ct.metadata
            .insert("llama.attention.head_count_kv".into(), Value::U32(4));
        let e = Llama::load(&ct, &mut r, 8, None).unwrap_err().to_string();
        assert!(
            e.contains("blk.0.attn_k.weight has shape [16, 32], expected [32, 32]"),
            "{e}"
        );
        ct.metadata.remove("llama.block_count");
        let e = Llama::load(&ct, &mut r, 8, None).unwrap_err().to_string();
        assert!(e.contains("no llama.block_count"), "{e}");
    }
}
