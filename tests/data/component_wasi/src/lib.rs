//! A std library for wasm32-wasi (WASI preview 1) used by loom-post's component
//! tests: allocation, formatting and the clock make the core module import
//! `wasi_snapshot_preview1`, so turning it into a component needs the WASI
//! adapter (`wasm-tools component new --adapt`).
use std::collections::BTreeMap;
use std::time::SystemTime;

#[export_name = "digits"]
pub extern "C" fn digits(n: u64, base: u32) -> u32 {
    let base = (base % 35 + 2) as u64;
    let mut v = Vec::new();
    let mut x = n;
    loop {
        v.push((x % base) as u8);
        x /= base;
        if x == 0 {
            break;
        }
    }
    let text = format!("{:?}", v);
    (text.len() as u32).wrapping_mul(31) ^ v.len() as u32
}

#[export_name = "tally"]
pub extern "C" fn tally(seed: u32, count: u32) -> u32 {
    let mut map = BTreeMap::new();
    let mut h = seed;
    for i in 0..(count % 500) {
        h = h.wrapping_mul(1_103_515_245).wrapping_add(12_345) ^ (i >> 2);
        *map.entry(h % 17).or_insert(0u32) += 1;
    }
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let keyed: u32 = map.iter().map(|(k, v)| k.wrapping_mul(*v)).sum();
    keyed ^ ((now != 0) as u32)
}
