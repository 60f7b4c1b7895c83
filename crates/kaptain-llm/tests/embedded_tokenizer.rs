//! Our GGUF tokenizer against Hugging Face's `tokenizers` built from the same vocabulary and
//! merges with SmolLM2's pre-tokenizer (digits one by one, then byte-level GPT-2): the ids
//! must be the same for every text.
#![cfg(feature = "embedded")]

use std::path::PathBuf;

use candle_core::quantized::gguf_file;
use kaptain_llm::embedded::{EmbeddedOptions, EmbeddedProvider};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;

fn model_file() -> PathBuf {
    match std::env::var_os("KAPTAIN_LLM_MODEL_FILE") {
        Some(f) if !f.is_empty() => PathBuf::from(f),
        _ => panic!(
            "KAPTAIN_LLM_MODEL_FILE is not set: the embedded runtime's tests need the real GGUF model; run scripts/test.sh (it provisions the model with scripts/provision-llm-model.sh and sets the variable)"
        ),
    }
}

fn strings(ct: &gguf_file::Content, key: &str) -> Vec<String> {
    ct.metadata[key]
        .to_vec()
        .expect("an array")
        .iter()
        .map(|v| v.to_string().expect("a string").clone())
        .collect()
}

#[test]
fn our_ids_are_hugging_faces() {
    let file = model_file();
    let mut f = std::fs::File::open(&file).expect("opens");
    let ct = gguf_file::Content::read(&mut f).expect("reads");
    let tokens = strings(&ct, "tokenizer.ggml.tokens");
    let merges: Vec<(String, String)> = strings(&ct, "tokenizer.ggml.merges")
        .iter()
        .map(|m| {
            let (a, b) = m.split_once(' ').expect("a pair");
            (a.to_string(), b.to_string())
        })
        .collect();
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let mut hf = tokenizers::Tokenizer::new(BPE::new(vocab, merges));
    hf.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));

    let ours = EmbeddedProvider::load(&file, EmbeddedOptions::default()).expect("loads");
    let ours = ours.tokenizer();
    let texts = [
        "Why is the checkout deployment in namespace shop failing?",
        "Pods: 3/3 CrashLoopBackOff, exit code 137 (OOMKilled) at 2026-12-07T12:00:00Z.",
        "  two leading spaces,\ttabs\nnewlines\n\n\nand trailing   ",
        "unicode: héllo wörld — 日本語 🚀 ünïcödé Ωμέγα",
        "kubectl -n kube-system get pods -o jsonpath='{.items[*].metadata.name}' | xargs",
        "{\"name\":\"why\",\"arguments\":{\"kind\":\"Deployment\",\"name\":\"checkout\"}}",
        "I'm sure they've said it's what we'll do; you'd think I'd know. DON'T SHOUT.",
        "ConfigMap \"checkout-config\" not found\r\nmemory: 128Mi -> 256Mi, cpu: 500m",
    ];
    for text in texts {
        let want = hf
            .encode(text, false)
            .expect("hf encodes")
            .get_ids()
            .to_vec();
        let got = ours.encode(text);
        assert_eq!(got, want, "{text:?}");
        assert_eq!(ours.decode(&got), text);
    }
    // Every token's bytes decode back to the token (the byte-level alphabet is complete).
    for id in [0u32, 1, 2, 100, 1000, 20000, 49151] {
        let bytes = ours.token_bytes(id);
        assert!(!bytes.is_empty(), "token {id}");
    }
}
