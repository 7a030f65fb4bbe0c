//! A small no_std cdylib for loom-post's round-trip tests: loops, a match that
//! lowers to br_table, a guarded memory store, i64 and f64 arithmetic, a call
//! through a table and a static buffer in linear memory.
#![no_std]

use core::panic::PanicInfo;

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {}
}

static mut BUFFER: [u32; 64] = [0; 64];

/// Sum of 1..=n with a loop rustc cannot fold away (wrapping, data dependent).
#[no_mangle]
pub extern "C" fn sum_to(n: u32) -> u32 {
    let mut total: u32 = 0;
    let mut i: u32 = 0;
    while i < n {
        total = total.wrapping_mul(31).wrapping_add(i ^ (total >> 3));
        i += 1;
    }
    total
}

/// A dense match over computed arms: a jump table (br_table).
#[no_mangle]
pub extern "C" fn classify(code: u32, x: i32) -> i32 {
    match code {
        0 => x.wrapping_add(17),
        1 => x.wrapping_mul(-22),
        2 => x ^ 1000,
        3 => x.rotate_left(3),
        4 => x >> 5,
        5 => x.wrapping_sub(300_000),
        6 => x & i32::MIN,
        7 => helper(x),
        _ => 0,
    }
}

#[inline(never)]
fn helper(x: i32) -> i32 {
    x.count_ones() as i32 + x.leading_zeros() as i32
}

/// `if p == 0 return -22; *p = count - 1`: the null-checked store.
#[no_mangle]
pub unsafe extern "C" fn sem_take(p: *mut u32, count: u32) -> i32 {
    if p.is_null() {
        return -22;
    }
    if count == 0 {
        return -11;
    }
    *p = count - 1;
    0
}

/// Fills the static buffer and folds it back: stores and loads in a loop.
#[no_mangle]
pub unsafe extern "C" fn fill_and_fold(seed: u32) -> u32 {
    let mut x = seed;
    for slot in BUFFER.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *slot = x;
    }
    let mut acc: u32 = 0;
    for v in BUFFER.iter() {
        acc = acc.rotate_left(5) ^ *v;
    }
    acc
}

/// 64-bit and floating-point arithmetic.
#[no_mangle]
pub extern "C" fn mix64(a: u64, b: u64) -> u64 {
    let mut h = a ^ 0x9E37_79B9_7F4A_7C15;
    let mut k = b;
    while k != 0 {
        h = h.rotate_left(27).wrapping_mul(0x0000_0100_0000_01B3) ^ (k & 0xFF);
        k >>= 8;
    }
    h
}

#[no_mangle]
pub extern "C" fn poly(x: f64) -> f64 {
    let mut acc = 0.0;
    let coeffs = [1.5, -2.25, 0.125, 3.0];
    for c in coeffs.iter() {
        acc = acc * x + c;
    }
    if acc < 0.0 { -acc } else { acc }
}

fn double(x: i32) -> i32 { x.wrapping_mul(2) }
fn negate(x: i32) -> i32 { x.wrapping_neg() }
fn square(x: i32) -> i32 { x.wrapping_mul(x) }

/// Calls through a function-pointer table (call_indirect).
#[no_mangle]
pub extern "C" fn apply(which: u32, x: i32) -> i32 {
    let table: [fn(i32) -> i32; 3] = [double, negate, square];
    match table.get(which as usize) {
        Some(f) => f(x),
        None => x,
    }
}
