//! A small library with scalar exports for loom-post's component tests: the
//! core module is built by cargo for wasm32-unknown-unknown and turned into a
//! component by `wasm-tools component embed` / `component new` (wit/world.wit).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[inline(never)]
fn rotmix(a: u32, b: u32) -> u32 {
    let x = a.wrapping_mul(0x9E37_79B1) ^ (b >> 3);
    let y = (a.wrapping_mul(0x9E37_79B1) >> 7).wrapping_add(b.rotate_left(5));
    x ^ y ^ (a.wrapping_mul(0x9E37_79B1) >> 13)
}

#[export_name = "mix"]
pub extern "C" fn mix(x: u32, y: u32) -> u32 {
    let a = rotmix(x, y);
    let b = rotmix(y ^ (x >> 16), x.wrapping_add(y >> 16));
    (a ^ (b >> 11)).wrapping_add((x >> 16) ^ (y >> 16))
}

#[export_name = "checksum"]
pub extern "C" fn checksum(seed: u32, rounds: u32) -> u32 {
    let mut h = seed ^ 0x811C_9DC5;
    let mut i = 0u32;
    while i < (rounds & 0xFFF) {
        h = (h ^ (i & 0xFF)).wrapping_mul(0x0100_0193);
        h ^= (h >> 15).wrapping_add(i.wrapping_mul(i) >> 3);
        i += 1;
    }
    h
}

#[export_name = "clamp-scale"]
pub extern "C" fn clamp_scale(v: i32, lo: i32, hi: i32, k: i32) -> i32 {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let c = if v < lo { lo } else if v > hi { hi } else { v };
    let span = hi.wrapping_sub(lo);
    let scaled = c.wrapping_sub(lo).wrapping_mul(k);
    scaled.checked_div(span).unwrap_or(0)
}

#[export_name = "poly"]
pub extern "C" fn poly(x: i64) -> i64 {
    let x2 = x.wrapping_mul(x);
    let a = x2.wrapping_mul(3).wrapping_add(x.wrapping_mul(7));
    let b = x2.wrapping_mul(x2).wrapping_sub(x2.wrapping_mul(5));
    a ^ b ^ (x2 >> 9)
}
