//! Sampling the next token from logits: a mask (constrained decoding), a repeat penalty,
//! temperature, top-k and top-p, with a seeded generator so that runs are reproducible.

/// Sampling settings; the defaults come from the GGUF's `general.sampling.*` metadata when it
/// has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 = greedy.
    pub temperature: f32,
    /// 0 = off.
    pub top_k: usize,
    /// 1.0 = off.
    pub top_p: f32,
    /// 1.0 = off.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
}

impl Default for Sampling {
    fn default() -> Sampling {
        // Low temperature: small local models wander quickly; a light penalty against loops.
        Sampling {
            temperature: 0.3,
            top_k: 40,
            top_p: 0.9,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
        }
    }
}

/// SplitMix64: small, fast, seedable, good enough for sampling.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Picks a token from `logits`; `allowed` (when given) masks the vocabulary; `recent` are the
/// tokens the repeat penalty applies to. `None` when no token is allowed.
pub fn sample(
    logits: &[f32],
    allowed: Option<&[bool]>,
    recent: &[u32],
    s: &Sampling,
    rng: &mut Rng,
) -> Option<u32> {
    let mut cands: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            l.is_finite() && allowed.is_none_or(|a| a.get(*i).copied().unwrap_or(false))
        })
        .map(|(i, l)| (i as u32, *l))
        .collect();
    if cands.is_empty() {
        return None;
    }
    if s.repeat_penalty != 1.0 && !recent.is_empty() {
        let from = recent.len().saturating_sub(s.repeat_last_n);
        let recent = &recent[from..];
        for (id, l) in &mut cands {
            if recent.contains(id) {
                *l = if *l >= 0.0 {
                    *l / s.repeat_penalty
                } else {
                    *l * s.repeat_penalty
                };
            }
        }
    }
    if s.temperature <= 0.0 {
        return cands.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|c| c.0);
    }
    cands.sort_by(|a, b| b.1.total_cmp(&a.1));
    if s.top_k > 0 && cands.len() > s.top_k {
        cands.truncate(s.top_k);
    }
    let max = cands[0].1;
    let mut probs: Vec<f32> = cands
        .iter()
        .map(|(_, l)| ((l - max) / s.temperature).exp())
        .collect();
    let sum: f32 = probs.iter().sum();
    for p in &mut probs {
        *p /= sum;
    }
    if s.top_p < 1.0 {
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if acc >= s.top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
        let sum: f32 = probs.iter().sum();
        for p in &mut probs {
            *p /= sum;
        }
    }
    let r = rng.next_f32();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if r < acc {
            return Some(cands[i].0);
        }
    }
    Some(cands[probs.len() - 1].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_is_obeyed_and_seeds_repeat() {
        let logits = vec![5.0, 1.0, 0.5, 4.0];
        let mask = vec![false, true, true, false];
        let s = Sampling {
            temperature: 1.0,
            ..Sampling::default()
        };
        let mut rng = Rng::new(7);
        for _ in 0..50 {
            let t = sample(&logits, Some(&mask), &[], &s, &mut rng).expect("one allowed");
            assert!(t == 1 || t == 2);
        }
        let run = |seed| {
            let mut r = Rng::new(seed);
            (0..20)
                .map(|_| sample(&logits, None, &[], &s, &mut r))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_eq!(sample(&logits, Some(&[false; 4]), &[], &s, &mut rng), None);
        let greedy = Sampling {
            temperature: 0.0,
            ..s
        };
        assert_eq!(sample(&logits, None, &[], &greedy, &mut rng), Some(0));
    }
}
