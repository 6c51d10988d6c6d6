//! Picks the next token from the logits, restricted to what the grammar allows: greedy at
//! temperature 0 (the default), otherwise softmax sampling at the given temperature.

use llguidance::toktrie::SimpleVob;

/// Token selection for one generation.
pub(crate) struct Sampler {
    temperature: f32,
    state: u64,
}

impl Sampler {
    pub(crate) fn new(temperature: Option<f32>) -> Sampler {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Sampler {
            temperature: temperature
                .filter(|t| t.is_finite())
                .unwrap_or(0.0)
                .max(0.0),
            state: seed | 1,
        }
    }

    /// The chosen token, or `None` when the mask allows nothing.
    pub(crate) fn pick(&mut self, logits: &[f32], mask: Option<&SimpleVob>) -> Option<u32> {
        let allowed = |i: usize| mask.is_none_or(|m| i < m.len() && m.is_allowed(i as u32));
        let mut best: Option<(usize, f32)> = None;
        for (i, &l) in logits.iter().enumerate() {
            if allowed(i) && l.is_finite() && best.is_none_or(|(_, b)| l > b) {
                best = Some((i, l));
            }
        }
        let (best_i, max) = best?;
        if self.temperature < 1e-4 {
            return Some(best_i as u32);
        }
        let inv_t = 1.0 / self.temperature;
        let weight = |l: f32| ((l - max) * inv_t).exp();
        let total: f32 = logits
            .iter()
            .enumerate()
            .filter(|&(i, l)| allowed(i) && l.is_finite())
            .map(|(_, &l)| weight(l))
            .sum();
        let mut target = self.next_unit() * total;
        for (i, &l) in logits.iter().enumerate() {
            if allowed(i) && l.is_finite() {
                target -= weight(l);
                if target <= 0.0 {
                    return Some(i as u32);
                }
            }
        }
        Some(best_i as u32)
    }

    /// A uniform number in [0, 1) (splitmix64).
    fn next_unit(&mut self) -> f32 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_best_allowed_token() {
        let logits = [0.1, 5.0, 2.0, f32::NEG_INFINITY];
        let mut s = Sampler::new(None);
        assert_eq!(s.pick(&logits, None), Some(1));
        let mut mask = SimpleVob::alloc(4);
        mask.allow_token(2);
        mask.allow_token(3);
        assert_eq!(s.pick(&logits, Some(&mask)), Some(2));
        let empty = SimpleVob::alloc(4);
        assert_eq!(s.pick(&logits, Some(&empty)), None);
    }

    #[test]
    fn sampling_stays_inside_the_mask() {
        let logits = [1.0, 1.0, 1.0, 1.0];
        let mut mask = SimpleVob::alloc(4);
        mask.allow_token(0);
        mask.allow_token(3);
        let mut s = Sampler::new(Some(1.0));
        for _ in 0..200 {
            let t = s.pick(&logits, Some(&mask)).unwrap();
            assert!(t == 0 || t == 3);
        }
    }
}
