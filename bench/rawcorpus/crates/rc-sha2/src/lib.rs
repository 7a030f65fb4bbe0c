//! sha2 0.10: SHA-224/256/384/512 digests of the input buffer, written to the output buffer.

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

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

fn put(d: &[u8]) -> usize {
    output()[..d.len()].copy_from_slice(d);
    d.len()
}

#[no_mangle]
pub extern "C" fn sha224(len: usize) -> usize {
    put(&Sha224::digest(input(len)))
}

#[no_mangle]
pub extern "C" fn sha256(len: usize) -> usize {
    put(&Sha256::digest(input(len)))
}

#[no_mangle]
pub extern "C" fn sha384(len: usize) -> usize {
    put(&Sha384::digest(input(len)))
}

#[no_mangle]
pub extern "C" fn sha512(len: usize) -> usize {
    put(&Sha512::digest(input(len)))
}

/// Hash the input `rounds` times in chunks of `chunk` bytes (incremental API);
/// returns the first 4 digest bytes as a u32.
#[no_mangle]
pub extern "C" fn sha256_chunked(len: usize, chunk: usize, rounds: u32) -> u32 {
    let data = input(len);
    let mut h = Sha256::new();
    for _ in 0..rounds {
        for c in data.chunks(chunk.max(1)) {
            h.update(c);
        }
    }
    let d = h.finalize();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}
