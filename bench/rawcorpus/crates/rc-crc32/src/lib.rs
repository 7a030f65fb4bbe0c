//! crc32fast 1.3 and adler 1.0: checksums of the input buffer.

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

#[no_mangle]
pub extern "C" fn crc32(len: usize) -> u32 {
    crc32fast::hash(input(len))
}

/// CRC-32 fed in `chunk`-byte pieces, then combined with a second hasher over the
/// same data.
#[no_mangle]
pub extern "C" fn crc32_chunked(len: usize, chunk: usize) -> u32 {
    let data = input(len);
    let mut a = crc32fast::Hasher::new();
    for c in data.chunks(chunk.max(1)) {
        a.update(c);
    }
    let mut b = crc32fast::Hasher::new_with_initial(0x1234_5678);
    b.update(data);
    a.combine(&b);
    a.finalize()
}

#[no_mangle]
pub extern "C" fn adler32(len: usize) -> u32 {
    adler::adler32_slice(input(len))
}

/// Adler-32 with a running checksum over `rounds` copies of the input.
#[no_mangle]
pub extern "C" fn adler32_rolling(len: usize, rounds: u32) -> u32 {
    let mut a = adler::Adler32::new();
    for _ in 0..rounds {
        a.write_slice(input(len));
    }
    a.checksum()
}

/// Write both checksums (crc32 then adler32, little endian) to the output buffer.
#[no_mangle]
pub extern "C" fn both(len: usize) -> usize {
    let c = crc32(len).to_le_bytes();
    let a = adler32(len).to_le_bytes();
    output()[..4].copy_from_slice(&c);
    output()[4..8].copy_from_slice(&a);
    8
}
