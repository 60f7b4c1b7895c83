//! Tests of the llama forward pass: a small random model written as a GGUF file, run by
//! [`Llama`] and by a direct transcription of the formulas in the module header (plain
//! loops in f64).

#![allow(clippy::unwrap_used, clippy::expect_used)]

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

/// A second sequence that shares a prefix with the cached one is fed from where they differ:
/// its logits match the formulas for the new sequence, and the cache says what it holds.
#[test]
fn a_shared_prefix_is_kept_and_the_rest_replaced() {
    let (file, w) = model_file(GgmlDType::F32, true);
    let (mut m, _) = load(&file, None);
    run(&mut m, &TOKENS, 0);
    assert_eq!(m.cached(), &TOKENS);
    let mut other = TOKENS[..7].to_vec();
    other.extend([2, 4, 6]);
    let got = run(&mut m, &other[7..], 7);
    let d = max_diff(&got, &reference(&w, &other, true));
    assert!(d < 1e-4, "after rewinding to 7: max |diff| {d}");
    assert_eq!(m.cached(), other.as_slice());
    // Rewinding within what was just fed, and then following it one token at a time.
    let got = run(&mut m, &[11], 9);
    let mut third = other[..9].to_vec();
    third.push(11);
    assert!(max_diff(&got, &reference(&w, &third, true)) < 1e-4);
    assert_eq!(m.cached(), third.as_slice());
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
    matches_reference(GgmlDType::Q8_0, Some(Precision::Quantized), true, 0.5);
    matches_reference(GgmlDType::Q8_0, Some(Precision::Quantized), false, 0.5);
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
    assert_eq!(m.cached(), &[1, 2], "a refused call keeps the cache");
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
