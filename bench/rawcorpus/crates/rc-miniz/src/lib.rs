//! miniz_oxide 0.6: deflate/zlib compress and decompress between the buffers.

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

use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};
use miniz_oxide::inflate::{decompress_to_vec, decompress_to_vec_zlib};

fn write_out(s: &[u8]) -> i32 {
    if s.len() > CAP {
        return -3;
    }
    output()[..s.len()].copy_from_slice(s);
    s.len() as i32
}

/// Raw deflate at `level` (0-10); returns the compressed length.
#[no_mangle]
pub extern "C" fn deflate(len: usize, level: u8) -> i32 {
    write_out(&compress_to_vec(input(len), level))
}

/// zlib-wrapped deflate at `level`; returns the compressed length.
#[no_mangle]
pub extern "C" fn zlib(len: usize, level: u8) -> i32 {
    write_out(&compress_to_vec_zlib(input(len), level))
}

/// Inflate raw deflate data; returns the decompressed length or -1.
#[no_mangle]
pub extern "C" fn inflate(len: usize) -> i32 {
    match decompress_to_vec(input(len)) {
        Ok(v) => write_out(&v),
        Err(_) => -1,
    }
}

/// Inflate zlib data; returns the decompressed length or -1.
#[no_mangle]
pub extern "C" fn unzlib(len: usize) -> i32 {
    match decompress_to_vec_zlib(input(len)) {
        Ok(v) => write_out(&v),
        Err(_) => -1,
    }
}

/// Compress and decompress at every level; returns a bitmask of levels that round-trip.
#[no_mangle]
pub extern "C" fn roundtrip_levels(len: usize) -> u32 {
    let data = input(len);
    let mut ok = 0;
    for level in 0..=10u8 {
        let c = compress_to_vec(data, level);
        if decompress_to_vec(&c).map(|d| d == data).unwrap_or(false) {
            ok |= 1 << level;
        }
    }
    ok
}

/// Adler-32 as computed by miniz_oxide's own implementation (via zlib trailer).
#[no_mangle]
pub extern "C" fn adler_via_zlib(len: usize) -> u32 {
    let c = compress_to_vec_zlib(input(len), 1);
    let t = &c[c.len() - 4..];
    u32::from_be_bytes([t[0], t[1], t[2], t[3]])
}
