//! Check-digit algorithms of the connote formats the hub meets: GS1 mod 10 (SSCC, IMpb),
//! the weighted mod 10 of UPS / FedEx Ground, FedEx's weighted mod 11 → mod 10, DHL's mod 7
//! and UPU S10's mod 11. Pure functions on ASCII strings; `None` means "not computable"
//! (wrong alphabet or length), never a panic.
//!
//! The parameterisation (which positions get which multiplier) follows the public dataset
//! `jkeen/tracking_number_data` (`couriers/*.json`), whose test numbers are our fixtures.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A check-digit scheme, as data so that a retailer pattern can name one in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum CheckScheme {
    /// GS1 mod 10: weights 3,1,3… from the rightmost data digit (SSCC, GTIN, IMpb).
    Gs1Mod10,
    /// The dataset's `mod10`: position i (0-based, from the left) is multiplied by
    /// `odds_multiplier` when i is even and `evens_multiplier` when i is odd; letters map to
    /// `(ascii - 3) % 10` (UPS).
    Mod10 { odds: u32, evens: u32 },
    /// Sum of digit × weight (weights from the left), mod `m1`, then mod `m2` (FedEx).
    SumProductMod { weights: Vec<u32>, m1: u32, m2: u32 },
    /// The serial number as an integer, mod 7 (DHL Express).
    Mod7,
    /// UPU S10: weights 8,6,4,2,3,5,9,7; 11 − (sum mod 11), 10 → 0, 11 → 5.
    S10,
    /// Luhn (some domestic article ids use it).
    Luhn,
}

impl CheckScheme {
    /// The check digit this scheme expects for `serial` (the data without its check digit).
    pub fn compute(&self, serial: &str) -> Option<u8> {
        match self {
            CheckScheme::Gs1Mod10 => gs1_mod10(serial),
            CheckScheme::Mod10 { odds, evens } => mod10(serial, *odds, *evens),
            CheckScheme::SumProductMod { weights, m1, m2 } => {
                sum_product_mod(serial, weights, *m1, *m2)
            }
            CheckScheme::Mod7 => mod7(serial),
            CheckScheme::S10 => s10(serial),
            CheckScheme::Luhn => luhn(serial),
        }
    }

    /// True when `check` (one ASCII digit) is what the scheme expects for `serial`.
    pub fn verify(&self, serial: &str, check: char) -> bool {
        match (self.compute(serial), check.to_digit(10)) {
            (Some(want), Some(got)) => u32::from(want) == got,
            _ => false,
        }
    }
}

fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars().map(|c| c.to_digit(10)).collect()
}

/// GS1 mod 10 over `data` (all digits, check digit excluded).
pub fn gs1_mod10(data: &str) -> Option<u8> {
    let d = digits(data)?;
    if d.is_empty() {
        return None;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| if i % 2 == 0 { v * 3 } else { *v })
        .sum();
    Some(((10 - sum % 10) % 10) as u8)
}

/// The dataset's `mod10` (see [`CheckScheme::Mod10`]).
pub fn mod10(serial: &str, odds: u32, evens: u32) -> Option<u8> {
    if serial.is_empty() {
        return None;
    }
    let mut sum = 0u32;
    for (i, c) in serial.chars().enumerate() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => (c as u32 - 3) % 10,
            _ => return None,
        };
        sum += if i % 2 == 0 { v * odds } else { v * evens };
    }
    Some(((10 - sum % 10) % 10) as u8)
}

/// Weighted sum mod `m1` then mod `m2`; the weights must cover every digit.
pub fn sum_product_mod(serial: &str, weights: &[u32], m1: u32, m2: u32) -> Option<u8> {
    let d = digits(serial)?;
    if d.len() != weights.len() || m1 == 0 || m2 == 0 {
        return None;
    }
    let sum: u32 = d.iter().zip(weights).map(|(a, b)| a * b).sum();
    Some((sum % m1 % m2) as u8)
}

/// The serial as an integer mod 7 (DHL Express air waybills).
pub fn mod7(serial: &str) -> Option<u8> {
    let d = digits(serial)?;
    if d.is_empty() {
        return None;
    }
    Some(d.iter().fold(0u32, |acc, v| (acc * 10 + v) % 7) as u8)
}

/// UPU S10 over the 8 serial digits.
pub fn s10(serial: &str) -> Option<u8> {
    const W: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
    let d = digits(serial)?;
    if d.len() != 8 {
        return None;
    }
    let sum: u32 = d.iter().zip(W).map(|(a, b)| a * b).sum();
    Some(match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c as u8,
    })
}

/// Luhn over `data` (check digit excluded).
pub fn luhn(data: &str) -> Option<u8> {
    let d = digits(data)?;
    if d.is_empty() {
        return None;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| {
            if i % 2 == 0 {
                let x = v * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                *v
            }
        })
        .sum();
    Some(((10 - sum % 10) % 10) as u8)
}

/// Appends the GS1 check digit to 17 SSCC data digits (extension digit + company prefix +
/// serial reference), giving the 18-digit SSCC.
pub fn sscc_with_check(data17: &str) -> Option<String> {
    if data17.len() != 17 {
        return None;
    }
    let c = gs1_mod10(data17)?;
    Some(format!("{data17}{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gs1_reference_values() {
        // The dataset's FedEx SSCC test number "00 0123 4500 0000 0027".
        assert_eq!(gs1_mod10("00012345000000002"), Some(7));
        // GTIN-13 4006381333931 (a commonly quoted EAN).
        assert_eq!(gs1_mod10("400638133393"), Some(1));
        assert_eq!(gs1_mod10(""), None);
        assert_eq!(gs1_mod10("12a"), None);
    }

    #[test]
    fn s10_reference_values() {
        assert_eq!(s10("12345678"), Some(5)); // RB123456785GB
        assert_eq!(s10("1234567"), None);
    }

    #[test]
    fn luhn_reference_value() {
        assert_eq!(luhn("7992739871"), Some(3));
    }

    proptest! {
        // A single changed digit is always caught by GS1 mod 10 (weights 1 and 3 are units mod 10).
        #[test]
        fn gs1_detects_single_digit_errors(s in "[0-9]{17}", pos in 0usize..17, delta in 1u32..10) {
            let c = gs1_mod10(&s).unwrap();
            let mut b: Vec<u8> = s.clone().into_bytes();
            b[pos] = b'0' + ((u32::from(b[pos] - b'0') + delta) % 10) as u8;
            let t = String::from_utf8(b).unwrap();
            prop_assert_ne!(gs1_mod10(&t).unwrap(), c);
        }

        #[test]
        fn sscc_with_check_verifies(s in "[0-9]{17}") {
            let full = sscc_with_check(&s).unwrap();
            prop_assert!(CheckScheme::Gs1Mod10.verify(&full[..17], full.chars().last().unwrap()));
        }

        #[test]
        fn s10_detects_single_digit_errors(s in "[0-9]{8}", pos in 0usize..8, delta in 1u32..10) {
            let c = s10(&s).unwrap();
            let mut b: Vec<u8> = s.clone().into_bytes();
            b[pos] = b'0' + ((u32::from(b[pos] - b'0') + delta) % 10) as u8;
            let t = String::from_utf8(b).unwrap();
            // Weights 2..9 are units mod 11, so the residue always changes; the digit can still
            // collide where the folding 11 → 5 meets the plain 11 − 6 = 5 (residues 0 and 6).
            let c2 = s10(&t).unwrap();
            let r1 = s.bytes().zip([8u32,6,4,2,3,5,9,7]).map(|(a,w)| u32::from(a-b'0')*w).sum::<u32>() % 11;
            let r2 = t.bytes().zip([8u32,6,4,2,3,5,9,7]).map(|(a,w)| u32::from(a-b'0')*w).sum::<u32>() % 11;
            prop_assert_ne!(r1, r2);
            if !matches!((r1, r2), (0, 6) | (6, 0)) {
                prop_assert_ne!(c, c2);
            }
        }

        #[test]
        fn never_panics_on_arbitrary_input(s in "\\PC{0,40}") {
            for scheme in [CheckScheme::Gs1Mod10, CheckScheme::Mod10 { odds: 1, evens: 2 }, CheckScheme::Mod7,
                           CheckScheme::S10, CheckScheme::Luhn,
                           CheckScheme::SumProductMod { weights: vec![3,1,7,3,1,7,3,1,7,3,1], m1: 11, m2: 10 }] {
                let _ = scheme.compute(&s);
                let _ = scheme.verify(&s, '0');
            }
        }
    }
}
