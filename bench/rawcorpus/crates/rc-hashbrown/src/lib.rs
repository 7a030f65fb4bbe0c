//! hashbrown 0.12: word counts, sets and a map of maps over the input buffer.

const CAP: usize = 1 << 16;
static mut INPUT: [u8; CAP] = [0; CAP];
static mut OUTPUT: [u8; CAP] = [0; CAP];

/// Where the host writes the input bytes (CAP bytes).
#[no_mangle]
pub extern "C" fn input_ptr() -> *mut u8 {
    unsafe { INPUT.as_mut_ptr() }
}

/// Where results are written (CAP bytes).
#[no_mangle]
pub extern "C" fn output_ptr() -> *const u8 {
    unsafe { OUTPUT.as_ptr() }
}

fn input(len: usize) -> &'static [u8] {
    unsafe { &INPUT[..len.min(CAP)] }
}

fn output() -> &'static mut [u8] {
    unsafe { &mut OUTPUT[..] }
}

use hashbrown::{HashMap, HashSet};

fn words(len: usize) -> impl Iterator<Item = &'static [u8]> {
    input(len)
        .split(|b| !b.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Number of distinct words.
#[no_mangle]
pub extern "C" fn distinct_words(len: usize) -> u32 {
    words(len).collect::<HashSet<_>>().len() as u32
}

/// Count of the most frequent word; its text goes to the output buffer, its length
/// in the upper 16 bits of the result.
#[no_mangle]
pub extern "C" fn most_frequent(len: usize) -> u32 {
    let mut counts: HashMap<&[u8], u32> = HashMap::new();
    for w in words(len) {
        *counts.entry(w).or_insert(0) += 1;
    }
    match counts.iter().max_by_key(|(w, c)| (**c, core::cmp::Reverse(**w))) {
        Some((w, c)) => {
            let n = w.len().min(0xffff);
            output()[..n].copy_from_slice(&w[..n]);
            ((n as u32) << 16) | (*c).min(0xffff)
        }
        None => 0,
    }
}

/// Bigram table: number of distinct (word, next word) pairs.
#[no_mangle]
pub extern "C" fn distinct_bigrams(len: usize) -> u32 {
    let mut m: HashMap<&[u8], HashSet<&[u8]>> = HashMap::new();
    let mut prev: Option<&[u8]> = None;
    for w in words(len) {
        if let Some(p) = prev {
            m.entry(p).or_default().insert(w);
        }
        prev = Some(w);
    }
    m.values().map(|s| s.len() as u32).sum()
}

/// Insert 0..n (scrambled) into a map, remove the odd ones, return the sum of the rest.
#[no_mangle]
pub extern "C" fn churn(n: u32) -> u64 {
    let mut m: HashMap<u32, u64> = HashMap::with_capacity(16);
    for i in 0..n {
        m.insert(i.wrapping_mul(2654435761), i as u64);
    }
    m.retain(|_, v| *v % 2 == 0);
    m.values().sum()
}
