//! The llama-family transformer over GGUF weights, on candle's CPU tensors.
//!
//! Adapted from candle-transformers' `models::quantized_llama` (Apache-2.0/MIT), dense
//! models only, with one change that matters here: how the weights are held. candle's CPU
//! kernels for quantized blocks are scalar for Q4_1/Q5_x and use SIMD for the others only
//! when the binary is compiled for AVX (`-C target-cpu`), which a distributed kaptain is
//! not; its f16 matmul (the `gemm` crate) picks AVX2/AVX-512 at run time. So a model whose
//! f16 weights fit [`F16_LIMIT_BYTES`] is dequantized to f16 at load (SmolLM2-135M: 3-20x
//! faster than its Q4_1 blocks here, ~270 MB); larger ones stay quantized.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::Embedding;

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

#[derive(Debug, Clone)]
struct Layer {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    w1: QMatMul,
    w2: QMatMul,
    w3: QMatMul,
    attn_norm: Tensor,
    ffn_norm: Tensor,
    kv: Option<(Tensor, Tensor)>,
}

/// The model and its KV cache.
#[derive(Debug, Clone)]
pub struct Llama {
    embed: Embedding,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    eps: f32,
    neox: bool,
    cos: Tensor,
    sin: Tensor,
}

fn md<'a>(ct: &'a gguf_file::Content, key: &str) -> Result<&'a gguf_file::Value> {
    ct.metadata
        .get(key)
        .ok_or_else(|| candle_core::Error::Msg(format!("no {key} in the GGUF metadata")))
}

impl Llama {
    /// Loads the weights of `ct` (read from `r`); `positions` is the context to cover.
    pub fn load<R: std::io::Read + std::io::Seek>(
        ct: &gguf_file::Content,
        r: &mut R,
        positions: usize,
        precision: Option<Precision>,
    ) -> Result<(Llama, Precision)> {
        let dev = Device::Cpu;
        let arch = md(ct, "general.architecture")?.to_string()?.clone();
        let key = |k: &str| format!("{arch}.{k}");
        let n_head = md(ct, &key("attention.head_count"))?.to_u32()? as usize;
        let n_kv_head = md(ct, &key("attention.head_count_kv"))?.to_u32()? as usize;
        let n_layer = md(ct, &key("block_count"))?.to_u32()? as usize;
        let dim = md(ct, &key("embedding_length"))?.to_u32()? as usize;
        let rope_dim = ct
            .metadata
            .get(&key("rope.dimension_count"))
            .and_then(|v| v.to_u32().ok())
            .map(|v| v as usize)
            .unwrap_or(dim / n_head);
        let eps = md(ct, &key("attention.layer_norm_rms_epsilon"))?.to_f32()?;
        let freq_base = ct
            .metadata
            .get(&key("rope.freq_base"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10000.0);
        // llama, mistral & co. pair interleaved dimensions (llama.cpp's "norm" rope).
        let neox = false;
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
        let mm = |t: QTensor| -> Result<QMatMul> {
            match (precision, t.dtype()) {
                (_, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) => {
                    Ok(QMatMul::Tensor(t.dequantize(&dev)?))
                }
                (Precision::F16, _) => Ok(QMatMul::TensorF16(t.dequantize_f16(&dev)?)),
                (Precision::Quantized, _) => QMatMul::from_qtensor(t),
            }
        };
        let mut get = |name: &str| ct.tensor(r, name, &dev);
        let embed_q = get("token_embd.weight")?;
        let embed = embed_q.dequantize(&dev)?;
        let norm = get("output_norm.weight")?.dequantize(&dev)?;
        let output = match get("output.weight") {
            Ok(t) => mm(t)?,
            // Tied embeddings (SmolLM2): the output projection is the embedding matrix.
            Err(_) => match precision {
                Precision::F16 => QMatMul::TensorF16(embed.to_dtype(DType::F16)?),
                Precision::Quantized => QMatMul::from_qtensor(embed_q)?,
            },
        };
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            layers.push(Layer {
                wq: mm(get(&format!("{p}.attn_q.weight"))?)?,
                wk: mm(get(&format!("{p}.attn_k.weight"))?)?,
                wv: mm(get(&format!("{p}.attn_v.weight"))?)?,
                wo: mm(get(&format!("{p}.attn_output.weight"))?)?,
                w1: mm(get(&format!("{p}.ffn_gate.weight"))?)?,
                w2: mm(get(&format!("{p}.ffn_down.weight"))?)?,
                w3: mm(get(&format!("{p}.ffn_up.weight"))?)?,
                attn_norm: get(&format!("{p}.attn_norm.weight"))?.dequantize(&dev)?,
                ffn_norm: get(&format!("{p}.ffn_norm.weight"))?.dequantize(&dev)?,
                kv: None,
            });
        }
        let theta: Vec<f32> = (0..rope_dim)
            .step_by(2)
            .map(|i| 1f32 / freq_base.powf(i as f32 / rope_dim as f32))
            .collect();
        let theta = Tensor::new(theta.as_slice(), &dev)?;
        let idx = Tensor::arange(0, positions as u32, &dev)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?
            .matmul(&theta.reshape((1, theta.elem_count()))?)?;
        Ok((
            Llama {
                embed: Embedding::new(embed, dim),
                layers,
                norm,
                output,
                n_head,
                n_kv_head,
                head_dim: dim / n_head,
                eps,
                neox,
                cos: idx.cos()?,
                sin: idx.sin()?,
            },
            precision,
        ))
    }

    /// Runs `tokens` (one sequence) at positions `pos..`; returns the last position's logits.
    /// `pos == 0` starts a new sequence (the KV cache is dropped).
    pub fn forward(&mut self, tokens: &Tensor, pos: usize) -> Result<Tensor> {
        let (_b, seq) = tokens.dims2()?;
        let mask = if seq > 1 {
            let kv_len = pos + seq;
            let m: Vec<u8> = (0..seq)
                .flat_map(|i| (0..kv_len).map(move |j| u8::from(j > pos + i)))
                .collect();
            Some(Tensor::from_slice(&m, (seq, kv_len), &Device::Cpu)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        let mut x = self.embed.forward(tokens)?;
        let (n_head, n_kv, hd, eps, neox) = (
            self.n_head,
            self.n_kv_head,
            self.head_dim,
            self.eps,
            self.neox,
        );
        for l in self.layers.iter_mut() {
            let h = candle_nn::ops::rms_norm(&x, &l.attn_norm, eps)?;
            let a = attention(
                l,
                &h,
                mask.as_ref(),
                pos,
                (&cos, &sin),
                (n_head, n_kv, hd),
                neox,
            )?;
            x = (a + &x)?;
            let h = candle_nn::ops::rms_norm(&x, &l.ffn_norm, eps)?;
            let g = l.w1.forward(&h)?;
            let u = l.w3.forward(&h)?;
            let m = l.w2.forward(&(candle_nn::ops::silu(&g)? * u)?)?;
            x = (m + &x)?;
        }
        let x = candle_nn::ops::rms_norm(&x, &self.norm, eps)?;
        let x = x.i((.., seq - 1, ..))?;
        self.output.forward(&x)
    }
}

fn attention(
    l: &mut Layer,
    x: &Tensor,
    mask: Option<&Tensor>,
    pos: usize,
    (cos, sin): (&Tensor, &Tensor),
    (n_head, n_kv, hd): (usize, usize, usize),
    neox: bool,
) -> Result<Tensor> {
    let (b, seq, dim) = x.dims3()?;
    let q =
        l.wq.forward(x)?
            .reshape((b, seq, n_head, hd))?
            .transpose(1, 2)?;
    let k =
        l.wk.forward(x)?
            .reshape((b, seq, n_kv, hd))?
            .transpose(1, 2)?;
    let v =
        l.wv.forward(x)?
            .reshape((b, seq, n_kv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
    let rope = |t: &Tensor| -> Result<Tensor> {
        let t = t.contiguous()?;
        if neox {
            candle_nn::rotary_emb::rope(&t, cos, sin)
        } else {
            candle_nn::rotary_emb::rope_i(&t, cos, sin)
        }
    };
    let q = rope(&q)?;
    let k = rope(&k)?;
    let (k, v) = match &l.kv {
        Some((kc, vc)) if pos > 0 => (Tensor::cat(&[kc, &k], 2)?, Tensor::cat(&[vc, &v], 2)?),
        _ => (k, v),
    };
    l.kv = Some((k.clone(), v.clone()));
    let k = repeat_kv(k, n_head / n_kv)?;
    let v = repeat_kv(v, n_head / n_kv)?;
    let att = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
    let att = match mask {
        None => att,
        Some(m) => {
            let m = m.broadcast_as(att.shape())?;
            let neg = Tensor::new(f32::NEG_INFINITY, &Device::Cpu)?.broadcast_as(att.shape())?;
            m.where_cond(&neg, &att)?
        }
    };
    let att = candle_nn::ops::softmax_last_dim(&att)?;
    let y = att.matmul(&v.contiguous()?)?;
    let y = y.transpose(1, 2)?.reshape((b, seq, dim))?;
    l.wo.forward(&y)
}

fn repeat_kv(x: Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x);
    }
    let (b, kv, seq, hd) = x.dims4()?;
    Tensor::cat(&vec![&x; n], 2)?.reshape((b, kv * n, seq, hd))
}
